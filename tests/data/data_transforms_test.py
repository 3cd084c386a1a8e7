"""Geometry transforms keep raw and sRGB aligned and record crops."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.data import transforms


def _pair(h, w):
  raw = np.arange(h * w * 3, dtype=np.float32).reshape(h, w, 3)
  return raw, raw * 2


def test_portrait_pairs_are_rotated_ccw_to_landscape():
  raw, srgb = _pair(6, 4)
  r, s = transforms.to_landscape(raw, srgb)
  assert r.shape == (4, 6, 3)
  np.testing.assert_array_equal(r, np.rot90(raw, 1))
  np.testing.assert_array_equal(s, 2 * r)
  r2, _ = transforms.to_landscape(r, s)
  assert r2 is r


def test_centre_crop_follows_the_official_offset():
  x, _ = _pair(37, 50)
  c, (top, left, h, w) = transforms.centre_crop_to_multiple(x, 16)
  assert (top, left, h, w) == (2, 1, 32, 48)
  np.testing.assert_array_equal(c, x[2:34, 1:49])


def test_padding_keeps_the_original_area_at_the_recorded_crop():
  x, _ = _pair(37, 50)
  p, (top, left, h, w) = transforms.pad_to_multiple(x, 16)
  assert p.shape[:2] == (48, 64) and (h, w) == (37, 50)
  np.testing.assert_array_equal(p[top:top + h, left:left + w], x)
  same, crop = transforms.pad_to_multiple(x[:32, :48], 16)
  assert same.shape == (32, 48, 3) and crop == (0, 0, 32, 48)


def test_random_patch_and_augmentation_keep_pairs_aligned():
  raw, srgb = _pair(40, 60)
  rng = np.random.default_rng(0)
  seen = set()
  for _ in range(40):
    r, s = transforms.random_patch(raw, srgb, 16, rng)
    r, s = transforms.random_flip_rotate(r, s, rng)
    assert r.shape == (16, 16, 3)
    np.testing.assert_array_equal(s, 2 * r)
    seen.add(r[0, 0, 0])
  assert len(seen) > 20
  with pytest.raises(ValueError):
    transforms.random_patch(raw, srgb, 64, rng)


def test_non_square_augmentation_keeps_shape():
  raw, srgb = _pair(8, 12)
  rng = np.random.default_rng(1)
  for _ in range(10):
    r, s = transforms.random_flip_rotate(raw, srgb, rng)
    assert r.shape == raw.shape
    np.testing.assert_array_equal(s, 2 * r)
