"""Shared pytest fixtures.

Real camera data lives in `../shared/data/real` beside the repository (never committed);
tests that need it take the `real_data` fixture and are skipped, with the reason, where
that folder is absent. `R2LCM_SHARED_DATA` overrides the location.
"""

from __future__ import annotations

import os
import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Compiled XLA programs are cached on disk for the whole test run (and inherited by the
# CLI subprocesses the tests start), so each model shape compiles once. Set before any
# test module imports jax.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO_ROOT / ".pytest_cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

# The package sets its XLA flags on import (r2lcm_jax/xla_setup.py); import it before any
# test module can start a JAX backend.
import r2lcm_jax  # noqa: E402,F401


def _shared_data_root() -> pathlib.Path:
  env = os.environ.get("R2LCM_SHARED_DATA")
  if env:
    return pathlib.Path(env)
  return REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
  return REPO_ROOT


@pytest.fixture(scope="session")
def real_data() -> pathlib.Path:
  """`../shared/data/real`: GoPro / Canon DNGs, INTEL-TAU PNGs, a Halide Bayer crop."""
  root = _shared_data_root() / "real"
  if not root.is_dir():
    pytest.skip(f"real camera data not found at {root} (set R2LCM_SHARED_DATA)")
  return root


@pytest.fixture(scope="session")
def reference_data() -> pathlib.Path:
  """`../shared/data/reference/dev`: parity fixtures from the official PyTorch model."""
  root = _shared_data_root() / "reference" / "dev"
  if not root.is_dir():
    pytest.skip(f"reference fixtures not found at {root} (set R2LCM_SHARED_DATA)")
  return root


@pytest.fixture(scope="module")
def fast_compilation():
  """Tiny models: compile time dominates, so XLA's optimisation passes are switched off
  for the module (about 40 % less compilation on a CPU). Values can move in the last
  bits, never more: encoder and decoder run under the same setting (exactness is still
  tested), and modules that compare with recorded reference numbers stay out. Modules opt
  in with `pytestmark = pytest.mark.usefixtures("fast_compilation")`."""
  import jax  # here, not at the top: the environment above must be set before jax loads

  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", False)  # the default
