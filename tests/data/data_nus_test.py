"""NUS layout: pairing, official loading quirks, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.data import nus
from r2lcm_jax.errors import ImageFormatError, InputError, ShapeMismatchError
from r2lcm_jax.io import images


def _make_camera(root, camera="SonyA57", split="test", n=2, h=20, w=32, srgb_ext="png",
                 portrait_srgb=False, seed=0):
  rng = np.random.default_rng(seed)
  for d in ("raw", "sRGB"):
    (root / camera / split / d).mkdir(parents=True, exist_ok=True)
  raws, srgbs = [], []
  for i in range(n):
    raw = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
    images.write_tiff16(root / camera / split / "raw" / f"img{i:03d}.tif", raw)
    if srgb_ext == "png":
      s = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
      stored = np.rot90(s, -1) if portrait_srgb else s
      images.write_png(root / camera / split / "sRGB" / f"img{i:03d}.png", np.ascontiguousarray(stored))
    else:
      s = rng.integers(0, 65536, (h, w, 3), dtype=np.uint16)
      images.write_tiff16(root / camera / split / "sRGB" / f"img{i:03d}.tif", s)
    raws.append(raw)
    srgbs.append(s)
  return raws, srgbs


def test_pairs_are_matched_by_sorted_name_per_camera(tmp_path):
  _make_camera(tmp_path, "SonyA57", n=3)
  _make_camera(tmp_path, "OlympusEPL6", n=2)
  pairs = nus.find_pairs(tmp_path, "test")
  assert [p.camera for p in pairs] == ["OlympusEPL6"] * 2 + ["SonyA57"] * 3
  assert [p.name for p in pairs[2:]] == ["img000", "img001", "img002"]
  assert all(p.raw_path.endswith(p.name + ".tif") and p.name in p.srgb_path for p in pairs)
  assert len(nus.find_pairs(tmp_path, "test", camera="SonyA57")) == 3


def test_load_pair_scales_raw_by_65535_and_png_srgb_by_255(tmp_path):
  raws, srgbs = _make_camera(tmp_path)
  raw, srgb = nus.load_pair(nus.find_pairs(tmp_path, "test")[0])
  np.testing.assert_array_equal(raw, raws[0].astype(np.float32) / 65535)
  np.testing.assert_array_equal(srgb, srgbs[0].astype(np.float32) / 255)


def test_tif_srgb_uses_the_official_round_v_over_255_quirk(tmp_path):
  _, srgbs = _make_camera(tmp_path, srgb_ext="tif")
  _, srgb = nus.load_pair(nus.find_pairs(tmp_path, "test")[0])
  expected = np.round(srgbs[0].astype(np.float32) / 255) / 255
  np.testing.assert_array_equal(srgb, expected)
  assert srgb.max() > 1.0  # up to 257/255


def test_portrait_srgb_is_rotated_ccw_to_match_the_raw(tmp_path):
  _, srgbs = _make_camera(tmp_path, portrait_srgb=True)
  raw, srgb = nus.load_pair(nus.find_pairs(tmp_path, "test")[0])
  assert srgb.shape == raw.shape
  np.testing.assert_array_equal(srgb, srgbs[0].astype(np.float32) / 255)


def test_pair_of_different_sizes_raises_shape_mismatch_with_both_names(tmp_path):
  _make_camera(tmp_path, n=1)
  images.write_png(tmp_path / "SonyA57/test/sRGB/img000.png", np.zeros((20, 30, 3), np.uint8))
  with pytest.raises(ShapeMismatchError, match="img000.tif.*img000.png"):
    nus.load_pair(nus.find_pairs(tmp_path, "test")[0])


def test_empty_or_unbalanced_folders_raise_input_error(tmp_path):
  (tmp_path / "Cam/test/raw").mkdir(parents=True)
  (tmp_path / "Cam/test/sRGB").mkdir(parents=True)
  with pytest.raises(InputError, match="empty"):
    nus.find_pairs(tmp_path, "test")
  with pytest.raises(InputError, match="no <Camera>/val/raw"):
    nus.find_pairs(tmp_path, "val")
  _make_camera(tmp_path, "Cam", n=2)
  (tmp_path / "Cam/test/sRGB/img001.png").unlink()
  with pytest.raises(InputError, match="2 raw images but 1 sRGB"):
    nus.find_pairs(tmp_path, "test")
  with pytest.raises(InputError, match="not a folder"):
    nus.find_pairs(tmp_path / "nope", "test")


def test_8bit_raw_is_rejected(tmp_path):
  _make_camera(tmp_path, n=1)
  images.write_png(tmp_path / "SonyA57/test/raw/img000.tif", np.zeros((20, 32, 3), np.uint8))
  with pytest.raises(ImageFormatError, match="16-bit"):
    nus.load_pair(nus.find_pairs(tmp_path, "test")[0])


def test_jpeg_srgb_as_written_by_render_jpeg_quality_is_paired_and_decoded(tmp_path):
  raws, _ = _make_camera(tmp_path, n=1, h=24, w=32)
  png = tmp_path / "SonyA57" / "test" / "sRGB" / "img000.png"
  s = images.read_image(png)
  png.unlink()
  data = images.encode_jpeg(s, 90)
  (png.with_suffix(".jpg")).write_bytes(data)
  (pair,) = nus.find_pairs(tmp_path, "test")
  assert pair.srgb_path.endswith("img000.jpg")
  raw, srgb = nus.load_pair(pair)
  np.testing.assert_array_equal(srgb, images.decode_jpeg(data).astype(np.float32) / 255)
  np.testing.assert_array_equal(raw, raws[0].astype(np.float32) / 65535)
