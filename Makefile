# Each target installs what it needs into .venv (created when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-airflow2 lint bench venv lock clean

# Every install is held to a lock (uv pip compile --universal): a fresh machine gets the versions CI
# passed with, not whatever was released since. `make lock` re-resolves both after a dependency change.
LOCK := ci/constraints-airflow-3.txt
AF2_LOCK := ci/constraints-airflow-2.11.txt
COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 pyproject.toml --extra test --extra compile

# The same suite on Airflow 2.11: a second environment, resolved by uv against ci/airflow-2.11.txt.
AF2_VENV := .venv-af2
AF2_STAMP := $(AF2_VENV)/.installed

# Two pytest workers (pytest-xdist), each taking whole test files: module fixtures (simulators,
# Airflow deployments) start once per file, and the two longest files (the scheduler backfill and the
# Celery deployment) run side by side. `make test PYTEST_ARGS=tests/unit` runs a part, serially.
PYTEST_ARGS ?= --numprocesses=2 --dist=loadfile

# pytest in the environment $(1); its exit 5 (no tests collected) is a message, not a failure.
run_pytest = $(1)/bin/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

# --compile-bytecode: imports read .pyc files written once here, also where PYTHONDONTWRITEBYTECODE
# is set (uv does not compile by default, pip does). Without them every process that imports Airflow
# compiles its source again: 4.8 s instead of 2.2 s of CPU on this machine, in each test subprocess,
# task and demo stage.
$(STAMP): pyproject.toml $(LOCK)
	@echo "Installing Airflow, the provider and the test tools into $(VENV) (first time: 1-3 minutes) ..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	@$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[test,compile]' -c $(LOCK)
	@touch $(STAMP)
	@echo "Installed."

# The OCSF mapping compiled in place with mypyc, again whenever its source changes. Without a C
# compiler this says so and the mapping runs from source (same output, about half as fast).
OCSF_SOURCES := $(filter-out %/_compiled_sources.py,$(wildcard provider/netskope_provider/ocsf/*.py))
COMPILED := $(VENV)/.compiled
$(COMPILED): $(STAMP) $(OCSF_SOURCES) provider/hatch_build.py
	@echo "Compiling the OCSF mapping with mypyc (first time: about a minute) ..."
	@$(BIN)/python provider/hatch_build.py
	@$(BIN)/python -m compileall -q provider dags > /dev/null
	@touch $(COMPILED)

venv: $(COMPILED)

# Lint, format check and type check run before the tests: a violation fails `make test` at once.
LINTED := provider tests bench dags
lint: $(STAMP)
	@$(BIN)/ruff check --quiet $(LINTED)
	@$(BIN)/ruff format --check --quiet $(LINTED)
	@$(BIN)/python -m mypy
	@echo "ruff and mypy: clean"

test: lint $(COMPILED)
	@$(call run_pytest,$(VENV))

$(AF2_STAMP): pyproject.toml ci/airflow-2.11.txt $(AF2_LOCK) $(COMPILED)
	@test -x $(AF2_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(BIN)/python $(AF2_VENV)
	@$(BIN)/uv pip install --quiet --compile-bytecode --python $(AF2_VENV)/bin/python -e '.[test]' -r ci/airflow-2.11.txt -c $(AF2_LOCK)
	@touch $(AF2_STAMP)

test-airflow2: $(AF2_STAMP)
	@$(call run_pytest,$(AF2_VENV))

demo: $(COMPILED)
	$(BIN)/python -m netskope_provider.demo

bench: $(COMPILED)
	$(BIN)/python bench/run_all.py

lock: $(STAMP)
	$(COMPILE) -o $(LOCK)
	$(COMPILE) ci/airflow-2.11.txt -o $(AF2_LOCK)

clean:
	rm -rf $(VENV) $(AF2_VENV) .airflow-demo
	rm -f provider/*.so provider/netskope_provider/ocsf/*.so provider/netskope_provider/ocsf/_compiled_sources.py
