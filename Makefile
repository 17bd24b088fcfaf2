# Two commands for a fresh machine: `make demo` and `make test` (README).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo test check install install-test clean reports

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch and torchvision are pinned in pyproject.toml; pip takes them from local disk here.
install: $(PY)
	$(PIP) install --quiet -e .

# The ImageNet-C fidelity oracles pin opencv-python (3.4 / any) that would pull in libGL: they
# are installed without dependencies (the test extra brings opencv-python-headless and Wand).
install-test: $(PY)
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps imagenet-c==0.0.3 imagecorruptions==1.1.2
	# clip_benchmark writes the webdataset fixtures (tests/data/test_wds.py) with its own exporter;
	# --no-deps: its transformers would be imported by open_clip in every test process
	$(PIP) install --quiet --no-deps 'clip_benchmark>=1.6'
	# AutoAttack's attacks (auditkit/conditions/autoattack.py); --no-deps: it pins requests~=2.25.1
	$(PIP) install --quiet --no-deps torchattacks==3.5.1
	touch $(TEST_STAMP)

# The test installs are redone only when pyproject.toml changes, so `make check` in the edit loop
# starts testing at once (CI starts from an empty .venv and always installs).
TEST_STAMP := $(VENV)/.test-installed
$(TEST_STAMP): pyproject.toml | $(PY)
	$(MAKE) install-test

demo: install
	$(VENV)/bin/audit demo

# Every test (what CI runs: .ci/run), the 25 slowest printed so a test that grows shows up.
PYTEST := HF_HUB_OFFLINE=1 $(PY) -m pytest -q --durations=25
test: $(TEST_STAMP)
	$(PYTEST)

# The edit loop's fast tier: everything but the ImageNet-C oracles, Chromium and the slow tests
# (markers in pyproject.toml); `make test` before a commit.
check: $(TEST_STAMP)
	$(PYTEST) -m "not oracle and not browser and not slow"

# Example outputs committed in reports/examples/ (a run report, a comparison, an export), offline.
reports: install
	bash reports/examples/regenerate.sh

clean:
	rm -rf audit-out .pytest_cache
