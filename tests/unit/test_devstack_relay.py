"""The AWS relay of the fault tests: it forwards bytes, and stopping it refuses connections until restarted."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from pathlib import Path

import pytest

from airlock.devstack.airflow_stack import AirflowStack, replica_names
from airlock.devstack.processes import ProcessError, Supervisor
from airlock.devstack.relay import RELAY, start_relay


class Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data.upper())


def _roundtrip(url: str, payload: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(payload)
        return conn.recv(4096)


def test_the_relay_forwards_stops_and_comes_back_on_its_port(tmp_path: Path) -> None:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    target = f"http://127.0.0.1:{server.server_address[1]}"
    with Supervisor(tmp_path, log=None) as supervisor:
        url = start_relay(supervisor, target)
        assert _roundtrip(url, b"put object") == b"PUT OBJECT"
        relay = next(p for p in supervisor.processes if p.name == RELAY)
        relay.popen.kill()
        relay.popen.wait(5)
        with pytest.raises(OSError):
            _roundtrip(url, b"x")  # the endpoint is down: connections are refused
        supervisor.restart(RELAY)
        for _ in range(100):
            try:
                assert _roundtrip(url, b"back") == b"BACK"
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("the relay did not come back on its port")
    server.shutdown()


def test_replicas_keep_the_single_instance_names_first():
    assert replica_names("scheduler", 1) == ["scheduler"]
    assert replica_names("triggerer", 2) == ["triggerer", "triggerer-2"]


def test_several_schedulers_need_postgres(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="PostgreSQL"):
        AirflowStack(Supervisor(tmp_path), tmp_path, schedulers=2)
