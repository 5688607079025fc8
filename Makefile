# make run: set up and start cited.  make test: set up and run every check.
# Setup is a venv in .venv with the pinned dependencies (constraints.txt); it reruns only when they change.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Models are loaded from local folders only; never ask a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# Where `make run` / `make chat` serve the page: make run HOST=0.0.0.0 PORT=8600
HOST ?= 127.0.0.1
PORT ?= 8501
API_PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup browser run chat serve watch ingest eval bench train-checker fit-confidence test lint fmt clean

setup: $(STAMP) browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: its CPU wheel is on the machine; anything else pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet --constraint constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,bundled]'
	touch $(STAMP)

# Debian's Chromium for the browser test (Playwright's own download cannot work offline). Best effort: without
# apt-get or root, the browser test is skipped and says why.
browser:
	@test -x $(CHROMIUM) || { \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
			|| echo "could not install chromium: the browser test will be skipped"; \
		else echo "no $(CHROMIUM) and no way to install it (needs apt-get as root): the browser test will be skipped"; fi; }

# Index the corpus, then serve the chat page until Ctrl-C, with `watch` keeping the index in step meanwhile
# (articles added to, changed in or removed from the corpus folder are indexed within seconds).
run: setup
	$(BIN)/python -m rag ingest
	@$(BIN)/python -m rag watch --quiet & watcher=$$!; trap 'kill $$watcher 2>/dev/null' EXIT INT TERM; \
		$(MAKE) --no-print-directory chat

ingest: setup
	$(BIN)/python -m rag ingest

# Keep the index in step with the corpus folder until Ctrl-C: a line per batch of changes.
watch: setup
	$(BIN)/python -m rag watch

chat: setup
	@echo "cited: open http://$(HOST):$(PORT) in a browser (Ctrl-C stops it)"
	$(BIN)/streamlit run app.py --server.headless true --server.address $(HOST) --server.port $(PORT) \
		--browser.gatherUsageStats false

# The HTTP API (docs at http://$(HOST):8000/docs) until Ctrl-C: make serve [HOST=0.0.0.0 with RAG_API_KEYS set]
serve: setup
	$(BIN)/python -m rag serve --host $(HOST) --port $(API_PORT)

# The eval set with the default (bundled) model: slow (minutes), so not part of `make test`.
eval: setup
	$(BIN)/python -m evals --json data/evals/bundled.json --dataset evals/seed.yaml --dataset evals/summaries.yaml

# One benchmark (minutes, not part of `make test`; see docs/benchmarks.md): make bench NAME=retrieval
# ARGS="--split train --grid". Without NAME it lists them.
bench: setup
	$(BIN)/python -m benchmarks $(NAME) $(ARGS)

# Train the support checker from ../shared (training/checker.py; about 65 minutes on 2 cores, checkpoints in
# data/checker/: a stopped run goes on where it stopped) into rag/answering/checker_model/, and write its card,
# docs/checker.md. Long: run it as `nohup make train-checker &`. ARGS="--fresh" starts from nothing.
train-checker: setup
	$(BIN)/python -m training.checker $(ARGS)

# Fit the answer-confidence combiner (training/confidence.py) into rag/answering/confidence.json: first cited
# answers every question of 18 RealTime QA 2024 weeks with the bundled 1.5B, kept in data/confidence/answers
# (training/answers.py; about 2 hours on 2 cores, run alone; a stopped run goes on where it stopped), then the
# fit itself takes a minute.
fit-confidence: setup
	$(BIN)/python -m training.answers
	$(BIN)/python -m training.confidence $(ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rag evals benchmarks training app.py

# Tests, then the eval sets (questions, summaries) with the extractive backend as a gate (fast, reproducible).
test: setup lint
	$(BIN)/python -m pytest
	$(BIN)/python -m evals --model extractive --config evals/gates-extractive.toml \
		--dataset evals/seed.yaml --dataset evals/summaries.yaml

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
