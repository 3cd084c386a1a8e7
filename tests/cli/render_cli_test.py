"""`r2lcm render` end to end (subprocess, as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.io.images import read_image

# Grey patches of the ColorChecker in the Canon frame (see tests/isp/isp_pipeline_test.py).
GREY_CENTRES = [(929, 703), (929, 812), (929, 922), (929, 1032)]
WHITE_PATCH = "909,683,40,40"


def _r2lcm(*args, cwd=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *map(str, args)],
                        capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _grey_ratios(srgb):
  out = []
  for y, x in GREY_CENTRES:
    m = srgb[y - 20:y + 20, x - 20:x + 20].reshape(-1, 3).astype(np.float64).mean(0)
    out.append([m[0] / m[1], m[2] / m[1], m[1]])
  return np.array(out)


def test_canon_render_writes_16bit_raw_and_same_size_srgb_with_manifest(real_data, tmp_path):
  out = tmp_path / "OUT"
  r = _r2lcm("render", "--input", real_data / "canon" / "colorchart.dng", "--output", out)
  assert r.returncode == 0, r.stderr
  base = out / "CanonEOSKissX4" / "test"
  raw = read_image(base / "raw" / "colorchart.tif")
  srgb = read_image(base / "sRGB" / "colorchart.png")
  assert raw.dtype == np.uint16 and raw.shape == (1156, 1734, 3)
  assert srgb.dtype == np.uint8 and srgb.shape == (1156, 1734, 3)
  manifest = json.loads((out / "manifest.json").read_text())
  (entry,) = manifest["images"]
  assert manifest["format"] == "r2lcm-dataset/1"
  assert entry["camera"] == "CanonEOSKissX4" and entry["camera_model"] == "Canon EOS Kiss X4"
  assert entry["split"] == "test" and entry["crop"] == [0, 0, 1156, 1734]
  assert entry["isp"]["wb_source"] == "as_shot" and entry["isp"]["ccm_source"] == "file"
  assert entry["project_isp"] == entry["isp"]
  assert entry["source_facts"]["black_level"] == [2056.0] * 4
  # As shot, the file's white balance leaves one uniform warm cast on the grey ramp.
  ratios = _grey_ratios(srgb)
  assert np.ptp(ratios[:, 0]) < 0.12 and ratios[:, 0].min() > 1.3, ratios
  assert not list(out.glob(".render-staging-*"))


def test_canon_render_with_white_patch_balance_has_neutral_greys(real_data, tmp_path):
  out = tmp_path / "OUT"
  r = _r2lcm("render", "--input", real_data / "canon" / "colorchart.dng", "--output", out,
             "--wb_patch", WHITE_PATCH, "--exposure", "2", "--jpeg_quality", "95",
             "--raw_format", "png")
  assert r.returncode == 0, r.stderr
  base = out / "CanonEOSKissX4" / "test"
  assert read_image(base / "raw" / "colorchart.png").dtype == np.uint16
  srgb = read_image(base / "sRGB" / "colorchart.jpg")
  assert srgb.shape == (1156, 1734, 3)
  ratios = _grey_ratios(srgb)
  # White, light grey and mid grey: R/G and B/G within 6% of 1 (the white patch set the
  # balance; the other two are independent checks of linearity and colour matrix).
  np.testing.assert_allclose(ratios[:3, :2], 1.0, atol=0.06, err_msg=str(ratios))
  assert ratios[0, 2] > 100  # exposure 2 brightens the white patch (G ~74 as shot)
  entry = json.loads((out / "manifest.json").read_text())["images"][0]
  assert entry["jpeg_quality"] == 95 and entry["srgb_bytes"] > 10000
  assert entry["isp"]["wb_source"] == f"patch {WHITE_PATCH}"


def test_render_of_a_folder_keeps_earlier_manifest_entries(real_data, tmp_path):
  out = tmp_path / "OUT"
  assert _r2lcm("render", "--input", real_data / "halide", "--output", out).returncode == 0
  r = _r2lcm("render", "--input", real_data / "inteltau", "--output", out, "--split", "train")
  assert r.returncode == 0, r.stderr
  entries = json.loads((out / "manifest.json").read_text())["images"]
  assert len(entries) == 21
  assert {e["camera"] for e in entries} == {"halide", "SonyIMX135"}
  tau = [e for e in entries if e["camera"] == "SonyIMX135"]
  assert all(e["isp"]["wb_source"] == "illuminant" and e["isp"]["ccm_source"] == "generic"
             for e in tau)
  assert len(list((out / "SonyIMX135" / "train" / "sRGB").glob("*.png"))) == 20
  assert read_image(out / "halide" / "test" / "raw" / "bayer_small.tif").shape == (344, 256, 3)


@pytest.mark.parametrize("case", ["non_image", "truncated_dng", "empty_folder", "missing"])
def test_bad_input_exits_2_with_the_file_name_and_leaves_nothing(real_data, tmp_path, case):
  good = real_data / "halide" / "bayer_small.png"
  if case == "non_image":
    bad = tmp_path / "notes.dng"
    bad.write_text("not an image")
  elif case == "truncated_dng":
    bad = tmp_path / "cut.dng"
    data = (real_data / "canon" / "colorchart.dng").read_bytes()
    bad.write_bytes(data[: len(data) // 3])
  elif case == "empty_folder":
    bad = tmp_path / "empty"
    bad.mkdir()
  else:
    bad = tmp_path / "missing.dng"
  out = tmp_path / "OUT"
  r = _r2lcm("render", "--input", f"{good},{bad}", "--output", out)
  assert r.returncode == 2, (r.stdout, r.stderr)
  assert bad.name in r.stderr and "Traceback" not in r.stderr
  assert not out.exists()
  # A pre-existing output root keeps exactly what it had.
  out.mkdir()
  (out / "keep.txt").write_text("x")
  r = _r2lcm("render", "--input", f"{good},{bad}", "--output", out)
  assert r.returncode == 2
  assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_bad_flags_exit_2(real_data, tmp_path):
  r = _r2lcm("render", "--input", real_data / "halide", "--output", tmp_path / "o",
             "--jpeg_quality", "101")
  assert r.returncode == 2 and "jpeg_quality" in r.stderr
  r = _r2lcm("render", "--output", tmp_path / "o")
  assert r.returncode == 2 and "--input" in r.stderr


@pytest.mark.slow
def test_every_real_file_renders(real_data, tmp_path):
  out = tmp_path / "OUT"
  r = _r2lcm("render", "--input", real_data, "--output", out, "--jpeg_quality", "90")
  assert r.returncode == 0, r.stderr
  entries = json.loads((out / "manifest.json").read_text())["images"]
  assert len(entries) == 25
  sizes = {e["name"]: (e["height"], e["width"]) for e in entries}
  assert sizes["HERO7_GOPR9231"] == (3000, 4000) and sizes["Fusion_GPFR7066"] == (3000, 3104)
