"""Find the Terraform provider mirror at run time, and tell which providers a stack needs but lacks.

Machines here have no registry access: providers come from a filesystem mirror whose location
differs per machine, so it is discovered (never written into the repository).
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Iterable
from pathlib import Path

PLUGIN_DIR_ENV = "AIRLOCK_TF_PLUGIN_DIR"
"""Set this to the mirror folder (the one holding registry.terraform.io/) to skip the search."""

_REGISTRY = "registry.terraform.io"
_SOURCE = re.compile(r'source\s*=\s*"([^"]+)"')
_REQUIRED_PROVIDERS = re.compile(r"required_providers\s*\{")


def _os_arch() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}_{arch}"


def candidate_plugin_dirs() -> list[Path]:
    """Where Terraform's implied local mirrors and common hand-made mirrors live, in search order."""
    home = Path.home()
    xdg = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    dirs = [
        home / ".terraform.d" / "plugins",
        xdg / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        Path("/opt/tf-plugins"),
        Path("/opt/terraform/plugins"),
    ]
    if cache := os.environ.get("TF_PLUGIN_CACHE_DIR"):
        dirs.insert(0, Path(cache))
    return dirs


def _has_provider(root: Path, source: str) -> bool:
    """True if `root` holds `<host>/<ns>/<type>/<version>/<os_arch>/` for this machine."""
    parts = source.lower().split("/")
    if len(parts) == 2:
        parts = [_REGISTRY, *parts]
    base = root.joinpath(*parts)
    if not base.is_dir():
        # Mirrors keep the registry's spelling (DataDog/datadog): compare case-insensitively.
        parent = root.joinpath(*parts[:-2])
        if not parent.is_dir():
            return False
        match = [p for p in parent.glob("*/*") if "/".join(p.parts[-2:]).lower() == "/".join(parts[-2:])]
        if not match:
            return False
        base = match[0]
    return any((version / _os_arch()).is_dir() for version in base.iterdir() if version.is_dir())


def find_plugin_dir(required: Iterable[str] = ("hashicorp/aws",)) -> Path | None:
    """The first mirror that holds every `required` provider: AIRLOCK_TF_PLUGIN_DIR, then the usual places.

    None means "no mirror here": Terraform then installs from the registry as usual (CI with
    network). An AIRLOCK_TF_PLUGIN_DIR that does not hold the providers is still returned, so a
    typo fails loudly at `terraform init` instead of silently going to the network.
    """
    if explicit := os.environ.get(PLUGIN_DIR_ENV):
        return Path(explicit).expanduser()
    needed = list(required)
    for candidate in candidate_plugin_dirs():
        if candidate.is_dir() and all(_has_provider(candidate, s) for s in needed):
            return candidate
    return None


def _blocks(text: str) -> list[str]:
    """Bodies of the `required_providers { ... }` blocks (nested braces balanced)."""
    bodies = []
    for match in _REQUIRED_PROVIDERS.finditer(text):
        depth, start = 1, match.end()
        for i in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                bodies.append(text[start:i])
                break
    return bodies


def required_providers(stack_dir: Path) -> set[str]:
    """Provider sources (`ns/type`) a module or env declares in its own .tf files."""
    sources: set[str] = set()
    for tf in stack_dir.glob("*.tf"):
        for block in _blocks(tf.read_text(encoding="utf-8")):
            sources.update(s.lower() for s in _SOURCE.findall(block))
    return sources


def missing_providers(stack_dir: Path, plugin_dir: Path | None) -> list[str]:
    """Providers the stack (and its local child modules) needs that `plugin_dir` does not hold.

    With no mirror at all nothing is reported missing: Terraform will try the registry.
    """
    if plugin_dir is None:
        return []
    needed: set[str] = set()
    seen: set[Path] = set()
    todo = [stack_dir.resolve()]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        needed |= required_providers(current)
        for tf in current.glob("*.tf"):
            for src in re.findall(r'source\s*=\s*"(\.\.?/[^"]+)"', tf.read_text(encoding="utf-8")):
                todo.append((current / src).resolve())
    return sorted(s for s in needed if not _has_provider(plugin_dir, s))
