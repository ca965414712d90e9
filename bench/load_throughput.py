"""Load throughput: the kit's loader against the warehouse's own bulk load of the same files, by hand.

One snapshot of `orders` CSV files (AIRLOCK_BENCH_LOAD_MB, default 1024 MB, in 64 MB files) is loaded
- into DuckDB by `DuckDBWarehouse.load` (sha256-checked copy to the worker's disk, `read_csv`, one transaction,
  the batch's rows replaced), and by hand: one `insert … select * from read_csv(files)` into a plain table;
- into PostgreSQL 15 by `PostgresWarehouse.load` (streamed from the raw root into `COPY … FROM STDIN`, sha256
  checked on the way, blank lines filtered, as the tenant's role, one transaction, a `_batch_id` index), and
  by hand: `psql -c "\\copy … from 'file' (format csv, header)"` per file into a plain table.
Reported: rows/s and MB/s of each, and the loader's time over the bare load's (target: at most 1.2).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from airlock.devstack.postgres import LocalPostgres, _tool
from airlock.landing import BatchRef
from airlock.storage import LocalStorage
from airlock.warehouse.base import BatchLoad, QueryTag, SnapshotFile, TenantSpace
from airlock.warehouse.credentials import WarehouseCredentials
from airlock.warehouse.duckdb import DuckDBWarehouse, connect
from airlock.warehouse.postgres import PostgresWarehouse

FILE_MB = 64
TARGET_RATIO = 1.2
COLUMNS = ["order_id", "customer_id", "ordered_at", "amount"]


def _write_files(root: Path, prefix: str, total_mb: int) -> list[SnapshotFile]:
    """CSV files of about FILE_MB each, written as the snapshotter would leave them (with their manifest facts)."""
    rng = random.Random(20261127)
    files, order, remaining = [], 0, total_mb * 1024 * 1024
    index = 0
    while remaining > 0:
        name = f"orders_{index:03d}.csv"
        path = root / prefix / name
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size, rows = hashlib.sha256(), 0, 0
        with path.open("wb") as out:
            header = (",".join(COLUMNS) + "\n").encode()
            out.write(header)
            digest.update(header)
            size += len(header)
            target = min(FILE_MB * 1024 * 1024, remaining)
            while size < target:
                lines = []
                for _ in range(20_000):
                    order += 1
                    lines.append(
                        f"o-{order:010d},c-{rng.randrange(100_000):06d},2026-11-{rng.randrange(1, 29):02d}T"
                        f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00,{rng.randrange(1, 100_000) / 100:.2f}\n"
                    )
                chunk = "".join(lines).encode()
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                rows += len(lines)
        remaining -= size
        files.append(SnapshotFile(f"{prefix}{name}", name, "orders", "csv", rows, size, digest.hexdigest()))
        index += 1
    return files


def _load(files: list[SnapshotFile], raw: LocalStorage, work: Path) -> BatchLoad:
    batch = BatchRef("bench", "orders", "20261127")
    return BatchLoad(
        space=TenantSpace("bench", "tenant_bench"),
        batch=batch,
        snapshot_ts="20261127T000000000000Z",
        tables={"orders": COLUMNS},
        files=files,
        raw=raw,
        workdir=work,
        tag=QueryTag("bench", "orders", "20261127", "bench", "bench", "load"),
    )


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _figures(seconds: float, rows: int, size: int) -> dict[str, float]:
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds),
        "mb_per_s": round(size / seconds / 2**20, 1),
    }


def _duckdb(files: list[SnapshotFile], raw: LocalStorage, tmp: Path) -> dict[str, Any]:
    warehouse = DuckDBWarehouse(tmp / "duck")
    loader = _timed(lambda: warehouse.load(_load(files, raw, tmp / "duck-work")))
    con = connect(tmp / "duck-bare" / "bare.duckdb")
    paths = [str(raw.root / f.key) for f in files]
    try:
        con.execute(f"create table orders ({', '.join(c + ' varchar' for c in COLUMNS)})")
        bare = _timed(
            lambda: con.execute(
                "insert into orders select * from read_csv(?, header = true, all_varchar = true)", [paths]
            )
        )
    finally:
        con.close()
    shutil.rmtree(tmp / "duck-work", ignore_errors=True)
    return {"loader": loader, "bare": bare}


def _postgres(files: list[SnapshotFile], raw: LocalStorage, tmp: Path) -> dict[str, Any]:
    with LocalPostgres(preload_pg_stat_statements=False) as server:
        creds = WarehouseCredentials("bench", server.host, server.port, server.superuser, None, server.database)
        warehouse = PostgresWarehouse(lambda _tenant: creds)
        load = _load(files, raw, tmp / "pg-work")
        warehouse.ensure_tenant(load.space)
        loader = _timed(lambda: warehouse.load(load))
        server.psql(f"create table bare_orders ({', '.join(c + ' text' for c in COLUMNS)})")

        def bare() -> None:
            for f in files:
                path = raw.root / f.key
                subprocess.run(
                    [
                        _tool("psql"),
                        "-X",
                        "-q",
                        "-v",
                        "ON_ERROR_STOP=1",
                        "-h",
                        server.host,
                        "-p",
                        str(server.port),
                        "-U",
                        server.superuser,
                        "-d",
                        server.database,
                        "-c",
                        f"\\copy bare_orders from '{path}' with (format csv, header true)",
                    ],
                    check=True,
                    capture_output=True,
                )

        bare_s = _timed(bare)
    return {"loader": loader, "bare": bare_s}


def run() -> dict[str, Any]:
    total_mb = int(os.environ.get("AIRLOCK_BENCH_LOAD_MB", "1024"))
    tmp = Path(tempfile.mkdtemp(prefix="airlock-bench-load-"))
    try:
        raw = LocalStorage(tmp / "raw")
        prefix = "bench/orders/20261127/20261127T000000000000Z/"
        started = time.perf_counter()
        files = _write_files(raw.root, prefix, total_mb)
        generated = time.perf_counter() - started
        rows, size = sum(f.rows for f in files), sum(f.size for f in files)
        results: dict[str, Any] = {
            "snapshot": {
                "files": len(files),
                "rows": rows,
                "mb": round(size / 2**20, 1),
                "generate_s": round(generated, 1),
            }
        }
        for name, measure in (("duckdb", _duckdb), ("postgres", _postgres)):
            times = measure(files, raw, tmp)
            results[name] = {
                "loader": _figures(times["loader"], rows, size),
                "bare": _figures(times["bare"], rows, size),
                "ratio": round(times["loader"] / times["bare"], 2),
            }
        results["target_ratio"] = TARGET_RATIO
        results["target_met"] = all(results[n]["ratio"] <= TARGET_RATIO for n in ("duckdb", "postgres"))
        results["summary"] = (
            f"{size / 2**20:.0f} MB, {rows} rows: DuckDB {results['duckdb']['loader']['mb_per_s']} MB/s "
            f"({results['duckdb']['ratio']}x bare), Postgres {results['postgres']['loader']['mb_per_s']} MB/s "
            f"({results['postgres']['ratio']}x bare)"
        )
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
