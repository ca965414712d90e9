"""Fixtures for the Terraform tests: the terraform binary, a moto server on loopback, a policy evaluator.

Tests that need Terraform skip, with the reason printed, only when terraform is genuinely absent;
on the project's machines and in CI they run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import airlock

HERE = Path(__file__).resolve().parent
POLICY_SIM = HERE / "policy_sim"


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    """The terraform executable; skips (saying why) when there is none."""
    found = shutil.which("terraform")
    if not found:
        pytest.skip("terraform is not on PATH: install Terraform >= 1.7 to run the infra tests")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of our own on a free loopback port, stopped (by its pid) afterwards."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"moto server did not start on {url}; log: {log.read_text()[-2000:]}")
            time.sleep(0.3)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class PolicySimulator:
    """Evaluates IAM requests against identity and resource policies with @cloud-copilot/iam-simulate.

    moto does not evaluate bucket policies (nor most conditions), so the applied policy documents
    are checked with a real evaluator: explicit deny > allow, every condition operator, absent keys.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def evaluate(self, simulations: list[dict[str, Any]]) -> list[str]:
        """One result per simulation: Allowed, ExplicitlyDenied, ImplicitlyDenied (or Error: ...)."""
        proc = subprocess.run(
            ["node", "simulate.mjs"],
            cwd=self.workdir,
            input=json.dumps(simulations),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return [r["result"] if r["result"] != "Error" else f"Error: {r['errors']}" for r in json.loads(proc.stdout)]


@pytest.fixture(scope="session")
def policy_simulator() -> PolicySimulator:
    """iam-simulate installed once (npm ci from the lock file) into a cache folder outside the repo."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not on PATH: needed for the IAM policy evaluator (@cloud-copilot/iam-simulate)")
    lock = (POLICY_SIM / "package-lock.json").read_bytes()
    workdir = Path.home() / ".cache" / "airlock" / f"policy-sim-{hashlib.sha256(lock).hexdigest()[:12]}"
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json", "simulate.mjs"):
        shutil.copy2(POLICY_SIM / name, workdir / name)
    if not (workdir / "node_modules" / "@cloud-copilot" / "iam-simulate").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=workdir,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return PolicySimulator(workdir)


class BackgroundChecks:
    """`python -m airlock.infra.checks` (fmt, validate, terraform test) running in its own process.

    Started before the local apply so the two overlap: the apply spends most of its time waiting
    on the endpoint (~25 s per SQS attribute in moto), the checks need CPU. A separate process,
    because the runner scopes TF_DATA_DIR through os.environ.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        include = str(Path(airlock.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [include, os.environ.get("PYTHONPATH")]))}
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "airlock.infra.checks"], stdout=out, stderr=subprocess.STDOUT, text=True, env=env
            )

    def result(self, timeout: float = 600) -> tuple[int, list[str]]:
        """Exit code and output lines, waiting for the process if it is still running."""
        code = self.proc.wait(timeout=timeout)
        return code, self.log.read_text().splitlines()


@pytest.fixture(scope="session")
def terraform_checks(terraform_bin: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundChecks]:
    """The static checks, started once per session; stopped (by pid) if still running at the end."""
    checks = BackgroundChecks(tmp_path_factory.mktemp("checks") / "checks.log")
    yield checks
    if checks.proc.poll() is None:
        checks.proc.terminate()
        checks.proc.wait(timeout=30)
