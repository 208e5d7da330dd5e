# Two commands on a fresh machine: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CLI := $(BIN)/newsletter-service
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
TRANSLATIONS := newsletter_service/translations

.PHONY: install catalogues translations run admin test lint screenshots bench wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## catalogues: compile the translation catalogues (.po -> .mo; the .mo files are not committed).
catalogues: install
	$(BIN)/pybabel compile -d $(TRANSLATIONS)

## translations: extract every marked string, update each language's catalogue, compile them.
translations: install
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext --no-location --sort-output \
	  --project newsletter-service -o build/messages.pot .
	$(BIN)/pybabel update -i build/messages.pot -d $(TRANSLATIONS) --ignore-obsolete --width 100
	$(BIN)/pybabel compile --statistics -d $(TRANSLATIONS)

## run: set up, migrate the SQLite database, add demo newsletters, serve with a worker.
run: install catalogues
	@export FLASK_DEBUG=1 NEWSLETTER_BASE_URL="$${NEWSLETTER_BASE_URL:-http://$(HOST):$(PORT)}"; \
	$(CLI) db upgrade && $(CLI) newsletters seed-demo && \
	{ $(CLI) worker & worker=$$!; trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	  echo "Open http://$(HOST):$(PORT)/ ; emails appear at http://$(HOST):$(PORT)/dev/mailbox/"; \
	  $(CLI) run --host $(HOST) --port $(PORT); }

## admin: make a console login on the development database: make admin EMAIL=you@example.com
admin: install
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.com"; exit 2; }
	FLASK_DEBUG=1 $(CLI) db upgrade
	FLASK_DEBUG=1 $(CLI) admins create "$(EMAIL)"

## test: set up and run the test-suite.
test: install catalogues
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## screenshots: rewrite the README's screenshots in docs/ (Chromium drives the live app).
screenshots: install catalogues
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/screenshots.py

## bench: set up and run every benchmark beside its floor (about 15 minutes; BENCH_ARGS=--quick: 5).
# The package's bytecode is compiled first, as pip does when it installs the wheel: with
# PYTHONDONTWRITEBYTECODE set (as on our machines) each CLI start compiled ~80 modules again.
bench: install
	$(BIN)/python -m compileall -q newsletter_service
	$(BIN)/python benchmarks/run_all.py $(BENCH_ARGS)

## lint: ruff on the code and tests, mypy (strict) on the package.
lint: install
	$(BIN)/ruff check newsletter_service tests migrations
	$(BIN)/mypy

## wheel: build the installable wheel into dist/ (templates, static files and migrations inside).
wheel: install
	rm -rf build
	$(BIN)/python -m pip wheel --no-deps -w dist .

clean:
	rm -rf $(VENV) instance .pytest_cache
