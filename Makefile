# The two commands that matter: `make run` (the product on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test install install-dev lint format model browser vendor

run: install model
	$(PY) -m dashboard.devservices run

test: install-dev model browser
	$(PY) -m dashboard.devservices exec -- $(PY) -m pytest $(PYTEST_ARGS)

# --- installation (each step re-runs only when its inputs change) ---------------------------
$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot be used here).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "Browser tests need Chromium at $(CHROMIUM): sudo apt-get install -y chromium" >&2; exit 1; \
	  fi; \
	fi

install: $(VENV)/.installed node_modules/.installed
install-dev: install $(VENV)/.installed-dev

# The demo model is built once (about a minute on a laptop CPU) unless CLASSIFIER_MODEL is set.
model: $(VENV)/.installed
	@if [ -z "$$CLASSIFIER_MODEL" ]; then $(PY) manage.py build_demo_model; fi

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# --- vendored front-end libraries (committed under static/vendor/; pinned in package.json) --
# Re-run after changing a version in package.json's devDependencies: pages never load from a CDN.
vendor: node_modules/.installed
	mkdir -p static/vendor/htmx static/vendor/chartjs
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE static/vendor/htmx/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map \
	   node_modules/chart.js/LICENSE.md static/vendor/chartjs/
