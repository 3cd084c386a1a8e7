"""Gaussian conditional: quantisation and likelihood stay finite for any finite q."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.entropy.gaussian import code_length_bits, likelihood, quantize


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


def test_likelihoods_over_the_support_sum_to_one():
  """The bins of width 2^q centred on mu + k * 2^q tile the real line: their masses sum to
  ~1 for any mean, scale and step (LB only raises far-tail bins to 1e-7)."""
  rng = np.random.default_rng(0)
  for _ in range(20):
    mu, sigma, q = rng.normal(0, 3), np.exp(rng.uniform(-3, 3)), rng.uniform(-2, 2)
    k = np.arange(-4000, 4001)
    centres = mu + k * 2.0**q
    p = np.asarray(likelihood(jnp.asarray(centres, jnp.float32), jnp.float32(mu), jnp.float32(sigma),
                              jnp.float32(q)), np.float64)
    floor = float(np.float32(1e-7))
    tail = floor * np.sum(p <= floor)
    assert abs(p.sum() - tail - 1) < 1e-4, (mu, sigma, q, p.sum())


def test_straight_through_rounding_passes_the_gradient_unchanged():
  """"ste": forward mu + 2^q round((u - mu) 2^-q), backward du_tilde/du = 1."""
  u = jnp.linspace(-3.3, 3.7, 41)
  mu, q = jnp.float32(0.25), jnp.float32(-1.0)
  fwd = quantize(u, mu, q, "ste")
  np.testing.assert_allclose(np.asarray(fwd), np.asarray(mu + 0.5 * jnp.round((u - mu) * 2.0)), atol=1e-6)
  grad = jax.grad(lambda x: jnp.sum(quantize(x, mu, q, "ste") * jnp.arange(41.0)))(u)
  np.testing.assert_allclose(np.asarray(grad), np.arange(41.0), atol=1e-5)
  # and the gradient also reaches mu and q through the straight-through path (as the
  # official STE does): d/dmu = 1 - 1 = 0 (mu + (u - mu)), d/dq = (round(o) - o) 2^q ln 2
  g_mu = jax.grad(lambda m: jnp.sum(quantize(u, m, q, "ste")))(mu)
  np.testing.assert_allclose(float(g_mu), 0.0, atol=1e-4)
  o = (u - mu) * 2.0
  g_q = jax.grad(lambda qq: jnp.sum(quantize(u, mu, qq, "ste")))(q)
  np.testing.assert_allclose(float(g_q), float(jnp.sum((jnp.round(o) - o) * 0.5 * np.log(2))), rtol=1e-4)


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 3000])
def test_code_length_is_the_sum_of_minus_log2_likelihoods_for_every_size(n):
  """The padded, bucketed program gives what the likelihood gives element-wise, to float32
  rounding (the bucket's compiled program may come from a module that switched XLA's
  optimisations off, `fast_compilation`: last-bit differences, ~1e-9 relative). A padded
  element left in the sum would add ~1.4 bits."""
  rng = np.random.default_rng(n)
  mu = rng.normal(size=n).astype(np.float32)
  q = rng.uniform(-3.0, 1.0, n).astype(np.float32)
  sigma = rng.uniform(0.005, 3.0, n).astype(np.float32)
  sigma[-1:] = 3.0  # the last value costs more than 0 bits
  values = (mu + np.round(rng.normal(0.0, 4.0, n)) * np.exp2(q)).astype(np.float32)
  want = -np.log2(np.asarray(likelihood(values, mu, sigma, q), np.float64)).sum()
  got = code_length_bits(values, mu, sigma, q)
  assert got == pytest.approx(float(want), rel=1e-7, abs=1e-9)
  if n:
    # The padding is dropped: one value more or less changes the sum.
    assert code_length_bits(values[:-1], mu[:-1], sigma[:-1], q[:-1]) < got
