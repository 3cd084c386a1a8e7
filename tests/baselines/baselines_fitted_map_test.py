"""The fitted-map baseline (the base of `base = "fitted"` models, alone)."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.baselines import metadata_file
from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.baselines.fitted_map import FittedMapBaseline
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, InputError, ShapeMismatchError
from r2lcm_jax.isp import pipeline


def test_fitted_map_through_a_metadata_file(real_data, tmp_path):
  src = load_source(real_data / "canon" / "colorchart.dng")
  raw = src.raw_rgb[:384, :512]
  srgb = pipeline.render_srgb(raw ** 0.8, src.params)  # an ISP the decoder does not know
  base = FittedMapBaseline()
  assert isinstance(base, Baseline)
  md = base.encode(raw, srgb)
  assert len(md) == 310 and bits_per_pixel(md, 384, 512) < 0.013
  metadata_file.write_metadata(tmp_path / "m.meta", md)
  rec = base.reconstruct(srgb, (tmp_path / "m.meta").read_bytes())
  psnr = 10 * np.log10(1 / np.mean((rec - raw) ** 2))
  wrong = 10 * np.log10(1 / np.mean((pipeline.invert_render(srgb, src.params) - raw) ** 2))
  assert psnr > 40 and psnr > wrong + 5, (psnr, wrong)


def test_refusals():
  base = FittedMapBaseline()
  srgb = np.zeros((8, 8, 3), np.uint8)
  with pytest.raises(InputError, match="needs its metadata"):
    base.reconstruct(srgb, b"")
  with pytest.raises(BitstreamError):
    base.reconstruct(srgb, b"FM\x01\x11")
  with pytest.raises(ShapeMismatchError):
    base.encode(np.zeros((8, 9, 3), np.float32), srgb)
