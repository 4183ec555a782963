# Catena: `make run` serves the app with demo data, `make test` runs the suite.
# Everything is installed into .venv from the pinned requirements files.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app app
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run olist test translations compile-translations report-images clean load bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.requirements: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.requirements-test: requirements-test.txt $(VENV)/.requirements
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

compile-translations: $(VENV)/.requirements
	$(BIN)/pybabel compile -d translations

run: $(VENV)/.requirements compile-translations
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	@echo ""
	@echo "Catena is at http://$(HOST):$(PORT)/  (stop with Ctrl+C)"
	@$(FLASK) demo logins
	@echo ""
	$(FLASK) run --host $(HOST) --port $(PORT)

# The real Olist sample in a database of its own, in Brazil's time zone; then serve it.
OLIST_ENV := CATENA_TIMEZONE=America/Sao_Paulo DATABASE_URL=sqlite:///olist.sqlite
olist: $(VENV)/.requirements compile-translations
	$(OLIST_ENV) $(FLASK) db upgrade
	$(OLIST_ENV) $(FLASK) demo olist
	@echo ""
	@echo "Catena with the Olist sample is at http://$(HOST):$(PORT)/  (stop with Ctrl+C)"
	$(OLIST_ENV) $(FLASK) run --host $(HOST) --port $(PORT)

test: $(VENV)/.requirements-test compile-translations
	env -u TEST_DATABASE_URL $(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
		echo "== again on PostgreSQL: $$TEST_DATABASE_URL"; \
		$(BIN)/python -m pytest $(PYTEST_ARGS); \
	else \
		echo "(TEST_DATABASE_URL not set: PostgreSQL run skipped)"; \
	fi

# Refresh the message catalogue after adding or changing user-facing strings.
translations: $(VENV)/.requirements
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o translations/messages.pot --sort-by-file --no-wrap --omit-header .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-wrap --ignore-obsolete --no-fuzzy-matching

# The README's pictures of the reports: a fresh demo database, one of each PDF, page 1 as PNG
# (needs poppler-utils for pdftoppm).
REPORTS_TMP := $(CURDIR)/.report-images
report-images: $(VENV)/.requirements compile-translations
	rm -rf $(REPORTS_TMP) && mkdir -p $(REPORTS_TMP) docs/reports
	CATENA_INSTANCE_DIR=$(REPORTS_TMP) $(FLASK) db upgrade
	CATENA_INSTANCE_DIR=$(REPORTS_TMP) $(FLASK) demo load
	CATENA_INSTANCE_DIR=$(REPORTS_TMP) $(FLASK) reports samples $(REPORTS_TMP)/pdf
	for pdf in $(REPORTS_TMP)/pdf/*.pdf; do \
		pdftoppm -r 60 -png -f 1 -l 1 -singlefile "$$pdf" docs/reports/$$(basename "$$pdf" .pdf); \
	done
	rm -rf $(REPORTS_TMP)
	@ls docs/reports

# Bounded load test: 50 users for 5 minutes on PostgreSQL with gunicorn and the scheduler, on
# 127.0.0.1; fails on any 5xx, dropped connection or lost incident (bench/load.py).
# LOAD_ARGS="--short" tries it for 30 seconds; LOAD_DATABASE_URL names the (dropped!) database.
LOAD_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/catena_load
load: $(VENV)/.requirements compile-translations
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.load --database-url $(LOAD_DATABASE_URL) $(LOAD_ARGS)

# Benchmarks (bench/README.md): generate the data set on SQLite and on PostgreSQL (database
# `bench` on 127.0.0.1, dropped and made again), run every bench/ops operation beside its
# ceiling, write bench/results/*.json and bench/RESULTS.md. Full size: 10 million legs and
# 1 million incidents; `make bench QUICK=1` (or `make bench-quick`) runs the quick size.
BENCH_ARGS ?=
bench: $(VENV)/.requirements compile-translations
	$(BIN)/pip install --quiet -r bench/requirements.txt
	$(BIN)/python -m bench.run $(if $(QUICK),--quick,) $(BENCH_ARGS)

bench-quick:
	$(MAKE) bench QUICK=1

clean:
	rm -rf $(VENV) .pytest_cache
