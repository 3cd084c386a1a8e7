"""Tiles with a halo reproduce the untiled result exactly (no seams)."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.codec import geometry, tiling
from r2lcm_jax.errors import InputError


def _box_upsample(latent: np.ndarray, image: np.ndarray) -> np.ndarray:
  """A toy 'synthesis' with a known receptive field: ×4 nearest-upsample of a
  reflect-padded 5×5 box filter of the latent, plus the image."""
  pad = np.pad(latent, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
  h, w = latent.shape[1:3]
  acc = sum(pad[:, i : i + h, j : j + w] for i in range(5) for j in range(5)) / 25.0
  up = np.repeat(np.repeat(acc, 4, axis=1), 4, axis=2)
  return up[..., :1] + image[..., :1]


@pytest.mark.parametrize("shape,tile,halo", [((37, 53), 8, 2), ((16, 16), 4, 3), ((9, 40), 16, 2)])
def test_tiled_output_equals_untiled_output(shape, tile, halo):
  rng = np.random.default_rng(0)
  h, w = shape
  latent = rng.normal(size=(1, h, w, 2)).astype(np.float32)
  image = rng.normal(size=(1, 4 * h, 4 * w, 3)).astype(np.float32)
  whole = _box_upsample(latent, image)
  tiled = tiling.apply_tiled(
    _box_upsample, [(latent, 1), (image, 4)], (h, w), 4, 1, tile=tile, halo=halo
  )
  np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-6)


def test_windows_have_one_shape_and_cores_partition_the_grid():
  windows = tiling.plan_windows(50, 70, tile=16, halo=4)
  shapes = {(w.win[1] - w.win[0], w.win[3] - w.win[2]) for w in windows}
  assert shapes == {(24, 24)}
  covered = np.zeros((50, 70), int)
  for w in windows:
    y0, y1, x0, x1 = w.core
    covered[y0:y1, x0:x1] += 1
  assert (covered == 1).all()


def test_too_small_halo_shows_a_seam():
  rng = np.random.default_rng(1)
  latent = rng.normal(size=(1, 32, 32, 1)).astype(np.float32)
  image = np.zeros((1, 128, 128, 3), np.float32)
  whole = _box_upsample(latent, image)
  tiled = tiling.apply_tiled(
    _box_upsample, [(latent, 1), (image, 4)], (32, 32), 4, 1, tile=8, halo=1
  )
  assert np.abs(tiled - whole).max() > 1e-3


def test_padding_round_trips_and_rejects_tiny_images():
  img = np.arange(50 * 70 * 3, dtype=np.float32).reshape(50, 70, 3)
  p = geometry.plan_padding(50, 70)
  padded = geometry.pad(img, p)
  assert padded.shape == (64, 80, 3)
  assert (p.top, p.left) == (7, 5)
  np.testing.assert_array_equal(geometry.crop(padded, p), img)
  assert geometry.plan_padding(64, 96).crop == (0, 0, 64, 96)
  with pytest.raises(InputError, match="too small"):
    geometry.plan_padding(20, 100)
