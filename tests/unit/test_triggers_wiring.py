"""Which queues exist and who watches them: settings, the router's watchers, routing, capacity."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from airlock.assets import landing_asset
from airlock.devstack.local_aws import client, free_port, wire_landing_zone
from airlock.devstack.stack import dedicated_tenants
from airlock.errors import ConfigError
from airlock.settings import load_settings
from airlock.tenants import load_dataflows
from airlock.triggers.capacity import budget, check_watchers, model_counts
from airlock.triggers.sqs import SqsQueueTrigger

REPO = Path(__file__).resolve().parents[2]
SHARED = "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-shared-landing"
TEMPLATE = "https://sqs.eu-west-1.amazonaws.com/123456789012/airlock-prod-{tenant}-landing"


def settings(**env: str) -> Any:
    return load_settings({"AIRLOCK_HOME": str(REPO), **env})


def test_standard_tenants_share_a_queue_and_dedicated_tenants_have_their_own() -> None:
    s = settings(
        AIRLOCK_SHARED_QUEUE_URL=SHARED, AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE, AIRLOCK_DEDICATED_TENANTS=" globex,acme "
    )
    assert s.dedicated_tenants == ("acme", "globex")
    assert s.queue_url("initech") == SHARED
    assert s.queue_url("globex") == TEMPLATE.format(tenant="globex")
    assert s.watched_queues() == {
        "sqs_shared": SHARED,
        "sqs_acme": TEMPLATE.format(tenant="acme"),
        "sqs_globex": TEMPLATE.format(tenant="globex"),
    }


def test_a_folder_landing_zone_has_no_queues() -> None:
    s = settings()
    assert s.queue_url("acme") is None
    assert s.watched_queues() == {}
    assert landing_asset(s).watchers == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AIRLOCK_DEDICATED_TENANTS": "globex"}, "needs AIRLOCK_QUEUE_URL_TEMPLATE"),
        ({"AIRLOCK_QUEUE_URL_TEMPLATE": TEMPLATE, "AIRLOCK_DEDICATED_TENANTS": "Globex"}, "not tenant ids"),
        ({"AIRLOCK_QUEUE_URL_TEMPLATE": "https://sqs/1/q"}, "must contain '{tenant}'"),
    ],
)
def test_queue_settings_that_cannot_work_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(**env)


def test_the_router_watches_each_queue_once_with_the_kits_trigger() -> None:
    s = settings(
        AIRLOCK_SHARED_QUEUE_URL=SHARED,
        AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE,
        AIRLOCK_DEDICATED_TENANTS="globex",
        AIRLOCK_WATCHER_LONG_POLL="15",
    )
    watchers = landing_asset(s).watchers
    assert [w.name for w in watchers] == ["sqs_shared", "sqs_globex"]
    assert all(isinstance(w.trigger, SqsQueueTrigger) for w in watchers)
    assert [w.trigger.queue_url for w in watchers] == [SHARED, TEMPLATE.format(tenant="globex")]
    assert {w.trigger.wait_time_seconds for w in watchers} == {15}


def test_watchers_do_not_grow_with_standard_tenants(tmp_path: Path) -> None:
    """10,000 registered tenants, 1% dedicated: 101 watchers, and the tenant files are never read."""
    dedicated = ",".join(f"t{i:05d}" for i in range(0, 10_000, 100))
    s = settings(
        AIRLOCK_SHARED_QUEUE_URL=SHARED,
        AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE,
        AIRLOCK_DEDICATED_TENANTS=dedicated,
        AIRLOCK_TENANTS_DIR=str(tmp_path / "no-such-folder"),
    )
    assert len(landing_asset(s).watchers) == 101


def test_parse_refuses_watchers_that_fill_the_triggerer() -> None:
    s = settings(
        AIRLOCK_SHARED_QUEUE_URL=SHARED,
        AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE,
        AIRLOCK_DEDICATED_TENANTS=",".join(f"t{i:03d}" for i in range(10)),
    )
    assert check_watchers(s, capacity=12) == 11
    with pytest.raises(ConfigError, match=r"11 queue watchers .*10 dedicated.*'Sizing the triggerer'"):
        check_watchers(s, capacity=11)


def test_parse_reads_the_triggerers_capacity_from_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__TRIGGERER__CAPACITY", "2")
    s = settings(AIRLOCK_SHARED_QUEUE_URL=SHARED, AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE, AIRLOCK_DEDICATED_TENANTS="a1")
    with pytest.raises(ConfigError, match="2 slots"):
        landing_asset(s)
    monkeypatch.setenv("AIRLOCK_TRIGGERER_REPLICAS", "2")
    assert len(landing_asset(s).watchers) == 2


def test_budget_counts_watcher_model_tasks_of_every_run_that_may_be_active() -> None:
    s = settings(
        AIRLOCK_SHARED_QUEUE_URL=SHARED,
        AIRLOCK_QUEUE_URL_TEMPLATE=TEMPLATE,
        AIRLOCK_DEDICATED_TENANTS="globex",
        AIRLOCK_PROCESSING_MAX_ACTIVE_RUNS="4",
    )
    flows = load_dataflows(s.dataflows_dir)
    manifest = REPO / "dbt_project" / "target" / "manifest.json"
    nodes = json.loads(manifest.read_text())["nodes"].values()
    expected = {
        name: sum(1 for n in nodes if n["resource_type"] == "model" and flow.dbt_tag in n["tags"])
        for name, flow in flows.items()
    }
    assert model_counts(manifest, flows) == expected and all(expected.values())
    b = budget(s, flows, manifest_path=manifest, watcher_mode=True, capacity=30)
    assert b.watchers == 2
    assert b.model_tasks == {name: 4 * n for name, n in expected.items()}
    assert b.needed == 2 + 4 * sum(expected.values())
    assert b.fits is (b.needed <= 30)
    assert "DOES NOT FIT" in budget(s, flows, manifest_path=manifest, watcher_mode=True, capacity=5).summary()
    assert budget(s, flows, manifest_path=manifest, watcher_mode=False, capacity=5).needed == 2


def test_budget_names_the_fix_for_a_missing_manifest(tmp_path: Path) -> None:
    s = settings(AIRLOCK_SHARED_QUEUE_URL=SHARED)
    with pytest.raises(ConfigError, match="make manifest"):
        budget(s, load_dataflows(s.dataflows_dir), manifest_path=tmp_path / "nope.json", watcher_mode=True)


# -- routing on a real endpoint ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _keys(sqs: Any, url: str) -> list[str]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return sorted(json.loads(m["Body"])["detail"]["object"]["key"] for m in messages)


def test_uploads_reach_the_shared_queue_or_their_dedicated_queue(endpoint: str) -> None:
    env = wire_landing_zone(endpoint, "rt", ["acme", "globex", "initech"], dedicated=["globex"])
    s = load_settings({**env, "AIRLOCK_HOME": str(REPO)})
    s3, sqs = client("s3", endpoint), client("sqs", endpoint)
    for key in ("acme/orders/1/orders.csv", "globex/orders/1/orders.csv", "initech/inventory/1/stock_a.csv"):
        s3.put_object(Bucket="airlock-rt-landing", Key=key, Body=b"x")
    assert _keys(sqs, s.queue_url("acme")) == ["acme/orders/1/orders.csv", "initech/inventory/1/stock_a.csv"]
    assert _keys(sqs, s.queue_url("globex")) == ["globex/orders/1/orders.csv"]
    kms = client("kms", endpoint)
    keys = {t: kms.describe_key(KeyId=s.tenant_key(t))["KeyMetadata"]["KeyId"] for t in ("acme", "globex", "initech")}
    assert len(set(keys.values())) == 3, "each tenant has its own key for its snapshots, as in Terraform"
    again = wire_landing_zone(endpoint, "rt", ["acme", "globex", "initech"], dedicated=["globex"])
    assert load_settings({**again, "AIRLOCK_HOME": str(REPO)}).tenant_key("acme") == s.tenant_key("acme")
    assert kms.describe_key(KeyId=s.tenant_key("acme"))["KeyMetadata"]["KeyId"] == keys["acme"], "idempotent"


def test_rewiring_moves_a_tenant_between_tiers_and_a_new_standard_tenant_needs_nothing(endpoint: str) -> None:
    wire_landing_zone(endpoint, "mv", ["acme", "globex"], dedicated=["globex"])
    env = wire_landing_zone(endpoint, "mv", ["acme", "globex", "newco"], dedicated=[])
    s = load_settings({**env, "AIRLOCK_HOME": str(REPO)})
    assert s.dedicated_tenants == ()
    rules = [r["Name"] for r in client("events", endpoint).list_rules(NamePrefix="airlock-mv-")["Rules"]]
    assert rules == ["airlock-mv-landing-shared"]
    s3, sqs = client("s3", endpoint), client("sqs", endpoint)
    s3.put_object(Bucket="airlock-mv-landing", Key="globex/orders/2/orders.csv", Body=b"x")
    s3.put_object(Bucket="airlock-mv-landing", Key="newco/orders/1/orders.csv", Body=b"x")
    assert _keys(sqs, s.queue_url("newco")) == ["globex/orders/2/orders.csv", "newco/orders/1/orders.csv"]


def test_dedicated_tenants_come_from_the_registry_and_a_broken_file_is_standard(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("tenant_id: a\nisolation_tier: dedicated\n")
    (tmp_path / "b.yaml").write_text("tenant_id: b\nisolation_tier: standard\n")
    (tmp_path / "c.yaml").write_text("tenant_id: [c\n")
    assert dedicated_tenants(["a", "b", "c", "missing"], tmp_path) == ["a"]


def test_airlock_dev_notices_new_tenant_files_and_refuses_a_yml(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from airlock.commands.dev import _RegistryFollower

    (tmp_path / "acme.yaml").write_text("tenant_id: acme\n")
    follower = _RegistryFollower(tmp_path, ["acme"])
    assert not follower.changed()
    (tmp_path / "newco.yaml").write_text("tenant_id: newco\n")
    (tmp_path / "typo.yml").write_text("tenant_id: typo\n")
    assert follower.changed()
    assert follower.tenants == ["acme", "newco"]
    assert "ignoring" in capsys.readouterr().out and "typo.yml" in follower._warned
    assert not follower.changed()  # nothing new since
