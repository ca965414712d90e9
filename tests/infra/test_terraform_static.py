"""fmt, validate and `terraform test` over every module and env, offline from the provider mirror.

The checks run in a background process (see conftest.BackgroundChecks) that the local-apply
fixture starts first, so they overlap with the apply instead of adding to the suite's time.
"""

from __future__ import annotations

import pytest

from airlock.infra import find_plugin_dir

from .conftest import BackgroundChecks

pytestmark = [pytest.mark.infra, pytest.mark.timeout(900)]

SAAS_STACKS = {"modules/astro", "modules/datadog", "envs/prod-saas"}


def test_fmt_and_validate_every_module_and_env(terraform_checks: BackgroundChecks) -> None:
    code, lines = terraform_checks.result()
    print("\n".join(lines))
    assert code == 0, "\n".join(line for line in lines if line.startswith("FAIL"))
    assert "ok   terraform fmt -check (infra/terraform)" in lines
    validated = {line.split()[2] for line in lines if line.startswith("ok   validate")}
    skipped = {line.split()[2].rstrip(":") for line in lines if line.startswith("SKIP")}
    assert {"envs/local", "envs/prod", "modules/landing_zone", "modules/tenant", "modules/mwaa"} <= validated
    if find_plugin_dir() is not None:
        # Only the stacks needing SaaS providers are skipped, and each skip says why.
        assert skipped <= SAAS_STACKS
        assert all("not in the provider mirror" in line for line in lines if line.startswith("SKIP"))


def test_terraform_test_files_pass(terraform_checks: BackgroundChecks) -> None:
    code, lines = terraform_checks.result()
    tested = [line for line in lines if line.startswith("ok   test")]
    assert code == 0
    assert len(tested) >= 5, tested
    assert all(", 0 failed" in line for line in tested)
