"""The demo's uploads: three tenants, five batches, shuffled, with the faults real tenants produce.

- every file of every batch is uploaded in one shuffled stream (a fixed seed, printed);
- one S3 notification is sent twice (a duplicate, as S3 may do);
- one required file arrives late, seconds after the rest of its batch: the batch waits;
- one batch's only file breaks its contract (wrong columns): it goes to quarantine.

The scenario is data, so the end-to-end test and the latency benchmark reuse it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from airlock.landing import BatchRef


@dataclass(frozen=True)
class DemoFile:
    key: str
    body: str


@dataclass(frozen=True)
class DemoBatch:
    batch: BatchRef
    files: tuple[DemoFile, ...]
    expect: str = "processed"  # processed | quarantined


@dataclass
class Scenario:
    seed: int
    batches: list[DemoBatch]
    shuffled: list[DemoFile] = field(default_factory=list)
    late: DemoFile | None = None
    duplicate_of: DemoFile | None = None
    bad: DemoFile | None = None

    @property
    def processed(self) -> list[DemoBatch]:
        return [b for b in self.batches if b.expect == "processed"]


def _orders_csv(n: int, offset: int = 0) -> str:
    rows = [f"o{offset + i},c{i % 5},2026-11-{10 + i % 10:02d},{(i * 7.5) % 90 + 5:.2f}" for i in range(n)]
    return "order_id,customer_id,ordered_at,amount\n" + "\n".join(rows) + "\n"


def _orders_jsonl(n: int) -> str:
    return "".join(
        f'{{"order_id": "g{i}", "customer_id": "gc{i % 4}", "ordered_at": "2026-11-2{i % 9}", "amount": {i + 0.5}}}\n'
        for i in range(n)
    )


def _customers_csv(prefix: str, n: int, extra: bool = False) -> str:
    header = "customer_id,customer_name,country" + (",segment" if extra else "")
    countries = ["FR", "DE", "US", "GB", "JP"]
    rows = [f"{prefix}{i},Customer {i},{countries[i % 5]}" + (",smb" if extra else "") for i in range(n)]
    return header + "\n" + "\n".join(rows) + "\n"


def _stock_csv(warehouse: str, n: int) -> str:
    rows = [f"{warehouse},sku-{i:03d},{(i * 13) % 200},2026-11-20T06:00:00" for i in range(n)]
    return "warehouse_id,sku,quantity,counted_at\n" + "\n".join(rows) + "\n"


def _batch(tenant: str, dataflow: str, batch_id: str, files: dict[str, str], expect: str = "processed") -> DemoBatch:
    prefix = f"{tenant}/{dataflow}/{batch_id}/"
    return DemoBatch(
        BatchRef(tenant, dataflow, batch_id), tuple(DemoFile(prefix + k, v) for k, v in files.items()), expect
    )


def build_scenario(seed: int = 20261121) -> Scenario:
    refunds = '{"order_id": "o1", "refunded_at": "2026-11-20", "amount": 7.5}\n'
    batches = [
        _batch(
            "acme",
            "orders",
            "20261120",
            {"orders.csv": _orders_csv(40), "customers.csv": _customers_csv("c", 5), "refunds.jsonl": refunds},
        ),
        _batch(
            "acme",
            "inventory",
            "20261120",
            {"stock_eu.csv": _stock_csv("eu1", 30), "stock_us.csv": _stock_csv("us1", 25)},
        ),
        _batch(
            "globex",
            "orders",
            "2026-11-20",
            {"orders.jsonl": _orders_jsonl(25), "customers.csv": _customers_csv("gc", 4, True)},
        ),
        _batch("initech", "inventory", "20261120", {"stock_main.csv": _stock_csv("hq", 50)}),
        _batch("initech", "inventory", "20261121", {"stock_main.csv": "sku,qty\nsku-1,3\n"}, expect="quarantined"),
    ]
    rng = random.Random(seed)  # noqa: S311 (a reproducible shuffle, not a secret)
    everything = [f for b in batches for f in b.files]
    late = next(f for f in everything if f.key == "globex/orders/2026-11-20/customers.csv")
    stream = [f for f in everything if f is not late]
    rng.shuffle(stream)
    duplicate = next(f for f in stream if f.key.startswith("acme/orders/"))
    bad = batches[-1].files[0]
    return Scenario(seed, batches, stream, late, duplicate, bad)
