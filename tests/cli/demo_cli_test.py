"""`r2lcm demo`: the codec end to end on the shipped DNG and the packaged default model.

The full runs use 192x128 crops (XLA programs compile once per shape and are cached on
disk for the test run, see conftest). Which renderer the default demo uses depends on
the packaged model's base and on whether darktable-cli is installed; the test names it
from the same facts.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax import demo
from r2lcm_jax.codec.checkpoint import resolve_checkpoint
from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io.images import read_image
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp.external import darktable
from r2lcm_jax.isp.source import source_from_raw
from r2lcm_jax.models.params_io import CONFIG_FILE

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SMALL = ("--height", "128", "--width", "192")
DARKTABLE = shutil.which(darktable.PROGRAM)


def _demo(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "demo", *args],
                        capture_output=True, text=True, env=env, timeout=600)


def _packaged_base() -> str:
  doc = json.loads((resolve_checkpoint("default") / CONFIG_FILE).read_text())
  return doc["config"]["base"]


def _model_with_base(folder: pathlib.Path, base: str) -> pathlib.Path:
  """A copy of the packaged default model whose config says `base` (the fingerprint
  covers the parameters only, so the copy loads)."""
  shutil.copytree(resolve_checkpoint("default"), folder)
  path = folder / CONFIG_FILE
  doc = json.loads(path.read_text())
  doc["config"]["base"] = base
  path.write_text(json.dumps(doc, indent=2))
  return folder


def _number(pattern: str, text: str) -> float:
  return float(re.search(pattern, text).group(1).replace(",", ""))


def _check_files_and_numbers(out: str, folder: pathlib.Path, hw: tuple[int, int]) -> float:
  """The report's sizes and R2LCM PSNR against the files it wrote; returns that PSNR."""
  assert _number(r"metadata  ([\d,]+) bytes", out) == (folder / "demo.r2lcm").stat().st_size > 0
  assert _number(r"JPEG q90: ([\d,]+) bytes", out) == (folder / "demo.jpg").stat().st_size
  assert "decoded from the files: latents and reconstruction equal the encoder's" in out
  psnr = _number(r"R2LCM reconstruction: PSNR ([\d.]+) dB", out)
  x = read_image(folder / "demo_raw.tiff").astype(np.float64) / 65535
  x_hat = read_image(folder / "demo_recon.tiff").astype(np.float64) / 65535
  assert x.shape == x_hat.shape == (*hw, 3)
  measured = -10 * np.log10(np.mean((x - x_hat) ** 2))
  assert abs(measured - psnr) < 0.2, (measured, psnr)  # TIFF stores the clipped 16-bit recon
  assert (folder / "demo.png").stat().st_size > 10_000
  for row in ("fitted map alone (310 bytes", "SAM, raw samples every 8 px",
              "naive inverse of the project's ISP"):
    assert row in out, row
  return psnr


def test_default_demo_runs_on_the_shipped_dng_and_names_its_renderer(tmp_path):
  r = _demo("--output", str(tmp_path), *SMALL)
  assert r.returncode == 0, r.stderr
  out = r.stdout
  assert f"scene     {demo.DEMO_DNG} (in the package)" in out and "192x128" in out
  renderer = re.search(r"^sRGB rendered by: (.+)$", out, re.M).group(1)
  psnr = _check_files_and_numbers(out, tmp_path, (128, 192))
  if _packaged_base() == "isp_inverse":
    assert renderer.startswith("the project's ISP (model default has base 'isp_inverse'")
  elif DARKTABLE:
    assert re.fullmatch(r"darktable [\d.]+ \(style default\), an ISP the decoder does not know",
                        renderer), renderer
    naive = _number(r"the wrong ISP for this sRGB \(0 bpp\): PSNR ([\d.]+) dB", out)
    assert psnr > naive + 5, out
  else:
    assert renderer == "the project's ISP (darktable not installed; `make isp-tools`)"


def test_demo_decodes_a_darktable_render_with_a_fitted_model(tmp_path):
  if not DARKTABLE:
    pytest.skip(f"{darktable.PROGRAM} not installed (`make isp-tools`): the darktable "
                "render of the demo is not exercised")
  if _packaged_base() == "fitted":
    pytest.skip("the packaged model is a fitted one: the default-demo test covers this")
  model = _model_with_base(tmp_path / "fitted", "fitted")
  r = _demo("--output", str(tmp_path / "out"), "--checkpoint", str(model), *SMALL)
  assert r.returncode == 0, r.stderr
  out = r.stdout
  assert "base fitted" in out
  assert re.search(r"^sRGB rendered by: darktable [\d.]+ \(style default\), an ISP the "
                   r"decoder does not know$", out, re.M), out
  psnr = _check_files_and_numbers(out, tmp_path / "out", (128, 192))
  naive = _number(r"the wrong ISP for this sRGB \(0 bpp\): PSNR ([\d.]+) dB", out)
  assert psnr > naive + 5, out


@pytest.mark.slow  # second demo model; the default demo stays in the default run
def test_isp_inverse_model_falls_back_to_the_project_isp_on_a_synthetic_scene(tmp_path):
  model = _model_with_base(tmp_path / "inverse", "isp_inverse")
  r = _demo("--output", str(tmp_path / "out"), "--checkpoint", str(model), "--synthetic",
            "--isp", "darktable", *SMALL)  # darktable is not run: no need to install it
  assert r.returncode == 0, r.stderr
  out = r.stdout
  assert "synthetic scene seed 0 in the camera space of" in out and "192x128" in out
  assert re.search(r"^sRGB rendered by: the project's ISP \(model .*inverse has base "
                   r"'isp_inverse', which decodes only the project's ISP; darktable's sRGB "
                   r"needs a model with base 'fitted'\)$", out, re.M), out
  psnr = _check_files_and_numbers(out, tmp_path / "out", (128, 192))
  naive = _number(r"its parameters known \(0 bpp\): PSNR ([\d.]+) dB", out)
  assert psnr > naive, out


def test_demo_rejects_missing_files_and_models_with_exit_2(tmp_path):
  r = _demo("--output", str(tmp_path), "--raw", str(tmp_path / "absent.dng"))
  assert r.returncode == 2 and "absent.dng" in r.stderr and "Traceback" not in r.stderr
  r = _demo("--output", str(tmp_path), "--checkpoint", "no-such-model")
  assert r.returncode == 2 and "packaged" in r.stderr


@pytest.mark.parametrize("kwargs, needle", [
  (dict(height=127, width=128), "even"), (dict(height=128), "both or neither"),
  (dict(synthetic=True, raw_path="x.dng"), "exclude"), (dict(isp="gimp"), "unknown ISP"),
  (dict(jpeg_quality=0), "jpeg_quality")])
def test_demo_rejects_bad_settings_before_any_work(tmp_path, kwargs, needle):
  with pytest.raises(ConfigError, match=needle):
    demo.run_demo(tmp_path / "out", **kwargs)
  assert not (tmp_path / "out" / "demo.jpg").exists()


@pytest.mark.parametrize("installed", [True, False])
def test_renderer_choice(monkeypatch, installed):
  monkeypatch.setattr(demo, "_installed", lambda program: installed)
  auto = demo._choose_isp(None, "fitted", "default")
  assert auto == (("darktable:default", "") if installed else
                  ("project", "darktable not installed; `make isp-tools`"))
  assert demo._choose_isp("rawtherapee:drc", "fitted", "m") == ("rawtherapee:drc", "")
  assert demo._choose_isp("project", "fitted", "m") == ("project", "--isp project")
  spec, why = demo._choose_isp(None if installed else "darktable", "isp_inverse", "m")
  assert spec == "project" and "base 'isp_inverse'" in why
  with pytest.raises(ConfigError, match="unknown ISP"):
    demo._choose_isp("darktable:nope", "fitted", "m")


def test_shipped_dng_is_small_real_and_carries_its_licence_notice():
  path = demo.demo_dng()
  assert path.is_file() and path.stat().st_size < 1_000_000
  raw = read_raw(path)
  assert raw.mosaic.shape == (512, 768) and raw.cfa == "RGGB" and "HERO7" in raw.camera
  notice = (path.parent / "NOTICE.md").read_text()
  third = REPO_ROOT / "third_party" / "gopro_samples"
  readme, mit = (third / "README.md").read_text(), (third / "LICENSE-MIT").read_text()
  for text in (notice, readme):
    assert "github.com/gopro/gpr" in text and "Apache-2.0 OR MIT" in text
    assert "LICENSE-2.0" in text and "cropped" in text
  assert "Copyright 2018 GoPro, Inc." in mit and "Permission is hereby granted" in mit
  assert mit.strip() in notice  # the MIT text ships with the file
  assert f"r2lcm_jax/assets/demo/{demo.DEMO_DNG}" in readme


def test_shipped_dng_is_the_documented_crop_of_the_held_back_frame(real_data):
  full = read_raw(real_data / "gopro" / "HERO7_GOPR9231.DNG")
  crop = read_raw(demo.demo_dng())
  np.testing.assert_array_equal(crop.mosaic, full.mosaic[768:1280, 1536:2304])
  np.testing.assert_allclose(crop.as_shot_wb, full.as_shot_wb, rtol=1e-4)


def test_a_failing_automatic_render_falls_back_and_an_asked_for_one_fails(monkeypatch, tmp_path):
  src = source_from_raw(synthetic_scene(0, 32, 48), "tiny")

  def broken(*args, **kwargs):
    raise InputError("darktable-cli failed (exit status 1): boom")

  monkeypatch.setattr(demo.external, "render_external", broken)
  raw, srgb, params, renderer = demo._render(src, "darktable:default", "", tmp_path, auto=True)
  assert raw.shape == srgb.shape == (32, 48, 3) and params is src.params
  assert renderer == ("the project's ISP (darktable:default failed: darktable-cli failed "
                      "(exit status 1): boom)")
  with pytest.raises(InputError, match="boom"):
    demo._render(src, "darktable:default", "", tmp_path, auto=False)
