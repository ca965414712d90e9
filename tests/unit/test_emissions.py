"""Only real asset events, and Airflow's record of them read back (unit level; the e2e tests count them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from airflow.sdk import Asset

from airlock.assets import snapshot_asset
from airlock.emissions import InletEventLedger, emit
from airlock.intake import IntakeReport, Outcome
from airlock.landing import BatchRef


class Accessors(dict):
    """Like Airflow's outlet_events: one accessor per asset, created on first use."""

    def __missing__(self, asset):
        self[asset] = SimpleNamespace(keys=[], add_partitions=lambda keys, a=asset: self[a].keys.extend(keys))
        return self[asset]


def test_a_run_that_commits_nothing_emits_nothing(registry):
    outlets = [snapshot_asset(flow) for flow in registry.dataflows.values()]
    task = SimpleNamespace(outlets=list(outlets))
    accessors = Accessors()
    assert emit(IntakeReport(), registry, accessors, task) == []
    assert task.outlets == [] and not accessors


def test_only_the_dataflows_with_new_batches_keep_their_outlet(registry):
    outlets = [snapshot_asset(flow) for flow in registry.dataflows.values()]
    task = SimpleNamespace(outlets=list(outlets))
    report = IntakeReport(
        outcomes=[
            Outcome(BatchRef("acme", "inventory", "1"), "snapshotted", emit=True),
            Outcome(BatchRef("initech", "inventory", "2"), "re_emitted", emit=True),
            Outcome(BatchRef("acme", "orders", "3"), "waiting"),
        ]
    )
    accessors = Accessors()
    assert emit(report, registry, accessors, task) == ["snapshot/inventory"]
    assert [o.name for o in task.outlets] == ["snapshot/inventory"]
    (accessor,) = accessors.values()
    assert accessor.keys == ["acme|1", "initech|2"]


class InletEvents:
    """Like Airflow's inlet_events[asset].after(...): the recorded events, each with its partition key."""

    def __init__(self, events: dict[str, list[tuple[datetime, str | None]]], fail: bool = False) -> None:
        self.events, self.fail, self.queries = events, fail, []

    def __getitem__(self, asset: Asset):
        if self.fail:
            raise KeyError(asset)
        outer = self

        class Accessor:
            def after(self, since: str):
                outer.queries.append((asset.name, since))
                cut = datetime.fromisoformat(since)
                return [SimpleNamespace(partition_key=k) for t, k in outer.events.get(asset.name, []) if t > cut]

        return Accessor()


def test_the_ledger_answers_from_airflows_recorded_events(registry):
    now = datetime.now(UTC)
    events = InletEvents({"snapshot/orders": [(now, "acme|1"), (now, None)], "snapshot/inventory": []})
    ledger = InletEventLedger(events, registry)
    hour_ago = now - timedelta(hours=1)
    assert ledger.emitted(BatchRef("acme", "orders", "1"), hour_ago) is True
    assert ledger.emitted(BatchRef("globex", "orders", "9"), hour_ago) is False
    assert ledger.emitted(BatchRef("acme", "inventory", "1"), hour_ago) is False
    assert len(events.queries) == 2  # one query per dataflow and run
    assert ledger.emitted(BatchRef("acme", "orders", "1"), now + timedelta(minutes=1)) is True  # cached
    assert len(events.queries) == 2


def test_the_ledger_says_it_cannot_tell_rather_than_guess(registry):
    ledger = InletEventLedger(InletEvents({}, fail=True), registry)
    assert ledger.emitted(BatchRef("acme", "orders", "1"), datetime.now(UTC)) is None
    assert InletEventLedger(None, registry).emitted(BatchRef("acme", "orders", "1"), datetime.now(UTC)) is None
