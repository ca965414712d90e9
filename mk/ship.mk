# Shipping (owned by the ship area): the MWAA package and the linters of the deploy artifacts.
# Versions come from requirements*.txt; AIRFLOW_VERSION here is only the MWAA environment's version.
MWAA_AIRFLOW_VERSION ?= 3.3.1
# mk/tools.mk defines it too, but is included after this file (alphabetical order).
TOOLS_VENV ?= .venv-tools
HADOLINT   := $(CURDIR)/$(TOOLS_VENV)/bin/hadolint
ACTIONLINT := $(CURDIR)/$(TOOLS_VENV)/bin/actionlint

.PHONY: package-mwaa lint-docker lint-workflows

package-mwaa: venv manifest ## MWAA S3 layout in .airlock/dist/mwaa (+ .zip); MWAA_AIRFLOW_VERSION=3.3.1 by default
	@$(PY) -m airlock package mwaa --airflow-version $(MWAA_AIRFLOW_VERSION) --zip

lint-docker: $(TOOLS_VENV)/.installed ## hadolint the Astro Dockerfile
	@test -x $(HADOLINT) || { echo "hadolint missing from $(TOOLS_VENV): rm $(TOOLS_VENV)/.installed && make tools"; exit 1; }
	@$(HADOLINT) --failure-threshold warning Dockerfile && echo "==> Dockerfile: hadolint clean"

lint-workflows: $(TOOLS_VENV)/.installed ## actionlint the GitHub workflows
	@test -x $(ACTIONLINT) || { echo "actionlint missing from $(TOOLS_VENV): rm $(TOOLS_VENV)/.installed && make tools"; exit 1; }
	@$(ACTIONLINT) -no-color .github/workflows/*.yml && echo "==> .github/workflows: actionlint clean"
