"""A TCP relay in front of the local AWS endpoint, so fault tests can stop "AWS" without losing its data.

moto keeps S3 and SQS in memory: killing moto would lose every bucket, which no AWS outage does.
The stack's clients talk to this relay instead; stopping the relay (a real process, SIGKILL) makes
the endpoint refuse connections exactly as an unreachable region does, and starting it again on the
same port brings the endpoint back with everything it held. `LocalStack(aws_relay=True)` uses it.

Run: `python -m airlock.devstack.relay LISTEN_PORT TARGET_HOST:TARGET_PORT`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from airlock.devstack.local_aws import free_port, port_in_use
from airlock.devstack.processes import ProcessError, Supervisor, python

RELAY = "aws-relay"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(listen_port: int, host: str, port: int) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, reuse_address=True)
    async with server:
        await server.serve_forever()


def start_relay(supervisor: Supervisor, target: str, *, port: int | None = None, timeout: float = 15.0) -> str:
    """Start the relay to `target` (http://host:port) under `supervisor`; return the relay's URL."""
    host, _, target_port = target.removeprefix("http://").partition(":")
    port = port or free_port()
    proc = supervisor.start(
        RELAY,
        [python(), "-m", "airlock.devstack.relay", str(port), f"{host}:{target_port}"],
        tier=0,
        escalation=((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)),
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise ProcessError(f"the relay to {target} exited with code {proc.popen.returncode}")
        if port_in_use(port):
            return f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    raise ProcessError(f"the relay to {target} did not listen on {port} within {timeout:.0f}s")


def main(argv: list[str]) -> int:
    listen_port, target = int(argv[0]), argv[1]
    host, _, port = target.partition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(listen_port, host, int(port)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
