"""Symbols and table indexes of adaptive quantisation, identical on every backend.

Per element: mean `mu`, scale `sigma`, log2 step `q` (all float32, any common shape).
The step is `Delta = M[q_f] * 2^q_i` with q on a fixed grid of 1/256:

  q_fix = rint(256 * clip(q, -64, 64))   (int32; exact: *256 and rint are exact in IEEE)
  q_i = q_fix >> 8 (floor),  q_f = q_fix & 255
  M[f] = 2^(f/256) rounded to 8 significant bits (float32 in [1, 2), 7 fraction bits)

`M` is 256 constants computed once in float64; `2^q_i` is built from its exponent bits,
so `Delta` is exact. No `exp2`/`log2` is evaluated anywhere, because their last-ulp
results differ between NumPy, XLA:CPU and XLA:GPU. (Rounding M to 8 bits changes the step
by < 0.4 %, i.e. q by < 0.006; the model's rate is insensitive to that.)

* `quantize_symbols(u, mu, q)` = round-half-even((u - mu) / Delta), NaN -> 0, clipped to
  [SYMBOL_MIN, SYMBOL_MAX] = [-32768, 32767] (the official range), int32. (Encoder only.)
* `dequantize(symbols, mu, q)` = mu + symbols * Delta (float32). The product is exact
  (|symbols| <= 2^15 has <= 15 significant bits, M has 8, 15 + 8 <= 24), so the result
  is one IEEE rounding of an exact sum: identical whether or not a backend contracts it
  into a fused multiply-add (XLA:CPU does; NumPy does not).
* `scale_indexes(sigma, q, scale_table)`: smallest k with
  `scale_table[k] >= max(sigma / Delta, scale_min)`, clamped to num_scales - 1, computed
  on an **integer path**: `sigma * 2^-q_i` is `bits(sigma) - (q_i << 23)` on the int32
  bit pattern (positive normal floats compare like their bit patterns), and it is compared
  with the float32 thresholds `T[q_f, k] = scale_table[k] * M[q_f]` (a (256, S) table
  built once in float64 from the float32 scale table) by a fixed-length binary search of
  integer comparisons. sigma is clipped to [1e-10, 1e10] first (NaN -> 1e-10).

Why encoder and decoder agree: the codec rounds mu, sigma and q to float16 on both sides
before calling these functions; from identical float32 inputs every step above is an
integer operation, an exact IEEE operation, a single correctly rounded operation or a
comparison, so NumPy and jnp (CPU, GPU, TPU) return the same integers and floats
(`tests/entropy/indexes_test.py` checks NumPy against jitted jnp bit for bit).
The residual risk is upstream: the networks that produce mu, sigma, q may give different
floats on different hardware; the float16 rounding removes most but not all such
differences (a value next to a float16 rounding boundary can still flip). Measured
between the two XLA:CPU convolution paths (`tests/codec/cross_flags_test.py`): ~0.3 % of
the float16 mu and 0.02-0.06 % of sigma flip, and on a 12 MP image ~22 of 3.2M scale
indexes differ, enough to make the decode fail. The codec therefore compiles its
networks with the convolution path pinned (`codec.runner.CODEC_COMPILER_OPTIONS`), which
removes those differences whatever XLA_FLAGS say; other CPUs, jaxlib versions and GPUs
keep the residual risk (a decode that derives other indexes fails with a clear error).

All functions accept NumPy arrays (return NumPy) or jax arrays/tracers (return jax
arrays, jit-compatible); the dispatch is on the argument types.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
  "quantize_symbols",
  "dequantize",
  "scale_indexes",
  "wide_scale_indexes",
  "MAX_LOW_BITS",
  "step_size",
  "SYMBOL_MIN",
  "SYMBOL_MAX",
  "Q_MIN",
  "Q_MAX",
  "Q_GRID",
  "STEP_MANTISSA",
]

SYMBOL_MIN = -32768
SYMBOL_MAX = 32767
Q_MIN = -64.0
Q_MAX = 64.0
Q_GRID = 256  # q is rounded to multiples of 1/Q_GRID
MAX_LOW_BITS = 7  # raw low bits per symbol beyond the table (wide_scale_indexes)
_SIGMA_MIN = np.float32(1e-10)
_SIGMA_MAX = np.float32(1e10)

_FRAC = np.arange(Q_GRID, dtype=np.float64) / Q_GRID
STEP_MANTISSA = (np.rint(np.exp2(_FRAC) * 128.0) / 128.0).astype(np.float32)


def _xp(*arrays):
  return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def _bits_to_f32(xp, bits):
  if xp is np:
    return np.asarray(bits, np.int32).view(np.float32)
  return jax.lax.bitcast_convert_type(bits.astype(jnp.int32), jnp.float32)


def _f32_to_bits(xp, x):
  if xp is np:
    return np.ascontiguousarray(x, np.float32).view(np.int32)
  return jax.lax.bitcast_convert_type(x.astype(jnp.float32), jnp.int32)


def _split_q(xp, q):
  """float32 q -> (q_i int32 (floor), q_f int32 in [0, 256)) of rint(256 * q)."""
  q = xp.asarray(q, xp.float32)
  q = xp.where(xp.isnan(q), xp.float32(0), q)
  q = xp.clip(q, xp.float32(Q_MIN), xp.float32(Q_MAX))
  q_fix = xp.rint(q * xp.float32(Q_GRID)).astype(xp.int32)
  return q_fix >> 8, q_fix & (Q_GRID - 1)


def _pow2_int(xp, e):
  """Exact float32 2^e for int32 e in [-126, 127]."""
  return _bits_to_f32(xp, (e + 127) << 23)


def step_size(q):
  """float32 quantisation step Delta = M[q_f] * 2^q_i (exact; see module docstring)."""
  xp = _xp(q)
  q_i, q_f = _split_q(xp, q)
  return xp.asarray(STEP_MANTISSA)[q_f] * _pow2_int(xp, q_i)


def quantize_symbols(u, mu, q):
  """int32 symbols round-half-even((u - mu) / Delta), NaN -> 0, clipped to int16 range.

  Args:
    u, mu, q: float32 arrays of one shape (latent, mean, log2 step).

  Returns:
    int32 array of the same shape in [SYMBOL_MIN, SYMBOL_MAX].
  """
  xp = _xp(u, mu, q)
  u = xp.asarray(u, xp.float32)
  mu = xp.asarray(mu, xp.float32)
  o = (u - mu) / step_size(q)
  o = xp.where(xp.isnan(o), xp.float32(0), o)
  o = xp.clip(xp.rint(o), xp.float32(SYMBOL_MIN), xp.float32(SYMBOL_MAX))
  return o.astype(xp.int32)


def dequantize(symbols, mu, q):
  """float32 reconstruction mu + symbols * Delta (same shape as the inputs).

  Args:
    symbols: int32 in [SYMBOL_MIN, SYMBOL_MAX] (larger magnitudes lose exactness).
    mu, q: float32 of the same shape.
  """
  xp = _xp(symbols, mu, q)
  s = xp.asarray(symbols).astype(xp.float32)
  return xp.asarray(mu, xp.float32) + s * step_size(q)


@functools.lru_cache(maxsize=8)
def _threshold_bits(scale_bytes: bytes) -> np.ndarray:
  """int32 (256, S): bit patterns of float32(scale_table[k] * M[f]), float64 math."""
  table = np.frombuffer(scale_bytes, np.float32).astype(np.float64)
  thr = (table[None, :] * STEP_MANTISSA.astype(np.float64)[:, None]).astype(np.float32)
  return thr.view(np.int32)


def scale_indexes(sigma, q, scale_table):
  """int32 table indexes: smallest k with scale_table[k] >= sigma / Delta (clamped).

  Args:
    sigma: float32 scales (absolute units), any shape.
    q: float32 log2 steps, same shape.
    scale_table: float32 (S,) strictly increasing (CodingTables.scale_table).

  Returns:
    int32 array of sigma's shape in [0, S - 1].
  """
  xp = _xp(sigma, q)
  key, q_f, _, thr, num = _ratio_key(xp, sigma, q, scale_table)
  return _search(xp, thr, q_f, key, num)


def wide_scale_indexes(sigma, q, scale_table):
  """Table indexes for ratios beyond the table: (indexes, low bits, coding step).

  Where `sigma / Delta` exceeds the table's largest scale `S_top`, a unit-bin table
  cannot model the symbol, so the codec splits it (format version 3). With
  `k = ceil(log2(sigma / (Delta * S_top)))` (0 inside the table), computed on the same
  integer path as `scale_indexes` (subtracting `k << 23` from the bit pattern divides by
  2^k exactly):

  * `shift = min(k, MAX_LOW_BITS)` low bits of each symbol are sent raw
    (`coding.low_bits`); the remaining high part has std `sigma / (Delta * 2^k)` in
    `(S_top / 2, S_top]` and is coded with that table row (`indexes`);
  * the other `j = k - shift` doublings coarsen the step: the symbol is quantised with
    `Delta * 2^j`, i.e. `q_code = q + j` (built from the integer `q_fix + 256 j`, so it is
    exact). This caps the precision at `sigma / (S_top * 2^MAX_LOW_BITS)` (1/4096 of the
    predicted scale with the default table) and keeps `|symbol|` inside the int16 range
    for any value within 8 sigma. The model's estimate charges such elements its
    likelihood floor (`likelihood_bound` 1e-7: 23.3 bits); a raw value at the model's
    step would need log2(sigma / Delta) bits, up to 60 on trained models.

  Inside the table (`k = 0`) the result equals `(scale_indexes(sigma, q), 0, q)` up to
  q's 1/256 grid.

  Args:
    sigma, q, scale_table: as `scale_indexes`.

  Returns:
    (indexes int32, shift int32 in [0, MAX_LOW_BITS], q_code float32 on the 1/256 grid),
    each of sigma's shape.
  """
  xp = _xp(sigma, q)
  key, q_f, q_fix, thr, num = _ratio_key(xp, sigma, q, scale_table)
  over = key - thr[q_f, num - 1]  # > 0 where the ratio exceeds the top scale
  k = xp.where(over > 0, (over + (1 << 23) - 1) >> 23, 0).astype(xp.int32)
  shift = xp.minimum(k, MAX_LOW_BITS).astype(xp.int32)
  q_code = ((q_fix + ((k - shift) << 8)).astype(xp.float32) / xp.float32(Q_GRID))
  return _search(xp, thr, q_f, key - (k << 23), num), shift, q_code.astype(xp.float32)


def _ratio_key(xp, sigma, q, scale_table):
  """(key, q_f, q_fix, thresholds, S): key = int32 bit pattern of sigma * 2^-q_i."""
  table = np.ascontiguousarray(np.asarray(scale_table), np.float32)
  num = table.shape[0]
  thr = xp.asarray(_threshold_bits(table.tobytes()))
  sigma = xp.asarray(sigma, xp.float32)
  sigma = xp.where(xp.isnan(sigma), _SIGMA_MIN, sigma)
  sigma = xp.clip(sigma, _SIGMA_MIN, _SIGMA_MAX)
  q_i, q_f = _split_q(xp, q)
  key = _f32_to_bits(xp, sigma) - (q_i << 23)  # bits of sigma * 2^-q_i (no overflow)
  return key, q_f, (q_i << 8) + q_f, thr, num


def _search(xp, thr, q_f, key, num):
  """Count of k with thr[q_f, k] < key (rows increasing), clamped to S - 1."""
  lo = xp.zeros(key.shape, xp.int32)
  hi = xp.full(key.shape, num, xp.int32)
  for _ in range(int(num).bit_length()):
    active = lo < hi
    mid = (lo + hi) >> 1
    less = thr[q_f, xp.minimum(mid, num - 1)] < key
    lo = xp.where(active & less, mid + 1, lo)
    hi = xp.where(active & ~less, mid, hi)
  return xp.minimum(lo, num - 1).astype(xp.int32)
