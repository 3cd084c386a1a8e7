"""Bjøntegaard delta rate / PSNR on curves whose answer follows by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from r2lcm_jax.benchmark.bd_rate import bd_psnr, bd_rate

RATES = [0.1, 0.2, 0.45, 0.75, 1.6]
PSNRS = [38.0, 41.5, 44.0, 47.2, 50.0]


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.37, 3.0])
def test_rate_scaled_by_a_factor_gives_that_bd_rate(factor):
  # Same PSNRs at factor x the rate: ln R_B(D) - ln R_A(D) = ln(factor) at every D, so
  # the BD-rate is (factor - 1) x 100 % whatever the interpolant does between points.
  r = bd_rate(RATES, PSNRS, [factor * x for x in RATES], PSNRS)
  assert r.value == pytest.approx((factor - 1) * 100, abs=1e-9)
  assert (r.lo, r.hi) == (38.0, 50.0)


def test_psnr_shift_on_a_log_linear_curve():
  # D = 6 log2(R) + 40 (6 dB per doubling). B is 3 dB better at every rate, so at equal
  # PSNR it needs half a doubling less: BD-rate = 2^-0.5 - 1 = -29.29 %, BD-PSNR = +3 dB.
  rates = np.array([0.125, 0.25, 0.5, 1.0, 2.0])
  d_a = 6 * np.log2(rates) + 40
  r = bd_rate(rates, d_a, rates, d_a + 3)
  assert r.value == pytest.approx((2**-0.5 - 1) * 100, abs=1e-9)
  assert (r.lo, r.hi) == pytest.approx((25.0, 46.0))  # common PSNR range: [22+3, 46]
  p = bd_psnr(rates, d_a, rates, d_a + 3)
  assert p.value == pytest.approx(3.0, abs=1e-9)
  assert (p.lo, p.hi) == pytest.approx((math.log(0.125), math.log(2.0)))


def test_antisymmetry_point_order_and_known_sign():
  rng = np.random.default_rng(0)
  order = rng.permutation(len(RATES))
  worse = [r * 1.5 for r in RATES]
  ab = bd_rate(RATES, PSNRS, worse, PSNRS)
  ba = bd_rate(np.array(worse)[order], np.array(PSNRS)[order], RATES, PSNRS)
  assert ab.value == pytest.approx(50.0)
  # exp of the negated log gap: 1/1.5 - 1
  assert ba.value == pytest.approx((1 / 1.5 - 1) * 100)


def test_nonlinear_curve_uses_piecewise_cubic_not_linear_interpolation():
  # Between points PCHIP differs from a straight line; the BD-rate of a curve against a
  # copy shifted by one constant log-rate offset is still exact, but a BD-rate against
  # a curve sampled at other PSNRs of the same smooth function must be ~0.
  d = np.linspace(30, 50, 9)
  ln_r = 0.002 * (d - 30) ** 2 + 0.05 * (d - 30) - 3  # smooth, increasing
  d_b = np.linspace(31, 49, 7)
  ln_rb = 0.002 * (d_b - 30) ** 2 + 0.05 * (d_b - 30) - 3
  r = bd_rate(np.exp(ln_r), d, np.exp(ln_rb), d_b)
  assert abs(r.value) < 0.05


def test_no_overlap_is_undefined_and_bad_inputs_raise():
  r = bd_rate([0.1, 0.2], [30.0, 32.0], [0.3, 0.5], [40.0, 45.0])
  assert not r.defined and math.isnan(r.value)
  with pytest.raises(ValueError, match="positive"):
    bd_rate([0.0, 0.2], [30.0, 32.0], [0.3, 0.5], [30.0, 45.0])
  with pytest.raises(ValueError, match="at least 2"):
    bd_rate([0.1], [30.0], [0.3, 0.5], [30.0, 45.0])
  with pytest.raises(ValueError, match="repeated"):
    bd_rate([0.1, 0.2], [30.0, 30.0], [0.3, 0.5], [30.0, 45.0])
