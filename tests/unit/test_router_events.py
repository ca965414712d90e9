"""The router's hints: its run's landing events, plus those Airflow recorded after them but queued for no run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airlock.assets import LANDING_URI, landing_inlet
from airlock.events import ObjectHint
from airlock.tasks import STRANDED_EVENTS_LIMIT, _hinted_tenants, landing_extras

T0 = datetime(2026, 11, 27, 22, 50, 46, tzinfo=UTC)


@dataclass
class Event:
    extra: dict[str, Any]
    timestamp: datetime


@dataclass
class Accessor:
    """Airflow's InletEventsAccessor: `after` is inclusive (timestamp >= after), `limit` caps the list."""

    events: list[Event]
    calls: list[tuple[str, Any]] = field(default_factory=list)
    _after: datetime | None = None
    _limit: int | None = None

    def after(self, when: str) -> Accessor:
        self.calls.append(("after", when))
        self._after = datetime.fromisoformat(when)
        return self

    def limit(self, n: int) -> Accessor:
        self.calls.append(("limit", n))
        self._limit = n
        return self

    def __iter__(self):
        chosen = [e for e in self.events if self._after is None or e.timestamp >= self._after]
        return iter(chosen[: self._limit])


class Inlets(dict):
    """Keyed like Airflow's InletEventsAccessors: by the asset's name and URI; KeyError if not an inlet."""

    def __getitem__(self, asset: Any) -> Accessor:
        return super().__getitem__((asset.name, asset.uri))


def _event(n: int, seconds: float) -> Event:
    return Event({"payload": {"message_batch": [f"m{n}"]}}, T0 + timedelta(seconds=seconds))


def test_events_recorded_after_the_runs_own_are_read_too():
    own = [_event(1, 0.0)]
    history = [_event(0, -5.0), *own, _event(2, 0.011), _event(3, 0.044)]
    accessor = Accessor(history)
    extras = landing_extras({"landing": own}, Inlets({(landing_inlet().name, landing_inlet().uri): accessor}))
    assert [e["payload"]["message_batch"] for e in extras] == [["m1"], ["m1"], ["m2"], ["m3"]]
    assert accessor.calls == [("after", own[0].timestamp.isoformat()), ("limit", STRANDED_EVENTS_LIMIT)]
    assert landing_inlet().uri.rstrip("/") == LANDING_URI  # the name and URI the DAG declares as inlet


def test_a_run_without_landing_events_reads_nothing_more():
    accessor = Accessor([_event(2, 1.0)])
    assert landing_extras({}, Inlets({(landing_inlet().name, landing_inlet().uri): accessor})) == []
    assert landing_extras(None, None) == []
    assert accessor.calls == []


def test_when_the_landing_asset_is_not_an_inlet_the_runs_own_events_still_count(caplog):
    own = [_event(1, 0.0)]
    assert landing_extras({"landing": own}, Inlets()) == [own[0].extra]
    assert "the sweep covers them" in caplog.text


def test_the_router_reads_the_files_of_the_hinted_tenants_and_their_near_forms():
    hints = [ObjectHint("landing", "acme/orders/1/a.csv"), ObjectHint("landing", " Globex/orders/1/a.csv")]
    assert _hinted_tenants(hints) == {"acme", " Globex", "globex"}
