"""Reading camera RAWs (rawpy) and the Halide Bayer PNG."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.errors import ImageFormatError, InputError
from r2lcm_jax.io.halide import read_bayer_png, split_wb_matrix
from r2lcm_jax.io.raw import (
  RawImage,
  camera_slug,
  cfa_from_pattern,
  cfa_masks,
  read_raw,
)

GOPRO = ["HERO7_GOPR9231.DNG", "Fusion_GPFR7066.DNG", "Fusion_GPBK7066.DNG"]
GOPRO_SHAPES = {"HERO7_GOPR9231.DNG": (3000, 4000), "Fusion_GPFR7066.DNG": (3000, 3104),
                "Fusion_GPBK7066.DNG": (3000, 3104)}


@pytest.mark.parametrize("name", GOPRO)
def test_gopro_dngs_report_rggb_and_white_level_16383(real_data, name):
  raw = read_raw(real_data / "gopro" / name)
  assert raw.cfa == "RGGB"
  assert raw.white_level == 16383
  np.testing.assert_array_equal(raw.black_level, np.zeros(4))
  assert raw.mosaic.shape == GOPRO_SHAPES[name] and raw.mosaic.dtype == np.uint16
  assert raw.mosaic.max() <= 16383
  assert raw.as_shot_wb[1] == 1.0 and raw.as_shot_wb[0] > 1.0 and raw.as_shot_wb[2] > 1.0
  assert raw.xyz_to_cam is not None and raw.xyz_to_cam.shape == (3, 3)
  assert "GoPro" in raw.camera or "HERO" in raw.camera or "Fusion" in raw.camera


def test_canon_dng_reports_black_2056_white_15000_and_as_shot_wb(real_data):
  raw = read_raw(real_data / "canon" / "colorchart.dng")
  np.testing.assert_array_equal(raw.black_level, np.full(4, 2056.0))
  assert raw.white_level == 15000
  assert raw.cfa == "RGGB"
  assert raw.mosaic.shape == (1156, 1734)
  np.testing.assert_allclose(raw.as_shot_wb, [2.477, 1.0, 1.694], atol=2e-3)
  assert raw.camera == "Canon EOS Kiss X4"
  # The matrix reproduces LibRaw's camera->sRGB matrix (rows of which sum to one).
  assert np.isfinite(raw.xyz_to_cam).all()


def test_halide_bayer_png_reads_as_grbg_raw_with_matrix_white_balance(real_data):
  raw = read_bayer_png(real_data / "halide" / "bayer_small.png")
  assert raw.cfa == "GRBG"
  assert raw.mosaic.shape == (344, 256)
  assert raw.black_level.tolist() == [25.0] * 4 and raw.white_level == 1023
  assert raw.mosaic.max() > 900  # 10-bit data in a 16-bit container
  assert raw.xyz_to_cam is not None
  assert raw.as_shot_wb[1] == 1.0 and raw.as_shot_wb[2] > 1.0


def test_halide_matrices_split_into_gains_and_white_preserving_matrix():
  rng = np.random.default_rng(0)
  c = np.eye(3) + 0.2 * rng.standard_normal((3, 3))
  c = c / c.sum(axis=1, keepdims=True)
  wb = np.array([1.8, 1.0, 1.4])
  wb_hat, c_hat = split_wb_matrix(2.0 * c @ np.diag(wb))
  np.testing.assert_allclose(wb_hat, wb, rtol=1e-6)
  np.testing.assert_allclose(c_hat.sum(axis=1), np.ones(3), rtol=1e-6)


@pytest.mark.parametrize("pattern,desc,cfa", [
  ([[0, 1], [3, 2]], "RGBG", "RGGB"), ([[1, 0], [2, 3]], "RGBG", "GRBG"),
  ([[2, 3], [1, 0]], "RGBG", "BGGR"), ([[3, 2], [0, 1]], "RGBG", "GBRG"),
])
def test_cfa_string_follows_the_2x2_pattern_phase(pattern, desc, cfa):
  assert cfa_from_pattern(np.array(pattern), desc) == cfa
  masks = cfa_masks(cfa, 4, 6)
  assert masks.sum(axis=0).min() == 1 and masks[1].sum() == 12


def test_non_bayer_pattern_is_rejected():
  with pytest.raises(ValueError):
    cfa_from_pattern(np.array([[0, 0], [0, 0]]), "RGBG")


def test_non_raw_file_raises_image_format_error_with_name(tmp_path):
  bad = tmp_path / "notes.dng"
  bad.write_text("this is not a raw file")
  with pytest.raises(ImageFormatError, match="notes.dng"):
    read_raw(bad)


def test_truncated_dng_raises_image_format_error(real_data, tmp_path):
  data = (real_data / "canon" / "colorchart.dng").read_bytes()
  cut = tmp_path / "cut.dng"
  cut.write_bytes(data[: len(data) // 2])
  with pytest.raises(ImageFormatError, match="cut.dng.*(truncated|corrupted)"):
    read_raw(cut)


def test_missing_and_empty_files_raise_input_errors(tmp_path):
  with pytest.raises(InputError, match="nope.dng"):
    read_raw(tmp_path / "nope.dng")
  (tmp_path / "empty.dng").write_bytes(b"")
  with pytest.raises(ImageFormatError, match="empty"):
    read_raw(tmp_path / "empty.dng")


def test_raw_image_validates_its_fields():
  ok = dict(mosaic=np.zeros((4, 4), np.uint16), black_level=np.zeros(4, np.float32),
            white_level=1023.0, cfa="RGGB", as_shot_wb=np.ones(3, np.float32),
            xyz_to_cam=None, camera="x")
  RawImage(**ok)
  with pytest.raises(ValueError):
    RawImage(**{**ok, "cfa": "RGBX"})
  with pytest.raises(ValueError):
    RawImage(**{**ok, "mosaic": np.zeros((3, 4), np.uint16)})


def test_camera_slug_makes_folder_names():
  assert camera_slug("Canon EOS Kiss X4") == "CanonEOSKissX4"
  assert camera_slug("???") == "unknown"
