"""Fixtures shared by the codec tests."""

from __future__ import annotations

import jax
import pytest

from r2lcm_jax.entropy.tables import build_gaussian_tables


@pytest.fixture(scope="module")
def fast_compilation():
  """Tiny models: compile time dominates, so XLA's optimisation passes are switched off
  for the module (encoder and decoder run under the same setting, so exactness is still
  tested). Modules opt in with `pytestmark = pytest.mark.usefixtures("fast_compilation")`."""
  jax.config.update("jax_disable_most_optimizations", True)
  yield
  jax.config.update("jax_disable_most_optimizations", False)  # the default


@pytest.fixture(scope="module")
def tables():
  """The default integer Gaussian coding tables."""
  return build_gaussian_tables()
