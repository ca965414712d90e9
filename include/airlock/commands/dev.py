"""`airlock dev`: the local stack (moto + landing zone + real Airflow), up until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airlock.errors import ConfigError

if TYPE_CHECKING:
    from airlock.devstack import LocalStack
from airlock.settings import load_settings, project_home
from airlock.tenants import tenant_ids

EPILOG = """\
what it starts (each in its own process group, logs under STATE_DIR/logs/):
  moto          local AWS endpoint on 127.0.0.1:<free port> (skipped with --landing folder)
  api-server    Airflow UI and REST API on http://localhost:PORT (no login: local only)
  scheduler, dag-processor, triggerer
The landing zone gets buckets airlock-ENV-{landing,raw,quarantine}, the shared SQS queue (+ DLQ) of
the standard tier, one queue (+ DLQ) per dedicated tenant, and EventBridge rules routing each upload
to its queue, as in docs/contracts.md.

onboarding while it runs (without --tenants): a new dags/registry/tenants/<id>.yaml is picked up within
seconds. A standard tenant needs nothing new (its uploads go to the shared queue); a dedicated one
gets its queue and rule, and the DAG processor restarts to add its watcher.

Ctrl-C (or SIGTERM) stops everything: SIGINT, then SIGTERM, then SIGKILL per process group, and
checks that no process survives. A run killed with SIGKILL is cleaned up by the next start.

examples:
  airlock dev                          # all tenants of dags/registry/tenants/, UI on :8080
  airlock dev --tenants acme --port 8081
  source var/devstack/env.sh           # in another shell: the stack's AIRLOCK_*/AWS_* settings
"""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "dev",
        help="run the local stack (local AWS endpoint + Airflow UI on :8080) until Ctrl-C",
        description="Start a local AWS endpoint wired like the landing zone, and real Airflow "
        "processes (api-server, scheduler, dag-processor, triggerer) on this machine. Stays up "
        "until Ctrl-C, then stops everything with no orphans.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8080, help="Airflow UI/API port (default: 8080)")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the stack keeps its database, logs and pidfile (default: $AIRLOCK_DATA_DIR/devstack)",
    )
    parser.add_argument(
        "--landing",
        choices=("s3", "folder"),
        default="s3",
        help="s3: buckets and SQS queues on a local endpoint (default); folder: plain folders, no queues",
    )
    parser.add_argument(
        "--tenants",
        default=None,
        help="comma-separated tenant ids to wire (default: every file in the tenants folder)",
    )
    parser.add_argument("--env-name", default="local", help="the <env> in bucket and queue names (default: local)")
    parser.add_argument("--dags-folder", type=Path, default=None, help="DAG folder (default: <repo>/dags)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="Airflow metadata database URL (default: SQLite under the state dir)",
    )
    parser.set_defaults(func=run)


def _default_state_dir() -> Path:
    return Path(os.environ.get("AIRLOCK_DATA_DIR") or project_home() / "var") / "devstack"


def _tenants(arg: str | None) -> list[str]:
    if arg:
        return [t.strip() for t in arg.split(",") if t.strip()]
    settings = load_settings()
    try:
        found = tenant_ids(settings.tenants_dir)
    except FileNotFoundError:
        raise ConfigError(
            f"no tenants folder at {settings.tenants_dir}: set AIRLOCK_TENANTS_DIR or pass --tenants"
        ) from None
    if not found:
        raise ConfigError(f"no tenants in {settings.tenants_dir}: add one, or pass --tenants")
    return found


def _write_env_file(path: Path, env: dict[str, str]) -> None:
    """So another shell can `source` the stack's settings (boto3, airlock commands, pytest)."""
    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    # Heavy imports (boto3, httpx, psutil) only when this command runs, not for `airlock --help`.
    from airlock.devstack import LocalStack
    from airlock.devstack.processes import StopRequested

    state_dir = (args.state_dir or _default_state_dir()).resolve()
    tenants = _tenants(args.tenants)
    follow = args.tenants is None  # an explicit --tenants list is the set the developer wants
    stack = LocalStack(
        state_dir,
        tenants,
        port=args.port,
        landing=args.landing,
        env_name=args.env_name,
        dags_folder=args.dags_folder,
        database_url=args.database_url,
        fail_on_import_errors=False,
    )
    try:
        with stack:
            _serve(stack, state_dir, tenants, follow=follow)
    except (KeyboardInterrupt, StopRequested):
        pass  # the normal way to end: the stack has stopped and printed what it stopped
    report = stack.stop_report
    if report and report.survivors:
        print(f"airlock dev: processes survived the stop: {report.survivors}")
        return 1
    return 0


def _serve(stack: LocalStack, state_dir: Path, tenants: list[str], *, follow: bool = False) -> None:
    """Print where everything is, then watch: die loudly with a component, report import errors,
    and (with `follow`) pick up tenant files added while running."""
    env_file = state_dir / "env.sh"
    _write_env_file(env_file, stack.env)
    print()
    print(f"  Airflow UI     {stack.url}   (no login)")
    print(f"  REST API       {stack.url}/api/v2   (docs: {stack.url}/docs)")
    if stack.endpoint_url:
        moto = stack.endpoint_url
        print(f"  AWS endpoint   {moto}   (moto; dashboard: {moto}/moto-api/)")
    print(f"  tenants        {', '.join(tenants)}")
    print(f"  logs           {stack.supervisor.log_dir}/")
    print(f"  started in     {stack.timings.get('total', 0):.1f}s   {stack.timings}")
    print("\n  environment (also in " + str(env_file) + "):")
    for key, value in sorted(stack.env.items()):
        print(f"    {key}={value}")
    if stack.endpoint_url and tenants:
        print("\n  try:")
        print(
            f"    aws --endpoint-url {stack.endpoint_url} s3 cp FILE "
            f"{stack.env['AIRLOCK_LANDING_URL']}/{tenants[0]}/<dataflow>/<batch_id>/FILE"
        )
    print("\n  Ctrl-C stops everything.\n", flush=True)
    reported: set[tuple[str, str]] = set()
    registry = _RegistryFollower(load_settings().tenants_dir, tenants) if follow else None
    while True:
        stack.supervisor.check_alive()  # a component that dies takes the stack down, loudly
        reported = _report_import_errors(stack, reported)
        if registry is not None and registry.changed():
            _onboard(stack, state_dir, registry.tenants)
        time.sleep(2)


class _RegistryFollower:
    """The tenants folder as `airlock dev` last saw it: file names and modification times, nothing parsed."""

    def __init__(self, folder: Path, tenants: list[str]) -> None:
        self.folder = folder
        self.tenants = tenants
        self._seen = self._scan()
        self._warned: set[str] = set()

    def _scan(self) -> dict[str, float]:
        try:
            return {p.name: p.stat().st_mtime for p in self.folder.iterdir() if p.is_file()}
        except OSError:
            return {}

    def changed(self) -> bool:
        now = self._scan()
        if now == self._seen:
            return False
        self._seen = now
        for name in sorted(n for n in now if n.endswith(".yml") and n not in self._warned):
            self._warned.add(name)
            print(f"[devstack] ignoring {self.folder / name}: tenant files end in .yaml. Rename it.", flush=True)
        self.tenants = tenant_ids(self.folder)
        return True


def _onboard(stack: LocalStack, state_dir: Path, tenants: list[str]) -> None:
    """Wire what a changed tenants folder needs, and say what happened."""
    before = set(stack.tenant_ids)
    done = stack.rewire(tenants)
    for tenant in done.added:
        tier = (
            "dedicated: its own queue and rule are wired"
            if tenant in stack.dedicated
            else ("standard: its uploads go to the shared queue, nothing to wire")
        )
        print(f"[devstack] new tenant {tenant} ({tier})", flush=True)
    for tenant in sorted(before - set(stack.tenant_ids)):
        print(f"[devstack] tenant {tenant} is gone from the registry", flush=True)
    if done.dedicated_gained or done.dedicated_lost:
        moved = ", ".join([*(f"+{t}" for t in done.dedicated_gained), *(f"-{t}" for t in done.dedicated_lost)])
        note = "the DAG processor restarted to update the router's watchers" if done.restarted else ""
        print(f"[devstack] dedicated queues changed ({moved}); {note}", flush=True)
        _write_env_file(state_dir / "env.sh", stack.env)


def _report_import_errors(stack: LocalStack, reported: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Print each new import error once (and say when a file is fixed): the edit-save-look loop."""
    from airlock.devstack.airflow_api import AirflowApiError

    try:
        errors = stack.api.import_errors()
    except AirflowApiError:
        return reported
    current = {(e["filename"], e.get("stack_trace") or "") for e in errors}
    for filename, trace in sorted(current - reported):
        print(f"[devstack] import error in {filename}:\n{trace}", flush=True)
    for filename in sorted({f for f, _ in reported} - {f for f, _ in current}):
        print(f"[devstack] {filename} imports cleanly now", flush=True)
    return current
