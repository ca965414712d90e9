"""Supervision of the local stack's long-running processes: start, record, stop without orphans.

Stopping follows what Airflow's components expect: the first signal (SIGINT) goes to the component's
own process only, exactly once. Each component then stops its children itself: the triggerer its
trigger-runner subprocess and log server, the scheduler its executor's workers. A second SIGINT or
SIGTERM means "force exit" to Airflow (`TriggererJobRunner._exit_gracefully` SIGKILLs its runner and
calls sys.exit), so signalling the whole process group, or the leader twice, turns a clean stop into a
forced one. Only a component still alive after its grace period gets SIGTERM, then SIGKILL, to every
process group of its session (LocalExecutor workers ignore SIGTERM, task processes move to their own
process group), and psutil then proves that nothing survived.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

import psutil

from airlock.errors import AirlockError

PIDFILE = "pids.json"
"""Written under the state dir at every start, so that a crashed run's processes can be reaped."""

STACK_ID_VAR = "AIRLOCK_STACK_ID"
Target = Literal["root", "tree", "forks"]


@dataclass(frozen=True)
class Step:
    """One step of a stop: send `signal` to `to`, then give the process `wait` seconds to go.

    `to`: "root", the process we started (the whole tree once it is gone); "tree", every process
    group of its session; "forks", the root's children that run the root's own command line (what
    Airflow's WatchedSubprocess forks without exec, e.g. the triggerer's trigger runner; the log server
    and executor workers retitle themselves); a step that finds none is skipped.
    A plain `(signal, wait)` pair means "root" for SIGINT and "tree" for anything stronger.
    """

    signal: signal.Signals
    wait: float
    to: Target = "tree"


Escalation = Sequence[Step | tuple[signal.Signals, float]]
ESCALATION: tuple[Step, ...] = (
    Step(signal.SIGINT, 7.0, "root"),  # Airflow components shut down cleanly (and stop their workers)
    Step(signal.SIGTERM, 3.0),  # a stop without SIGKILL takes at most 10 s
    Step(signal.SIGKILL, 5.0),
)


MAX_PATIENCE = 4.0


def load_patience() -> float:
    """How much longer than on an idle machine to wait before escalating: runnable processes per core.

    A component's clean exit includes the interpreter's teardown of a large heap (seconds of CPU for
    Airflow's api-server); at a load of 10 on 2 cores that takes several times as long, and a stop
    that escalates on an idle machine's clock would SIGKILL processes that were exiting cleanly.
    """
    try:
        return min(MAX_PATIENCE, max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)))
    except OSError:
        return 1.0


def steps(escalation: Escalation) -> tuple[Step, ...]:
    """Normalise an escalation given as Steps or `(signal, wait)` pairs."""
    return tuple(
        item if isinstance(item, Step) else Step(item[0], item[1], "root" if item[0] == signal.SIGINT else "tree")
        for item in escalation
    )


class ProcessError(AirlockError):
    """A supervised process failed to start, died early, or could not be stopped."""


class StopRequested(BaseException):
    """Raised in the main thread when the parent gets SIGTERM, so context managers unwind and stop."""


@dataclass
class Managed:
    """One supervised process: the root of its own session."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str]
    create_time: float
    tier: int = 0
    escalation: tuple[Step, ...] | None = None
    env: Mapping[str, str] | None = None
    cwd: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class StopReport:
    """What `stop()` did, for the user and for tests: who got which signal, how long it took."""

    stopped: dict[str, int] = field(default_factory=dict)  # name -> number of processes in its session
    signals: dict[str, str] = field(default_factory=dict)  # name -> last signal needed (SIGINT/…)
    survivors: list[str] = field(default_factory=list)  # "pid name" of anything still alive: must be empty
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [f"{name} ({n} proc, {self.signals.get(name, '-')})" for name, n in self.stopped.items()]
        return f"stopped {', '.join(parts) or 'nothing'} in {self.seconds:.1f}s"


def _session_members(sid: int) -> list[psutil.Process]:
    """Every live process whose session id is `sid` (what start_new_session made of our child)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return members


def _tree(root_pid: int, root_create_time: float | None) -> list[psutil.Process]:
    """The root (if it is still the process we started), its descendants and its session members."""
    found: dict[int, psutil.Process] = {}
    try:
        root = psutil.Process(root_pid)
        if root_create_time is None or abs(root.create_time() - root_create_time) < 0.01:
            found[root.pid] = root
            for child in root.children(recursive=True):
                found[child.pid] = child
    except psutil.Error:
        pass
    for member in _session_members(root_pid):
        # Linux does not reuse a PID that is still some session's id, but guard anyway: a member
        # started before our root cannot be of its session.
        try:
            if root_create_time is not None and member.create_time() < root_create_time - 0.01:
                continue
        except psutil.Error:
            continue
        found.setdefault(member.pid, member)
    return list(found.values())


def _alive(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.Error:
            continue
    return alive


def _signal_all(procs: Iterable[psutil.Process], sig: signal.Signals) -> None:
    """Signal each process group once (killpg); a process in our own group, or whose group is gone, alone.

    Never twice: to Airflow a second SIGINT/SIGTERM means "force exit" (see the module docstring).
    """
    groups: set[int] = set()
    for proc in procs:
        try:
            pgid = os.getpgid(proc.pid)
        except (ProcessLookupError, PermissionError):
            continue
        if pgid == os.getpgrp():  # never signal our own group (a child that joined it: signal it alone)
            _kill(proc.pid, sig)
        elif pgid not in groups:
            groups.add(pgid)
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                _kill(proc.pid, sig)


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _reap_zombies(children: Iterable[subprocess.Popen[bytes]]) -> None:
    for child in children:
        with contextlib.suppress(OSError):
            child.poll()


def terminate_trees(
    trees: Mapping[str, list[psutil.Process]],
    *,
    escalation: Escalation = ESCALATION,
    per_tree: Mapping[str, Escalation] | None = None,
    popens: Sequence[subprocess.Popen[bytes]] = (),
    roots: Mapping[str, int] | None = None,
    patience: float = 1.0,
    log: Any = None,
) -> StopReport:
    """Escalate SIGINT → SIGTERM → SIGKILL on every tree at once until none of their processes lives.

    The trees stop concurrently (shutdown time is the slowest one's, not the sum), and each
    escalates on its own clock: a tree gets its next signal only if something of it still lives
    when its current wait is over. `per_tree` overrides `escalation` for named trees. `roots` names
    the process we started in each tree (name -> pid), the target of "root" and "subprocesses" steps
    (see Step); a tree without one gets every signal as "tree". Every wait is multiplied by `patience`.
    """
    started = time.monotonic()
    report = StopReport(stopped={name: len(procs) for name, procs in trees.items()})
    plans = {name: steps((per_tree or {}).get(name, escalation)) for name in trees}
    pending = {name: procs for name, procs in trees.items() if _alive(procs)}
    stage = dict.fromkeys(pending, -1)
    deadline = dict.fromkeys(pending, 0.0)
    while pending:
        now = time.monotonic()
        for name in list(pending):
            if now < deadline[name]:
                continue
            if stage[name] + 1 >= len(plans[name]):
                del pending[name]  # out of signals: whatever lives is reported as a survivor
                continue
            stage[name] += 1
            step = plans[name][stage[name]]
            alive = _alive(pending[name])
            root = next((p for p in alive if p.pid == (roots or {}).get(name)), None)
            if step.to == "forks":
                targets = _forks(root) if root else []
                if not targets:
                    continue  # nothing of that kind: on to the next step at once
                for proc in targets:
                    _kill(proc.pid, step.signal)
            elif step.to == "root" and root is not None:
                _kill(root.pid, step.signal)
            else:
                _signal_all(alive, step.signal)
            if stage[name] > 0 and log:
                before = plans[name][stage[name] - 1]
                sent, waited = (
                    step.signal.name + (" to its forks" if step.to == "forks" else ""),
                    before.wait * patience,
                )
                log(f"[devstack]   {name} still running {waited:.3g}s after {before.signal.name}: {sent}")
            report.signals[name] = step.signal.name
            deadline[name] = now + step.wait * patience
        time.sleep(0.1)
        _reap_zombies(popens)
        pending = {name: alive for name, procs in pending.items() if (alive := _alive(procs))}
    _reap_zombies(popens)
    for procs in trees.values():
        for proc in _alive(procs):
            report.survivors.append(f"{proc.pid} {_name(proc)}")
    report.seconds = time.monotonic() - started
    return report


def _forks(root: psutil.Process) -> list[psutil.Process]:
    """The root's live children that run the root's own command line (forks without exec)."""
    try:
        command = root.cmdline()
    except psutil.Error:
        return []
    found = []
    for child in _alive(_children(root)):
        with contextlib.suppress(psutil.Error):
            if child.cmdline() == command:
                found.append(child)
    return found


def _children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children()
    except psutil.Error:
        return []


def _name(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline()[:4]) or proc.name()
    except psutil.Error:
        return "?"


class Supervisor:
    """Starts named processes, each in its own session, and stops all of them with no orphans.

    Use as a context manager: leaving the block (normally, by exception, by Ctrl-C, or by SIGTERM
    to this process) stops everything. Each start is recorded in `<state_dir>/pids.json` so that
    `reap_stale(state_dir)` can clean up after a parent that was SIGKILLed.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        log: Any = print,
        escalation: Escalation = ESCALATION,
        patience: float | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.escalation = steps(escalation)
        self.patience = patience  # None: load_patience() at stop time
        self.log_dir = self.state_dir / "logs"
        self.processes: list[Managed] = []
        self._log = log or (lambda _msg: None)
        self._previous_handlers: dict[int, Any] = {}
        self._stopped = False
        # Every process of the stack, and everything they start, inherits this in its environment:
        # the last sweep of a stop finds by it what escaped both the tree and the session (dbt,
        # started by Cosmos in a session of its own, reparents to init when its task process dies).
        self.stack_id = uuid.uuid4().hex

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> Supervisor:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._install_signal_handlers()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            report = self.stop()
            if report.stopped:
                self._log(f"[devstack] {report.summary()}")
            if report.survivors:
                self._log(f"[devstack] WARNING: survivors: {report.survivors}")
        finally:
            self._restore_signal_handlers()

    def _install_signal_handlers(self) -> None:
        """Turn SIGTERM into an exception, so `with` blocks unwind and stop the stack.

        SIGINT already raises KeyboardInterrupt. Children run in their own sessions, so Ctrl-C in
        the terminal reaches only us, and we stop them in order instead of all dying at once.
        """
        import threading

        if threading.current_thread() is not threading.main_thread():
            return

        def on_term(signum: int, _frame: FrameType | None) -> None:
            raise StopRequested(f"received {signal.Signals(signum).name}")

        for sig, handler in ((signal.SIGTERM, on_term), (signal.SIGHUP, on_term)):
            self._previous_handlers[sig] = signal.signal(sig, handler)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # e.g. started with nohup/&: honour Ctrl-C
            self._previous_handlers[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()

    # -- starting ----------------------------------------------------------------------------------
    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        tier: int = 0,
        escalation: Escalation | None = None,
    ) -> Managed:
        """Start `argv` in its own session; stdout and stderr go to `<state_dir>/logs/<name>.log`.

        `tier` orders the stop: higher tiers stop first (services before what they depend on).
        `escalation` overrides the supervisor's signals and waits for this process, e.g. a short
        SIGINT grace for a server that sometimes lingers after a clean shutdown.
        """
        if any(p.name == name for p in self.processes):
            raise ProcessError(f"a process named {name!r} is already running under this supervisor")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("ab") as out:
            try:
                popen = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env={**(os.environ if env is None else env), STACK_ID_VAR: self.stack_id},
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ProcessError(f"cannot start {name} ({argv[0]}): {exc}") from None
        try:
            create_time = psutil.Process(popen.pid).create_time()
        except psutil.Error:
            create_time = time.time()
        managed = Managed(
            name, popen, log_path, list(argv), create_time, tier, steps(escalation) if escalation else None, env, cwd
        )
        self.processes.append(managed)
        self._write_pidfile()
        return managed

    def restart(self, name: str) -> Managed:
        """Start a process that died again, as before (what Astro or MWAA do for a crashed component).

        Refuses a process that is still running: stop it first, or it would run twice.
        """
        old = next((p for p in self.processes if p.name == name), None)
        if old is None:
            raise ProcessError(f"no process named {name!r} under this supervisor")
        if old.popen.poll() is None:
            raise ProcessError(f"{name} (pid {old.pid}) is still running")
        self.processes.remove(old)
        return self.start(name, old.argv, env=old.env, cwd=old.cwd, tier=old.tier, escalation=old.escalation)

    def check_alive(self) -> None:
        """Raise ProcessError naming any process that already exited, with the tail of its log."""
        for proc in self.processes:
            code = proc.popen.poll()
            if code is not None:
                raise ProcessError(
                    f"{proc.name} exited with code {code}; last lines of {proc.log_path}:\n{tail(proc.log_path)}"
                )

    def _write_pidfile(self) -> None:
        record = {
            "parent": {"pid": os.getpid(), "create_time": psutil.Process().create_time()},
            "processes": [
                {
                    "name": p.name,
                    "pid": p.pid,
                    "create_time": p.create_time,
                    "argv": p.argv,
                    "log": str(p.log_path),
                }
                for p in self.processes
            ],
        }
        tmp = self.state_dir / f".{PIDFILE}.tmp"
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
        tmp.replace(self.state_dir / PIDFILE)

    # -- stopping ----------------------------------------------------------------------------------
    def all_processes(self) -> list[psutil.Process]:
        """Every live process of the stack: the roots, their descendants and their sessions."""
        return [proc for managed in self.processes for proc in _tree(managed.pid, managed.create_time)]

    def stop(self, *, escalation: Escalation | None = None) -> StopReport:
        """Stop every process (all at once, escalating per tree) and verify none survived. Idempotent."""
        escalation = self.escalation if escalation is None else steps(escalation)
        if self._stopped or not self.processes:
            self._stopped = True
            return StopReport()
        with _no_interrupts(self._log):
            return self._stop(escalation)

    def _stop(self, escalation: tuple[Step, ...]) -> StopReport:
        started = time.monotonic()
        report = StopReport()
        patience = load_patience() if self.patience is None else self.patience
        if patience > 1 and self._log:
            self._log(
                f"[devstack] load average {os.getloadavg()[0]:.1f}: waiting {patience:.1f}x longer before escalating"
            )
        # Dependents first: a triggerer whose SQS endpoint vanished mid-poll hangs in its clean-up,
        # so higher tiers stop (together) before the lower tiers they rely on.
        for tier in sorted({m.tier for m in self.processes}, reverse=True):
            members = [m for m in self.processes if m.tier == tier]
            # Snapshot first: once a root dies, its orphans reparent to init and only the session finds them.
            trees = {m.name: _tree(m.pid, m.create_time) for m in members}
            per_tree = {m.name: m.escalation for m in members if m.escalation and escalation is self.escalation}
            part = terminate_trees(
                trees,
                escalation=escalation,
                per_tree=per_tree,
                popens=[m.popen for m in members],
                roots={m.name: m.pid for m in members},
                patience=patience,
                log=self._log,
            )
            # A second look by session catches anything forked while we were signalling.
            late = {m.name: _alive(_session_members(m.pid)) for m in members}
            if any(late.values()):
                part.survivors = terminate_trees(
                    late, escalation=escalation, patience=patience, log=self._log
                ).survivors
            report.stopped.update(part.stopped)
            report.signals.update(part.signals)
            report.survivors += part.survivors
        if escaped := _marked(self.stack_id):
            self._log(
                f"  stopping {len(escaped)} process(es) that left the stack's sessions: {[_name(p) for p in escaped]}"
            )
            part = terminate_trees({"escaped": escaped}, escalation=escalation, patience=patience, log=self._log)
            report.stopped.update(part.stopped)
            report.survivors += part.survivors
        report.seconds = time.monotonic() - started
        self._stopped = True
        if not report.survivors:
            (self.state_dir / PIDFILE).unlink(missing_ok=True)
        return report


def _marked(stack_id: str) -> list[psutil.Process]:
    """Live processes whose environment carries this stack's id."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(STACK_ID_VAR) == stack_id:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


@contextlib.contextmanager
def _no_interrupts(log: Any) -> Iterator[None]:
    """Keep a second Ctrl-C (or SIGTERM) from abandoning a half-done stop, which would leave orphans."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def patience(_signum: int, _frame: FrameType | None) -> None:
        log("[devstack] stopping, please wait: it escalates to SIGKILL on its own")

    previous = {sig: signal.signal(sig, patience) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file: error messages quote it so the user needn't go looking."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def reap_stale(
    state_dir: Path,
    *,
    log: Any = print,
    escalation: Escalation = ESCALATION,
) -> StopReport:
    """Stop the processes a previous run recorded in `<state_dir>/pids.json` and remove the file.

    Run before starting a stack in the same state dir: a parent killed with SIGKILL cannot stop its
    children, and they would hold the ports and the SQLite database. A PID is only trusted if the
    process still has the recorded start time (PIDs are reused). Raises ProcessError if the recorded
    parent is still alive: then a stack is running there now, and it is not ours to kill.
    """
    log = log or (lambda _msg: None)
    pidfile = Path(state_dir) / PIDFILE
    try:
        record = json.loads(pidfile.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StopReport()
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return StopReport()
    parent = record.get("parent", {})
    if parent.get("pid") not in (None, os.getpid()) and _same_process(parent["pid"], parent.get("create_time")):
        raise ProcessError(
            f"a stack is already running from {state_dir} (parent pid {parent['pid']}). "
            "Stop it with Ctrl-C, or use another state dir."
        )
    trees = {p["name"]: _tree(p["pid"], p.get("create_time")) for p in record.get("processes", [])}
    trees = {name: procs for name, procs in trees.items() if procs}
    roots = {p["name"]: p["pid"] for p in record.get("processes", [])}
    report = StopReport()
    if trees:
        log(f"[devstack] reaping processes left by a previous run: {', '.join(trees)}")
        report = terminate_trees(trees, escalation=escalation, roots=roots, patience=load_patience(), log=log)
    if not report.survivors:
        pidfile.unlink(missing_ok=True)
    return report


def _same_process(pid: int, create_time: float | None) -> bool:
    try:
        proc = psutil.Process(pid)
        return create_time is None or abs(proc.create_time() - create_time) < 0.01
    except psutil.Error:
        return False


def stack_memory(procs: Iterable[psutil.Process], *, unique: bool = False) -> int:
    """Memory of the given processes, in bytes.

    RSS (default) counts shared library pages once per process, so it overstates a forking stack;
    `unique=True` sums USS, what stopping the processes would give back (slower to read).
    """
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().uss if unique else proc.memory_info().rss
        except psutil.Error:
            continue
    return total


def python() -> str:
    """The interpreter that runs the stack: the venv's, so Airflow and moto come from it."""
    return sys.executable
