"""LocalStack: moto + landing-zone wiring + Airflow, as one context manager.

`airlock dev`, the demo and the end-to-end tests all start the stack through this class, so the
stack a developer clicks through is the one the tests prove.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import psutil
import yaml

from airlock.devstack.airflow_api import AirflowApi
from airlock.devstack.airflow_stack import AirflowStack
from airlock.devstack.local_aws import aws_env, client, port_in_use, start_moto, wire_landing_zone
from airlock.devstack.processes import (
    ProcessError,
    StopReport,
    Supervisor,
    reap_stale,
    stack_memory,
    terminate_trees,
)
from airlock.devstack.relay import start_relay
from airlock.settings import load_settings

Landing = Literal["s3", "folder"]


@dataclass(frozen=True)
class Rewired:
    """What `LocalStack.rewire` changed."""

    added: list[str]
    dedicated_gained: list[str]
    dedicated_lost: list[str]
    restarted: bool


class LocalStack:
    """Everything airlock needs on a laptop, started in order and stopped with no orphans.

    ``with LocalStack(state_dir, ["acme", "globex"], port=8080) as stack:`` starts moto (unless
    ``landing="folder"``), creates the landing zone, migrates and starts Airflow, and returns once
    every component is healthy, `wait_dags` are parsed without import errors and, with
    ``wait_watchers=True``, every asset watcher's trigger runs in the triggerer (an import error
    fails the start with its traceback, unless ``fail_on_import_errors=False``, as for `airlock dev`,
    where the developer wants the stack up to fix the DAG). Leaving the block
    (also by exception, Ctrl-C or SIGTERM) stops everything; `stop_report` then says what stopped.

    ``dedicated`` names the tenants with queues of their own (default: those whose registry file says
    `isolation_tier: dedicated`); every other tenant's events go to the shared queue.

    ``provision`` replaces the built-in wiring of buckets and queues: it is called with the local
    endpoint's URL and returns the AIRLOCK_* environment, as `airlock.infra.apply_local` does by
    applying Terraform's envs/local (`airlock demo --infra terraform`).

    Attributes after entry:
        env: the AIRLOCK_* / AWS_* / AIRFLOW_CONN_* environment the DAGs run with (and the caller
            can use for its own boto3 or airlock calls);
        api: AirflowApi on the REST API; url: the UI;
        s3, sqs: boto3 clients on the local endpoint (None with a folder landing zone);
        endpoint_url: the local AWS endpoint (None with a folder landing zone);
        timings: seconds per startup phase (moto, wiring, migrate, start, healthy, dags, total).

    Fault tests: ``schedulers=2, triggerers=2`` (with a PostgreSQL ``database_url``) run Airflow HA as
    Astro and MWAA do; ``aws_relay=True`` puts a relay between the stack and moto (`relay_url`), so
    the endpoint can be stopped and restarted without losing what moto holds.
    """

    def __init__(
        self,
        state_dir: Path | str,
        tenant_ids: Iterable[str],
        *,
        port: int = 8080,
        extra_env: Mapping[str, str] | None = None,
        landing: Landing = "s3",
        env_name: str = "local",
        dags_folder: Path | str | None = None,
        database_url: str | None = None,
        wait_dags: Iterable[str] = (),
        wait_watchers: bool = False,
        healthy_timeout: float = 180.0,
        fail_on_import_errors: bool = True,
        provision: Callable[[str], Mapping[str, str]] | None = None,
        dedicated: Iterable[str] | None = None,
        log: Callable[[str], None] = print,
        schedulers: int = 1,
        triggerers: int = 1,
        aws_relay: bool = False,
    ) -> None:
        if landing not in ("s3", "folder"):
            raise ValueError(f"landing={landing!r}: use 's3' (moto) or 'folder'")
        self.state_dir = Path(state_dir).resolve()
        self.tenant_ids = sorted(set(tenant_ids))
        self.port = port
        self.extra_env = dict(extra_env or {})
        self.landing = landing
        self.env_name = env_name
        self.dags_folder = Path(dags_folder).resolve() if dags_folder else None
        self.database_url = database_url
        self.wait_dags = list(wait_dags)
        self.wait_watchers = wait_watchers
        self.healthy_timeout = healthy_timeout
        self.fail_on_import_errors = fail_on_import_errors
        self.provision = provision
        self.dedicated = sorted(set(dedicated)) if dedicated is not None else dedicated_tenants(self.tenant_ids)
        self._log = log
        self.schedulers, self.triggerers = schedulers, triggerers
        self.aws_relay = aws_relay

        self.supervisor = Supervisor(self.state_dir, log=log)
        self.env: dict[str, str] = {}
        self.endpoint_url: str | None = None
        self.relay_url: str | None = None
        self.s3: Any = None
        self.sqs: Any = None
        self.airflow: AirflowStack | None = None
        self.timings: dict[str, float] = {}
        self.stop_report: StopReport | None = None

    # -- public API ---------------------------------------------------------------------------------
    @property
    def api(self) -> AirflowApi:
        if self.airflow is None:
            raise RuntimeError("the stack is not started: use `with LocalStack(...) as stack:`")
        return self.airflow.api

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """Every live process of the stack (roots, workers, task processes)."""
        return self.supervisor.all_processes()

    def rss_bytes(self) -> int:
        """Sum of the stack's resident sets (shared library pages counted once per process)."""
        return stack_memory(self.processes())

    def uss_bytes(self) -> int:
        """Sum of the stack's unique memory: a fairer figure for 'what the stack costs'."""
        return stack_memory(self.processes(), unique=True)

    def rewire(self, tenant_ids: Iterable[str]) -> Rewired:
        """Onboard (or offboard) tenants while the stack runs: wire the endpoint for `tenant_ids` as at start.

        A standard tenant needs nothing (the shared queue's rule already covers its prefix). A change
        in the dedicated tier (a new dedicated tenant, or one moved between tiers) gets its queue and
        rule, and the DAG processor restarts with the new AIRLOCK_DEDICATED_TENANTS so that the router
        gains (or drops) that queue's watcher, as a settings deploy does on Astro or MWAA.
        """
        ids = sorted(set(tenant_ids))
        dedicated = dedicated_tenants(ids)
        added = sorted(set(ids) - set(self.tenant_ids))
        if self.endpoint_url is None:
            self.tenant_ids = ids  # a folder landing zone: nothing to wire
            return Rewired(added, [], [], restarted=False)
        if self.provision is not None:  # the wiring is Terraform's: apply it again, take the tiers it outputs
            env = dict(self.provision(self.endpoint_url))
            dedicated = sorted(t for t in env.get("AIRLOCK_DEDICATED_TENANTS", "").split(",") if t)
        else:
            env = wire_landing_zone(self.endpoint_url, self.env_name, ids, dedicated=dedicated)
        if self.relay_url:  # as at start: the stack reaches moto through its relay
            env = {k: v.replace(self.endpoint_url, self.relay_url) for k, v in env.items()}
        gained, lost = sorted(set(dedicated) - set(self.dedicated)), sorted(set(self.dedicated) - set(dedicated))
        self.tenant_ids, self.dedicated = ids, dedicated
        self.env.update(env)
        restarted = False
        if (gained or lost) and self.airflow is not None:
            self.airflow.env.update(env)
            self._restart("dag-processor")
            restarted = True
        return Rewired(added, gained, lost, restarted)

    def _restart(self, name: str) -> None:
        """Stop one Airflow component and start it again with the stack's current environment."""
        assert self.airflow is not None
        managed = next(p for p in self.supervisor.processes if p.name == name)
        root = psutil.Process(managed.pid)
        report = terminate_trees({name: [root, *root.children(recursive=True)]}, popens=[managed.popen], log=self._log)
        if report.survivors:
            raise ProcessError(f"{name} did not stop for its restart: {report.survivors}")
        self.supervisor.processes.remove(managed)
        self.supervisor.start(
            name, managed.argv, env=self.airflow.env, cwd=managed.cwd, tier=managed.tier, escalation=managed.escalation
        )

    def stop(self) -> StopReport:
        """Stop everything now (idempotent; leaving the `with` block does the same)."""
        self._stop()
        return self.stop_report or StopReport()

    # -- lifecycle ----------------------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        reap_stale(self.state_dir, log=self._log)
        self.supervisor.__enter__()
        try:
            self._start()
        except BaseException:
            self._stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop()

    def _stop(self) -> None:
        if self.stop_report is not None:
            return
        try:
            if self.airflow is not None:
                self.airflow.api.close()
            self.stop_report = self.supervisor.stop()
            if self.stop_report.stopped:
                self._log(f"[devstack] {self.stop_report.summary()}")
            if self.stop_report.survivors:
                self._log(f"[devstack] WARNING: could not stop {self.stop_report.survivors}")
        finally:
            self.supervisor.__exit__(None, None, None)

    def _phase(self, name: str, started: float) -> float:
        now = time.monotonic()
        self.timings[name] = round(now - started, 2)
        return now

    def _start(self) -> None:
        t0 = t = time.monotonic()
        if port_in_use(self.port):  # fail before spending ~10 s on moto and the migration
            raise ProcessError(f"port {self.port} is in use (another Airflow?): stop it, or choose another port")
        if self.landing == "s3":
            self._log("[devstack] starting the local AWS endpoint (moto) ...")
            self.endpoint_url = start_moto(self.supervisor)
            t = self._phase("moto", t)
            if self.provision is None:
                self.env = wire_landing_zone(
                    self.endpoint_url, self.env_name, self.tenant_ids, dedicated=self.dedicated
                )
            else:  # e.g. Terraform's envs/local (airlock.infra.apply_local): the production wiring
                self.env = {**aws_env(self.endpoint_url, self.env_name), **self.provision(self.endpoint_url)}
            if self.aws_relay:  # the stack talks to moto through a relay a fault test can stop (devstack.relay)
                self.relay_url = start_relay(self.supervisor, self.endpoint_url)
                self.env = {k: v.replace(self.endpoint_url, self.relay_url) for k, v in self.env.items()}
            self.s3 = client("s3", self.endpoint_url)
            self.sqs = client("sqs", self.endpoint_url)
            t = self._phase("wiring", t)
            self._log(
                f"[devstack] landing zone wired: {len(self.tenant_ids)} tenant(s), the shared queue and "
                f"{len(self.dedicated)} dedicated queue(s) {self.dedicated or ''}"
            )
        else:
            self.env = self._folder_env()
        self.env.update(self.extra_env)
        self.env.setdefault("AIRLOCK_AIRFLOW_URL", self.url)  # run links of `airlock status` (env.sh)

        self.airflow = AirflowStack(
            self.supervisor,
            self.state_dir,
            port=self.port,
            env=self.env,
            dags_folder=self.dags_folder,
            database_url=self.database_url,
            log=self._log,
            schedulers=self.schedulers,
            triggerers=self.triggerers,
        )
        self.airflow.migrate()
        t = self._phase("migrate", t)
        self.airflow.start()
        t = self._phase("start", t)
        self.airflow.wait_healthy(self.healthy_timeout)
        t = self._phase("healthy", t)
        if self.fail_on_import_errors:
            self.airflow.check_import_errors()
        if self.wait_dags:
            self.airflow.wait_for_dags(self.wait_dags)
            t = self._phase("dags", t)
        if self.wait_watchers:  # events sent before a watcher polls wait on its queue: a slow first batch
            self.airflow.wait_watchers_polling()
            t = self._phase("watchers", t)
        self.timings["total"] = round(time.monotonic() - t0, 2)

    def _folder_env(self) -> dict[str, str]:
        """A landing zone of plain folders under the state dir: no endpoint, no queues, no watchers."""
        roots = {name: self.state_dir / name for name in ("landing", "raw", "quarantine")}
        for path in roots.values():
            path.mkdir(parents=True, exist_ok=True)
        return {
            "AIRLOCK_ENV": self.env_name,
            "AIRLOCK_LANDING_URL": str(roots["landing"]),
            "AIRLOCK_RAW_URL": str(roots["raw"]),
            "AIRLOCK_QUARANTINE_URL": str(roots["quarantine"]),
        }


def dedicated_tenants(tenant_ids: Iterable[str], tenants_dir: Path | None = None) -> list[str]:
    """The tenants whose registry file says `isolation_tier: dedicated`.

    Tolerant on purpose: a tenant file that does not parse is that tenant's problem (the router reports
    it); the stack still comes up, with the tenant on the shared queue.
    """
    folder = tenants_dir or load_settings().tenants_dir
    found = []
    for tenant in tenant_ids:
        try:
            doc = yaml.safe_load((folder / f"{tenant}.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(doc, dict) and doc.get("isolation_tier") == "dedicated":
            found.append(tenant)
    return sorted(found)
