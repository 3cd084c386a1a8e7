"""Symbols, table indexes and reconstruction: definitions, and NumPy == jitted jnp bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.entropy import indexes
from r2lcm_jax.entropy.tables import build_gaussian_tables

N = 4096


@pytest.fixture(scope="module")
def scale_table():
  return build_gaussian_tables().scale_table


def _f16(a):
  return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def _params(seed, n=N):
  rng = np.random.default_rng(seed)
  sigma = _f16(np.exp(rng.uniform(-9, 6, n)))
  q = _f16(rng.uniform(-6, 4, n))
  mu = _f16(rng.normal(0, 4, n))
  u = (mu + rng.normal(0, 1, n) * sigma).astype(np.float32)
  sigma[:8] = [0, -1, np.nan, np.inf, 1e-30, 1e30, 0.01, 32]
  q[8:16] = [np.nan, np.inf, -np.inf, 100, -100, 0, 0.5, -0.5]
  u[16:20] = [np.nan, np.inf, -np.inf, 1e30]
  return u, mu, sigma, q


def _exact_index(sigma, q, table):
  """Reference in float64 from the documented integer definition."""
  q = np.nan_to_num(np.clip(np.nan_to_num(q.astype(np.float64), nan=0.0), -64, 64))
  q_fix = np.rint(q * 256).astype(np.int64)
  q_i, q_f = q_fix >> 8, q_fix & 255
  s = np.clip(np.nan_to_num(sigma.astype(np.float64), nan=1e-10),
              np.float32(1e-10), np.float32(1e10)).astype(np.float32).astype(np.float64)
  key = s * np.exp2(-q_i.astype(np.float64))
  thr = (table.astype(np.float64)[None, :]
         * indexes.STEP_MANTISSA.astype(np.float64)[:, None]).astype(np.float32)
  out = np.array([np.searchsorted(thr[f].astype(np.float64), k, side="left")
                  for f, k in zip(q_f, key, strict=False)])
  return np.minimum(out, table.size - 1)


def test_scale_indexes_follow_the_integer_definition(scale_table):
  _, _, sigma, q = _params(0)
  got = indexes.scale_indexes(sigma, q, scale_table)
  assert got.dtype == np.int32
  np.testing.assert_array_equal(got, _exact_index(sigma, q, scale_table))


def test_scale_indexes_pick_smallest_table_entry_covering_sigma_over_step(scale_table):
  rng = np.random.default_rng(1)
  sigma = _f16(np.exp(rng.uniform(-5, 4, N)))
  q = _f16(rng.uniform(-3, 3, N))
  got = indexes.scale_indexes(sigma, q, scale_table)
  sigma_n = sigma.astype(np.float64) / indexes.step_size(q).astype(np.float64)
  table = scale_table.astype(np.float64)
  # Away from a table boundary (relative 1e-6) this is the plain definition.
  ok = np.all(np.abs(sigma_n[:, None] / table[None, :] - 1) > 1e-6, axis=1)
  want = np.minimum(np.searchsorted(table, np.maximum(sigma_n, table[0]), "left"), 63)
  np.testing.assert_array_equal(got[ok], want[ok])
  assert ok.mean() > 0.99


def test_step_size_is_a_power_of_two_grid_with_short_mantissa():
  q = np.asarray([0, 1, -1, 0.5, 3.999, -64, 64, 2.75], np.float32)
  step = indexes.step_size(q)
  np.testing.assert_array_equal(step[:3], [1, 2, 0.5])
  np.testing.assert_allclose(step, np.exp2(q.astype(np.float64)), rtol=5e-3)
  mant = np.frexp(step.astype(np.float64))[0] * 256
  np.testing.assert_array_equal(mant, np.rint(mant))  # <= 8 significant bits


def test_quantize_rounds_half_to_even_clips_and_maps_nan_to_zero():
  mu = np.zeros(8, np.float32)
  q = np.zeros(8, np.float32)
  u = np.asarray([0.5, 1.5, 2.5, -0.5, -1.5, 1e9, -1e9, np.nan], np.float32)
  np.testing.assert_array_equal(
    indexes.quantize_symbols(u, mu, q), [0, 2, 2, 0, -2, 32767, -32768, 0])
  u2 = np.asarray([3.0, -3.0], np.float32)
  np.testing.assert_array_equal(
    indexes.quantize_symbols(u2, np.zeros(2, np.float32), np.ones(2, np.float32)),
    [2, -2])  # 1.5 -> 2, -1.5 -> -2 with step 2


def test_dequantize_is_exactly_one_rounding_of_mu_plus_symbol_times_step():
  rng = np.random.default_rng(2)
  s = rng.integers(-32768, 32768, N).astype(np.int32)
  mu = _f16(rng.normal(0, 2, N))
  q = _f16(rng.uniform(-4, 4, N))
  got = indexes.dequantize(s, mu, q)
  exact = mu.astype(np.float64) + s.astype(np.float64) * indexes.step_size(q).astype(
    np.float64)
  np.testing.assert_array_equal(got, exact.astype(np.float32))


@pytest.mark.parametrize("seed", [3, 4])
def test_numpy_and_jitted_jnp_give_identical_bits(seed, scale_table):
  u, mu, sigma, q = _params(seed)
  sym_np = indexes.quantize_symbols(u, mu, q)
  idx_np = indexes.scale_indexes(sigma, q, scale_table)
  rec_np = indexes.dequantize(sym_np, mu, q)

  @jax.jit
  def run(u, mu, sigma, q):
    sym = indexes.quantize_symbols(u, mu, q)
    return sym, indexes.scale_indexes(sigma, q, scale_table), indexes.dequantize(
      sym, mu, q)

  sym_j, idx_j, rec_j = (np.asarray(a) for a in run(
    jnp.asarray(u), jnp.asarray(mu), jnp.asarray(sigma), jnp.asarray(q)))
  np.testing.assert_array_equal(sym_j, sym_np)
  np.testing.assert_array_equal(idx_j, idx_np)
  np.testing.assert_array_equal(rec_j.view(np.int32), rec_np.view(np.int32))
  assert sym_j.dtype == np.int32 and idx_j.dtype == np.int32


def test_wide_scale_indexes_equal_scale_indexes_inside_the_table(scale_table):
  _, _, sigma, q = _params(5)
  ratio = sigma.astype(np.float64) / indexes.step_size(q).astype(np.float64)
  inside = np.isfinite(ratio) & (ratio <= 0.99 * scale_table[-1])
  idx, shift, q_code = indexes.wide_scale_indexes(sigma, q, scale_table)
  np.testing.assert_array_equal(idx[inside], indexes.scale_indexes(sigma, q, scale_table)[inside])
  assert not shift[inside].any()
  np.testing.assert_array_equal(indexes.step_size(q_code)[inside], indexes.step_size(q)[inside])


def test_wide_scale_indexes_beyond_the_table_split_into_a_table_row_and_low_bits(scale_table):
  """ratio = sigma / Delta above the top scale: with k the halvings that bring it into
  (top / 2, top], min(k, MAX_LOW_BITS) bits go raw, the other j = k - shift coarsen the
  step by exactly 2^j, and the index is the table row of ratio / 2^k."""
  rng = np.random.default_rng(6)
  top = float(scale_table[-1])
  q = _f16(rng.uniform(-60, 4, N))
  ratio_wanted = np.exp2(rng.uniform(np.log2(top) + 0.01, 60, N))
  sigma = _f16(np.clip(ratio_wanted * indexes.step_size(q), 1e-10, 1e4))
  idx, shift, q_code = indexes.wide_scale_indexes(sigma, q, scale_table)
  step = indexes.step_size(q).astype(np.float64)
  j = np.log2(indexes.step_size(q_code).astype(np.float64) / step)
  np.testing.assert_array_equal(j, np.rint(j))  # the step is coarsened by 2^j exactly
  assert shift.min() >= 0 and shift.max() == indexes.MAX_LOW_BITS
  assert (j[shift < indexes.MAX_LOW_BITS] == 0).all()
  k = j + shift
  reduced = sigma / step / np.exp2(k)
  beyond = sigma / step > top * 1.001
  assert beyond.mean() > 0.8  # the rest: sigma clipped at 1e4
  assert (reduced[beyond] <= top * (1 + 1e-6)).all()
  assert (reduced[beyond] > top / 2 * (1 - 1e-6)).all()
  # the row of ratio / 2^k, from the documented definition (sigma * 2^-(q_i + k))
  exact = _exact_index(sigma, (q.astype(np.float64) + k), scale_table)
  np.testing.assert_array_equal(idx[beyond], exact[beyond])


def test_wide_scale_indexes_numpy_and_jitted_jnp_agree(scale_table):
  _, _, sigma, q = _params(7)
  sigma[100:200] *= np.float32(1e4)
  q[200:300] -= np.float32(40)
  got_np = indexes.wide_scale_indexes(sigma, q, scale_table)
  got_j = jax.jit(lambda s, q: indexes.wide_scale_indexes(s, q, scale_table))(
    jnp.asarray(sigma), jnp.asarray(q))
  assert got_np[1].any()
  for a, b in zip(got_np, got_j, strict=True):
    np.testing.assert_array_equal(np.asarray(b).view(np.int32), np.asarray(a).view(np.int32))
