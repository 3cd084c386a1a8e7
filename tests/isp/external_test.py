"""Third-party ISPs (darktable, RawTherapee) on the project's raw-RGB grid, with the real tools.

Each tool's tests are skipped, with the reason, where the tool is not installed (`make
isp-tools` installs both). The Canon ColorChecker DNG (1156x1734) is rendered once per
style; the rest reuses those renders.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import subprocess

import numpy as np
import pytest
from scipy import ndimage

from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.render import render_inputs
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import dng
from r2lcm_jax.io.images import read_image
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp.external import (
  ToolNotFoundError,
  alignment,
  darktable,
  rawtherapee,
  render_external,
  styles,
)

PROGRAMS = {"darktable": darktable.PROGRAM, "rawtherapee": rawtherapee.PROGRAM}
SPECS = ["darktable:default", "darktable:local", "rawtherapee:default", "rawtherapee:drc"]
LOCAL = {"darktable": "local", "rawtherapee": "drc"}
INTELTAU = "S_IMX135_BLCCSC_field_001_sensorname_sony_imx135.png"


def _need(tool: str) -> None:
  if shutil.which(PROGRAMS[tool]) is None:
    pytest.skip(f"{PROGRAMS[tool]} not installed (run `make isp-tools`)")


def _local_contrast(srgb: np.ndarray) -> float:
  """Mean |luminance - its 8-px Gaussian blur|: detail energy at local-contrast scales."""
  y = alignment.render_luma(srgb)
  return float(np.abs(y - ndimage.gaussian_filter(y, 8.0)).mean())


def _common(a, b):
  """The parts of two renders over the intersection of their crops."""
  top = max(a.crop[0], b.crop[0])
  left = max(a.crop[1], b.crop[1])
  bottom = min(a.crop[0] + a.crop[2], b.crop[0] + b.crop[2])
  right = min(a.crop[1] + a.crop[3], b.crop[1] + b.crop[3])

  def cut(r):
    return r.srgb[top - r.crop[0]:bottom - r.crop[0], left - r.crop[1]:right - r.crop[1]]

  return cut(a), cut(b)


@pytest.fixture(scope="module")
def canon_path(real_data):
  return real_data / "canon" / "colorchart.dng"


@pytest.fixture(scope="module")
def canon(canon_path):
  return load_source(canon_path)


@pytest.fixture(scope="module")
def canon_renders(canon, tmp_path_factory):
  """{spec: ExternalRender} for every style whose tool is installed."""
  out = {}
  for spec in SPECS:
    if shutil.which(PROGRAMS[spec.split(":")[0]]):
      out[spec] = render_external(canon, spec, tmp_path_factory.mktemp(spec.replace(":", "_")))
  return out


def _render(canon_renders, spec):
  _need(spec.split(":")[0])
  return canon_renders[spec]


def test_style_names_cover_both_tools_with_a_local_style_each():
  names = styles.style_names()
  assert names[0] == "project" and set(SPECS) <= set(names)
  assert styles.get_style("darktable") == styles.get_style("darktable:default")
  assert styles.get_style("rawtherapee").name == "default"


@pytest.mark.parametrize("spec", ["gimp", "darktable:nope", "rawtherapee:local", "project:x"])
def test_unknown_isp_or_style_is_a_config_error_listing_the_valid_names(spec):
  with pytest.raises(ConfigError, match="darktable:local.*rawtherapee:drc"):
    styles.get_style(spec)


def test_every_style_turns_geometry_off():
  for style in styles.all_styles():
    if style.tool == "darktable":
      flip = [m for m in style.dt_modules if m.operation == "flip"]
      assert flip and flip[0].params == styles.dt_flip_params(0)
      assert not {m.operation for m in style.dt_modules} & (darktable.GEOMETRY_MODULES - {"flip"})
    else:
      pp3 = dict(style.pp3)
      assert dict(pp3["LensProfile"])["LcMode"] == "none"
      assert dict(pp3["Crop"])["Enabled"] == "false"
      assert dict(pp3["Rotation"])["Degree"] == "0"
      assert dict(pp3["Coarse Transformation"])["Rotate"] == "0"


def test_darktable_params_equal_the_tools_own_builtin_presets(canon_path, tmp_path):
  # A darktable run with a fresh config folder (and custom presets allowed, unlike our
  # renders) fills the presets table of its data.db: the structs we pack must be
  # byte-identical to darktable's own built-in presets for the same settings.
  _need("darktable")
  cfg = tmp_path / "config"
  subprocess.run([darktable.PROGRAM, str(canon_path), str(tmp_path / "small.jpg"), "--width", "64",
                  "--height", "64", "--core", "--configdir", str(cfg), "--library", ":memory:",
                  "--disable-opencl"], check=True, capture_output=True, timeout=300)
  with contextlib.closing(sqlite3.connect(f"file:{cfg / 'data.db'}?mode=ro", uri=True)) as con:
    rows = con.execute("SELECT operation, name, op_version, op_params FROM presets").fetchall()
  presets = {(op, name.replace("\xa0", " ")): (version, bytes(params))
             for op, name, version, params in rows}
  local = {m.operation: m for m in styles.get_style("darktable:local").dt_modules}
  assert presets["toneequal", "compress shadows/highlights (eigf): strong"] == (
    local["toneequal"].version, local["toneequal"].params)
  assert presets["flip", "no rotation"] == (2, styles.dt_flip_params(0))
  hdr = styles.dt_bilat_params(detail=1.0, highlights=0.0, shadows=0.0, midtone=0.25)
  assert presets["bilat", "HDR local tone-mapping"] == (local["bilat"].version, hdr)


@pytest.mark.parametrize("spec", SPECS)
def test_render_aligns_on_the_raw_grid(canon_renders, canon, spec):
  r = _render(canon_renders, spec)
  grid_h, grid_w = canon.raw_rgb.shape[:2]
  top, left, h, w = r.crop
  assert 0 <= top and 0 <= left and top + h <= grid_h and left + w <= grid_w
  assert grid_h - h <= 32 and grid_w - w <= 32  # only borders are lost
  assert r.srgb.shape == (h, w, 3) and r.srgb.dtype == np.uint8
  a = r.alignment
  scores = np.array(a["scores"])
  assert scores.shape == (5, 5) and np.unravel_index(np.argmax(scores), scores.shape) == (2, 2)
  assert a["peak"] >= 0.6 and a["peak"] - a["second"] >= 0.2, a
  assert a["transform"] == "identity" and a["crop"] == list(r.crop)
  assert r.tool == spec.split(":")[0] and r.style == spec.split(":")[1]
  assert r.version[0].isdigit() and "." in r.version
  # The cut pair passes the verification again, independently of the search.
  peak, _, _ = alignment.verify(r.srgb, r.cut(canon.raw_rgb))
  assert peak == pytest.approx(a["peak"], abs=1e-4)


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_styles_of_a_tool_differ_and_the_local_one_has_more_local_contrast(canon_renders, tool):
  default = _render(canon_renders, f"{tool}:default")
  local = _render(canon_renders, f"{tool}:{LOCAL[tool]}")
  a, b = _common(default, local)
  assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 2.0
  assert _local_contrast(b) > 1.25 * _local_contrast(a)


def test_the_two_tools_render_differently(canon_renders):
  a, b = _common(_render(canon_renders, "darktable:default"),
                 _render(canon_renders, "rawtherapee:default"))
  assert np.abs(a.astype(np.int16) - b.astype(np.int16)).mean() > 2.0


def test_darktable_reports_the_style_modules_on(canon_renders):
  modules = _render(canon_renders, "darktable:local").settings["modules"]
  assert {"toneequal", "bilat", "filmicrgb", "flip"} <= set(modules)
  assert "toneequal" not in _render(canon_renders, "darktable:default").settings["modules"]


def test_shifted_render_is_refused(canon_renders, canon):
  r = _render(canon_renders, "darktable:default")
  raw = r.cut(canon.raw_rgb)
  with pytest.raises(InputError, match="does not align"):
    alignment.verify(np.roll(r.srgb, 3, axis=1), raw)
  with pytest.raises(InputError, match="does not align"):
    alignment.verify(r.srgb[3:], raw[:-3])


def test_unrelated_image_is_refused(canon):
  rng = np.random.default_rng(0)
  noise = ndimage.gaussian_filter(rng.normal(size=canon.raw_rgb.shape[:2]), 1.5)
  img = np.clip(128 + 400 * noise, 0, 255).astype(np.uint8)
  with pytest.raises(InputError, match="does not align"):
    alignment.align(np.repeat(img[..., None], 3, axis=2), canon.raw_rgb)


def test_render_of_the_wrong_shape_is_refused(canon):
  with pytest.raises(InputError, match="does not fit"):
    alignment.align(np.zeros((300, 300, 3), np.uint8), canon.raw_rgb)


@pytest.mark.parametrize("name", ["flip_lr", "rot90_cw", "rot180"])
def test_alignment_undoes_flips_rotations_and_crops(canon_renders, canon, name):
  r = _render(canon_renders, "darktable:default")
  inverse = {"flip_lr": "flip_lr", "rot90_cw": "rot90_ccw", "rot180": "rot180"}[name]
  cropped = r.srgb[5:-7, 3:-2]
  a = alignment.align(np.ascontiguousarray(alignment.apply_transform(cropped, name)), canon.raw_rgb)
  assert a.transform == inverse
  assert a.crop == (r.crop[0] + 5, r.crop[1] + 3, r.crop[2] - 12, r.crop[3] - 5)
  np.testing.assert_array_equal(a.srgb, cropped)


def test_transform_names_match_numpy():
  x = np.arange(12).reshape(3, 4)
  assert np.array_equal(alignment.apply_transform(x, "rot90_ccw"), np.rot90(x, 1))
  assert np.array_equal(alignment.apply_transform(x, "rot90_cw"), np.rot90(x, -1))
  assert np.array_equal(alignment.apply_transform(x, "flip_lr"), np.fliplr(x))
  assert np.array_equal(alignment.apply_transform(x, "transverse"), np.rot90(x, 2).T)


def test_render_cli_writes_aligned_pair_and_manifest(canon_path, canon, tmp_path):
  _need("darktable")
  out = tmp_path / "OUT"
  (entry,) = render_inputs(str(canon_path), out, isp="darktable:local", jpeg_quality=90,
                           progress=False)
  base = out / "CanonEOSKissX4" / "test"
  raw = read_image(base / "raw" / "colorchart.tif")
  srgb = read_image(base / "sRGB" / "colorchart.jpg")
  top, left, h, w = entry["crop"]
  assert raw.shape == srgb.shape == (h, w, 3) and (entry["height"], entry["width"]) == (h, w)
  expected = np.round(canon.raw_rgb[top:top + h, left:left + w] * 65535).astype(np.uint16)
  np.testing.assert_array_equal(raw, expected)
  manifest = json.loads((out / "manifest.json").read_text())
  (saved,) = manifest["images"]
  isp = saved["isp"]
  assert isp["tool"] == "darktable" and isp["style"] == "local" and isp["version"]
  assert isp["alignment"]["transform"] == "identity" and isp["alignment"]["crop"] == entry["crop"]
  assert "wb" not in isp and saved["jpeg_quality"] == 90
  assert manifest["last_run"]["isp"] == "darktable:local"
  with pytest.raises(InputError, match="darktable"):
    params_from_manifest(out / "manifest.json", "colorchart")
  assert not list(out.glob(".render-staging-*"))


def test_render_cli_refuses_unknown_isp_and_project_flags(canon_path, tmp_path):
  out = tmp_path / "OUT"
  with pytest.raises(ConfigError, match="valid: project, darktable:default"):
    render_inputs(str(canon_path), out, isp="darktable:vivid", progress=False)
  with pytest.raises(ConfigError, match="--isp project only"):
    render_inputs(str(canon_path), out, isp="rawtherapee", exposure=2.0, progress=False)
  assert not out.exists()


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_missing_tool_is_a_config_error_naming_make_isp_tools(canon, tool, tmp_path, monkeypatch):
  monkeypatch.setenv("PATH", str(tmp_path / "empty"))
  with pytest.raises(ToolNotFoundError, match="make isp-tools") as e:
    render_external(canon, tool, tmp_path / "work")
  assert isinstance(e.value, ConfigError)


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_tool_failure_is_an_input_error_with_its_message(tool, tmp_path):
  _need(tool)
  bad = tmp_path / "bad.dng"
  bad.write_text("not a raw file\n")
  module = darktable if tool == "darktable" else rawtherapee
  with pytest.raises(InputError, match=rf"{PROGRAMS[tool]} failed \(exit status \d+\): \S"):
    module.render(bad, styles.get_style(tool), tmp_path / "work")


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_inteltau_png_renders_through_a_linear_dng(real_data, tool, tmp_path):
  _need(tool)
  src = load_source(real_data / "inteltau" / INTELTAU)
  r = render_external(src, tool, tmp_path)
  assert r.crop == (0, 0, *src.raw_rgb.shape[:2]) and r.alignment["peak"] >= 0.6
  assert "DNG written by the project" in r.settings["input"]
  # The DNG holds the PNG's values exactly.
  written = read_image(next((tmp_path / "input").glob("*.dng")))
  np.testing.assert_array_equal(written, np.round(src.raw_rgb * 65535).astype(np.uint16))
  # White balance from the illuminant: the render is roughly neutral on average.
  mean = r.srgb.reshape(-1, 3).mean(0)
  assert np.ptp(mean) < 0.15 * mean.mean()


def test_rawtherapee_rotation_from_the_orientation_tag_is_undone(real_data, tmp_path):
  # A HERO7 crop written as a DNG that says "rotate 90 degrees clockwise" (orientation 6):
  # RawTherapee applies it, the aligner turns the render back.
  _need("rawtherapee")
  raw = read_raw(real_data / "gopro" / "HERO7_GOPR9231.DNG")
  wb = raw.as_shot_wb.astype(np.float64)
  meta = dng.DngMetadata(black_level=tuple(float(v) for v in raw.black_level),
                         white_level=raw.white_level, xyz_to_cam=raw.xyz_to_cam,
                         as_shot_neutral=wb[1] / wb, make="GoPro", model="HERO7", orientation=6)
  path = tmp_path / "crop.dng"
  dng.write_bayer_dng(path, raw.mosaic[1000:1400, 1500:2100], raw.cfa, meta)
  src = load_source(path)
  r = render_external(src, "rawtherapee", tmp_path / "work")
  assert r.alignment["render_shape"] == [592, 392]
  assert r.alignment["transform"] == "rot90_ccw" and r.crop == (4, 4, 392, 592)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS)
def test_full_gopro_frame_aligns(real_data, spec, tmp_path):
  # 4000x3000, orientation tag 2 (mirrored): darktable's flip is off and RawTherapee 5.9
  # ignores the mirror, so both land on the grid untransformed, up to their borders.
  _need(spec.split(":")[0])
  src = load_source(real_data / "gopro" / "HERO7_GOPR9231.DNG")
  r = render_external(src, spec, tmp_path)
  assert r.alignment["peak"] >= 0.6 and r.alignment["peak"] - r.alignment["second"] >= 0.1
  top, left, h, w = r.crop
  assert top + h <= 3000 and left + w <= 4000 and 3000 - h <= 32 and 4000 - w <= 32
