"""Aggregation, Pareto curve and target check of the RD report (r2lcm_jax/benchmark/report.py)."""

from __future__ import annotations

import dataclasses

import pytest

from r2lcm_jax.app.results import Row, read_rows_csv, write_rows_csv
from r2lcm_jax.benchmark import report


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


def _tp(method, setting, psnr, bpp, variant="darktable-local_q90", camera="a", name="1"):
  """A row of a third-party variant."""
  return dataclasses.replace(_row(method, setting, camera, name, psnr, bpp, variant),
                             isp="darktable:local")


THIRD = [
  _tp("R2LCM[fitted]", "d0_g0", 46.0, 0.30), _tp("R2LCM[fitted]", "d1_g0", 44.5, 0.10),
  _tp("R2LCM[paper]", "d0_g0", 41.0, 0.35), _tp("R2LCM[paper]", "d1_g0", 38.0, 0.12),
  _tp("SAM", "step8", 42.0, 0.75), _tp("SAM", "step16", 39.0, 0.19),
  _tp("fitted map", "K17", 44.0, 0.003), _tp("naive inverse (wrong ISP)", "", 30.0, 0.0),
]


def test_unknown_isp_target_is_met_or_not_per_variant_and_checkpoint():
  # An isp_inverse model has rows on the project variant only.
  rows = THIRD + [_row("R2LCM[isp]", "d0_g0", "a", "1", 50.0, 0.3)]
  text = report.unknown_isp_target_check(rows, ["darktable-local_q90"]).splitlines()
  assert text == [
    "- `darktable-local_q90`, R2LCM[fitted]: **met**: best at <= 0.4 bpp 46.00 dB (d0_g0, "
    "0.300 bpp); SAM step8 (0.750 bpp) 42.00 dB: +4.00 dB (need >= +3); fitted map K17 "
    "(0.003 bpp) 44.00 dB: +2.00 dB (need > +0).",
    "- `darktable-local_q90`, R2LCM[paper]: **NOT met**: best at <= 0.4 bpp 41.00 dB (d0_g0, "
    "0.350 bpp); SAM step8 (0.750 bpp) 42.00 dB: -1.00 dB (need >= +3); fitted map K17 "
    "(0.003 bpp) 44.00 dB: -3.00 dB (need > +0).",
    "- `darktable-local_q90`, R2LCM[isp]: not run on this variant."]
  strict = report.unknown_isp_target_check(THIRD, ["darktable-local_q90"], max_bpp=0.2)
  assert "R2LCM[fitted]: **NOT met**: best at <= 0.2 bpp 44.50 dB (d1_g0" in strict
  no_sam = [r for r in THIRD if r.method != "SAM"]
  assert "SAM step8 not run" in report.unknown_isp_target_check(no_sam, ["darktable-local_q90"])


def test_bd_rate_per_checkpoint_and_tables_per_isp_and_image():
  rows = THIRD + [_tp("SAM", "step8", 40.0, 0.75, name="2"), _tp("SAM", "step16", 37.0, 0.19, name="2")]
  entries = report.bd_entries(rows, ["darktable-local_q90"], ["a"])
  assert [(e.method, e.camera) for e in entries] == [
    ("R2LCM[fitted]", "a"), ("R2LCM[fitted]", "all"), ("R2LCM[paper]", "a"), ("R2LCM[paper]", "all")]
  assert "| R2LCM[paper] | darktable-local_q90 | a |" in report.bd_markdown(entries)
  table = report.isp_table(THIRD + ROWS, [("darktable:local", "dt local"), ("project", "known")])
  assert table.splitlines()[0] == "| method | setting | dt local | known |"
  assert "| R2LCM[fitted] | d0_g0 | 46.00 / 0.3000 | - |" in table
  assert "| R2LCM | d0_g0 | - | 45.00 / 0.4000 |" in table  # project: mean of two images
  assert "| naive inverse (wrong ISP) | - | 30.00 / 0.0000 | - |" in table
  per_image = report.per_image_tables(ROWS, [("png", "PNG")])
  assert "| method | setting | a 1 | b 2 |" in per_image and "| R2LCM | d0_g0 | 50.00 / 0.3000 | 40.00 / 0.5000 |" in per_image
  assert report.variant_table(THIRD, ["darktable-local_q90"]).splitlines()[2].startswith(
    "| R2LCM[fitted] | d0_g0 | 46.00 / 0.3000 |")


def test_results_csv_keeps_the_isp(tmp_path):
  write_rows_csv(tmp_path / "r.csv", THIRD + ROWS)
  back = read_rows_csv(tmp_path / "r.csv")
  assert back == THIRD + ROWS and back[0].isp == "darktable:local" and back[-1].isp == "project"
