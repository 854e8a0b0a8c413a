# Two commands do all the set-up: `make run` (the app on http://127.0.0.1:5000)
# and `make test` (the whole test suite). Both are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup lint format serve serve-gevent serve-gthread browser bench clean

run: setup
	CHAT_ENV=development $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The browser tests drive Debian's Chromium; install it when we may (root) and it is absent.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null \
				|| echo "could not install chromium: the browser tests will report it"; \
		else \
			echo "no /usr/bin/chromium: install Debian's chromium (apt-get install chromium fonts-noto-cjk) for the browser tests"; \
		fi; \
	fi

# Production-like servers on the embedded database (set SECRET_KEY for real use).
serve: setup
	$(BIN)/gunicorn -k eventlet -w 1 --worker-connections 10000 -b $(HOST):$(PORT) wsgi:app

serve-gevent: setup
	$(BIN)/gunicorn -k gevent -w 1 --worker-connections 10000 -b $(HOST):$(PORT) wsgi:app

serve-gthread: setup
	$(BIN)/gunicorn -k gthread -w 1 --threads 100 -b $(HOST):$(PORT) wsgi:app

# The benchmark (bench/README.md): Chatroom against a Node socket.io peer and a bare
# Flask-SocketIO app on loopback, about 20 minutes on 2 cores. BENCH_QUICK=1: about 10 minutes.
# BENCH_ARGS passes options, e.g. BENCH_ARGS='--servers node,chatroom-eventlet'.
bench: setup
	BENCH_COMMAND="make bench" $(BIN)/python -m bench.run $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) node_modules .pytest_cache tests/artifacts
