# Two commands matter: `make run` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
HOST ?= 127.0.0.1
PORT ?= 50051
REST_HOST ?= 127.0.0.1
REST_PORT ?= 8080
# The server's Prometheus port and Envoy's admin port: a second `make run` on one machine needs
# other ones too (0 picks a free port; the banner shows the metrics one).
METRICS_PORT ?= 9464
ADMIN_PORT ?= 9901
# Logs of set-up and of `make run`, and the server's pid file (never committed).
STATE := .state
SETUP_LOG := $(STATE)/setup.log

.PHONY: setup run test lint browser postgres perf-analyzer format stubs bench detector accuracy fuzz clean

setup: $(VENV)/.installed $(BUF)

# Installs go to $(SETUP_LOG); on failure its end is printed.
$(VENV)/.installed: pyproject.toml clients/python/pyproject.toml
	@mkdir -p $(STATE)
	@echo "setting up $(VENV) (log: $(SETUP_LOG)) ..."
	@{ test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	  $(BIN)/python -m pip install --upgrade pip && \
	  $(BIN)/python -m pip install -e clients/python -e ".[dev]"; } >> $(SETUP_LOG) 2>&1 \
	  || { tail -n 40 $(SETUP_LOG); exit 1; }
	@touch $@

$(BUF):
	@mkdir -p $(STATE)
	@npm install --no-save --no-audit --no-fund --prefix .tools @bufbuild/buf@$(BUF_VERSION) >> $(SETUP_LOG) 2>&1 \
	  || { tail -n 40 $(SETUP_LOG); exit 1; }

# The server and the Envoy sidecar together (server/launch.py): a banner with the addresses, the
# provider and auth, their logs under $(STATE)/. Ctrl-C stops both gracefully.
run: setup
	@$(BIN)/python -m server.launch --host $(HOST) --port $(PORT) --rest-host $(REST_HOST) \
		--rest-port $(REST_PORT) --admin-port $(ADMIN_PORT) --state-dir $(STATE) \
		-- --metrics-port $(METRICS_PORT)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BUF) lint

test: lint browser postgres perf-analyzer
	$(BIN)/python -m pytest

# The browser the web page's tests drive (tests/edge/test_web_page.py): Debian's chromium, installed
# with apt-get when missing and run as root (CI); elsewhere those tests skip, saying why.
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (log: $(SETUP_LOG)) ..."; mkdir -p $(STATE); \
	    { apt-get install -y --no-install-recommends chromium \
	      || { apt-get update && apt-get install -y --no-install-recommends chromium; }; } >> $(SETUP_LOG) 2>&1 \
	      || { tail -n 40 $(SETUP_LOG); exit 1; }; \
	  else echo "no /usr/bin/chromium: the web page's browser tests will skip (apt-get install chromium)"; fi; }

# The PostgreSQL server the job store's tests start in a temporary folder (tests/postgres.py):
# Debian's postgresql, installed with apt-get when missing and run as root (CI); elsewhere those
# tests skip, saying why.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing postgresql (log: $(SETUP_LOG)) ..."; mkdir -p $(STATE); \
	    { apt-get install -y --no-install-recommends postgresql \
	      || { apt-get update && apt-get install -y --no-install-recommends postgresql; }; } >> $(SETUP_LOG) 2>&1 \
	      || { tail -n 40 $(SETUP_LOG); exit 1; }; \
	  else echo "no PostgreSQL server: the PostgreSQL job store's tests will skip (apt-get install postgresql)"; fi; }

# Triton's perf_analyzer, which tests/kserve/test_perf_analyzer.py and bench/perf_analyzer.py point at
# the server's v2 protocol. From the tritonclient 2.51.0 wheel: the newest build that runs on Debian
# 12's glibc 2.36 (later ones, and the perf-analyzer wheels, need glibc 2.38). It links libb64
# (Debian's libb64-0d, installed with apt-get as root) and CUDA's runtime library, which it loads
# on any machine and uses only for CUDA shared memory (the nvidia-cuda-runtime-cu12 wheel).
PERF_ANALYZER_DIR := .tools/perf_analyzer
perf-analyzer: $(PERF_ANALYZER_DIR)/.installed
$(PERF_ANALYZER_DIR)/.installed: | setup
	@mkdir -p $(STATE)
	@test -e /usr/lib/x86_64-linux-gnu/libb64.so.0d || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing libb64-0d for perf_analyzer (log: $(SETUP_LOG)) ..."; \
	    { apt-get install -y --no-install-recommends libb64-0d \
	      || { apt-get update && apt-get install -y --no-install-recommends libb64-0d; }; } >> $(SETUP_LOG) 2>&1 \
	      || { tail -n 40 $(SETUP_LOG); exit 1; }; \
	  else echo "no libb64.so.0d: perf_analyzer will not run and its test will skip (apt-get install libb64-0d)"; fi; }
	@$(BIN)/python -m pip install --quiet --no-deps --target $(PERF_ANALYZER_DIR) \
	  tritonclient==2.51.0 nvidia-cuda-runtime-cu12==12.9.79 >> $(SETUP_LOG) 2>&1 || { tail -n 40 $(SETUP_LOG); exit 1; }
	@touch $@

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the committed Python stubs after a change under proto/.
stubs: setup
	$(BIN)/python clients/python/generate_stubs.py

# The CPU benchmark recorded in bench/RESULTS.md (about 10 minutes): in-process ceiling, load
# sweep, overload, targets. IMAGES is a folder of photos (never committed).
IMAGES ?= ../shared/datasets/label-recognition/images
bench: setup
	bench/run.sh $(IMAGES) bench/out

# Retrain the date detector from DATASET (label-recognition layout: manifest.csv + images/) and
# export models/date_detector/model.onnx: about 30 minutes on 2 cores. Installs the train extra.
DATASET ?= ../shared/datasets/label-recognition
detector: setup
	$(BIN)/python -m pip install --quiet -e ".[train]"
	$(BIN)/python -m models.date_detector.train --dataset $(DATASET)

# Detector accuracy and latency on the held-out photos, against full-image OCR in the same run.
accuracy: setup
	$(BIN)/python -m bench.accuracy models/date_detector/validation.csv --images $(DATASET) \
		--json bench/out/accuracy.json --failures bench/out/failures

# Coverage-guided fuzzing (atheris) of image decoding, the date parser and the request conversion:
# FUZZ_SECONDS per target, crashes kept under bench/out/fuzz/<target>/. CI runs a short smoke of
# each (tests/fuzz/test_fuzz.py).
FUZZ_SECONDS ?= 300
fuzz: setup
	for target in decode dates request; do \
		$(BIN)/python -m tests.fuzz $$target --seconds $(FUZZ_SECONDS) --work bench/out/fuzz || exit 1; \
	done

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache
