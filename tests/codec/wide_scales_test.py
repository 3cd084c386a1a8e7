"""Symbols whose scale lies beyond the coding tables (format version 3).

A trained model with adaptive quantisation can ask for steps far finer than its scale
(sigma / Delta up to 1e17 on the IJCV model of experiments/README.md): its likelihood
floor hides the cost in training. Version 2 clamped such symbols to the top table row
(escapes, and symbols clipped at 2^15 steps); version 3 codes a high part with the row of
sigma / (Delta 2^k) and k raw low bits (`entropy.indexes.wide_scale_indexes`).
"""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.codec.step_coders import DecodingStepCoder, EncodingStepCoder
from r2lcm_jax.coding import backends
from r2lcm_jax.entropy import gaussian
from r2lcm_jax.entropy import indexes as ei


def _gaussian_symbols(seed, n=20000):
  """Zero-mean Gaussian latents with sigma / Delta from 2^6 to 2^15.9 (all beyond the table)."""
  rng = np.random.default_rng(seed)
  sigma = np.exp2(rng.uniform(6, 15.9, n)).astype(np.float16).astype(np.float32)
  q = np.zeros(n, np.float32)
  mu = np.zeros(n, np.float32)
  u = (rng.normal(0, 1, n) * sigma).astype(np.float32)
  return u, mu, sigma, q


def _code(tables, u, mu, sigma, q, wide: bool):
  coder = EncodingStepCoder(tables, backends.get_backend("numpy"), lanes=64)
  if wide:
    idx, shifts, q_sym = ei.wide_scale_indexes(sigma, q, tables.scale_table)
  else:  # the version-2 rule: clamp to the top row, code at the model's step
    idx, shifts, q_sym = ei.scale_indexes(sigma, q, tables.scale_table), None, q
  symbols = coder.symbols(
    "main/0", idx, lambda: ei.quantize_symbols(u, mu, q_sym),
    lambda s: gaussian.code_length_bits(ei.dequantize(s, mu, q_sym), mu, sigma, q_sym),
    shifts)
  return coder, idx, shifts, symbols, q_sym


@pytest.mark.parametrize("seed", [0, 1])
def test_wide_symbols_cost_their_gaussian_entropy_and_round_trip(tables, seed):
  u, mu, sigma, q = _gaussian_symbols(seed)
  coder, idx, shifts, symbols, q_sym = _code(tables, u, mu, sigma, q, wide=True)
  rate = coder.rates["main/0"]
  assert 8 * rate.bytes <= 1.02 * rate.estimated_bits + 800, rate
  # the low bits are the group's last substream: sum(shifts) bits
  assert len(coder.groups["main/0"][-1]) == (int(shifts.sum()) + 7) // 8
  dec = DecodingStepCoder(coder.groups, tables, backends.get_backend("numpy"))
  got = dec.symbols("main/0", idx, None, None, shifts)
  np.testing.assert_array_equal(got, symbols)
  assert not dec.unused_groups()
  # the step is the model's, or coarsened to no more than sigma / 2048 (table top 32 x
  # 2^7 low bits); every value is within half a step: nothing clipped
  step = ei.step_size(q_sym)
  assert (step <= np.maximum(ei.step_size(q), sigma / 2048)).all()
  assert (np.abs(ei.dequantize(symbols, mu, q_sym) - u) <= step / 2 * (1 + 1e-6)).all()


def test_version_2_rule_pays_escapes_and_clips(tables):
  u, mu, sigma, q = _gaussian_symbols(2)
  wide = _code(tables, u, mu, sigma, q, wide=True)[0].rates["main/0"]
  old, _, _, symbols, _ = _code(tables, u, mu, sigma, q, wide=False)
  assert old.rates["main/0"].bytes > 1.5 * wide.bytes, (old.rates, wide)
  assert (np.abs(symbols) == 32768).any() or (symbols == 32767).any()

