# Static-analysis tools in their own virtualenv (checkov's pins would fight Airflow's).
TOOLS_VENV := .venv-tools

$(TOOLS_VENV)/.installed: requirements-tools.lock | $(uv_dep)
	$(call make_venv,$(TOOLS_VENV),requirements-tools.lock)
	@touch $@

.PHONY: tools
tools: $(TOOLS_VENV)/.installed ## Install checkov, actionlint and hadolint into .venv-tools
