"""The host coding loop (`latent_coding.code_level` inside `compress_image`) against the
model's own eval forward (`R2LCM.__call__(training=False)`): same latents up to the
codec's float16 rounding of mu / sigma / q and its 8-bit step mantissa, same
reconstruction, and the same rate on the positions that are coded."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params
from r2lcm_jax.models.r2lcm import R2LCM

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4)

pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def both(tables):
  params = init_params(CFG, jax.random.key(0))
  runner = ModelRunner(CFG, params, tables.scale_table)
  raw, srgb = synthetic_pair(3, 64, 96)  # a multiple of 16: no padding on either side
  srgb8 = np.round(srgb * 255).astype(np.uint8)
  enc = codec.compress_image(raw, srgb8, runner, tables, reconstruct=True)
  srgb_f = jnp.asarray(srgb8.astype(np.float32)[None] / 255)
  forward = jax.jit(lambda p, x, s: R2LCM(CFG).apply({"params": p}, x, s, training=False))
  out = forward(params, jnp.asarray(raw[None]), srgb_f)
  return enc, jax.tree.map(np.asarray, out)


def test_latents_and_reconstruction_match_the_eval_forward(both):
  enc, out = both
  # hyper: at random init every symbol is 0, so z_hat = mu (float16-rounded in the codec)
  np.testing.assert_allclose(enc.z_hat, out["z_hat"], rtol=0, atol=2e-3)
  # main: mu rounded to float16 (|mu| ~ 1: 1e-3) and the step's 8-bit mantissa (< 0.4 %)
  np.testing.assert_allclose(enc.y_hat, out["y_hat"], rtol=0, atol=1e-2)
  assert np.mean(np.abs(enc.y_hat - out["y_hat"]) < 1e-3) > 0.8
  np.testing.assert_allclose(enc.x_hat, out["x_hat"][0], rtol=0, atol=2e-3)


def test_estimated_rate_matches_the_forward_likelihoods_of_coded_positions(both):
  """The forward charges never-coded positions (coverage "official") 23.25 bits each as
  the training loss does; the codec sends nothing for them. On the coded positions the
  integer tables' estimate and the forward's continuous likelihoods agree within 3 %."""
  enc, out = both
  bits = 0.0
  for level in ("hyper", "main"):
    coded = (out["order"][level] < CFG.num_steps)[..., None]
    bits += -np.sum(np.log2(out["likelihoods"][level].astype(np.float64)) * coded)
  assert bits > 1000
  assert abs(enc.estimated_bits / bits - 1) < 0.03, (enc.estimated_bits, bits)
