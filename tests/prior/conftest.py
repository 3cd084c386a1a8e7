"""Fixtures of the PriorRAW tests: synthetic pairs and tiny untrained models."""

from __future__ import annotations

import jax
import pytest

from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.prior.encoder import PixelSearchEncoder, init_encoder_params
from r2lcm_jax.prior.model_file import PriorModel, init_reconstructor_params
from r2lcm_jax.prior.reconstructor import PriorReconstructor


@pytest.fixture(scope="package")
def synthetic_pairs():
  """Four (raw, srgb) float32 (48, 64, 3) synthetic pairs."""
  return [synthetic_pair(i, 48, 64) for i in range(4)]


@pytest.fixture(scope="package")
def tiny_model():
  """Untrained encoder (features 4, D 8) + reconstructor (features 8, 2 heads)."""
  enc = PixelSearchEncoder(features=4, embed_dim=8, init_scale=10.0)
  rec = PriorReconstructor(features=8, heads=2, key_chunk=64, query_chunk=256)
  return PriorModel(enc, init_encoder_params(enc, jax.random.key(0)), rec,
                    init_reconstructor_params(rec, 8, jax.random.key(1)))
