"""Gaussian conditional: quantisation and likelihood stay finite for any finite q."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.entropy.gaussian import likelihood, quantize


@pytest.mark.parametrize("mode", ["noise", "ste", "dequantize"])
def test_extreme_log2_steps_give_finite_values_and_gradients(mode):
  u = jnp.asarray([0.3, -1.7, 1e4, -1e4, 0.0], jnp.float32)
  mu = jnp.asarray([0.1, 0.0, -3.0, 2.0, 0.0], jnp.float32)
  sigma = jnp.asarray([0.5, 2.0, 1e3, 0.001, -1.0], jnp.float32)
  noise = jnp.asarray([0.25, -0.5, 0.1, 0.0, -0.3], jnp.float32)

  def total(q):
    u_t = quantize(u, mu, q, mode, noise)
    return jnp.sum(u_t) + jnp.sum(jnp.log2(likelihood(u_t, mu, sigma, q)))

  for q0 in (-210.0, -64.0, 0.0, 64.0, 133.0, 1e6):
    q = jnp.full(u.shape, q0, jnp.float32)
    value, grad = jax.value_and_grad(total)(q)
    assert np.isfinite(float(value)), (mode, q0)
    assert np.isfinite(np.asarray(grad)).all(), (mode, q0)


def test_clipping_is_the_identity_inside_the_codec_range():
  u, mu = jnp.float32(1.3), jnp.float32(0.2)
  for q in (-3.0, 0.0, 2.5, 63.0):
    q = jnp.float32(q)
    want = jnp.round((u - mu) * jnp.exp2(-q)) * jnp.exp2(q) + mu
    assert float(quantize(u, mu, q, "dequantize")) == float(want)
  g = jax.grad(lambda q: likelihood(u, mu, jnp.float32(1.0), q))(jnp.float32(0.5))
  assert float(g) != 0.0
