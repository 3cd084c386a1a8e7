"""Tests of the naive-inverse baseline (known ISP parameters, 0 bpp)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.baselines.naive_inverse import NaiveInverseBaseline
from r2lcm_jax.data import synthetic
from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.render import render_inputs
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.isp import pipeline, stages


def _unclipped(raw_rgb, params):
  """Pixels that no clipping stage touches in the forward ISP."""
  x = raw_rgb * params.exposure * params.wb
  y = stages.apply_ccm(np.clip(x, 0, 1), params.ccm)
  return np.all(x <= 1.0, -1) & np.all((y >= 0.0) & (y <= 1.0), -1)


def test_naive_inverse_inverts_the_isp_on_unclipped_synthetic_pixels():
  raw = synthetic.synthetic_scene(3, 64, 96)
  raw_rgb = pipeline.raw_rgb_from_raw(raw)
  params = pipeline.params_for(raw)
  ok = _unclipped(raw_rgb, params)
  assert ok.mean() > 0.5
  base = NaiveInverseBaseline(params)
  assert isinstance(base, Baseline)
  # Float sRGB (no quantisation): exact up to float32 rounding.
  est = base.reconstruct(pipeline.render_raw_rgb(raw_rgb, params))
  np.testing.assert_allclose(est[ok], raw_rgb[ok], atol=2e-5)
  # 8-bit sRGB: the error is the quantisation step pulled back through the ISP.
  srgb = pipeline.render_srgb(raw_rgb, params)
  metadata = base.encode(raw_rgb, srgb)
  assert metadata == b"" and bits_per_pixel(metadata, 64, 96) == 0.0
  err = np.abs(base.reconstruct(srgb, metadata) - raw_rgb)[ok]
  assert err.max() < 0.02
  assert 10 * np.log10(1 / np.mean(err**2)) > 45.0


def test_naive_inverse_rejects_metadata():
  base = NaiveInverseBaseline(pipeline.params_for_illuminant(np.ones(3)))
  with pytest.raises(BitstreamError):
    base.reconstruct(np.zeros((4, 4, 3), np.uint8), b"\x00")


def test_params_come_from_the_render_manifest_of_a_real_image(real_data, tmp_path):
  src = sorted((real_data / "inteltau").glob("*.png"))[0]
  entries = render_inputs([str(src)], tmp_path / "ds", progress=False)
  params = params_from_manifest(tmp_path / "ds" / "manifest.json", entries[0]["name"])
  expected = pipeline.IspParams.from_dict(entries[0]["isp"])
  np.testing.assert_allclose(params.wb, expected.wb)
  np.testing.assert_allclose(params.ccm, expected.ccm)
  with pytest.raises(InputError, match="0 entries"):
    params_from_manifest(tmp_path / "ds" / "manifest.json", "nope")
  with pytest.raises(InputError, match="not found"):
    params_from_manifest(tmp_path / "absent.json", "x")
  bad = tmp_path / "bad.json"
  bad.write_text(json.dumps({"format": "r2lcm-dataset/1",
                             "images": [{"name": "a", "isp": {"wb": [1, 1, 1]}}]}))
  with pytest.raises(InputError, match="no valid"):
    params_from_manifest(bad, "a")
