# The README's commands. `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_HOME := .nlpipe/demo

.PHONY: install demo test test-slow bench lint format error-codes serve clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The PDF reader's C loop (setup.py) needs a C compiler and Python's headers; without them it falls back to ctypes.
$(VENV)/.installed: pyproject.toml setup.py nlpipe/readers/pdf/_pdfium_calls.c nlpipe/tasks/_ngrams.c | $(BIN)/python
	@if ! command -v cc >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing gcc (apt-get) for nlpipe's C extension"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc >/dev/null; fi
	@if ! $(BIN)/python -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
		&& [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing python3-dev (apt-get) for nlpipe's C extension"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev >/dev/null; fi
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: export NLPIPE_HOME = $(DEMO_HOME)
demo: install
	rm -rf $(DEMO_HOME)
	@echo "== 1. import the sample news (single-label) and feedback (multi-label) corpora"
	$(BIN)/nlpipe datasets import news data/news.jsonl
	$(BIN)/nlpipe datasets import feedback data/feedback.csv --label-col labels --label-sep '|'
	$(BIN)/nlpipe datasets stats news
	@echo "== 2. train (model search on a validation split carved from train; test split held out)"
	$(BIN)/nlpipe train news --name news --time-budget 60
	$(BIN)/nlpipe train feedback --name feedback --time-budget 60
	@echo "== 3. evaluate on the held-out test split: metrics table and HTML report"
	$(BIN)/nlpipe evaluate news news
	$(BIN)/nlpipe evaluate feedback feedback
	@echo "== 4. predict"
	$(BIN)/nlpipe predict news "The central bank raised interest rates again as inflation stayed high" --top-k 2
	$(BIN)/nlpipe predict feedback "I was charged twice and the parcel still has not arrived" --explain --top-k 3
	@echo "== 5. label with rules: what a keyword/phrase rules file would add to the feedback comments (dry run)"
	$(BIN)/nlpipe label apply data/rules/feedback.toml feedback --sample 3
	@echo "== 6. sentiment: the VADER lexicon with no training, then a trained negative/neutral/positive model"
	$(BIN)/nlpipe predict --lexicon "The courier was friendly but the refund still has not arrived" --sentences
	$(BIN)/nlpipe datasets import feedback-sentiment data/feedback.csv --label-col sentiment
	$(BIN)/nlpipe train feedback-sentiment --name feedback-sentiment --task sentiment --time-budget 30
	$(BIN)/nlpipe predict feedback-sentiment "Great support, fixed in minutes. The app still crashes though." --sentences
	@echo "== 7. batch: every row of two sample files through two models in one pass, into a CSV (resumable)"
	$(BIN)/nlpipe batch predict data/news.jsonl data/feedback.csv --model news --model feedback-sentiment \
		--out $(DEMO_HOME)/batch.csv --format csv
	head -c 400 $(DEMO_HOME)/batch.csv; echo

# The suite runs store tests on SQLite and on a throwaway PostgreSQL server (.ci/services.sh installs and
# starts it when it can; those tests skip otherwise, and fail instead under NLPIPE_REQUIRE_SERVICES=1).
test: install
	@eval "$$(bash .ci/services.sh start)"; \
	$(BIN)/pytest -q -m "not slow"; status=$$?; \
	bash .ci/services.sh stop; exit $$status

test-slow: install
	$(BIN)/pytest -q -m slow

bench: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/classify.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/layout.py
	$(BIN)/python benchmarks/entities.py
	$(BIN)/python benchmarks/sentiment.py

lint: install
	$(BIN)/ruff check nlpipe api tests benchmarks
	$(BIN)/ruff format --check nlpipe api tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff format nlpipe api tests benchmarks
	$(BIN)/ruff check --fix nlpipe api tests benchmarks

# The README's "Error codes" table, from nlpipe/error_codes.py (tests/test_error_codes.py fails when it is stale).
error-codes: install
	$(BIN)/python -m nlpipe.error_codes --readme README.md

serve: install
	$(BIN)/nlpipe serve

clean:
	rm -rf $(VENV) .nlpipe .pytest_cache .ruff_cache *.egg-info
