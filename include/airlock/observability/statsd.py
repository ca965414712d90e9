"""A real UDP StatsD listener and a DogStatsD datagram parser, for tests and local debugging.

Why a real socket: the end-to-end test must prove the datagrams leave the process with the
right names, values and tags, exactly as a Datadog agent on 127.0.0.1:8125 would receive them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType


@dataclass(frozen=True)
class Datagram:
    """One parsed DogStatsD metric line: `name:value|type|@rate|#k:v,k2:v2`."""

    name: str
    value: float
    kind: str
    tags: dict[str, str] = field(default_factory=dict)
    rate: float = 1.0
    raw: str = ""

    def tag(self, key: str) -> str | None:
        return self.tags.get(key)


def parse_datagram(line: str) -> Datagram:
    """Parse one DogStatsD line; raise ValueError on anything a Datadog agent would reject."""
    name, sep, rest = line.partition(":")
    if not sep or not name:
        raise ValueError(f"not a StatsD line (no name:value): {line!r}")
    parts = rest.split("|")
    if len(parts) < 2:
        raise ValueError(f"not a StatsD line (no |type): {line!r}")
    value, kind = float(parts[0]), parts[1]
    if kind not in ("c", "g", "ms", "h", "d", "s"):
        raise ValueError(f"unknown StatsD type {kind!r} in {line!r}")
    tags: dict[str, str] = {}
    rate = 1.0
    for part in parts[2:]:
        if part.startswith("#"):
            for item in filter(None, part[1:].split(",")):
                key, _, val = item.partition(":")
                tags[key] = val
        elif part.startswith("@"):
            rate = float(part[1:])
    return Datagram(name, value, kind, tags, rate, line)


class StatsdListener:
    """Listen on 127.0.0.1:<free port> in a thread; collect every datagram received.

    Use as a context manager; `address` is what AIRLOCK_STATSD_ADDRESS or
    AIRFLOW__METRICS__STATSD_PORT should point at.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.1)
        self.host, self.port = self._sock.getsockname()[:2]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd-listener", daemon=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            # A client may pack several metrics into one packet, one per line.
            with self._lock:
                self.lines.extend(line for line in data.decode("utf-8", "replace").split("\n") if line)

    def start(self) -> StatsdListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> StatsdListener:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()

    def datagrams(self, prefix: str = "") -> list[Datagram]:
        """Every metric received so far whose name starts with prefix (e.g. 'airlock.')."""
        with self._lock:
            lines = list(self.lines)
        return [d for d in (parse_datagram(line) for line in lines) if d.name.startswith(prefix)]

    def wait_for(
        self, predicate: Callable[[list[Datagram]], bool], timeout: float = 10.0, prefix: str = ""
    ) -> list[Datagram]:
        """Poll until predicate(datagrams) holds; raise TimeoutError listing what did arrive."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.datagrams(prefix)
            if predicate(got):
                return got
            if time.monotonic() > deadline:
                names = sorted({d.name for d in got})
                raise TimeoutError(f"StatsD condition not met in {timeout}s; received {len(got)}: {names}")
            time.sleep(0.05)


def tenant_leaks(datagrams: list[Datagram], expected: dict[str, set[str]] | None = None) -> list[str]:
    """Problems with tenant tags: airlock metrics without a tenant tag, or with an unexpected one.

    expected maps a tenant to the dataflows it may report; None only checks presence. Why: the
    end-to-end test asserts that no metric ever carries another tenant's (or no) tenant tag.
    """
    problems = []
    for d in datagrams:
        if not d.name.startswith("airlock."):
            continue
        tenant, dataflow = d.tag("tenant"), d.tag("dataflow")
        if not tenant or not dataflow:
            problems.append(f"{d.raw}: missing tenant or dataflow tag")
        elif expected is not None and dataflow not in expected.get(tenant, set()):
            problems.append(f"{d.raw}: tenant {tenant!r} does not deliver dataflow {dataflow!r}")
    return problems
