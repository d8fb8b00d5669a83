# Two commands for a fresh clone:  `make run` (serve the demo)  and  `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app
# `make run PORT=8080`: the port to serve on; the printed sign-in URL follows it (or BASE_URL).
PORT ?= 5000
BASE_URL ?= http://127.0.0.1:$(PORT)
# pytest processes for `make test`: one per core by default (pytest-xdist), at most 16 (a
# Redis database each).
TEST_PROCESSES ?= auto

.PHONY: run test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

## Install, migrate the SQLite database, seed the demo (prints the login), serve on :$(PORT) (default 5000).
run: $(VENV)/.installed
	$(BIN)/flask db upgrade
	BASE_URL=$(BASE_URL) $(BIN)/flask demo seed
	BASE_URL=$(BASE_URL) $(BIN)/flask serve --host 127.0.0.1 --port $(PORT)

## Install the test dependencies and run every test (SQLite, PostgreSQL + Redis, browser).
## `make test TEST_PROCESSES=1` runs the suite in one process.
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	TZ=UTC $(BIN)/pytest -n $(TEST_PROCESSES) --maxprocesses 16 -m "not latency"
	# The tests that assert how soon something happens in real time run alone afterwards, so
	# another test's load cannot make them late.
	TZ=UTC $(BIN)/pytest -m latency
	# Time must not depend on the machine's zone: the tests whose outcome depends on instants,
	# windows or waits (marker local_time: all of tests/core, the scheduling e2e tests, event
	# and --now parsing) run again in India, +05:30 with no DST. Naive local-time calls in
	# app/ and jobs/ are also refused outright by tests/core/test_no_local_time.py.
	TZ=Asia/Kolkata $(BIN)/pytest -q -n $(TEST_PROCESSES) --maxprocesses 16 -m local_time

## Each throughput benchmark prints the machine's own ceiling, the project's figure and the ratio.
bench: $(VENV)/.installed-test
	$(BIN)/python bench/processor.py
	$(BIN)/python bench/dispatcher.py
	$(BIN)/python bench/dispatcher.py --messages 2000 --body-kb 20
	$(BIN)/python bench/dispatcher_cpu.py
	$(BIN)/python bench/events.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/growth.py
	$(BIN)/python bench/bulk_enroll.py --sqlite
	$(BIN)/python bench/ab_evaluation.py --sqlite
	$(BIN)/python bench/publishing.py --sqlite
	$(BIN)/python bench/enrollment_list.py
