"""Rendering the split real RAWs into per-variant NUS-layout datasets (benchmark/dataset.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.benchmark import dataset
from r2lcm_jax.benchmark.splits import plan_splits
from r2lcm_jax.data.manifest import params_from_manifest, project_isp_params
from r2lcm_jax.data.nus import load_pair
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.isp import pipeline


def test_parse_variants_and_crop_box():
  assert [v.name for v in dataset.parse_variants("png, q90,Q10,png")] == ["png", "q90", "q10"]
  for bad in ("", "jpeg", "q0", "q101", "qx"):
    with pytest.raises(ConfigError):
      dataset.parse_variants(bad)
  assert dataset.centre_crop_box(3000, 4000, (256, 384)) == (1372, 1808, 256, 384)
  assert dataset.centre_crop_box(256, 384, (300, 300)) == (0, 42, 256, 300)
  assert dataset.centre_crop_box(10, 20, None) == (0, 0, 10, 20)


def test_render_two_variants_of_inteltau_crops(real_data, tmp_path):
  plan = [e for e in plan_splits(real_data) if e.camera == "imx135" and e.split != "val"][12:16]
  assert [e.split for e in plan] == ["train", "train", "test", "test"]
  roots = dataset.render_variants(plan, tmp_path, dataset.parse_variants("png,q10"),
                                  crop=(64, 96), progress=False)
  test = {v: dataset.split_pairs(roots[v], "test") for v in roots}
  assert [p.name[22:25] for p in test["q10"]] == ["018", "019"]
  assert test["png"][0].srgb_path.endswith(".png") and test["q10"][0].srgb_path.endswith(".jpg")
  assert len(dataset.split_pairs(roots["png"], "train")) == 2
  # raw written once, hard-linked into the other variant
  assert os.path.samefile(test["png"][0].raw_path, test["q10"][0].raw_path)
  src = load_source(plan[2].path)
  raw, srgb = load_pair(test["png"][0])
  expect = src.raw_rgb[96:160, 144:240]  # centre 64x96 of 256x384
  np.testing.assert_allclose(raw, expect, atol=0.5 / 65535 + 1e-7)
  np.testing.assert_array_equal(np.round(srgb * 255).astype(np.uint8),
                                pipeline.render_srgb(expect, src.params))
  _, jpeg = load_pair(test["q10"][0])
  assert 0 < np.abs(jpeg - srgb).mean() < 0.05  # lossy, same image
  params = params_from_manifest(roots["q10"] / "manifest.json", test["q10"][0].name)
  np.testing.assert_allclose(params.wb, src.params.wb)


def test_bad_flag_is_one_line_exit_2(tmp_path, repo_root):
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "rd", "--out",
                      str(tmp_path / "o"), "--crop", "12x"], capture_output=True, text=True,
                     cwd=repo_root, env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=120)
  assert r.returncode == 2
  assert r.stderr.strip().splitlines() == [
    "r2lcm bench rd: error: --crop='12x': expected HxW with H, W >= 16 (e.g. 256x384)"]
  assert not (tmp_path / "o").exists()


def test_variants_are_the_product_of_isps_and_formats():
  variants = dataset.parse_variants("png,q90", "darktable:local, rawtherapee,project")
  assert [v.name for v in variants] == [
    "darktable-local_png", "darktable-local_q90", "rawtherapee-default_png",
    "rawtherapee-default_q90", "png", "q90"]
  assert [v.isp_known for v in variants] == [False] * 4 + [True] * 2
  assert variants[-1].label == "JPEG q90, project ISP (ISP known)"
  assert variants[1].label == "JPEG q90, darktable:local"
  for v in variants:  # names are folder names and parse back
    assert dataset.parse_variant_name(v.name) == v and "/" not in v.name and ":" not in v.name
  assert dataset.parse_variant_name("rawtherapee_q50") == dataset.Variant(50, "rawtherapee:default")
  for bad in ("darktable-nostyle_png", "gimp-default_q90", "darktable-local_q0", "x_"):
    with pytest.raises(ConfigError, match="TOOL-STYLE_FORMAT"):
      dataset.parse_variant_name(bad)
  for bad in ("", "gimp", "darktable:nostyle"):
    with pytest.raises(ConfigError):
      dataset.parse_isps(bad)


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_third_party_render_of_a_small_crop_into_the_dataset_layout(real_data, tmp_path, tool,
                                                                    monkeypatch):
  program = {"darktable": "darktable-cli", "rawtherapee": "rawtherapee-cli"}[tool]
  if shutil.which(program) is None:
    pytest.skip(f"{program} not installed (run `make isp-tools`)")
  plan = [e for e in plan_splits(real_data) if e.camera == "imx135"]
  plan = [plan[0], next(e for e in plan if e.split == "test")]  # one train, one test entry
  variants = dataset.parse_variants("png,q50", tool)
  needs = {v.name: {"test"} for v in variants}
  roots = dataset.render_variants(plan, tmp_path, variants, crop=(64, 96), progress=False,
                                  splits=needs)
  png, jpg = (dataset.split_pairs(roots[v.name], "test") for v in variants)
  assert [p.name for p in png] == [plan[1].path.stem] and jpg[0].srgb_path.endswith(".jpg")
  assert dataset.split_pairs(roots[variants[0].name], "train") == []  # only what is needed
  assert os.path.samefile(png[0].raw_path, jpg[0].raw_path)  # one raw per ISP
  doc = json.loads((roots[variants[0].name] / "manifest.json").read_text())
  entry = doc["images"][0]
  assert doc["last_run"]["isp"] == f"{tool}:default" and entry["isp"]["tool"] == tool
  # INTEL-TAU renders align to the whole 256x384 grid; the pair is its centre 64x96.
  assert entry["crop"] == [96, 144, 64, 96] and entry["full_size"] == [256, 384]
  src = load_source(plan[1].path)
  raw, srgb = load_pair(png[0])
  np.testing.assert_allclose(raw, src.raw_rgb[96:160, 144:240], atol=0.5 / 65535 + 1e-7)
  project = pipeline.render_srgb(src.raw_rgb[96:160, 144:240], src.params)
  assert np.abs(srgb * 255 - project).mean() > 1.0  # another ISP made it
  # The naive inverse of the wrong ISP gets the RAW's own project parameters; the
  # manifest's `isp` entry has none.
  np.testing.assert_allclose(project_isp_params(roots[variants[0].name], src.name).wb,
                             src.params.wb)
  with pytest.raises(InputError, match="no ISP stage parameters"):
    params_from_manifest(roots[variants[0].name] / "manifest.json", src.name)

  # A second run with the same settings reuses the files; another crop renders again.
  def no_render(*args, **kwargs):
    raise AssertionError("rendered again")

  monkeypatch.setattr(dataset, "render_pair", no_render)
  again = dataset.render_variants(plan, tmp_path, variants, crop=(64, 96), progress=False,
                                  splits=needs)
  assert dataset.split_pairs(again[variants[1].name], "test") == jpg
  with pytest.raises(AssertionError, match="rendered again"):
    dataset.render_variants(plan, tmp_path, variants, crop=(32, 32), progress=False,
                            splits=needs)
