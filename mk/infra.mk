# Terraform targets (owned by the infra area). Providers come from a filesystem mirror discovered
# at run time (AIRLOCK_TF_PLUGIN_DIR, ~/.terraform.d/plugins, ...): nothing machine-specific here.
.PHONY: tf-fmt tf-validate tf-test checkov infra-test

tf-fmt: ## terraform fmt -check over infra/terraform (run `terraform fmt -recursive infra/terraform` to fix)
	@terraform fmt -check -recursive -diff infra/terraform

tf-validate: $(VENV)/.installed ## fmt -check + init/validate every module and env offline; skips (astro, datadog) say why
	@$(PY) -m airlock infra validate

tf-test: $(VENV)/.installed ## terraform test (mock providers) for the modules and envs that have tests/
	@$(PY) -m airlock infra test

checkov: tools ## checkov over infra/ (0 failed checks expected; every skip carries an inline reason)
	@$(TOOLS_VENV)/bin/checkov -d infra --framework terraform --quiet --compact --skip-download --download-external-modules false

infra-test: $(VENV)/.installed ## pytest tests/infra: apply envs/local to a moto server, isolation checks, re-plan, destroy (~5 min)
	@$(PY) -m pytest tests/infra -rA
