"""Supervision with real child processes: stubborn ones, grandchildren, orphans, a crashed parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from airlock.devstack.processes import PIDFILE, ProcessError, Supervisor, reap_stale

REPO = Path(__file__).resolve().parents[2]
FAST = ((signal.SIGINT, 0.5), (signal.SIGTERM, 0.5), (signal.SIGKILL, 3.0))

# Like a LocalExecutor worker: ignores SIGINT and SIGTERM, and has children of its own, one of them
# in its own process group (like a task process) and one orphaned to init (double fork).
STUBBORN = textwrap.dedent(
    """
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " \\
             "signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
    kids = [subprocess.Popen([sys.executable, "-c", ignore]),
            subprocess.Popen([sys.executable, "-c", ignore], process_group=0)]
    orphan = subprocess.Popen([sys.executable, "-c",
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', %r]); print(p.pid, flush=True)"
        % ignore], stdout=subprocess.PIPE, text=True)
    pids = [k.pid for k in kids] + [int(orphan.stdout.readline())]
    orphan.wait()  # its child is now an orphan, reparented to init
    print(" ".join(map(str, pids)), flush=True)
    time.sleep(600)
    """
)


def _wait_for_line(path: Path, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
        if lines:
            return lines[-1]
        time.sleep(0.05)
    raise AssertionError(f"{path} stayed empty")


def _alive(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_stop_leaves_no_orphans_of_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    with Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("stubborn", [sys.executable, "-c", STUBBORN])
        grandchildren = [int(p) for p in _wait_for_line(proc.log_path).split()]
        pids = [proc.pid, *grandchildren]
        assert _alive(pids) == pids
        assert len(sup.all_processes()) >= 4  # root, two children, the orphan (found by session)
        report = sup.stop(escalation=FAST)
    assert report.signals["stubborn"] == "SIGKILL"
    assert report.survivors == []
    assert _alive(pids) == []
    assert not (tmp_path / PIDFILE).exists()


def test_a_well_behaved_process_stops_on_sigint(tmp_path: Path) -> None:
    with Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
        report = sup.stop(escalation=FAST)
    assert report.signals == {"sleeper": "SIGINT"}
    assert report.seconds < 2
    assert proc.popen.poll() is not None


def test_leaving_the_block_by_exception_stops_everything(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"), Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
        raise RuntimeError("boom")
    assert _alive([proc.pid]) == []


def test_check_alive_names_the_dead_process_and_quotes_its_log(tmp_path: Path) -> None:
    with Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("crasher", [sys.executable, "-c", "import sys; print('bad config'); sys.exit(3)"])
        proc.popen.wait(10)
        with pytest.raises(ProcessError, match=r"crasher exited with code 3(.|\n)*bad config"):
            sup.check_alive()


def _wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_restart_starts_a_dead_process_again_with_its_environment(tmp_path: Path) -> None:
    code = "import os, time; print(os.environ['MARK'], flush=True); time.sleep(600)"
    with Supervisor(tmp_path, log=None) as sup:
        first = sup.start("worker", [sys.executable, "-c", code], env={**os.environ, "MARK": "again"})
        with pytest.raises(ProcessError, match="still running"):
            sup.restart("worker")
        _wait_for(lambda: "again" in first.log_path.read_text())
        first.popen.kill()
        first.popen.wait(10)
        second = sup.restart("worker")
        assert second.pid != first.pid and second.popen.poll() is None
        assert [p.name for p in sup.processes] == ["worker"]
        _wait_for(lambda: second.log_path.read_text().count("again") == 2)  # same command, environment, log
        sup.stop(escalation=FAST)
    assert _alive([second.pid]) == []


# A parent that supervises STUBBORN, as `airlock dev` would, and then waits to be signalled.
PARENT = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path
    from airlock.devstack.processes import Supervisor
    fast = ((signal.SIGINT, 0.5), (signal.SIGTERM, 0.5), (signal.SIGKILL, 3.0))
    with Supervisor(Path(sys.argv[1]), log=print, escalation=fast) as sup:
        sup.start("stubborn", [sys.executable, "-c", sys.argv[2]])
        print("started", flush=True)
        time.sleep(600)
    """
)


def _start_parent(state_dir: Path) -> tuple[subprocess.Popen[str], list[int]]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "include")}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(state_dir), STUBBORN],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert parent.stdout is not None
    assert parent.stdout.readline().strip() == "started"
    log = state_dir / "logs" / "stubborn.log"
    record = json.loads((state_dir / PIDFILE).read_text())
    pids = [p["pid"] for p in record["processes"]] + [int(p) for p in _wait_for_line(log).split()]
    return parent, pids


def test_sigterm_to_the_parent_stops_the_children(tmp_path: Path) -> None:
    parent, pids = _start_parent(tmp_path)
    parent.send_signal(signal.SIGTERM)
    parent.wait(20)
    out = parent.stdout.read() if parent.stdout else ""
    assert "stopped stubborn (4 proc, SIGKILL)" in out
    assert _alive(pids) == []


def test_reap_stale_cleans_up_after_a_parent_killed_with_sigkill(tmp_path: Path) -> None:
    parent, pids = _start_parent(tmp_path)
    with pytest.raises(ProcessError, match="already running"):
        reap_stale(tmp_path, log=None)  # the parent still lives: not ours to kill
    parent.kill()
    parent.wait(10)
    assert _alive(pids[:1]) == pids[:1]  # the crash left the children behind
    report = reap_stale(tmp_path, log=None, escalation=FAST)
    assert report.survivors == []
    assert _alive(pids) == []
    assert not (tmp_path / PIDFILE).exists()
    assert reap_stale(tmp_path, log=None).stopped == {}  # nothing recorded: nothing to do


# Records when it got SIGINT, then exits: lets a test see the order in which processes were stopped.
RECORDER = textwrap.dedent(
    """
    import signal, sys, time
    def stop(*_):
        open(sys.argv[1], "w").write(repr(time.time()))
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_higher_tiers_stop_before_the_services_they_depend_on(tmp_path: Path) -> None:
    with Supervisor(tmp_path, log=None) as sup:
        service = sup.start("service", [sys.executable, "-c", RECORDER, str(tmp_path / "service.t")], tier=0)
        client = sup.start("client", [sys.executable, "-c", RECORDER, str(tmp_path / "client.t")], tier=1)
        _wait_for_line(service.log_path)
        _wait_for_line(client.log_path)
    assert float((tmp_path / "client.t").read_text()) < float((tmp_path / "service.t").read_text())


def test_a_process_can_have_its_own_shorter_escalation(tmp_path: Path) -> None:
    deaf = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
    with Supervisor(tmp_path, log=None) as sup:  # the default escalation waits 7 s after SIGINT
        sup.start("deaf", [sys.executable, "-c", deaf], escalation=((signal.SIGINT, 0.3), (signal.SIGKILL, 2.0)))
        time.sleep(0.3)
        report = sup.stop()
    assert report.signals == {"deaf": "SIGKILL"}
    assert report.seconds < 3


# Like dbt under Cosmos: started in a session of its own, then orphaned when its parent dies.
ESCAPER = textwrap.dedent(
    """
    import subprocess, sys, time
    ignore = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    child = subprocess.Popen([sys.executable, "-c", ignore], start_new_session=True)
    print(child.pid, flush=True)
    time.sleep(600)
    """
)


def test_a_descendant_in_its_own_session_is_stopped_too(tmp_path: Path) -> None:
    with Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("escaper", [sys.executable, "-c", ESCAPER])
        escaped = int(_wait_for_line(proc.log_path))
        os.kill(proc.pid, signal.SIGKILL)  # the parent dies first: the child reparents to init
        time.sleep(0.3)
        report = sup.stop(escalation=FAST)
    assert report.survivors == []
    assert _alive([escaped]) == []


# Like Airflow's triggerer: the first SIGINT starts a clean shutdown in which it stops its own child
# (in a process group of its own, as the trigger runner is); a second signal means "force exit".
AIRFLOW_LIKE_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    def stop(*_):
        open(sys.argv[1], "a").write("child got SIGINT\\n")
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    time.sleep(600)
    """
)
AIRFLOW_LIKE = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    out = sys.argv[1]
    child = subprocess.Popen([sys.executable, "-c", sys.argv[2], out], process_group=0)
    got = []
    def on_signal(signum, _frame):
        got.append(signum)
        if len(got) > 1:
            open(out, "a").write("forced exit\\n")
            child.kill()
            sys.exit(70)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    print(child.pid, flush=True)
    while not got:
        time.sleep(0.01)
    time.sleep(0.3)  # the graceful part of the shutdown takes a moment
    child.send_signal(signal.SIGINT)
    child.wait()
    open(out, "a").write("clean exit\\n")
    """
)


def test_the_first_signal_goes_once_to_the_root_which_stops_its_own_children(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    with Supervisor(tmp_path, log=None) as sup:
        proc = sup.start("triggerer", [sys.executable, "-c", AIRFLOW_LIKE, str(events), AIRFLOW_LIKE_CHILD])
        child = int(_wait_for_line(proc.log_path))
        report = sup.stop()
    assert events.read_text().splitlines() == ["child got SIGINT", "clean exit"]
    assert report.signals == {"triggerer": "SIGINT"} and report.survivors == []
    assert proc.popen.returncode == 0
    assert _alive([proc.pid, child]) == []
    assert report.seconds < 3
