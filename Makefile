# Everything a user needs, from a fresh clone: `make demo`, `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing evscada and its test tools into $(VENV) ..."
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --progress-bar off -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@mkdir -p var
	$(BIN)/evscada serve

demo: $(STAMP)
	@mkdir -p var
	$(BIN)/evscada demo

test: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) var build src/*.egg-info
