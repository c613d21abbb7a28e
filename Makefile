# Carebook: `make run` for the demo, `make test` for the suite.
# Everything runs from .venv; with no environment set it uses the embedded defaults
# (SQLite under .data/, kombu's filesystem broker). Set DATABASE_URL and
# CELERY_BROKER_URL to run on PostgreSQL and Redis.
PYTHON ?= python3
# Local targets run as development unless the shell says otherwise: config/settings.py
# treats an unset DJANGO_ENV as production (real secrets required, DEBUG refused).
export DJANGO_ENV ?= development
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
WEB_PORT ?= 8000
GUNICORN_WORKERS ?= 4

.PHONY: install migrate demo run serve worker beat test lint typecheck check bench bench-deps replica replica-stop clean

$(BIN)/activate: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

install: $(BIN)/activate

migrate: install
	@mkdir -p .data/broker/queue .data/broker/processed  # kombu's filesystem broker needs them
	$(MANAGE) migrate --noinput

demo: migrate
	$(MANAGE) seed_demo

# Web server and a Celery worker with its beat embedded (-B: development only; production
# runs one `make beat`), so the periodic work (reminders, the waitlist sweep, the audit
# chain's verification) runs on a first start too; Ctrl-C stops both.
run: demo
	@echo "Carebook on http://127.0.0.1:$(WEB_PORT)/  (API docs /api/docs/, admin /admin/)"
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A config worker -B --loglevel=INFO --concurrency=2 & \
	$(MANAGE) runserver 127.0.0.1:$(WEB_PORT)

# The production processes, without containers (docker-compose.yml runs the same).
serve: migrate
	$(MANAGE) collectstatic --noinput >/dev/null
	$(BIN)/gunicorn config.wsgi:application --config config/gunicorn_conf.py --bind 0.0.0.0:$(WEB_PORT) \
		--workers $(GUNICORN_WORKERS) --access-logfile -

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: migrate
	$(BIN)/celery -A config beat --loglevel=INFO

# PYTEST_ARGS="-n 2" runs on two processes (pytest-xdist); "-k name" picks tests.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: install
	$(BIN)/mypy .

check: lint typecheck test

# Benchmarks on loopback: gunicorn on PostgreSQL and Redis (BENCH_PG, BENCH_REDIS), wrk, pgbench.
# `make bench BENCH_SCALE=10` then grows the data tenfold and measures again (docs/performance.md).
bench: install
	$(BIN)/python -m benchmarks.run

# A streaming-replication standby of the DATABASE_URL primary on 127.0.0.1:$(REPLICA_PORT), for
# trying the read replica (docs/deployment.md): prints the DATABASE_REPLICA_URL to export.
# May add a `replication` line for 127.0.0.1 to the primary's pg_hba.conf (core/local_replica.py).
REPLICA_DIR ?= /tmp/carebook-replica
REPLICA_PORT ?= 5433
replica: install
	$(MANAGE) local_replica start --dir $(REPLICA_DIR) --port $(REPLICA_PORT)

replica-stop: install
	$(MANAGE) local_replica stop --dir $(REPLICA_DIR)

# What `make bench` runs besides Python (Debian packages; needs root, as .ci/run does).
bench-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		wrk postgresql-client postgresql

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache staticfiles
