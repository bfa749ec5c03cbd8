# Two commands on a fresh machine: `make run` and `make test` (each creates .venv if missing).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint eval bench browser nginx clean

$(BIN)/python: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(BIN)/python

# Local demo: SQLite, in-process delivery, signatures checked against a demo key printed at start.
run: $(BIN)/python
	BOT_DEMO=1 $(BIN)/python -m bot serve

# Debian's Chromium for the Playwright browser tests (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and not root: browser tests will be skipped"; fi; }

# Debian's nginx for the slow-client test of deploy/nginx.conf (not started here).
nginx:
	@test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else echo "nginx missing and not root: the slow-client test will be skipped"; fi; }

test: $(BIN)/python browser nginx
	$(BIN)/python -m bot lint --demo
	$(BIN)/python -m pytest -q
	$(BIN)/python -m bot eval tests/data/eval.yaml --baseline

eval: $(BIN)/python
	$(BIN)/python -m bot eval tests/data/eval.yaml --baseline

# Match latency, the dashboard's heaviest page, the webhook (SQLite; PostgreSQL too when it answers).
bench: $(BIN)/python
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) instance .pytest_cache
