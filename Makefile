# The commands of the README: `make run`, `make test` and `make test-all`. Each creates the
# virtual environment when it is missing and installs the project into it from uv.lock, every
# package's hash checked against the lock.
PYTHON ?= python3
# Another Python gets an environment of its own beside .venv: `make test PYTHON=python3.13`
# builds and uses .venv-3.13, and the default one stays as it was.
ifeq ($(origin PYTHON),file)
VENV ?= .venv
else
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
ifeq ($(PYTHON_VERSION),)
$(error PYTHON=$(PYTHON) does not run here: give it an interpreter that does, or its path)
endif
VENV ?= .venv-$(PYTHON_VERSION)
endif
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv works on $(VENV) (not on its own default), with the interpreter that made it.
UV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(BIN)/uv

.PHONY: run test test-all lint format install lock lock-upgrade clean vendor-htmx vendor-idiomorph \
	lighthouse

# uv comes first, installed by pip at the version and with the hashes that uv.lock holds for
# it; from then on uv installs everything else (and keeps itself at the locked version).
define UV_REQUIREMENT
import tomllib
uv = next(p for p in tomllib.load(open("uv.lock", "rb"))["package"] if p["name"] == "uv")
files = [*uv.get("wheels", []), *([uv["sdist"]] if "sdist" in uv else [])]
print(f"uv=={uv['version']}", *(f"--hash={f['hash']}" for f in files))
endef
export UV_REQUIREMENT

$(BIN)/uv:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "$$UV_REQUIREMENT" > $(VENV)/uv-requirement.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r $(VENV)/uv-requirement.txt

# The project (editable), its dependencies, and the [local] and [dev] extras, at the versions
# uv.lock names. --locked stops here when pyproject.toml asks for something the lock lacks.
# --compile-bytecode does what pip did: without the .pyc files every process compiles what
# it imports (where PYTHONDONTWRITEBYTECODE is set, every time), and the web process took
# 3.5 s instead of 1.3 s to import the app, past the 2 s the tests give a first request.
$(STAMP): pyproject.toml uv.lock $(BIN)/uv
	$(UV) sync --locked --compile-bytecode --extra local --extra dev
	@touch $(STAMP)

install: $(STAMP)

# After a change to the dependencies in pyproject.toml: resolve again, keeping every other
# locked version. lock-upgrade moves every package to the newest version pyproject.toml allows.
lock: $(BIN)/uv
	$(UV) lock

lock-upgrade: $(BIN)/uv
	$(UV) lock --upgrade

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

# uv.lock must match pyproject.toml; deptry: every package the code imports is declared, and
# every declared one used (pyproject.toml's [tool.deptry] says how the two runs differ).
lint: $(STAMP)
	$(UV) lock --check
	$(BIN)/deptry .
	$(BIN)/deptry tests bench --exclude var --ignore DEP002,DEP004
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Lighthouse, a Node program, for tests/web/test_lighthouse.py: `npm ci` installs exactly
# the versions and integrity hashes of tools/lighthouse/package-lock.json, running no
# package's install script (it drives Debian's Chromium and downloads no browser). About
# 15 s from an empty npm cache. `npm install` there, after changing package.json, relocks.
LIGHTHOUSE_STAMP := tools/lighthouse/node_modules/.package-lock.json
lighthouse: $(LIGHTHOUSE_STAMP)

$(LIGHTHOUSE_STAMP): tools/lighthouse/package.json tools/lighthouse/package-lock.json
	cd tools/lighthouse && npm ci --no-audit --no-fund --ignore-scripts

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .venv .venv-* var .pytest_cache .ruff_cache

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
