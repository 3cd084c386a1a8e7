"""PNG / TIFF / JPEG reading and atomic writing."""

from __future__ import annotations

import os

import numpy as np
import pytest

from r2lcm_jax.errors import ImageFormatError, InputError
from r2lcm_jax.io import images


def _rgb16(h=20, w=30, seed=0):
  return np.random.default_rng(seed).integers(0, 65536, (h, w, 3), dtype=np.uint16)


def test_png16_rgb_round_trips_exactly(tmp_path):
  a = _rgb16()
  images.write_png(tmp_path / "a.png", a)
  b = images.read_image(tmp_path / "a.png")
  assert b.dtype == np.uint16 and b.shape == (20, 30, 3)
  np.testing.assert_array_equal(a, b)


def test_png8_and_gray16_round_trip(tmp_path):
  a8 = _rgb16().astype(np.uint8)
  images.write_png(tmp_path / "a.png", a8)
  np.testing.assert_array_equal(images.read_image(tmp_path / "a.png"), a8)
  g = _rgb16()[..., 0]
  images.write_png(tmp_path / "g.png", g)
  np.testing.assert_array_equal(images.read_image(tmp_path / "g.png"), g)


def test_tiff16_from_float_is_rounded_to_65535_scale(tmp_path):
  x = np.random.default_rng(1).random((8, 9, 3)).astype(np.float32)
  images.write_tiff16(tmp_path / "x.tif", x)
  y = images.read_image(tmp_path / "x.tif")
  assert y.dtype == np.uint16
  np.testing.assert_array_equal(y, np.round(x * 65535).astype(np.uint16))


def test_jpeg_is_deterministic_and_close_to_input(tmp_path):
  yy, xx = np.mgrid[0:64, 0:96]
  rgb = np.stack([yy * 4, xx * 2, (xx + yy) * 1.5], -1).clip(0, 255).astype(np.uint8)
  b1 = images.write_jpeg(tmp_path / "a.jpg", rgb, 90)
  assert b1 == images.encode_jpeg(rgb, 90)
  back = images.read_image(tmp_path / "a.jpg")
  assert back.shape == rgb.shape and np.abs(back.astype(int) - rgb).mean() < 3
  assert len(images.encode_jpeg(rgb, 10)) < len(b1)


def test_real_inteltau_png_keeps_16_bits(real_data):
  path = sorted((real_data / "inteltau").glob("*.png"))[0]
  a = images.read_image(path)
  assert a.dtype == np.uint16 and a.shape == (256, 384, 3)
  assert a.max() > 255


def test_non_image_truncated_and_missing_files_raise_typed_errors(tmp_path):
  (tmp_path / "x.png").write_text("hello")
  with pytest.raises(ImageFormatError, match="x.png"):
    images.read_image(tmp_path / "x.png")
  images.write_png(tmp_path / "ok.png", _rgb16())
  data = (tmp_path / "ok.png").read_bytes()
  (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
  with pytest.raises(ImageFormatError, match="cut.png.*truncated"):
    images.read_image(tmp_path / "cut.png")
  with pytest.raises(InputError, match="missing.png"):
    images.read_image(tmp_path / "missing.png")


def test_failed_write_leaves_no_file_behind(tmp_path):
  with pytest.raises(ValueError):
    images.write_jpeg(tmp_path / "bad.jpg", np.zeros((4, 4, 3), np.uint8), 0)
  with pytest.raises(ValueError):
    images.write_png(tmp_path / "bad.png", np.zeros((4, 4), np.float32))
  assert os.listdir(tmp_path) == []
