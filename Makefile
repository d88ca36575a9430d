# The commands of the README: `make run`, `make test` and `make test-all`. Each creates .venv
# when it is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-all lint format install clean vendor-htmx

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/overlap db upgrade
	$(BIN)/overlap run

# The tests run in parallel processes (pytest-xdist), each on a database and a Redis of its
# own (tests/conftest.py). They spend most of their time waiting on workers, servers and
# Spotify's backoffs, not on the CPU, so more processes than cores pay: on the 2-core
# machine the tests took 4.0 min with 2 processes, 3.1 with 4 and 3.0 with 6. worksteal
# lets an idle process take tests queued behind a long one.
TEST_PROCESSES ?= 4

test: $(STAMP) lint
	$(BIN)/pytest -m "not slow" -n $(TEST_PROCESSES) --dist worksteal

# make test, then the slow fault and load tests it leaves out, one at a time: they kill and
# stop processes and servers and measure latencies under load, which tests running beside
# them would disturb.
test-all: test
	$(BIN)/pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

# htmx is vendored (no CDN): `make vendor-htmx HTMX_VERSION=x.y.z` fetches that release
# from the npm registry and replaces static/htmx.min.js.
HTMX_VERSION ?= 2.0.8
vendor-htmx:
	rm -rf .htmx-pack && mkdir .htmx-pack
	cd .htmx-pack && npm pack htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-$(HTMX_VERSION).tgz
	cp .htmx-pack/package/dist/htmx.min.js static/htmx.min.js
	echo "$(HTMX_VERSION)" > static/htmx.version
	rm -rf .htmx-pack

# idiomorph (htmx's morph swap, which keeps focus and scroll while the comparison polls)
# is vendored the same way: `make vendor-idiomorph IDIOMORPH_VERSION=x.y.z`.
IDIOMORPH_VERSION ?= 0.8.0
vendor-idiomorph:
	rm -rf .idiomorph-pack && mkdir .idiomorph-pack
	cd .idiomorph-pack && npm pack idiomorph@$(IDIOMORPH_VERSION) >/dev/null && tar xzf idiomorph-$(IDIOMORPH_VERSION).tgz
	cp .idiomorph-pack/package/dist/idiomorph-ext.min.js static/idiomorph-ext.min.js
	echo "$(IDIOMORPH_VERSION)" > static/idiomorph.version
	rm -rf .idiomorph-pack
