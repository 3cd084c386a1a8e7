"""Rendering the split real RAWs into per-variant NUS-layout datasets (benchmark/dataset.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.baselines.naive_inverse import params_from_manifest
from r2lcm_jax.benchmark import dataset
from r2lcm_jax.benchmark.splits import plan_splits
from r2lcm_jax.data.nus import load_pair
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError
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
