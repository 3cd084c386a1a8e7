"""Factorized entropy model (Ballé et al. 2018, "variational image compression with a
scale hyperprior", appendix 6.1): a learned, per-channel, univariate density.

Each channel c has its own cumulative `F_c(x) = sigmoid(f_c(x))`, where `f_c` is a small
monotone network 1 -> 3 -> 3 -> 3 -> 3 -> 1 (filters (3, 3, 3, 3)):
```
h_0 = x
h_{k+1} = softplus(H_k) h_k + b_k               (H_k: (out, in), softplus keeps it > 0)
h_{k+1} += tanh(a_k) * tanh(h_{k+1})            (all layers but the last; |tanh| < 1)
f_c(x) = h_K
```
so `f_c` is non-decreasing in x. The probability of the unit bin around x is
`F_c(x + 1/2) - F_c(x - 1/2)`, computed as `|sigmoid(s*f(x+1/2)) - sigmoid(s*f(x-1/2))|`
with `s = -sign(f(x-1/2) + f(x+1/2))` (the subtraction happens in the tail where the
sigmoid is accurate).

Parameters (`params`, one leaf per name, the CompressAI `EntropyBottleneck` layout for
weight porting): `_matrix{k}` (C, out_k, in_k), `_bias{k}` (C, out_k, 1), `_factor{k}`
(C, out_k, 1) for k < K-1. The functions take `xp` = `jax.numpy` (training, codec) or
`numpy` (float64 table building), so both evaluate the same formula.

`build_factorized_tables` turns trained parameters into integer CDF tables (one row per
channel) in the `entropy.tables.CodingTables` layout, built once at export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from r2lcm_jax.entropy.tables import CodingTables, tables_from_pmfs, validate_tables

__all__ = [
  "DEFAULT_FILTERS",
  "DEFAULT_INIT_SCALE",
  "num_layers",
  "logits_cumulative",
  "bin_probability",
  "support_bounds",
  "build_factorized_tables",
  "with_bottleneck_rows",
  "bottleneck_row_base",
  "init_values",
]

DEFAULT_FILTERS = (3, 3, 3, 3)
DEFAULT_INIT_SCALE = 10.0
_MAX_SUPPORT = 1 << 15  # symbols per channel; values beyond are escaped


def num_layers(params: Mapping[str, Any]) -> int:
  """K, the number of `_matrix{k}` leaves."""
  k = 0
  while f"_matrix{k}" in params:
    k += 1
  if k == 0:
    raise ValueError("factorized parameters need _matrix0 ...")
  return k


def _softplus(xp, a):
  return xp.logaddexp(0.0, a)


def logits_cumulative(params: Mapping[str, Any], x, xp=None):
  """f_c(x) for every channel.

  Args:
    params: `_matrix{k}`, `_bias{k}`, `_factor{k}` leaves (module docstring).
    x: (..., C) values (channels last).
    xp: `jax.numpy` (default) or `numpy`.

  Returns:
    (..., C) logits of the cumulative, same dtype family as x.
  """
  if xp is None:
    import jax.numpy as xp
  k_total = num_layers(params)
  h = x[..., None]  # (..., C, 1)
  for k in range(k_total):
    m = _softplus(xp, xp.asarray(params[f"_matrix{k}"]))  # (C, out, in)
    h = xp.einsum("...ci,coi->...co", h, m) + xp.asarray(params[f"_bias{k}"])[..., 0]
    if k < k_total - 1:
      h = h + xp.tanh(xp.asarray(params[f"_factor{k}"])[..., 0]) * xp.tanh(h)
  return h[..., 0]


def _sigmoid(xp, t):
  return 0.5 * (1.0 + xp.tanh(0.5 * t))


def bin_probability(params: Mapping[str, Any], x, xp=None, stop_gradient=None):
  """P(unit bin centred at x) per element, (..., C) -> (..., C), not bounded below.

  `stop_gradient` (e.g. `jax.lax.stop_gradient`) is applied to the sign, as in the
  reference; numpy callers leave it None.
  """
  if xp is None:
    import jax.numpy as xp
  lower = logits_cumulative(params, x - 0.5, xp)
  upper = logits_cumulative(params, x + 0.5, xp)
  sign = -xp.sign(lower + upper)
  sign = xp.where(sign == 0, 1.0, sign)
  if stop_gradient is not None:
    sign = stop_gradient(sign)
  return xp.abs(_sigmoid(xp, sign * upper) - _sigmoid(xp, sign * lower))


def _quantile(params: Mapping[str, Any], c: int, target: np.ndarray) -> np.ndarray:
  """x with f(x) = target[c] per channel (bisection; f is non-decreasing).

  Returns float64 (C,).
  """
  lo = np.full(c, -1.0)
  hi = np.full(c, 1.0)
  for _ in range(64):  # widen until the bracket holds the target
    f_lo = logits_cumulative(params, lo[None], np)[0]
    f_hi = logits_cumulative(params, hi[None], np)[0]
    need_lo, need_hi = f_lo > target, f_hi < target
    if not (need_lo.any() or need_hi.any()):
      break
    lo = np.where(need_lo, lo * 2.0, lo)
    hi = np.where(need_hi, hi * 2.0, hi)
  for _ in range(100):
    mid = 0.5 * (lo + hi)
    below = logits_cumulative(params, mid[None], np)[0] < target
    lo = np.where(below, mid, lo)
    hi = np.where(below, hi, mid)
  return 0.5 * (lo + hi)


def support_bounds(params: Mapping[str, Any], tail_mass: float = 1e-9) -> tuple[np.ndarray, np.ndarray]:
  """Integer support [lo_c, hi_c] per channel holding all but `tail_mass` of the density.

  lo_c = floor(F_c^-1(tail_mass / 2)), hi_c = ceil(F_c^-1(1 - tail_mass / 2)).

  Returns:
    int64 (C,) lo, int64 (C,) hi, with hi - lo + 1 <= 2^15.
  """
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  c = p["_matrix0"].shape[0]
  logit = np.log(2.0 / tail_mass - 1.0)
  lo = np.floor(_quantile(p, c, np.full(c, -logit))).astype(np.int64)
  hi = np.ceil(_quantile(p, c, np.full(c, logit))).astype(np.int64)
  if np.any(hi - lo + 1 > _MAX_SUPPORT):
    raise ValueError(f"factorized density too wide for the tables: {(hi - lo + 1).max()} symbols")
  return lo, hi


def build_factorized_tables(
  params: Mapping[str, Any],
  tail_mass: float = 1e-9,
  precision: int = 16,
) -> CodingTables:
  """Integer CDF tables of a trained factorized bottleneck (NumPy float64, deterministic).

  Row c (one per channel) codes the integer values lo_c .. hi_c (`support_bounds`) with
  probability `bin_probability` of each unit bin, followed by one escape symbol that
  carries the mass outside (values beyond are escaped by the coder, as with the
  Gaussian tables). Quantisation to `precision` bits as in `entropy.tables`.

  Args:
    params: the bottleneck's leaves (`_matrix{k}`, `_bias{k}`, `_factor{k}`), C channels.
    tail_mass: mass left outside the support.
    precision: CDF precision in bits (<= 16).

  Returns:
    CodingTables with C rows: `offset[c] = lo_c`, `cdf_length[c] = hi_c - lo_c + 3`;
    `scale_table` = 1 .. C (rows are selected by channel, not by scale; kept strictly
    increasing so that the layout validates and fingerprints like the Gaussian tables).
  """
  if not 0 < tail_mass < 1:
    raise ValueError("tail_mass must be in (0, 1)")
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  c = p["_matrix0"].shape[0]
  lo, hi = support_bounds(p, tail_mass)
  rows = []
  for ch in range(c):
    support = np.arange(lo[ch], hi[ch] + 1, dtype=np.float64)
    x = np.zeros((support.size, c))
    x[:, ch] = support
    pmf = bin_probability(p, x, np)[:, ch]
    f_lo = logits_cumulative(p, np.full((1, c), lo[ch] - 0.5), np)[0, ch]
    f_hi = logits_cumulative(p, np.full((1, c), hi[ch] + 0.5), np)[0, ch]
    tail = _sigmoid(np, f_lo) + _sigmoid(np, -f_hi)
    rows.append(np.append(pmf, tail))
  return tables_from_pmfs(rows, lo, np.arange(1, c + 1, dtype=np.float32),
                          precision=precision, tail_mass=tail_mass)


def with_bottleneck_rows(gaussian: CodingTables, bottleneck: CodingTables) -> CodingTables:
  """One table set for a model with a factorized hyper level (arch "cvpr23").

  Rows 0 .. S-1 are the Gaussian rows (selected by scale, `entropy.indexes`), rows
  S .. S+C-1 the bottleneck's channels (row S + c codes channel c). The bottleneck rows'
  `scale_table` entries continue the Gaussian table (`scale_table[S-1] * 2^(1+c)`) so that
  the set validates and has one fingerprint; index selection for the Gaussian levels must
  use only the first S entries (`bottleneck_row_base`).

  Raises:
    ValueError: different precisions.
  """
  if gaussian.precision != bottleneck.precision:
    raise ValueError("the Gaussian and bottleneck tables must have the same precision")
  width = max(gaussian.cdf.shape[1], bottleneck.cdf.shape[1])
  total = 1 << gaussian.precision

  def padded(cdf):
    out = np.full((cdf.shape[0], width), total, np.int32)
    out[:, : cdf.shape[1]] = cdf
    return out

  last = np.float64(gaussian.scale_table[-1])
  extra = (last * 2.0 ** (1 + np.arange(bottleneck.num_scales))).astype(np.float32)
  tables = CodingTables(
    cdf=np.concatenate([padded(gaussian.cdf), padded(bottleneck.cdf)]),
    cdf_length=np.concatenate([gaussian.cdf_length, bottleneck.cdf_length]),
    offset=np.concatenate([gaussian.offset, bottleneck.offset]),
    scale_table=np.concatenate([gaussian.scale_table, extra]),
    precision=gaussian.precision,
    tail_mass=gaussian.tail_mass,
  )
  validate_tables(tables)
  return tables


def bottleneck_row_base(num_rows: int, channels: int) -> int:
  """S, the first bottleneck row of a `with_bottleneck_rows` set of `num_rows` rows.

  Raises:
    ValueError: the set has no room for C bottleneck rows after a Gaussian row.
  """
  base = int(num_rows) - int(channels)
  if base < 1:
    raise ValueError(f"coding tables of {num_rows} rows hold no {channels} bottleneck rows")
  return base


def init_values(leaf: str, shape: Sequence[int], uniform: np.ndarray,
                init_scale: float = DEFAULT_INIT_SCALE) -> np.ndarray:
  """Initial value of one bottleneck leaf (the reference initialisation).

  `_matrix{k}`: constant log(expm1(1 / scale / out_k)), scale = init_scale^(1/K)
  (so the initial density spans about +-init_scale); `_bias{k}`: U(-1/2, 1/2);
  `_factor{k}`: 0.

  Args:
    leaf: leaf name.
    shape: its shape (C, out, in) or (C, out, 1).
    uniform: U(-1, 1) float32 sample of `shape` (used for the biases).
    init_scale: width of the initial density.

  Returns:
    float32 array of `shape`.
  """
  if leaf.startswith("_matrix"):
    k_total = len(DEFAULT_FILTERS) + 1
    scale = init_scale ** (1.0 / k_total)
    return np.full(shape, np.log(np.expm1(1.0 / scale / shape[1])), np.float32)
  if leaf.startswith("_bias"):
    return (0.5 * np.asarray(uniform, np.float32)).reshape(shape)
  if leaf.startswith("_factor"):
    return np.zeros(shape, np.float32)
  raise ValueError(f"not a factorized bottleneck leaf: {leaf!r}")
