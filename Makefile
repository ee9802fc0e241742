# The two commands of the README's quick start: `make up` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[all]'
	touch $(STAMP)

.PHONY: install up test lint
install: $(STAMP)

up: $(STAMP)
	$(BIN)/gradatlas up

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check gradatlas service worker migrations tests benchmarks scripts setup.py
	$(BIN)/mypy gradatlas service worker migrations
