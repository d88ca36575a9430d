# The two commands of the README: `make run` and `make test`. Each creates .venv when it
# is missing and installs the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format install clean vendor-htmx

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/overlap db upgrade
	$(BIN)/overlap run

test: $(STAMP) lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

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
