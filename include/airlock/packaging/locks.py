"""The lock files of the local virtualenvs, generated from the human-edited requirements*.txt.

requirements*.txt stay the one place where people write pins (direct dependencies, with why);
`make lock` resolves each environment's full tree with uv into requirements-<env>.lock (every
transitive version and its hashes, for Linux and macOS alike), and `make venv` installs the lock,
with uv by default or pip (`INSTALLER=pip`). Each lock records a digest of the requirement files it
was made from, so a pin edited without re-locking is caught by the tests, offline, in milliseconds.

Run with the interpreter alone (no virtualenv needed: it is what builds them):
`python3 -m airlock.packaging.locks [--check] [--upgrade]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from airlock.packaging.pins import canonical, pins

LOCKS: dict[str, str] = {
    "requirements-dev.lock": "requirements-dev.txt",  # .venv: Airflow, providers, Cosmos, test tools
    "requirements-dbt.lock": "requirements-dbt.txt",  # .venv-dbt: dbt's own environment
    "requirements-tools.lock": "requirements-tools.txt",  # .venv-tools: checkov, linters
}
PYTHON_VERSION = "3.11"
# --universal: one lock for every platform (markers per line), so a Mac and CI install the same tree.
# --no-strip-extras: pip's hash-checking mode wants `mashumaro[msgpack]==...`, not the bare name.
COMPILE_ARGS = (
    "--python-version", PYTHON_VERSION, "--universal", "--generate-hashes", "--no-strip-extras", "--quiet",
)  # fmt: skip
DIGEST_PREFIX = "# inputs sha256:"
_LOCKED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


@dataclass(frozen=True)
class Stale:
    """A lock that no longer matches its requirements, and why."""

    lock: str
    reason: str

    def __str__(self) -> str:
        return f"{self.lock}: {self.reason}"


def input_files(requirements: Path) -> list[Path]:
    """The requirement file and every file it includes with `-r` (recursively), in order."""
    found = [requirements]
    for raw in requirements.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith(("-r ", "--requirement ")):
            included = requirements.parent / line.split(maxsplit=1)[1]
            found += [p for p in input_files(included) if p not in found]
    return found


def inputs_digest(requirements: Path) -> str:
    """sha256 over the requirement lines of the inputs (comments and blank lines do not count)."""
    digest = hashlib.sha256()
    for path in input_files(requirements):
        digest.update(path.name.encode() + b"\0")
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """`{canonical name: {versions}}` of a lock (a universal lock may hold two, by marker)."""
    found: dict[str, set[str]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if match := _LOCKED.match(line):
            found.setdefault(canonical(match.group(1)), set()).add(match.group(2))
    return found


def recorded_digest(lock: Path) -> str | None:
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(DIGEST_PREFIX):
            return line.removeprefix(DIGEST_PREFIX).split()[0]
    return None


def with_bare_pins(lines: list[str]) -> list[str]:
    """Add `name==v` (same hashes) before each `name[extra]==v` that has no bare pin of its own.

    pip's hash-checking mode needs both: `mashumaro[msgpack]` for dbt-core's requirement with the
    extra, `fastapi` for cadwyn's without it ("all requirements must have their versions pinned").
    uv writes one or the other (--no-strip-extras), so the lock carries both; uv reads them alike.
    """
    blocks: list[list[str]] = []
    for line in lines:
        if blocks and line[:1].isspace():
            blocks[-1].append(line)
        else:
            blocks.append([line])
    bare = {m.group(1).lower() for b in blocks if (m := re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", b[0]))}
    out: list[str] = []
    for block in blocks:
        extra = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\[[^\]]*\](==.*)", block[0], re.S)
        if extra and extra.group(1).lower() not in bare:
            out += [extra.group(1) + extra.group(2), *(line for line in block[1:] if not line.lstrip().startswith("#"))]
            bare.add(extra.group(1).lower())
        out += block
    return out


def check(project: Path) -> list[Stale]:
    """Every lock that is missing or out of date with its requirement files (no network)."""
    stale = []
    for lock_name, req_name in LOCKS.items():
        lock, requirements = project / lock_name, project / req_name
        if not lock.is_file():
            stale.append(Stale(lock_name, f"missing; run `make lock` (it is generated from {req_name})"))
            continue
        if recorded_digest(lock) != inputs_digest(requirements):
            names = ", ".join(p.name for p in input_files(requirements))
            stale.append(Stale(lock_name, f"{names} changed since it was made; run `make lock` and commit it"))
            continue
        versions = locked_versions(lock)
        for name, version in pins(requirements).items():
            if version not in versions.get(name, set()):
                got = sorted(versions.get(name, set())) or "nothing"
                stale.append(Stale(lock_name, f"{name}=={version} is pinned but the lock has {got}; run `make lock`"))
    return stale


def compile_lock(project: Path, lock_name: str, *, uv: str = "uv", upgrade: bool = False) -> None:
    """Resolve one environment into its lock; existing locked versions are kept unless `upgrade`."""
    requirements = LOCKS[lock_name]
    cmd = [uv, "pip", "compile", requirements, "-o", lock_name, *COMPILE_ARGS]
    cmd += ["--custom-compile-command", "make lock", *(["--upgrade"] if upgrade else [])]
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(cmd, cwd=project, check=True, env=env)
    lock = project / lock_name
    lines = lock.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = with_bare_pins([line for line in lines if not line.startswith(DIGEST_PREFIX)])
    names = ", ".join(p.name for p in input_files(project / requirements))
    at = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    lines.insert(at, f"{DIGEST_PREFIX} {inputs_digest(project / requirements)} (of {names}; edit those, not this)\n")
    lock.write_text("".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airlock.packaging.locks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale locks (exit 1 if any)")
    parser.add_argument("--upgrade", action="store_true", help="re-resolve to the newest allowed versions")
    parser.add_argument("--uv", default=os.environ.get("UV") or shutil.which("uv") or "uv", help="uv executable")
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="project root (default: .)")
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.project)
        for item in stale:
            print(item, file=sys.stderr)
        return 1 if stale else 0
    for lock_name in LOCKS:
        print(f"==> {lock_name} from {LOCKS[lock_name]}", file=sys.stderr)
        compile_lock(args.project, lock_name, uv=args.uv, upgrade=args.upgrade)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
