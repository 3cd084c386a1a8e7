"""Aggregation, Pareto curve and target check of the RD report (r2lcm_jax/benchmark/report.py)."""

from __future__ import annotations

import pytest

from r2lcm_jax.benchmark import report
from r2lcm_jax.benchmark.runs import Row


def _row(method, setting, camera, name, psnr, bpp, variant="png"):
  return Row(method, setting, variant, camera, name, psnr, 0.9, int(bpp * 100), bpp, bpp + 10,
             0.0, 0.0)


ROWS = [
  _row("R2LCM", "d0_g0", "a", "1", 50.0, 0.30), _row("R2LCM", "d0_g0", "b", "2", 40.0, 0.50),
  _row("R2LCM", "d1_g0", "a", "1", 44.0, 0.10), _row("R2LCM", "d1_g0", "b", "2", 36.0, 0.20),
  _row("SAM", "step8", "a", "1", 42.0, 0.75), _row("SAM", "step8", "b", "2", 38.0, 0.75),
  _row("SAM", "step16", "a", "1", 39.0, 0.19), _row("SAM", "step16", "b", "2", 35.0, 0.19),
  _row("naive inverse", "", "a", "1", 46.0, 0.0), _row("naive inverse", "", "b", "2", 30.0, 0.0),
]


def test_means_per_camera_and_over_all_images():
  m = report.means(ROWS)
  assert m[("png", "R2LCM", "d0_g0", "a")].psnr == 50.0
  assert m[("png", "R2LCM", "d0_g0", "all")].psnr == 45.0
  assert m[("png", "R2LCM", "d0_g0", "all")].bpp_metadata == pytest.approx(0.40)
  assert m[("png", "SAM", "step8", "all")].n == 2


def test_pareto_keeps_only_undominated_points():
  pts = [(0.5, 40.0), (0.1, 30.0), (0.3, 29.0), (0.3, 35.0), (0.8, 39.0), (1.0, 41.0)]
  assert report.pareto(pts) == [(0.1, 30.0), (0.3, 35.0), (0.5, 40.0), (1.0, 41.0)]


def test_target_check_reports_margin_over_sam_and_zero_bpp_methods():
  text = report.target_check(ROWS, ["png"], reference="png", max_bpp=0.4)
  # best R2LCM at <= 0.4 bpp (all-image mean): d0_g0 at 0.40 bpp, 45 dB; SAM step8 40 dB;
  # naive inverse 38 dB.
  assert "45.00 dB (d0_g0, 0.400 bpp)" in text
  assert "+5.00 dB (target >= +5: met)" in text
  assert "naive inverse 38.00 dB: +7.00 dB (target > 0: met)" in text
  strict = report.target_check(ROWS, ["png"], reference="png", max_bpp=0.2)
  assert "40.00 dB (d1_g0, 0.150 bpp)" in strict and "NOT met" in strict


def test_bd_entry_per_camera_and_table():
  entries = report.bd_entries(ROWS, ["png"], ["a", "b"])
  assert [e.camera for e in entries] == ["a", "b", "all"]
  a = entries[0]
  assert a.r2lcm == [(0.10, 44.0), (0.30, 50.0)] and a.sam == [(0.19, 39.0), (0.75, 42.0)]
  # Camera a: R2LCM (44-50 dB) and SAM (39-42 dB) share no PSNR range: BD-rate undefined,
  # BD-PSNR (common rates 0.19-0.30 bpp) positive.
  assert not a.rate.defined and a.psnr.value > 0
  # Camera b: common range 36-38 dB, where R2LCM needs less rate than SAM.
  b = entries[1]
  assert b.rate.defined and b.rate.value < 0 and (b.rate.lo, b.rate.hi) == (36.0, 38.0)
  table = report.bd_markdown(entries)
  assert "| png | a | n/a (no common PSNR range)" in table and "| png | b | -" in table


def test_target_check_counts_prior_raw_as_a_zero_bpp_method():
  prior = [_row("PriorRAW", "", "a", "1", 47.0, 0.0), _row("PriorRAW", "", "b", "2", 33.0, 0.0)]
  text = report.target_check(ROWS + prior, ["png"], reference="png", max_bpp=0.4)
  assert "best 0-bpp method PriorRAW 40.00 dB: +5.00 dB (target > 0: met)" in text
  beaten = [_row("PriorRAW", "", c, n, 46.0, 0.0) for c, n in (("a", "1"), ("b", "2"))]
  text = report.target_check(ROWS + beaten, ["png"], reference="png", max_bpp=0.4)
  assert "best 0-bpp method PriorRAW 46.00 dB: -1.00 dB (target > 0: NOT met)" in text
