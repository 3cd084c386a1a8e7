"""Bjøntegaard delta rate and delta PSNR with piecewise cubic (PCHIP) interpolation.

For two rate-distortion curves, an anchor A and a test B, each given as points
(rate R_i > 0, PSNR D_i):

    BD-rate = exp( 1/(D_hi - D_lo) * int_{D_lo}^{D_hi} (ln R_B(D) - ln R_A(D)) dD ) - 1

where ln R(D) is the monotone piecewise cubic Hermite interpolant (Fritsch-Carlson, as
`scipy.interpolate.PchipInterpolator`) through the points (D_i, ln R_i) sorted by D, and
[D_lo, D_hi] is the PSNR range both curves cover (no extrapolation). Reported in percent:
-30 means B needs 30 % fewer bits than A for the same quality. BD-PSNR is the same
construction with the roles swapped: the mean of D_B(ln R) - D_A(ln R) over the common
log-rate range, in dB. This is the piecewise-cubic variant of VCEG-M33 used by current
codec comparisons (e.g. JVET's reporting templates), not the original cubic polynomial fit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["BdResult", "bd_rate", "bd_psnr"]


@dataclasses.dataclass(frozen=True)
class BdResult:
  """A Bjøntegaard delta and the interval it was averaged over.

  Attributes:
    value: BD-rate in percent (`bd_rate`) or BD-PSNR in dB (`bd_psnr`); NaN when the two
      curves have no common interval.
    lo, hi: the common interval (PSNR in dB for BD-rate, ln(rate) for BD-PSNR).
  """

  value: float
  lo: float
  hi: float

  @property
  def defined(self) -> bool:
    return bool(np.isfinite(self.value))


def _curve(x: Sequence[float], y: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
  """Points sorted by x (strictly increasing after sorting); (n,), (n,) float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  if x.shape != y.shape or x.ndim != 1:
    raise ValueError(f"{what}: rates and PSNRs must be 1-D of the same length")
  if x.size < 2:
    raise ValueError(f"{what}: need at least 2 points, got {x.size}")
  if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
    raise ValueError(f"{what}: non-finite values")
  order = np.argsort(x, kind="stable")
  x, y = x[order], y[order]
  if np.any(np.diff(x) <= 0):
    raise ValueError(f"{what}: repeated abscissa values {x.tolist()}")
  return x, y


def _mean_gap(xa, ya, xb, yb) -> BdResult:
  """Mean of interp_B(x) - interp_A(x) over the common x range (PCHIP, no extrapolation)."""
  lo, hi = max(xa[0], xb[0]), min(xa[-1], xb[-1])
  if not hi > lo:
    return BdResult(float("nan"), float(lo), float(hi))
  fa, fb = PchipInterpolator(xa, ya), PchipInterpolator(xb, yb)
  gap = (fb.integrate(lo, hi) - fa.integrate(lo, hi)) / (hi - lo)
  return BdResult(float(gap), float(lo), float(hi))


def bd_rate(rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
            psnr_b: Sequence[float]) -> BdResult:
  """BD-rate of curve B against anchor A, in percent (negative: B is cheaper).

  Args:
    rate_a, psnr_a: (n,) anchor rates (> 0, any unit) and PSNRs (dB), any order.
    rate_b, psnr_b: (m,) test curve, same units.

  Returns:
    BdResult; value NaN if the PSNR ranges do not overlap.

  Raises:
    ValueError: fewer than 2 points, a rate <= 0, repeated PSNRs, non-finite values.
  """
  for r, what in ((rate_a, "anchor"), (rate_b, "test")):
    if np.any(np.asarray(r, np.float64) <= 0):
      raise ValueError(f"{what}: rates must be positive for a BD-rate")
  da, la = _curve(psnr_a, np.log(np.asarray(rate_a, np.float64)), "anchor")
  db, lb = _curve(psnr_b, np.log(np.asarray(rate_b, np.float64)), "test")
  gap = _mean_gap(da, la, db, lb)
  return dataclasses.replace(gap, value=float(np.expm1(gap.value) * 100.0))


def bd_psnr(rate_a: Sequence[float], psnr_a: Sequence[float], rate_b: Sequence[float],
            psnr_b: Sequence[float]) -> BdResult:
  """BD-PSNR of curve B against anchor A, in dB (positive: B is better at equal rate).

  Args and raises as `bd_rate`; the interval is in ln(rate).
  """
  for r, what in ((rate_a, "anchor"), (rate_b, "test")):
    if np.any(np.asarray(r, np.float64) <= 0):
      raise ValueError(f"{what}: rates must be positive for a BD-PSNR")
  la, da = _curve(np.log(np.asarray(rate_a, np.float64)), psnr_a, "anchor")
  lb, db = _curve(np.log(np.asarray(rate_b, np.float64)), psnr_b, "test")
  return _mean_gap(la, da, lb, db)
