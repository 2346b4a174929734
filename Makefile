# The book's two commands (see README.md):
#   make book   set up the environment if needed, then build the HTML book
#   make test   set up the environment if needed, then run every test
# and one for authors:
#   make notebooks   re-create chapters/*.ipynb from chapters/*.md and execute them
#
# Set-up: a virtual environment in .venv with the exact versions in
# requirements.lock, embedkit installed in editable mode. It is redone only
# when requirements.lock or pyproject.toml change.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

# Quiet progress bars: notebook outputs must not depend on them.
export EMBEDKIT_PROGRESS ?= 0

.PHONY: book test notebooks env clean

env: $(READY)

$(READY): requirements.lock pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	# MovieLens 100K ships inside recbole; only its data files are read, so none of its dependencies
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps recbole==1.2.1
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -e .
	touch $@

book: $(READY)
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: open $(CURDIR)/_build/html/index.html"

test: $(READY)
	$(BIN)/python -m pytest

notebooks: $(READY)
	$(BIN)/python scripts/run_notebooks.py

clean:
	rm -rf _build
