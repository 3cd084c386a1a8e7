"""Fixtures shared by the codec tests."""

from __future__ import annotations

import pytest

from r2lcm_jax.entropy.tables import build_gaussian_tables


@pytest.fixture(scope="module")
def tables():
  """The default integer Gaussian coding tables."""
  return build_gaussian_tables()
