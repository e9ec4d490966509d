# Everything a user needs, from a fresh clone: `make demo`, `make run`, `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run demo test lint bench clean chromium haproxy

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

# The console's browser tests drive Debian's Chromium (never a downloaded browser); installed here when absent.
chromium:
	@test -x /usr/bin/chromium || { echo "Installing Debian's chromium for the console's browser tests ..."; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || echo "warning: no /usr/bin/chromium; the browser tests will be skipped"

# The cluster tests put Debian's HAProxy in front of several evscada processes (deploy/haproxy.cfg); installed here
# when absent.
haproxy:
	@command -v haproxy >/dev/null || test -x /usr/sbin/haproxy || { echo "Installing Debian's haproxy for the cluster tests ..."; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq haproxy >/dev/null; } \
	  || echo "warning: no haproxy; the cluster tests will be skipped"

# One pytest worker per CPU (each with its own scratch PostgreSQL database); PYTEST_ARGS='-n 0' runs in one process.
# A crashed worker ends the run at once, naming the test: xdist's grouped scheduling can wait forever for a
# replacement worker's work.
test: $(STAMP) chromium haproxy
	$(BIN)/ruff check
	$(BIN)/python -m pytest -n logical --dist loadgroup --max-worker-restart 0 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) var build src/*.egg-info
