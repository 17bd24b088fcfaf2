# Two commands for a fresh machine: `make demo` and `make test` (README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test install install-test clean reports

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch and torchvision are pinned in pyproject.toml; pip takes them from local disk here.
install: $(PY)
	$(PIP) install --quiet -e .

install-test: $(PY)
	$(PIP) install --quiet -e '.[test]'
	# clip_benchmark writes the webdataset fixtures (tests/data/test_wds.py) with its own exporter;
	# --no-deps: its transformers would be imported by open_clip in every test process
	$(PIP) install --quiet --no-deps 'clip_benchmark>=1.6'

demo: install
	$(VENV)/bin/audit demo

test: install-test
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# Example outputs committed in reports/examples/ (a run report, a comparison, an export), offline.
reports: install
	bash reports/examples/regenerate.sh

clean:
	rm -rf audit-out .pytest_cache
