"""Synthetic RAW scenes: deterministic, realistic levels, fast."""

from __future__ import annotations

import time

import numpy as np
import pytest

from r2lcm_jax.data.synthetic import synthetic_pair, synthetic_scene
from r2lcm_jax.isp import pipeline


@pytest.mark.parametrize("cfa", ["RGGB", "GRBG", "BGGR", "GBRG"])
def test_scene_is_a_deterministic_bayer_raw_with_clipped_highlights(cfa):
  a, b = synthetic_scene(3, 64, 96, cfa), synthetic_scene(3, 64, 96, cfa)
  np.testing.assert_array_equal(a.mosaic, b.mosaic)
  assert not np.array_equal(a.mosaic, synthetic_scene(4, 64, 96, cfa).mosaic)
  assert a.cfa == cfa and a.mosaic.dtype == np.uint16 and a.mosaic.shape == (64, 96)
  assert a.white_level == 16383 and np.all(a.black_level > 500)
  assert (a.mosaic == 16383).mean() > 0.001  # clipped highlights exist
  assert a.mosaic.min() < 1000  # dark areas within 3% of black
  assert a.as_shot_wb[1] == 1 and a.xyz_to_cam.shape == (3, 3)


def test_scene_has_texture_and_colour():
  raw = synthetic_scene(0, 128, 192)
  rgb = pipeline.raw_rgb_from_raw(raw)
  assert rgb.std() > 0.05
  chroma = rgb[..., 0] / np.maximum(rgb[..., 1], 1e-3)
  assert np.ptp(np.percentile(chroma, [5, 95])) > 0.3


def test_pair_is_rendered_through_the_isp_and_fast():
  t0 = time.perf_counter()
  raw, srgb = synthetic_pair(1, 64, 96)
  elapsed = time.perf_counter() - t0
  assert raw.shape == srgb.shape == (64, 96, 3)
  assert raw.dtype == srgb.dtype == np.float32
  np.testing.assert_array_equal(np.round(srgb * 255) / 255, srgb)  # 8-bit grid
  assert elapsed < 1.0
  with pytest.raises(ValueError):
    synthetic_scene(0, 63, 96)
