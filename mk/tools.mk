# Static-analysis tools in their own virtualenv (checkov's pins would fight Airflow's).
TOOLS_VENV := .venv-tools

$(TOOLS_VENV)/.installed: requirements-tools.txt
	@echo "==> creating $(TOOLS_VENV) (checkov, actionlint, hadolint)"
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(call pip_install,$(TOOLS_VENV)/bin/python,-r requirements-tools.txt)
	@touch $@

.PHONY: tools
tools: $(TOOLS_VENV)/.installed ## Install checkov, actionlint and hadolint into .venv-tools
