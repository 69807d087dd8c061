# The two commands that matter: `make run` (the product on http://127.0.0.1:8000) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test install install-dev lint lint-style format lock model browser vendor

run: install model
	$(PY) -m dashboard.devservices run

# The suite runs in one pytest-xdist process per core, at most 4 (each with its own Redis database:
# tests/services_per_worker.py); `make test PYTEST_WORKERS=0` runs it in one process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
test: lint model browser
	$(PY) -m dashboard.devservices exec -- $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# --- installation (each step re-runs only when its inputs change) ---------------------------
$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Installs come from the hashed locks in requirements/ (inputs in *.in, see `make lock`). `make run` runs the
# site and the worker, so it takes the worker lock, which holds the web lock's pins too.
$(VENV)/.installed: requirements/worker.txt | $(VENV)/bin/activate
	$(PY) -m pip install --quiet --require-hashes -r requirements/worker.txt
	touch $@

$(VENV)/.installed-dev: requirements/dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	touch $@

# Regenerates the three locks from requirements/*.in, keeping every pin that still satisfies them
# (`make lock LOCK_ARGS=--upgrade` or `LOCK_ARGS='-P name'` to move). In order: each lock constrains the next.
# torch is the CPU wheel pip finds through this machine's find-links (pip config list), not PyPI's CUDA build.
LOCK = CUSTOM_COMPILE_COMMAND="make lock" $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links $(LOCK_ARGS)
lock: $(VENV)/.installed-dev
	$(LOCK) -o requirements/web.txt requirements/web.in
	$(LOCK) -o requirements/worker.txt requirements/worker.in
	$(LOCK) -o requirements/dev.txt requirements/dev.in

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

# The demo model is built once (about a minute on a laptop CPU) unless CLASSIFIER_MODEL is set; so is the local
# gpt2-demo text generator (about a minute more) that the local SageMaker backend serves.
model: $(VENV)/.installed
	@if [ -z "$$CLASSIFIER_MODEL" ]; then $(PY) manage.py build_demo_model; fi
	$(PY) manage.py build_generator

# `make test` runs `make lint` first: ruff's checks and format check (`lint-style`, also on its own), then mypy
# with django-stubs and the boto3 stubs ([tool.mypy] in pyproject.toml).
lint-style: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint: lint-style
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# --- vendored front-end libraries (committed under static/vendor/, test-only ones under tests/browser/vendor/; pinned in package.json)
# Re-run after changing a version in package.json's devDependencies: pages never load from a CDN.
vendor: node_modules/.installed
	mkdir -p static/vendor/htmx static/vendor/chartjs
	cp node_modules/htmx.org/dist/htmx.min.js node_modules/htmx.org/LICENSE static/vendor/htmx/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map \
	   node_modules/chart.js/LICENSE.md static/vendor/chartjs/
	# axe-core checks the pages' accessibility in the browser tests; no page loads it, so it is not under static/.
	mkdir -p tests/browser/vendor/axe-core
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE node_modules/axe-core/LICENSE-3RD-PARTY.txt \
	   tests/browser/vendor/axe-core/
