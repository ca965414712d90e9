"""Real Airflow 3 components (api-server, scheduler, dag-processor, triggerer) run from the venv.

Each component is its own supervised process, as in a deployment, so a test sees the same
behaviour (asset watchers in the triggerer, runs created by the scheduler) and one component's
log is one file. The settings favour event latency on a 2-core laptop over throughput.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from airlock import sqlite_clock
from airlock.devstack.airflow_api import AirflowApi, AirflowApiError
from airlock.devstack.local_aws import free_port, port_in_use
from airlock.devstack.processes import ProcessError, Step, Supervisor, load_patience, python, tail
from airlock.settings import project_home
from airlock.warehouse import DUCKDB_POOL

HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# Logged by Airflow's trigger runner (TriggerRunner.run_trigger) for every trigger it starts, a
# watcher's included, whatever the trigger class: per-queue MessageQueueTriggers or a shared stream.
TRIGGER_STARTING = re.compile(r"trigger ID (\d+) starting")
# How each component stops (read in Airflow 3.3.2's source; see airlock.devstack.processes.Step):
# - api-server: uvicorn completes its shutdown within 0.1 s of SIGINT ("Finished server process"), then
#   the interpreter's teardown of a ~300 MB heap runs GC for 5 s or more (py-spy: gc_collect_main).
#   SIGTERM then meets the default handler and ends the teardown: nothing of the app is left to stop.
API_SERVER_ESCALATION = (Step(signal.SIGINT, 2.0, "root"), Step(signal.SIGTERM, 4.0), Step(signal.SIGKILL, 5.0))
# - triggerer: on SIGINT its loop ends and `WatchedSubprocess.kill(escalation_delay=10)` stops the
#   trigger runner, but that wait can sleep its full 10 s: when the runner's sockets reach EOF before
#   the runner is waitable, the selector is left with nothing to wake it. The triggerer's own loop
#   notices a runner that exited within a second, so the stack asks the runner first (SIGINT, as
#   the triggerer would: its triggers are cancelled cleanly) and the triggerer then exits by itself,
#   logging "Trigger runner process has died! Exiting.". A second SIGINT/SIGTERM to the triggerer
#   means "force exit" to Airflow (SIGKILL to the runner), so it gets one only if it is still there.
TRIGGERER_ESCALATION = (
    Step(signal.SIGINT, 4.0, "forks"),
    Step(signal.SIGINT, 3.0, "root"),
    Step(signal.SIGTERM, 3.0),
    Step(signal.SIGKILL, 5.0),
)
# - scheduler: its handler raises SystemExit; raised inside a garbage-collection callback it is lost
#   ("Exception ignored in: <function _collection_gced>"), and the scheduler keeps scheduling. A
#   second SIGINT is harmless to it (no "force" semantics), so it gets one after 3 s. Its exit then
#   waits for the LocalExecutor's workers to finish the tasks they run: seen taking more than 8 s with
#   another stack busy on the same 2 cores, so it is given 10 s (and SIGTERM 5 s) before SIGKILL.
SCHEDULER_ESCALATION = (
    Step(signal.SIGINT, 3.0, "root"),
    Step(signal.SIGINT, 10.0, "root"),
    Step(signal.SIGTERM, 5.0),
    Step(signal.SIGKILL, 5.0),
)


def replica_names(component: str, count: int) -> list[str]:
    """`scheduler`, `scheduler-2`, ...: the first keeps the plain name every single-instance stack uses."""
    return [component if i == 1 else f"{component}-{i}" for i in range(1, count + 1)]


class ImportErrorsFound(ProcessError):
    """The DAG processor reported import errors; the message carries each file's traceback."""


def _secrets(state_dir: Path) -> dict[str, str]:
    """Per-stack secrets, kept across restarts: every component must sign and verify the same JWTs."""
    path = state_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from cryptography.fernet import Fernet

    values = {
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
    }
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(0o600)
    return values


def airflow_environment(
    state_dir: Path,
    port: int,
    *,
    dags_folder: Path | None = None,
    database_url: str | None = None,
) -> dict[str, str]:
    """The AIRFLOW__* settings of a local stack (config names from Airflow 3.3's config.yml)."""
    home = project_home()
    airflow_home = state_dir / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder or home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # 2 cores: more workers only add memory and contention
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Watchers are registered only for unpaused DAGs; paused-at-creation would also need a re-parse.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # REST API and UI without a login
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "5",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url or f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",  # a laptop stack with no auth must not listen on the LAN
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__API__WORKERS": "1",
        # Two stacks (dev + e2e) side by side must not fight over the log-server ports.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        # New or edited DAG files show up within seconds; one parser process on 2 cores.
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "300",
        # Asset events become runs on the next scheduler loop: keep the idle sleep short.
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
        # Task processes fork from workers that already hold the DAGs' imports (airlock.preload).
        "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
        "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": "airlock.preload",
        # Cosmos would otherwise try to reach its telemetry endpoint from every task (no internet here).
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    }
    if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite"):
        # Runs start without waiting for the next whole second (airlock.sqlite_clock).
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = sqlite_clock.SETTING
    elif database_url and database_url.startswith("postgresql+psycopg://"):
        # Airflow 3.3 derives its async URL as postgresql+asyncpg (not installed): psycopg 3 does async too.
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = database_url
    env.update(_secrets(state_dir))
    return env


class AirflowStack:
    """Migrates the metadata database and runs the four Airflow components under a Supervisor."""

    def __init__(
        self,
        supervisor: Supervisor,
        state_dir: Path,
        *,
        port: int = 8080,
        env: Mapping[str, str] | None = None,
        dags_folder: Path | None = None,
        database_url: str | None = None,
        log: Callable[[str], None] = print,
        schedulers: int = 1,
        triggerers: int = 1,
    ) -> None:
        """`schedulers`/`triggerers` > 1 run HA as Astro and MWAA do (needs a PostgreSQL `database_url`)."""
        if (schedulers > 1 or triggerers > 1) and not (database_url or "").startswith("postgresql"):
            raise ProcessError("several schedulers or triggerers need a PostgreSQL metadata database")
        self.schedulers, self.triggerers = schedulers, triggerers
        self.supervisor = supervisor
        self.state_dir = Path(state_dir)
        self.port = port
        self.url = f"http://localhost:{port}"
        self.airflow_env = airflow_environment(self.state_dir, port, dags_folder=dags_folder, database_url=database_url)
        self.env = self._process_env(env or {})
        self.api = AirflowApi(f"http://127.0.0.1:{port}")  # what we bind: skips a ::1 attempt
        self._log = log
        # where this start's lines begin in each (appended) triggerer log: triggerer.log, triggerer-2.log, ...
        self._triggerer_log_offsets: dict[str, int] = {}

    def _process_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The caller's environment, minus its AIRFLOW__*, plus ours, plus the stack's AIRLOCK_*."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_"))}
        home = project_home()
        include = str(home / "include")
        pythonpath = os.pathsep.join(p for p in (include, base.get("PYTHONPATH", "")) if p)
        return {
            **base,
            "AIRLOCK_HOME": str(home),
            "PYTHONPATH": pythonpath,
            "PYTHONUNBUFFERED": "1",
            **self.airflow_env,
            **extra,
        }

    def migrate(self) -> float:
        """`airflow db migrate` (idempotent, ~4 s on SQLite); returns the seconds it took."""
        started = time.monotonic()
        log_path = self.supervisor.log_dir / "db-migrate.log"
        self.supervisor.log_dir.mkdir(parents=True, exist_ok=True)
        self._log("[devstack] airflow db migrate ...")
        with log_path.open("ab") as out:
            code = subprocess.call(
                [python(), "-m", "airflow", "db", "migrate"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=300,
            )
            if code == 0:  # the local DuckDB warehouse's writers take turns (airlock.warehouse.DUCKDB_POOL)
                code = subprocess.call(
                    [python(), "-m", "airflow", "pools", "set", DUCKDB_POOL, "1", "DuckDB: one writer per file"],
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=120,
                )
        if code != 0:
            raise ProcessError(f"airflow db migrate failed (exit {code}):\n{tail(log_path)}")
        return time.monotonic() - started

    def start(self, *, api_timeout: float = 180.0) -> None:
        """Start the four components; the scheduler only once the API server answers.

        A task started before the API server listens fails its execution-API calls (its retries last
        ~6 s, the API server takes 10-20 s to load on a busy 2-core machine), and an S3 test event
        already waiting on a queue makes a watcher DAG run at once. The DAG processor and triggerer
        need no API server, so they start together with it.

        Stop order (tiers): scheduler & co. first, then the API server their tasks report to, then moto.
        """
        if port_in_use(self.port):
            raise ProcessError(
                f"port {self.port} is in use (another Airflow?). Stop it, or choose another with --port."
            )
        self.supervisor.start(
            "api-server",
            [python(), "-m", "airflow", "api-server", "--port", str(self.port), "--host", "127.0.0.1"],
            env=self.env,
            tier=1,
            escalation=API_SERVER_ESCALATION,
        )
        self.supervisor.start("dag-processor", [python(), "-m", "airflow", "dag-processor"], env=self.env, tier=2)
        for name in replica_names("triggerer", self.triggerers):
            triggerer_log = self.supervisor.log_dir / f"{name}.log"
            self._triggerer_log_offsets[name] = triggerer_log.stat().st_size if triggerer_log.exists() else 0
            self.supervisor.start(
                name, [python(), "-m", "airflow", "triggerer"], env=self.env, tier=2, escalation=TRIGGERER_ESCALATION
            )
        self._wait_api_answers(api_timeout)
        for name in replica_names("scheduler", self.schedulers):
            self.supervisor.start(
                name, [python(), "-m", "airflow", "scheduler"], env=self.env, tier=2, escalation=SCHEDULER_ESCALATION
            )

    def _wait_api_answers(self, timeout: float) -> None:
        timeout *= load_patience()  # a deadline for an idle machine, stretched by the load
        started = time.monotonic()
        last_note = 0.0
        while (elapsed := time.monotonic() - started) < timeout:
            self.supervisor.check_alive()
            try:
                self.api.health(timeout=2.0)
                self._log(f"[devstack] API server up after {elapsed:.1f}s; starting the scheduler")
                return
            except AirflowApiError:
                pass
            if elapsed - last_note >= 3:
                self._log(f"[devstack]   waiting for the API server ({elapsed:.0f}s)")
                last_note = elapsed
            time.sleep(0.3)
        raise ProcessError(
            f"the API server did not answer within {timeout:.0f}s: see {self.supervisor.log_dir / 'api-server.log'}"
        )

    def wait_healthy(self, timeout: float = 180.0) -> float:
        """Poll /monitor/health until every component reports healthy; print progress; return seconds."""
        timeout *= load_patience()
        started = time.monotonic()
        last_note = 0.0
        status: dict[str, str] = {}
        while time.monotonic() - started < timeout:
            self.supervisor.check_alive()
            try:
                # A short timeout: while the app loads, the socket accepts but does not answer.
                health = self.api.health(timeout=2.0)
                status = {key: (health.get(key) or {}).get("status") or "unknown" for key in HEALTH_KEYS}
            except AirflowApiError:
                status = {"api-server": "starting"}
            elapsed = time.monotonic() - started
            if len(status) == len(HEALTH_KEYS) and all(value == "healthy" for value in status.values()):
                self._log(f"[devstack] Airflow healthy after {elapsed:.1f}s")
                return elapsed
            if elapsed - last_note >= 3:
                parts = ", ".join(f"{k}={v}" for k, v in status.items())
                self._log(f"[devstack]   waiting for Airflow ({elapsed:.0f}s): {parts}")
                last_note = elapsed
            time.sleep(0.5)
        raise ProcessError(f"Airflow not healthy within {timeout:.0f}s ({status}); logs in {self.supervisor.log_dir}")

    def check_import_errors(self, files: Iterable[str] | None = None) -> None:
        """Raise ImportErrorsFound with each failing file's traceback (only `files`, if given)."""
        errors = self.api.import_errors()
        wanted = set(files) if files is not None else None
        errors = [e for e in errors if wanted is None or Path(e["filename"]).name in wanted]
        if errors:
            text = "\n\n".join(f"{e['filename']}:\n{e.get('stack_trace', '')}" for e in errors)
            raise ImportErrorsFound(f"{len(errors)} DAG file(s) failed to import:\n{text}")

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120.0) -> float:
        """Wait until the DAG processor has stored every DAG; fail at once on an import error."""
        timeout *= load_patience()
        started = time.monotonic()
        missing = sorted(set(dag_ids))
        last_note = 0.0
        while (elapsed := time.monotonic() - started) < timeout:
            self.supervisor.check_alive()
            self.check_import_errors()
            missing = [dag_id for dag_id in missing if self.api.dag(dag_id) is None]
            if not missing:
                return elapsed
            if elapsed - last_note >= 3:
                self._log(f"[devstack]   waiting for DAGs ({elapsed:.0f}s): {', '.join(missing)}")
                last_note = elapsed
            time.sleep(0.5)
        raise ProcessError(
            f"DAGs {missing} not parsed within {timeout:.0f}s. Is the DAGs folder right "
            f"({self.airflow_env['AIRFLOW__CORE__DAGS_FOLDER']})? See "
            f"{self.supervisor.log_dir / 'dag-processor.log'}"
        )

    def watchers(self) -> dict[int, str]:
        """Every asset watcher Airflow registered: trigger id -> "<asset>/<watcher>"."""
        return {
            watcher["trigger_id"]: f"{asset['name']}/{watcher['name']}"
            for asset in self.api.assets()
            for watcher in asset.get("watchers") or []
        }

    def started_triggers(self) -> set[int]:
        """Ids of the triggers the triggerers started since this stack started (read from their logs)."""
        found: set[int] = set()
        for name in replica_names("triggerer", self.triggerers):
            try:
                with (self.supervisor.log_dir / f"{name}.log").open("rb") as log:
                    log.seek(self._triggerer_log_offsets.get(name, 0))
                    text = log.read().decode("utf-8", errors="replace")
            except OSError:
                continue
            found |= {int(trigger) for trigger in TRIGGER_STARTING.findall(text)}
        return found

    def wait_watchers_polling(self, timeout: float = 120.0) -> float:
        """Wait until every registered asset watcher's trigger runs in the triggerer; return seconds.

        What Airflow exposes, read on both sides: the watchers (and their trigger ids) from the REST
        API, and the triggerer's own "trigger ID <n> starting" line for each. This holds whatever
        trigger the watchers use. A stack whose DAGs register no watcher (a folder landing zone) is
        ready at once. Fails with what was seen, and the triggerer log's tail, at the deadline.
        """
        timeout *= load_patience()
        started = time.monotonic()
        last_note, watchers, running = 0.0, {}, set()
        while (elapsed := time.monotonic() - started) < timeout:
            self.supervisor.check_alive()
            watchers = self.watchers()
            running = self.started_triggers()
            if not set(watchers) - running:
                if watchers:
                    self._log(f"[devstack] {len(watchers)} asset watcher(s) polling after {elapsed:.1f}s")
                return elapsed
            if elapsed - last_note >= 3:
                pending = sorted(name for trigger_id, name in watchers.items() if trigger_id not in running)
                self._log(
                    f"[devstack]   waiting for the triggerer to start {len(pending)} of {len(watchers)} "
                    f"watcher(s) ({elapsed:.0f}s): {', '.join(pending[:5])}{' ...' if len(pending) > 5 else ''}"
                )
                last_note = elapsed
            time.sleep(0.3)
        pending = sorted(name for trigger_id, name in watchers.items() if trigger_id not in running)
        raise ProcessError(
            f"the triggerer did not start watcher(s) {pending} within {timeout:.0f}s (running trigger ids: "
            f"{sorted(running)}); last lines of {self.supervisor.log_dir / 'triggerer.log'}:\n"
            f"{tail(self.supervisor.log_dir / 'triggerer.log')}"
        )
