# Longrun developer commands. `make up` runs the whole stack locally, `make test` runs the tests.
# Everything runs from .venv, (re)built from pyproject.toml when that file changes.

PYTHON := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: venv web browser up worker down test test-news test-webbuddy test-crossposting test-onec test-tracker bench lint clean

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q -e '.[dev]'
	touch $@

# The dashboard (web/): React + TypeScript, type-checked and bundled by Vite into web/dist, which the API serves.
# Node.js 20.19+ and npm are all it needs; packages come from the npm registry at the lockfile's versions.
WEB_SOURCES := $(shell find web/src web/public -type f 2>/dev/null) web/index.html web/vite.config.ts web/tsconfig.json
web: web/dist/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build

# The browser the screen tests drive (tests/screens): Debian's Chromium, installed when missing.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Embedded Postgres, Temporal dev server + Web UI, emulators, one worker and the API; Ctrl-C stops it all.
up: venv web
	$(PYTHON) -m devstack up

# One more worker against the running stack (scale out, or replace a crashed one).
worker: venv
	$(PYTHON) -m devstack worker

# Stop a stack whose `make up` runs in another terminal or was killed.
down: venv
	$(PYTHON) -m devstack down

test: venv web browser
	$(PYTHON) -m pytest -q -p no:cacheprovider

# One application's tests alone: its real-stack folder and its workflow tests (tests/workflows, no stack).
# Crossposting also runs tests/telegram, its sources' adapter; the tracker runs the chat-kind check from there.
TESTS_news := tests/news tests/workflows/test_news_flow.py
TESTS_webbuddy := tests/webbuddy tests/workflows/test_webbuddy_flow.py
TESTS_crossposting := tests/crossposting tests/telegram tests/workflows/test_crossposting_flow.py
TESTS_onec := tests/onec tests/workflows/test_onec_flow.py
TESTS_tracker := tests/tracker tests/telegram/test_chat_kinds.py tests/workflows/test_tracker_flow.py \
	tests/workflows/test_tracker_embeddings_flow.py

# Two pytest processes, each with its own stack on its own ports, a test file kept whole in one of them (its module
# deployment is started once): most of a real-stack test is waiting, so two halve the wall time on two cores.
# `make test` stays one process: tests/test_history_secrets.py must run after every other test.
# The tracker's files are few and long: its tests are handed out one by one instead (two module deployments started
# twice cost less than one process left idle), 1:49 against 2:01-2:07; crossposting measured the other way round.
DIST_tracker := worksteal
test-news test-webbuddy test-crossposting test-onec test-tracker: test-%: venv web
	$(PYTHON) -m pytest -q -p no:cacheprovider -n 2 --dist $(or $(DIST_$*),loadfile) $(TESTS_$*)

bench: venv
	$(PYTHON) -m bench

# ruff, then pyright over the product code and the benchmarks ([tool.pyright] in pyproject.toml; tests/test_types.py runs it in `make test`).
lint: venv
	$(PYTHON) -m ruff check .
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(PYTHON) -m pyright

# Deletes all local state (.data: database, Temporal history, logs). Only ever run explicitly.
clean: venv
	$(PYTHON) -m devstack down
	rm -rf .data
