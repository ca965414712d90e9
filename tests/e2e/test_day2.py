"""Day-2 operations on the real local stack: moto (provisioned by Terraform's envs/local), Airflow, dbt on DuckDB.

One stack, one story, in order (each step reads what the one before left):
1. three tenants of the `orders` dataflow deliver a batch each; each is processed once (attempt 1);
2. Airflow's partition clear of a processed batch, with content and code unchanged: the new attempt is skipped;
3. a model changes; `airlock reprocess` of one batch runs a new attempt and the marts change;
4. the model changes again; `airlock reprocess --dataflow orders --changed` backfills all three tenants;
5. `airlock tenant offboard globex`, then Terraform applied again: no schema, no queue, no watcher, and the
   other tenants go on (a new batch of acme is processed);
6. `airlock tenant erase globex`: its key is disabled and scheduled for deletion; every globex snapshot object
   is encrypted with that key. moto stores SSE-KMS objects without enforcing the key on GetObject (AWS does:
   KMS.KMSInvalidStateException), so the test proves the two facts AWS's refusal rests on, on the endpoint.
The CLI runs as users run it (`python -m airlock ...`, in a subprocess) and each command's time is printed
(`DAY2 <task> <seconds>`): docs/operations.md's table comes from these lines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from airlock.demo.runner import DAGS
from airlock.devstack.local_aws import client, free_port
from airlock.devstack.stack import LocalStack
from airlock.infra import apply_local
from airlock.landing import BatchRef
from airlock.lifecycle.erase import is_marker
from airlock.processing import list_attempts
from airlock.snapshot import read_manifest
from airlock.storage import open_storage
from tests.waiting import patience

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]

REPO = Path(__file__).resolve().parents[2]
TENANTS = ["acme", "globex", "hooli"]
BATCH = "20261120"
ORDERS = "order_id,customer_id,ordered_at,amount\n1,c1,2026-11-20,10.5\n2,c2,2026-11-20,7\n"
CUSTOMERS = "customer_id,customer_name,country\nc1,Ann,FR\nc2,Bob,DE\n"
GLOBEX_ORDERS = '{"order_id": "9", "customer_id": "c1", "ordered_at": "2026-11-20", "amount": "5"}\n'
GLOBEX_CUSTOMERS = "customer_id,customer_name,country,segment\nc1,Ann,FR,b2b\n"
FILES = {
    "acme": {"orders.csv": ORDERS, "customers.csv": CUSTOMERS},
    "hooli": {"orders.csv": ORDERS, "customers.csv": CUSTOMERS},
    "globex": {"orders.jsonl": GLOBEX_ORDERS, "customers.csv": GLOBEX_CUSTOMERS},
}
FCT_ORDERS = Path("models/marts/orders/fct_orders.sql")
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, Path]]:
    """A registry and a dbt project of the test's own: the test moves tenant files and edits a model."""
    root = REPO / "var" / "e2e" / f"day2-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    registry = root / "registry"
    shutil.copytree(REPO / "dags" / "registry" / "dataflows", registry / "dataflows")
    (registry / "tenants").mkdir(parents=True)
    for tenant in ("acme", "globex"):
        shutil.copy(REPO / "dags" / "registry" / "tenants" / f"{tenant}.yaml", registry / "tenants")
    hooli = (registry / "tenants" / "acme.yaml").read_text()
    hooli = hooli.replace("tenant_id: acme", "tenant_id: hooli").replace("tenant_acme", "tenant_hooli")
    (registry / "tenants" / "hooli.yaml").write_text(hooli.replace("name: Acme Retail", "name: Hooli"))
    shutil.copytree(
        REPO / "dbt_project",
        root / "dbt_project",
        ignore=shutil.ignore_patterns("logs", "*.duckdb", "*.duckdb.wal", "partial_parse.msgpack"),
    )
    # The stack's helpers read the registry through the settings too (the tiers of `rewire`): this one.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRLOCK_TENANTS_DIR", str(registry / "tenants"))
        env.setenv("AIRLOCK_DATAFLOWS_DIR", str(registry / "dataflows"))
        yield {"root": root, "tenants": registry / "tenants", "dataflows": registry / "dataflows",
               "dbt": root / "dbt_project"}  # fmt: skip


def provisioner(world: dict[str, Path]):
    def provision(endpoint_url: str) -> dict[str, str]:
        return apply_local(
            endpoint_url,
            work_dir=world["root"] / "terraform",
            tenants_dir=str(world["tenants"]),
            dataflows_dir=str(world["dataflows"]),
            enable_ecs=False,
        )

    return provision


@pytest.fixture(scope="module")
def stack(world) -> Iterator[LocalStack]:
    extra = {
        "AIRLOCK_TENANTS_DIR": str(world["tenants"]),
        "AIRLOCK_DATAFLOWS_DIR": str(world["dataflows"]),
        "AIRLOCK_DBT_PROJECT_DIR": str(world["dbt"]),
        "AIRLOCK_WAREHOUSE_DIR": str(world["root"] / "warehouse"),
        "AIRLOCK_RECONCILE_INTERVAL": "10s",
    }
    port = free_port()  # an ephemeral port the OS hands out: two pytest workers never share one
    started = time.monotonic()
    with LocalStack(world["root"] / "stack", TENANTS, port=port, extra_env=extra, wait_dags=DAGS,
                    wait_watchers=True, provision=provisioner(world)) as running:  # fmt: skip
        TIMES["stack up (Terraform envs/local + Airflow)"] = time.monotonic() - started
        yield running
    # The figures docs/operations.md quotes, with the machine's load (not a check: a record).
    record = {"load_average": os.getloadavg(), "seconds": {k: round(v, 1) for k, v in TIMES.items()}}
    (world["root"] / "timings.json").write_text(json.dumps(record, indent=2))
    print(f"DAY2-TIMINGS {json.dumps(record)}")
    assert not (running.stop_report and running.stop_report.survivors), running.stop_report


def airlock(stack: LocalStack, task: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, against the stack; record how long it took."""
    env = {**os.environ, **stack.env, "AIRLOCK_AIRFLOW_URL": stack.url, "PYTHONPATH": str(REPO / "include")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "airlock", *args], env=env, capture_output=True, text=True, timeout=patience(1200)
    )
    TIMES[task] = time.monotonic() - started
    print(f"DAY2 {task}: {TIMES[task]:.1f}s\n$ airlock {' '.join(args)}\n{done.stdout}{done.stderr[-3000:]}")
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def raw(stack: LocalStack):
    return open_storage(stack.env["AIRLOCK_RAW_URL"], client=stack.s3)


def upload(stack: LocalStack, tenant: str, batch: str) -> None:
    bucket = stack.env["AIRLOCK_LANDING_URL"].removeprefix("s3://")
    for name, body in FILES[tenant].items():
        key = f"{tenant}/orders/{batch}/{name}"
        extra: dict[str, Any] = {}
        if template := stack.env.get("AIRLOCK_TENANT_KEY_TEMPLATE"):
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": template.format(tenant=tenant)}
        stack.s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), **extra)


def attempts(stack: LocalStack, tenant: str, batch: str = BATCH) -> list[dict[str, Any]]:
    return list_attempts(raw(stack), BatchRef(tenant, "orders", batch))


def wait_attempts(stack: LocalStack, tenant: str, count: int, batch: str = BATCH, timeout: float = 600) -> list[dict]:
    """Until the batch has `count` attempts and the last has ended; fail saying what was seen."""
    deadline = time.monotonic() + patience(timeout)
    seen: list[dict] = []
    while time.monotonic() < deadline:
        seen = attempts(stack, tenant, batch)
        if len(seen) >= count and seen[-1].get("status") in ("success", "failed", "skipped"):
            return seen
        time.sleep(2)
    summary = [(a.get("attempt"), a.get("run_id"), a.get("status")) for a in seen]
    pytest.fail(f"{tenant}|{batch}: wanted {count} finished attempt(s) within {timeout:.0f}s (scaled); saw {summary}")


def marts(world: dict[str, Path], tenant: str, sql: str) -> list[tuple]:
    """A query on the tenant's DuckDB file, its schema first on the search path (tenant_<id>.fct_orders)."""
    path = world["root"] / "warehouse" / f"{tenant}.duckdb"
    deadline = time.monotonic() + patience(60)
    while True:  # the processing run may still hold the writer lock for a moment
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    try:
        con.execute(f"set search_path = 'tenant_{tenant}'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def change_model(world: dict[str, Path], version: str) -> None:
    """An analyst's edit of fct_orders (a new column), then the manifest rebuilt as `make manifest` does."""
    path = world["dbt"] / FCT_ORDERS
    text = path.read_text()
    if "as model_version" in text:
        text = "\n".join(ln for ln in text.splitlines() if "as model_version" not in ln) + "\n"
    path.write_text(
        text.replace(
            "select\n    orders.order_id,", f"select\n    '{version}' as model_version,\n    orders.order_id,", 1
        )
    )
    dbt = os.environ.get("AIRLOCK_DBT_EXECUTABLE") or str(REPO / ".venv-dbt" / "bin" / "dbt")
    done = subprocess.run(
        [dbt, "parse", "--quiet", "--project-dir", str(world["dbt"]), "--profiles-dir", str(world["dbt"])],
        env={**os.environ, "AIRLOCK_WAREHOUSE_DIR": str(world["root"] / "parse")},
        capture_output=True,
        text=True,
        timeout=patience(300),
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- the story -------------------------------------------------------------------------------------------------
def test_1_three_tenants_each_processed_once(stack, world):
    for tenant in TENANTS:
        upload(stack, tenant, BATCH)
    for tenant in TENANTS:
        first = wait_attempts(stack, tenant, 1)
        assert [(a["attempt"], a["status"]) for a in first] == [(1, "success")], (tenant, first)
        assert marts(world, tenant, "select distinct _batch_id from fct_orders") == [(BATCH,)]


def test_2_identical_content_and_code_is_skipped(stack):
    cleared = stack.api.clear_partition("process_orders", f"acme|{BATCH}", note="e2e: same content, same code")
    assert cleared, "Airflow re-queued the batch's run"
    after = wait_attempts(stack, "acme", 2)
    assert after[-1]["status"] == "skipped" and "unchanged" in after[-1]["reason"], after[-1]
    assert after[-1]["code_version"] == after[0]["code_version"]


def test_3_reprocess_one_batch_after_a_model_change(stack, world):
    change_model(world, "v2")
    plan = airlock(stack, "reprocess --dry-run", "reprocess", "--tenant", "acme", "--batch", BATCH, "--dry-run")
    assert "1 to re-run" in plan.stdout and "fct_orders modified" in plan.stdout
    airlock(stack, "re-process one batch", "reprocess", "--tenant", "acme", "--batch", BATCH, "--wait")
    latest = attempts(stack, "acme")[-1]
    assert (latest["attempt"], latest["status"]) == (3, "success"), latest
    assert latest["code_version"] != attempts(stack, "acme")[0]["code_version"], "changed code is not skipped"
    assert marts(world, "acme", "select distinct model_version from fct_orders") == [("v2",)]
    with pytest.raises(duckdb.BinderException):  # only acme was re-processed
        marts(world, "hooli", "select model_version from fct_orders")


def test_4_backfill_a_dataflow_across_three_tenants(stack, world):
    change_model(world, "v3")
    airlock(stack, "backfill (3 tenants)", "reprocess", "--dataflow", "orders", "--changed", "--wait")
    for tenant in TENANTS:
        latest = attempts(stack, tenant)[-1]
        assert latest["status"] == "success", (tenant, latest)
        assert marts(world, tenant, "select distinct model_version from fct_orders") == [("v3",)], tenant
    status = airlock(stack, "status", "status", "--json")
    rows = {(r["tenant_id"], r["dataflow"]): r for r in json.loads(status.stdout)}
    assert rows[("acme", "orders")]["label"] == "done (attempt 4)"


def _watchers(stack: LocalStack) -> list[str]:
    return [f"{a['name']}/{w['name']}" for a in stack.api.assets() for w in a.get("watchers") or []]


def _queues(stack: LocalStack) -> list[str]:
    return [url.rsplit("/", 1)[-1] for url in stack.sqs.list_queues().get("QueueUrls", [])]


def test_5_offboarding_leaves_no_schema_queue_or_watcher(stack, world):
    assert any("globex" in q for q in _queues(stack)), _queues(stack)
    airlock(stack, "offboard", "tenant", "offboard", "globex", "--export-to", str(world["root"] / "exports"))
    assert not (world["root"] / "warehouse" / "globex.duckdb").exists(), "its schemas are gone with its file"
    exported = json.loads(next((world["root"] / "exports" / "globex").glob("*/_EXPORT.json")).read_text())
    assert exported["tables"]["tenant_globex.fct_orders"]["rows"] == 1
    assert (world["tenants"].parent / "offboarded" / "globex.yaml").exists()
    started = time.monotonic()
    done = stack.rewire(["acme", "hooli"])  # Terraform applied again, and the settings it outputs deployed
    TIMES["offboard: terraform apply + settings deploy"] = time.monotonic() - started
    assert done.dedicated_lost == ["globex"] and done.restarted, done
    assert not [q for q in _queues(stack) if "globex" in q], _queues(stack)
    deadline = time.monotonic() + patience(300)
    while [w for w in _watchers(stack) if "globex" in w] and time.monotonic() < deadline:
        time.sleep(3)  # the restarted DAG processor parses the router without globex's queue
    assert not [w for w in _watchers(stack) if "globex" in w], _watchers(stack)
    # the others are untouched and go on
    assert marts(world, "hooli", "select distinct model_version from fct_orders") == [("v3",)]
    upload(stack, "acme", "20261121")
    assert wait_attempts(stack, "acme", 1, batch="20261121")[-1]["status"] == "success"


def test_6_erasure_shreds_the_tenants_key(stack, world):
    kms = client("kms", stack.endpoint_url)
    alias = stack.env["AIRLOCK_TENANT_KEY_TEMPLATE"].format(tenant="globex")
    key = kms.describe_key(KeyId=alias)["KeyMetadata"]
    objects = [o for o in raw(stack).list("globex/") if len(o.key.split("/")) == 5 and o.key[-1] != "/"]
    objects = [o for o in objects if not o.key.rsplit("/", 1)[-1].startswith("_") and not is_marker(o.key)]
    assert objects, "globex's snapshot files"
    airlock(stack, "erase", "tenant", "erase", "globex", "--confirm", "globex", "--reason", "e2e: erasure request")
    after = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (after["KeyState"], after["Enabled"]) == ("PendingDeletion", False)
    bucket = stack.env["AIRLOCK_RAW_URL"].removeprefix("s3://")
    for info in objects:
        used = stack.s3.head_object(Bucket=bucket, Key=info.key).get("SSEKMSKeyId")
        assert kms.describe_key(KeyId=used)["KeyMetadata"]["KeyId"] == key["KeyId"], (info.key, used)
    for tenant in ("acme", "hooli"):
        other = kms.describe_key(KeyId=stack.env["AIRLOCK_TENANT_KEY_TEMPLATE"].format(tenant=tenant))
        assert other["KeyMetadata"]["KeyState"] == "Enabled", tenant
    audit = [o.key for o in raw(stack).list("_airlock/audit/erasure/")]
    record = json.loads(stack.s3.get_object(Bucket=bucket, Key=audit[0])["Body"].read())
    assert record["tenant_id"] == "globex" and record["key"]["state"] == "PendingDeletion"
    assert read_manifest(raw(stack), BatchRef("acme", "orders", BATCH)) is not None, "acme's snapshots are untouched"
