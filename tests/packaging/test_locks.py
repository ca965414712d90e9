"""airlock.packaging.locks: the lock files are generated from requirements*.txt and kept current."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from airlock.packaging.locks import LOCKS, check, compile_lock, input_files, inputs_digest, locked_versions

PROJECT = Path(__file__).resolve().parents[2]


def _uv() -> str:
    found = shutil.which("uv") or str(PROJECT / ".venv-uv" / "bin" / "uv")
    if not Path(found).is_file():
        pytest.fail("uv is neither on PATH nor in .venv-uv: run `make venv` (it bootstraps requirements-uv.txt)")
    return found


def test_the_repos_locks_are_current() -> None:
    stale = check(PROJECT)
    assert not stale, "\n".join(map(str, stale))


def test_every_lock_pins_each_direct_requirement_with_hashes() -> None:
    for lock_name, req_name in LOCKS.items():
        text = (PROJECT / lock_name).read_text(encoding="utf-8")
        assert "--hash=sha256:" in text, f"{lock_name} has no hashes: run `make lock`"
        assert locked_versions(PROJECT / lock_name), f"{lock_name} pins nothing"
        assert input_files(PROJECT / req_name)[0].name == req_name


def _project(tmp_path: Path) -> Path:
    for name in [*LOCKS, *LOCKS.values(), "requirements.txt"]:
        shutil.copy(PROJECT / name, tmp_path / name)
    return tmp_path


def test_an_edited_pin_without_relocking_is_caught_offline(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert check(project) == []
    requirements = project / "requirements.txt"  # included by requirements-dev.txt with -r
    requirements.write_text(requirements.read_text().replace("duckdb==", "duckdb==0.0.1; python_version<'3' #"))
    stale = check(project)
    assert [s.lock for s in stale] == ["requirements-dev.lock"]
    assert "requirements.txt changed since it was made; run `make lock`" in str(stale[0])


def test_comments_do_not_make_a_lock_stale(tmp_path: Path) -> None:
    project = _project(tmp_path)
    before = inputs_digest(project / "requirements-dbt.txt")
    (project / "requirements-dbt.txt").write_text("# why this pin\n" + (project / "requirements-dbt.txt").read_text())
    assert inputs_digest(project / "requirements-dbt.txt") == before
    assert check(project) == []


def test_a_missing_lock_or_a_pin_the_lock_disagrees_with_is_reported(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "requirements-tools.lock").unlink()
    lock = project / "requirements-dbt.lock"
    lock.write_text(lock.read_text().replace("dbt-core==", "dbt-core==0.0.0+edited", 1))
    reasons = {s.lock: s.reason for s in check(project)}
    assert "missing" in reasons["requirements-tools.lock"]
    assert "dbt-core==" in reasons["requirements-dbt.lock"] and "0.0.0+edited" in reasons["requirements-dbt.lock"]


def test_make_lock_resolves_with_uv_keeps_existing_versions_and_records_the_inputs(tmp_path: Path) -> None:
    """A real `uv pip compile` of a two-package environment (the registry is reachable here)."""
    (tmp_path / "requirements-tools.txt").write_text("six==1.16.0\n")
    compile_lock(tmp_path, "requirements-tools.lock", uv=_uv())
    lock = tmp_path / "requirements-tools.lock"
    text = lock.read_text()
    assert locked_versions(lock) == {"six": {"1.16.0"}}
    assert "make lock" in text and f"# inputs sha256: {inputs_digest(tmp_path / 'requirements-tools.txt')}" in text
    assert text.count("# inputs sha256:") == 1
    compile_lock(tmp_path, "requirements-tools.lock", uv=_uv())  # re-locking replaces, never stacks, the line
    assert lock.read_text().count("# inputs sha256:") == 1
    # pip reads the same lock (hash-checking mode): a dry run resolves it without installing.
    done = subprocess.run(
        ["python3", "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps", "-r", str(lock)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_an_extra_pin_gets_its_bare_twin_for_pips_hash_checking_mode() -> None:
    """pip --require-hashes wants `fastapi==` for cadwyn and `mashumaro[msgpack]==` for dbt: both."""
    from airlock.packaging.locks import with_bare_pins

    lines = ["fastapi[std]==0.1 ; python_version >= '3' \\\n", "    --hash=sha256:ff\n", "    # via x\n",
             "uvicorn[standard]==2 \\\n", "    --hash=sha256:uu\n",
             "uvicorn==2 \\\n", "    --hash=sha256:uu\n"]  # fmt: skip
    assert with_bare_pins(lines) == [
        "fastapi==0.1 ; python_version >= '3' \\\n", "    --hash=sha256:ff\n",
        *lines[:3],
        *lines[3:],  # uvicorn has its bare pin already
    ]  # fmt: skip
    for lock in LOCKS:
        text = (PROJECT / lock).read_text()
        for name in ("fastapi", "moto", "mashumaro"):
            if f"\n{name}[" in text:
                assert f"\n{name}==" in text, f"{lock}: {name}[...] without a bare pin"
