"""Tests of the SAM (per-block RBF) and global-mapping baselines, on real INTEL-TAU data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from r2lcm_jax.baselines import metadata_file as mf
from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.baselines.global_mapping import GlobalMappingBaseline, colour_centres
from r2lcm_jax.baselines.naive_inverse import NaiveInverseBaseline
from r2lcm_jax.baselines.sam import SamBaseline, reconstruct_from_samples
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, ShapeMismatchError
from r2lcm_jax.isp import pipeline


def _psnr(a, b):
  return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


def _crop(real_data, index, exposure):
  """A 128x192 crop of a real INTEL-TAU image rendered by the project's ISP."""
  src = load_source(sorted((real_data / "inteltau").glob("*.png"))[index])
  params = dataclasses.replace(src.params, exposure=exposure)
  raw = np.ascontiguousarray(src.raw_rgb[64:192, 96:288])
  return raw, pipeline.render_srgb(raw, params), params


def _run(base, raw, srgb):
  metadata = base.encode(raw, srgb)
  return base.reconstruct(srgb, metadata), metadata


@pytest.mark.parametrize("index, exposure", [(5, 1.0), (0, 4.0)])
def test_sam_and_its_global_prior_variant_beat_naive_inverse_and_global_mapping_where_the_isp_clipped(real_data, index, exposure):
  # Image 5 clips highlights at the default exposure; image 0 once exposed 4x.
  raw, srgb, params = _crop(real_data, index, exposure)
  sam, glob = SamBaseline(), GlobalMappingBaseline()
  assert isinstance(sam, Baseline) and isinstance(glob, Baseline)
  rec_sam, md = _run(sam, raw, srgb)
  rec_glob, md_glob = _run(glob, raw, srgb)
  rec_naive = NaiveInverseBaseline(params).reconstruct(srgb, b"")
  p_sam, p_glob, p_naive = _psnr(rec_sam, raw), _psnr(rec_glob, raw), _psnr(rec_naive, raw)
  assert p_sam > p_naive + 4.0, (p_sam, p_naive)
  assert p_sam > p_glob + 1.0, (p_sam, p_glob)
  rec_hybrid, _ = _run(SamBaseline(global_prior=True), raw, srgb)
  p_hybrid = _psnr(rec_hybrid, raw)
  assert p_hybrid > p_naive + 4.0 and p_hybrid > p_glob, (p_hybrid, p_naive, p_glob)
  assert md == md_glob  # same samples, same file
  assert bits_per_pixel(md, *raw.shape[:2]) == pytest.approx(0.75 + 160 / (raw.shape[0] * raw.shape[1]))
  assert rec_sam.dtype == np.float32 and rec_sam.shape == raw.shape


def test_sam_reconstruction_of_an_unclipped_real_render_is_close(real_data):
  raw, srgb, _ = _crop(real_data, 10, 1.0)
  rec, _ = _run(SamBaseline(), raw, srgb)
  assert _psnr(rec, raw) > 48.0


def test_sam_rate_follows_the_grid_step(real_data):
  raw, srgb, _ = _crop(real_data, 10, 1.0)
  h, w = raw.shape[:2]
  rates = {s: bits_per_pixel(SamBaseline(step=s).encode(raw, srgb), h, w) for s in (4, 8, 16)}
  for s, bpp in rates.items():
    assert bpp == pytest.approx(48 / s**2 + 160 / (h * w))


def test_sam_reproduces_an_affine_map_of_colour_and_position_exactly():
  rng = np.random.default_rng(0)
  h, w = 45, 70  # partial border cells and blocks
  srgb = rng.random((h, w, 3)).astype(np.float32)
  yy, xx = np.mgrid[0:h, 0:w] / 256.0
  feats = np.concatenate([srgb, xx[..., None], yy[..., None]], -1)
  raw = np.clip(0.1 + feats @ rng.uniform(-0.15, 0.15, (5, 3)) + 0.3, 0, 1).astype(np.float32)
  assert 0 < raw.min() and raw.max() < 1
  grid = mf.sample_grid(raw, 8)
  rec = reconstruct_from_samples(srgb, grid, block_cells=2)
  assert np.abs(rec - raw).max() < 1e-4


def test_sam_handles_images_smaller_than_a_block():
  rng = np.random.default_rng(1)
  raw = rng.random((6, 9, 3)).astype(np.float32)
  srgb = rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)
  rec, md = _run(SamBaseline(), raw, srgb)
  assert rec.shape == raw.shape and np.all(np.isfinite(rec))
  grid = mf.decode_samples(md)
  ys, xs = grid.positions()
  np.testing.assert_allclose(rec[ys[:, None], xs[None, :]], grid.values())


def test_sam_and_global_mapping_reject_mismatched_srgb_and_corrupt_metadata():
  raw = np.full((32, 32, 3), 0.5, np.float32)
  srgb = np.full((32, 32, 3), 128, np.uint8)
  for base in (SamBaseline(), GlobalMappingBaseline()):
    md = base.encode(raw, srgb)
    with pytest.raises(ShapeMismatchError):
      base.reconstruct(srgb[:16], md)
    with pytest.raises(BitstreamError):
      base.reconstruct(srgb, md[:-1])
    with pytest.raises(ShapeMismatchError):
      base.encode(raw[:16], srgb)


def test_global_mapping_recovers_a_smooth_global_curve():
  rng = np.random.default_rng(2)
  srgb = rng.random((64, 64, 3)).astype(np.float32)
  raw = (srgb**2.2 @ np.array([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.0, 0.2, 0.8]])).astype(np.float32)
  rec, _ = _run(GlobalMappingBaseline(), raw, srgb)
  assert _psnr(rec, raw) > 50.0
  assert len(colour_centres(srgb.reshape(-1, 3), bins=4)) <= 64
