"""The registry: the demo files load, and every mistake names the file, the field and the fix."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from airlock import tenants as tenants_module
from airlock.errors import RegistryError
from airlock.tenants import load_registry, parse_duration, tenant_ids


def test_demo_registry_loads(registry):
    assert sorted(registry.tenants) == ["acme", "globex", "initech"]
    acme = registry.tenants["acme"].dataflows["orders"]
    assert acme.deadline == timedelta(minutes=30)
    assert acme.required_tables == {"orders", "customers"}
    assert int(acme.files[0].max_bytes) == 10_000_000
    assert registry.columns("globex", "orders", "customers")[-1] == "segment"
    assert registry.columns("acme", "orders", "customers") == ["customer_id", "customer_name", "country"]


def test_tenant_ids_come_from_file_names_without_reading_them(registry_dirs):
    tenants, _ = registry_dirs
    (tenants / "zeta.yaml").write_text("not: [valid")  # never read by tenant_ids()
    assert tenant_ids(tenants) == ["acme", "globex", "initech", "zeta"]


ACME = Path(__file__).resolve().parents[2] / "dags" / "registry" / "tenants" / "acme.yaml"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "format: csv\n        required: true\n        max_bytes: 10MB\n      - table: customers",
            "format: xls\n        required: true\n        max_bytes: 10MB\n      - table: customers",
            ["dataflows.orders.files.0.format", "Fix: use one of the values listed"],
        ),
        ("name: Acme Retail\n", "", ["name: Field required", "Fix: add this field"]),
        ("isolation_tier: standard", "isolation_tier: standard\ncolour: red", ["colour", "Fix: remove it"]),
        ("tenant_id: acme", "tenant_id: Acme!", ["tenant_id", "lowercase letters"]),
        ("  inventory:\n", "  shipping:\n", ["dataflows.shipping: no such dataflow", "dataflows/shipping.yaml"]),
        ("- table: refunds", "- table: returns", ["'returns' is not a table of orders"]),
        ("deadline: 30m", "deadline: soon", ["deadline", "90s, 30m, 2h or 1d"]),
        ("key_pattern: '^(?P<batch_id>", "key_pattern: '^(?P<batch>", ["key_pattern", "named groups"]),
        ("pattern: 'orders.csv'", "pattern: '../orders.csv'", ["pattern", "no '/'"]),
        ("tenant_id: acme", "tenant_id: acme2", ["differs from the file name", "rename the file"]),
        ("max_bytes: 1MB", "max_bytes: lots", ["max_bytes"]),
    ],
)
def test_mistakes_name_file_field_and_fix(registry_dirs, old, new, expected):
    tenants, dataflows = registry_dirs
    text = ACME.read_text()
    assert old in text, "the test edits a line that must exist"
    (tenants / "acme.yaml").write_text(text.replace(old, new, 1))
    with pytest.raises(RegistryError) as err:
        load_registry(tenants, dataflows)
    message = str(err.value)
    assert "acme.yaml" in message
    for fragment in expected:
        assert fragment in message


def test_columns_must_cover_the_dataflow(registry_dirs):
    tenants, dataflows = registry_dirs
    text = (
        (tenants / "globex.yaml")
        .read_text()
        .replace("columns: [customer_id, customer_name, country, segment]", "columns: [customer_id, segment]")
    )
    (tenants / "globex.yaml").write_text(text)
    with pytest.raises(RegistryError, match=r"lacks \['customer_name', 'country'\]"):
        load_registry(tenants, dataflows)


def test_invalid_yaml_and_non_mapping(registry_dirs):
    tenants, dataflows = registry_dirs
    (tenants / "acme.yaml").write_text("tenant_id: [unclosed")
    (tenants / "globex.yaml").write_text("- just\n- a list\n")
    with pytest.raises(RegistryError) as err:
        load_registry(tenants, dataflows)
    assert "acme.yaml: not valid YAML" in str(err.value)
    assert "globex.yaml: expected a mapping" in str(err.value)


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400), (45, 45)])
def test_parse_duration(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


def test_a_tenant_file_with_the_wrong_extension_is_refused_with_a_message(registry_dirs, caplog):
    tenants, dataflows = registry_dirs
    (tenants / "globex.yaml").rename(tenants / "globex.yml")
    with pytest.raises(
        RegistryError, match=re.escape("globex.yml: tenant files end in .yaml. Fix: rename it to globex.yaml")
    ):
        load_registry(tenants, dataflows)
    lenient = load_registry(tenants, dataflows, strict=False)
    assert sorted(lenient.tenants) == ["acme", "initech"]
    assert "rename it to globex.yaml" in lenient.disabled["globex"]
    (tenants / "acme.YAML").write_text((tenants / "acme.yaml").read_text())  # a stray copy beside the real one
    with pytest.raises(RegistryError, match=r"acme.YAML: ignored, .* acme.yaml exists. Fix: delete acme.YAML"):
        load_registry(tenants, dataflows)
    assert "acme" in load_registry(tenants, dataflows, strict=False).tenants
    assert tenant_ids(tenants) == ["acme", "initech"]


def test_the_duplicate_id_hint_never_suggests_a_file_that_exists(registry_dirs):
    tenants, dataflows = registry_dirs
    (tenants / "acme2.yaml").write_text((tenants / "acme.yaml").read_text())  # copied, tenant_id not changed
    with pytest.raises(RegistryError) as err:
        load_registry(tenants, dataflows)
    message = str(err.value)
    assert "acme2.yaml" in message and "set tenant_id: acme2" in message
    assert "rename the file to acme.yaml" not in message and "acme.yaml already holds tenant 'acme'" in message
    (tenants / "acme2.yaml").rename(tenants / "zeta.yaml")
    with pytest.raises(RegistryError, match=re.escape("rename the file to acme.yaml or set tenant_id: zeta")):
        (tenants / "acme.yaml").unlink()
        load_registry(tenants, dataflows)


def test_a_bad_tenant_file_disables_that_tenant_alone(registry_dirs, caplog):
    tenants, dataflows = registry_dirs
    (tenants / "initech.yaml").write_text("tenant_id: [unclosed")
    registry = load_registry(tenants, dataflows, strict=False)
    assert sorted(registry.tenants) == ["acme", "globex"]
    assert list(registry.disabled) == ["initech"] and "not valid YAML" in registry.disabled["initech"]
    assert "tenant initech is disabled" in caplog.text
    with pytest.raises(RegistryError, match=re.escape("initech.yaml: not valid YAML")):
        load_registry(tenants, dataflows)


def test_error_hints_point_at_a_document_that_exists(registry_dirs):
    tenants, dataflows = registry_dirs
    (tenants / "acme.yaml").write_text((tenants / "acme.yaml").read_text() + "colour: red\n")
    with pytest.raises(RegistryError) as err:
        load_registry(tenants, dataflows)
    assert "docs/tenants.md" in str(err.value)
    assert (Path(__file__).resolve().parents[2] / "docs" / "tenants.md").is_file()


def test_a_reload_validates_only_changed_files_and_sees_every_change(registry_dirs, monkeypatch):
    """Long-lived processes (the status page, refreshed every 30 s) re-read the registry: an unchanged file
    is not parsed again, and any change is seen at the next load, even one that keeps size and mtime."""
    tenants, dataflows = registry_dirs
    first = load_registry(tenants, dataflows)
    validated: list[str] = []
    real = tenants_module._load_tenant
    monkeypatch.setattr(tenants_module, "_load_tenant", lambda path, *a: validated.append(path.name) or real(path, *a))
    assert load_registry(tenants, dataflows).tenants == first.tenants
    assert validated == []
    acme = tenants / "acme.yaml"
    text, stat = acme.read_text(), acme.stat()
    acme.write_text(text.replace("deadline: 30m", "deadline: 40m", 1))  # same size
    os.utime(acme, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and the same mtime: an edit within the clock's tick
    assert load_registry(tenants, dataflows).tenants["acme"].dataflows["orders"].deadline == timedelta(minutes=40)
    assert validated == ["acme.yaml"]
    acme.write_text(text.replace("tenant_id: acme", "tenant_id: Acme!", 1))
    for _ in range(2):  # an invalid file is reported at every load, never served from before
        with pytest.raises(RegistryError, match="tenant_id"):
            load_registry(tenants, dataflows)
        assert "acme" not in load_registry(tenants, dataflows, strict=False).tenants
    acme.write_text(text)
    validated.clear()
    flow = dataflows / "orders.yaml"  # a dataflow change re-checks every tenant against it
    flow.write_text(flow.read_text().replace("  refunds:\n    columns: [order_id, refunded_at, amount]\n", ""))
    with pytest.raises(RegistryError, match="'refunds' is not a table of orders"):
        load_registry(tenants, dataflows)
    assert sorted(validated) == ["acme.yaml", "globex.yaml", "initech.yaml"]


def test_a_task_reads_only_its_tenants_files_and_the_others_stay_cached(registry_dirs, monkeypatch):
    """A task serving one tenant (or the router, its hinted ones) validates only their files: at 10,000
    tenants a full load costs a fresh process seconds. Their problems are reported as in a full load."""
    tenants, dataflows = registry_dirs
    (tenants / "zeta.yaml").write_text("not: [valid")
    (tenants / "globex.yaml").rename(tenants / "globex.yml")
    validated: list[str] = []
    real = tenants_module._load_tenant
    monkeypatch.setattr(tenants_module, "_load_tenant", lambda path, *a: validated.append(path.name) or real(path, *a))
    one = load_registry(tenants, dataflows, strict=False, only=["acme"])
    assert (sorted(one.tenants), one.disabled, validated) == (["acme"], {}, ["acme.yaml"])
    assert "not: [valid" not in str(load_registry(tenants, dataflows, strict=False, only=["acme"]).disabled)
    zeta = load_registry(tenants, dataflows, strict=False, only=["zeta", "nobody"])
    assert (sorted(zeta.tenants), sorted(zeta.disabled)) == ([], ["zeta"])
    misnamed = load_registry(tenants, dataflows, strict=False, only={"globex"})
    assert "globex.yml: tenant files end in .yaml" in misnamed.disabled["globex"]
    validated.clear()
    full = load_registry(tenants, dataflows, strict=False)
    assert sorted(full.tenants) == ["acme", "initech"] and sorted(full.disabled) == ["globex", "zeta"]
    assert validated == ["initech.yaml", "zeta.yaml"]  # acme came from the cache the one-tenant load filled
