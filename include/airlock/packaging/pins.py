"""Read the version pins from requirements*.txt, the one place they live.

Every artifact that needs a version (the MWAA requirements and startup script, the Dockerfile check,
the constraints) derives it from these files, so a bump is one edit and nothing drifts.
"""

from __future__ import annotations

import re
from pathlib import Path

from airlock.errors import ConfigError

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def canonical(name: str) -> str:
    """PEP 503 name, so `Apache_Airflow` and `apache-airflow` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of one file, without comments, blanks or `-r` includes."""
    if not path.is_file():
        raise ConfigError(f"{path}: not found; the pins live in requirements*.txt at the project root.")
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith(("-r ", "--requirement", "-c ", "--constraint")):
            continue
        lines.append(line)
    return lines


def pins(path: Path) -> dict[str, str]:
    """`{canonical name: version}` for every `name==version` line of path and the files it `-r`s."""
    found: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif match := _PIN.match(line):
            found[canonical(match.group(1))] = match.group(3)
    return found


def pin_of(path: Path, package: str) -> str:
    """The version `package` is pinned to in path (following `-r`); ConfigError if it is not pinned."""
    try:
        return pins(path)[canonical(package)]
    except KeyError:
        raise ConfigError(f"{path}: no `{package}==<version>` pin; add one there (the one place for pins).") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; run from the project root or set AIRLOCK_HOME.") from None


def airflow_pin(project: Path) -> str:
    """The Airflow version the kit is developed and tested against (requirements-dev.txt)."""
    return pin_of(project / "requirements-dev.txt", "apache-airflow")
