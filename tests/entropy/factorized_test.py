"""Factorized entropy model (`entropy.factorized`) and its integer CDF tables."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.entropy import factorized
from r2lcm_jax.layers.factorized_bottleneck import FactorizedBottleneck

C = 4


def _params(seed: int, perturb: float) -> dict:
  """Bottleneck parameters: the reference initialisation, then perturbed so that the
  channels differ (shifted, skewed, narrower / wider), as after training."""
  init = FactorizedBottleneck(C).init(jax.random.key(seed), jnp.zeros((1, 2, 2, C)),
                                      mode="dequantize")["params"]
  rng = np.random.default_rng(seed)
  return {k: np.asarray(v, np.float64) + perturb * rng.standard_normal(v.shape)
          for k, v in init.items()}


@pytest.mark.parametrize("perturb", [0.0, 1.0])
def test_bin_probabilities_sum_to_one_over_the_integers_per_channel(perturb):
  p = _params(0, perturb)
  lo, hi = factorized.support_bounds(p, tail_mass=1e-9)
  for ch in range(C):
    xs = np.zeros((hi[ch] - lo[ch] + 1 + 40, C))
    xs[:, ch] = np.arange(lo[ch] - 20, hi[ch] + 21)
    total = factorized.bin_probability(p, xs, np)[:, ch].sum()
    assert total == pytest.approx(1.0, abs=1e-6), (ch, total)
  # The float32 JAX path (used in training) gives the same probabilities.
  xs = np.stack([np.arange(-5, 6, dtype=np.float64)] * C, -1)
  np.testing.assert_allclose(
    np.asarray(factorized.bin_probability({k: jnp.asarray(v, jnp.float32) for k, v in p.items()},
                                          jnp.asarray(xs, jnp.float32))),
    factorized.bin_probability(p, xs, np), rtol=2e-4, atol=1e-7)


def test_cumulative_is_monotone_and_the_support_holds_all_but_the_tail_mass():
  p = _params(1, 1.0)
  xs = np.stack([np.linspace(-60, 60, 2001)] * C, -1)
  f = factorized.logits_cumulative(p, xs, np)
  assert np.all(np.diff(f, axis=0) >= 0)
  lo, hi = factorized.support_bounds(p, tail_mass=1e-6)
  lo_f = factorized.logits_cumulative(p, np.broadcast_to(lo.astype(float), (1, C)), np)[0]
  hi_f = factorized.logits_cumulative(p, np.broadcast_to(hi.astype(float), (1, C)), np)[0]
  sig = lambda t: 1 / (1 + np.exp(-t))  # noqa: E731
  assert np.all(sig(lo_f) <= 0.5e-6 * 1.0001) and np.all(1 - sig(hi_f) <= 0.5e-6 * 1.0001)
  assert np.all(hi - lo >= 2)


@pytest.mark.parametrize("seed,perturb", [(0, 0.0), (2, 1.0), (3, 2.0)])
def test_quantised_cdf_is_monotone_exact_and_codes_at_the_model_rate(seed, perturb):
  p = _params(seed, perturb)
  t = factorized.build_factorized_tables(p, tail_mass=1e-9, precision=16)
  assert t.num_scales == C
  for ch in range(C):
    row = t.cdf[ch, : t.cdf_length[ch]]
    assert row[0] == 0 and row[-1] == 1 << 16
    assert np.all(np.diff(row) >= 1)
  # Samples drawn from the model's own pmf: the ideal code length from the quantised
  # table matches -log2 of the bottleneck's likelihood.
  rng = np.random.default_rng(seed)
  lo, hi = factorized.support_bounds(p, 1e-9)
  n = 20000
  for ch in range(C):
    support = np.arange(lo[ch], hi[ch] + 1)
    xs = np.zeros((support.size, C))
    xs[:, ch] = support
    pmf = factorized.bin_probability(p, xs, np)[:, ch]
    sym = rng.choice(support, size=n, p=pmf / pmf.sum())
    freq = np.diff(t.cdf[ch, : t.cdf_length[ch]])[sym - t.offset[ch]]
    table_bits = -np.log2(freq / 2.0**16).sum()
    xs = np.zeros((n, C))
    xs[:, ch] = sym
    model_bits = -np.log2(factorized.bin_probability(p, xs, np)[:, ch]).sum()
    assert table_bits == pytest.approx(model_bits, rel=0.01, abs=2e-3 * n), (ch, table_bits, model_bits)
    # ... and the real rANS coder decodes it exactly at that size (+ its small overhead).
    idx = np.full(n, ch, np.int32)
    data = rans_numpy.encode(sym.astype(np.int32), idx, t, lanes=1)
    np.testing.assert_array_equal(rans_numpy.decode(data, idx, t), sym)
    assert 8 * len(data) <= table_bits * 1.01 + 256, (len(data), table_bits)


def test_values_outside_the_support_are_escaped_and_round_trip():
  t = factorized.build_factorized_tables(_params(4, 0.5))
  sym = np.array([t.offset[0] - 50, 0, t.offset[0] + t.cdf_length[0] + 70, 3], np.int32)
  idx = np.array([0, 1, 2, 3], np.int32)
  data = rans_numpy.encode(sym, idx, t, lanes=1)
  np.testing.assert_array_equal(rans_numpy.decode(data, idx, t), sym)


def test_init_values_reproduce_the_reference_initialisation():
  shapes = {"_matrix0": (C, 3, 1), "_matrix4": (C, 1, 3), "_bias2": (C, 3, 1), "_factor1": (C, 3, 1)}
  u = np.linspace(-1, 1, C * 3).reshape(C, 3, 1).astype(np.float32)
  scale = 10.0 ** (1 / 5)
  np.testing.assert_allclose(factorized.init_values("_matrix0", shapes["_matrix0"], u),
                             np.log(np.expm1(1 / scale / 3)), rtol=1e-6)
  np.testing.assert_allclose(factorized.init_values("_matrix4", shapes["_matrix4"], u[:, :1]),
                             np.log(np.expm1(1 / scale / 1)), rtol=1e-6)
  np.testing.assert_allclose(factorized.init_values("_bias2", shapes["_bias2"], u), u / 2)
  assert not factorized.init_values("_factor1", shapes["_factor1"], u).any()
  with pytest.raises(ValueError):
    factorized.init_values("kernel", (3,), u)
