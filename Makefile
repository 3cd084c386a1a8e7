# r2lcm_jax developer entry points.
#   make demo   set up .venv and run the demo on the embedded default
#   make test   set up .venv and run the test suite
#   make tfc    create .venv-tfc (tensorflow-compression, isolated) for the `tfc` coder backend
#   make isp-tools  install darktable-cli and rawtherapee-cli (Debian packages) if missing
#   make gpu-check  on a CUDA machine: GPU tests and benchmarks into one results file
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TFC_PYTHON ?= python3.11
TFC_VENV   ?= .venv-tfc

.PHONY: setup demo test test-all tfc isp-tools gpu-check lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/r2lcm demo

# The default run on TEST_WORKERS processes (one test file per worker at a time; the
# files' module fixtures compile once). TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-all: $(STAMP)
	$(PY) -m pytest -q -m ''

lint: $(STAMP)
	$(VENV)/bin/ruff check r2lcm_jax tests experiments third_party

tfc: $(TFC_VENV)/.installed

$(TFC_VENV)/.installed: third_party/tfc_bridge/requirements.txt
	@test -x $(TFC_VENV)/bin/python || $(TFC_PYTHON) -m venv $(TFC_VENV)
	$(TFC_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(TFC_VENV)/bin/python -m pip install --quiet -r third_party/tfc_bridge/requirements.txt
	$(TFC_VENV)/bin/python -c "import tensorflow_compression as tfc; print('tensorflow-compression', tfc.__version__ if hasattr(tfc, '__version__') else 'ok')"
	@touch $@

# Third-party ISPs for `r2lcm render --isp darktable|rawtherapee` (Debian/Ubuntu, as root).
isp-tools:
	command -v darktable-cli >/dev/null && command -v rawtherapee-cli >/dev/null || \
	  (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y darktable rawtherapee)

# GPU readiness (experiments/gpu_check.sh: python from .venv or the system, < 8 minutes).
gpu-check:
	bash experiments/gpu_check.sh

clean:
	rm -rf $(VENV) $(TFC_VENV) .pytest_cache .hypothesis
