"""Tests of r2lcm_jax.metrics against scikit-image and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from r2lcm_jax import metrics


def _pair(seed: int, shape=(2, 23, 31, 3)):
  rng = np.random.default_rng(seed)
  x = rng.random(shape).astype(np.float32)
  y = np.clip(x + 0.1 * rng.standard_normal(shape), 0, 1).astype(np.float32)
  return x, y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ssim_matches_skimage_structural_similarity(seed):
  x, y = _pair(seed)
  got = np.asarray(metrics.ssim(x, y))
  want = [structural_similarity(a, b, data_range=1.0, channel_axis=-1) for a, b in zip(x, y, strict=True)]
  np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


def test_ssim_of_an_image_with_itself_is_one_and_drops_with_noise():
  x, y = _pair(3)
  np.testing.assert_allclose(metrics.ssim(x, x), 1.0, atol=1e-5)
  assert np.all(np.asarray(metrics.ssim(x, y)) < 0.99)


def test_ssim_rejects_images_smaller_than_the_window():
  x = np.zeros((1, 5, 9, 3), np.float32)
  with pytest.raises(ValueError, match="win_size"):
    metrics.ssim(x, x)


def test_psnr_matches_skimage_peak_signal_noise_ratio():
  x, y = _pair(4)
  got = np.asarray(metrics.psnr(x, y))
  want = [peak_signal_noise_ratio(a, b, data_range=1.0) for a, b in zip(x, y, strict=True)]
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_bpp_helpers_divide_bits_by_pixels():
  np.testing.assert_allclose(metrics.bits_to_bpp(np.array([512.0, 1024.0]), 16, 32), [1.0, 2.0])
  assert metrics.bytes_to_bpp(64, 16, 32) == 1.0
  with pytest.raises(ValueError):
    metrics.bytes_to_bpp(1, 0, 4)
