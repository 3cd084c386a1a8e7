"""Writing DNGs: round trips through rawpy (LibRaw), darktable and RawTherapee, refusals."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rawpy
import tifffile

from r2lcm_jax.data.inteltau import read_inteltau
from r2lcm_jax.errors import ImageFormatError, InputError, ShapeMismatchError
from r2lcm_jax.io.dng import (
  DngMetadata,
  dng_from_raw,
  write_bayer_dng,
  write_linear_dng,
)
from r2lcm_jax.io.images import read_image
from r2lcm_jax.io.raw import SRGB_FROM_XYZ, RawImage, read_raw

CANON = ("canon", "colorchart.dng")
GOPRO = ("gopro", "HERO7_GOPR9231.DNG")
CANON_CROP = (300, 500, 256, 384)  # a ColorChecker corner: card, patches and background
INTELTAU = "S_IMX135_BLCCSC_field_001_sensorname_sony_imx135.png"


def _meta(**kw) -> DngMetadata:
  args = dict(black_level=(64.0,), white_level=1023.0, xyz_to_cam=None,
              as_shot_neutral=np.array([0.5, 1.0, 0.8]))
  args.update(kw)
  return DngMetadata(**args)


def _mosaic(h=64, w=96, seed=0) -> np.ndarray:
  return np.random.default_rng(seed).integers(64, 1024, (h, w), dtype=np.uint16)


def _inteltau(real_data):
  """(uint16 (H, W, 3) pixels, InteltauImage) of one INTEL-TAU field."""
  png = real_data / "inteltau" / INTELTAU
  return read_image(png), read_inteltau(png)


# --- round trips through rawpy ------------------------------------------------------


@pytest.mark.parametrize("source,crop", [(CANON, (100, 200, 256, 384)),
                                         (GOPRO, (1000, 1600, 512, 768))])
def test_crop_of_real_dng_round_trips_through_rawpy(real_data, tmp_path, source, crop):
  src = read_raw(real_data.joinpath(*source))
  dng_from_raw(tmp_path / "crop.dng", src, crop=crop)
  back = read_raw(tmp_path / "crop.dng")
  top, left, h, w = crop
  np.testing.assert_array_equal(back.mosaic, src.mosaic[top:top + h, left:left + w])
  assert back.cfa == src.cfa
  np.testing.assert_array_equal(back.black_level, src.black_level)
  assert back.white_level == src.white_level
  np.testing.assert_allclose(back.as_shot_wb, src.as_shot_wb, atol=1e-4)
  np.testing.assert_allclose(back.xyz_to_cam, src.xyz_to_cam, atol=1e-3)
  assert back.camera == src.camera


def test_odd_crop_offset_rephases_cfa_and_black_levels(tmp_path):
  mosaic = _mosaic()
  raw = RawImage(mosaic=mosaic, black_level=np.array([60, 61, 62, 63], np.float32),
                 white_level=1023.0, cfa="GRBG", as_shot_wb=np.array([2.0, 1.0, 1.5], np.float32),
                 xyz_to_cam=None, camera="Test Cam 1")
  dng_from_raw(tmp_path / "odd.dng", raw, crop=(1, 1, 62, 94))
  back = read_raw(tmp_path / "odd.dng")
  np.testing.assert_array_equal(back.mosaic, mosaic[1:63, 1:95])
  assert back.cfa == "GBRG"  # the GRBG tile seen from its bottom-right pixel
  np.testing.assert_array_equal(back.black_level, [63, 62, 61, 60])
  np.testing.assert_allclose(back.as_shot_wb, [2.0, 1.0, 1.5], atol=1e-4)
  # No matrix: camera RGB is declared linear sRGB.
  np.testing.assert_allclose(back.xyz_to_cam, SRGB_FROM_XYZ, atol=1e-3)
  assert back.camera == "Test Cam 1"


@pytest.mark.parametrize("cfa", ["RGGB", "GRBG", "BGGR", "GBRG"])
def test_bayer_dng_of_each_cfa_reads_back_in_rawpy(tmp_path, cfa):
  mosaic = _mosaic(seed=1)
  write_bayer_dng(tmp_path / "b.dng", mosaic, cfa, _meta())
  back = read_raw(tmp_path / "b.dng")
  assert back.cfa == cfa
  np.testing.assert_array_equal(back.mosaic, mosaic)
  np.testing.assert_array_equal(back.black_level, np.full(4, 64.0))
  assert back.white_level == 1023
  np.testing.assert_allclose(back.as_shot_wb, [2.0, 1.0, 1.25], atol=1e-4)


def test_bayer_dng_carries_the_required_tags(tmp_path):
  write_bayer_dng(tmp_path / "b.dng", _mosaic(), "RGGB",
                  _meta(black_level=(60.5, 61.0, 62.0, 63.25), orientation=8,
                        make="Acme", model="X 1"))
  assert (tmp_path / "b.dng").stat().st_size == 100_000  # padded for RawTherapee
  with tifffile.TiffFile(tmp_path / "b.dng") as tif:
    assert tif.byteorder == "<" and not tif.is_bigtiff and len(tif.pages) == 1
    page = tif.pages[0]
    tags = {t.code: t.value for t in page.tags}
    assert page.shape == (64, 96) and page.dtype == np.uint16
    assert page.compression == 1 and len(page.dataoffsets) == 1  # one raw strip
  assert tags[254] == 0 and tags[262] == 32803 and tags[258] == 16 and tags[277] == 1
  assert tags[50706] == b"\x01\x04\x00\x00" and tags[50707] == b"\x01\x01\x00\x00"
  assert (tags[271], tags[272], tags[50708]) == ("Acme", "X 1", "Acme X 1")
  assert tags[274] == 8
  assert tags[33421] == (2, 2) and tags[33422] == b"\x00\x01\x01\x02"
  assert tags[50710] == b"\x00\x01\x02" and tags[50711] == 1
  assert tags[50713] == (2, 2)
  # Fractional black levels are RATIONAL (LibRaw itself truncates them to integers).
  black = np.array(tags[50714], float).reshape(4, 2)
  np.testing.assert_allclose(black[:, 0] / black[:, 1], [60.5, 61.0, 62.0, 63.25])
  assert tags[50717] == 1023
  assert tags[50719] == (0, 0) and tags[50720] == (96, 64)  # default crop = whole image
  assert tags[50778] == 21 and tags[50730] == (0, 1)
  neutral = np.array(tags[50728], float).reshape(3, 2)
  np.testing.assert_allclose(neutral[:, 0] / neutral[:, 1], [0.5, 1.0, 0.8])
  # ColorMatrix1: D65 white (Y = 1) maps to the as-shot neutral (see dng._color_matrix).
  cm = np.array(tags[50721], float).reshape(9, 2)
  cm = (cm[:, 0] / cm[:, 1]).reshape(3, 3)
  np.testing.assert_allclose(cm @ np.linalg.inv(SRGB_FROM_XYZ).sum(axis=1), [0.5, 1.0, 0.8],
                             atol=1e-5)


def test_linear_dng_of_inteltau_field_reads_back_in_rawpy(real_data, tmp_path):
  pixels, img = _inteltau(real_data)
  neutral = img.illuminant / img.illuminant[1]
  meta = DngMetadata(black_level=(0.0,), white_level=65535.0, xyz_to_cam=None,
                     as_shot_neutral=neutral, make="Sony", model="IMX135")
  write_linear_dng(tmp_path / "lin.dng", img.raw_rgb, meta)  # float in [0, 1]
  with rawpy.imread(str(tmp_path / "lin.dng")) as raw:
    # LibRaw gives a LinearRaw DNG as a "Stack" of 4 channels, the 4th all zero, and
    # has no CFA: raw_pattern is None and raw_colors raises.
    assert raw.raw_type == rawpy.RawType.Stack
    assert raw.raw_pattern is None and raw.num_colors == 3
    image = raw.raw_image
    assert image.shape == pixels.shape[:2] + (4,) and image.dtype == np.uint16
    np.testing.assert_array_equal(image[..., :3], pixels)
    assert not image[..., 3].any()
    with pytest.raises(RuntimeError):
      _ = raw.raw_colors
    assert list(raw.black_level_per_channel) == [0, 0, 0, 0]
    assert raw.white_level == 65535
    wb = np.asarray(raw.camera_whitebalance[:3])
    np.testing.assert_allclose(wb / wb[1], 1.0 / neutral, atol=1e-4)
    np.testing.assert_allclose(raw.color_matrix[:3, :3], np.eye(3), atol=1e-4)  # generic
  with pytest.raises(ImageFormatError, match="not a 2x2 Bayer"):
    read_raw(tmp_path / "lin.dng")


def test_linear_dng_keeps_uint16_and_per_channel_black(tmp_path):
  pixels = np.random.default_rng(2).integers(0, 60000, (40, 50, 3), dtype=np.uint16)
  meta = _meta(black_level=(64.0, 128.0, 256.0), white_level=60000.0, orientation=3)
  write_linear_dng(tmp_path / "lin.dng", pixels, meta)
  with rawpy.imread(str(tmp_path / "lin.dng")) as raw:
    np.testing.assert_array_equal(raw.raw_image[..., :3], pixels)
    assert list(raw.black_level_per_channel)[:3] == [64, 128, 256]
    assert raw.white_level == 60000 and raw.sizes.flip == 3
  with tifffile.TiffFile(tmp_path / "lin.dng") as tif:
    tags = {t.code: t.value for t in tif.pages[0].tags}
  assert tags[262] == 34892 and tags[277] == 3 and 33422 not in tags
  assert tags[50713] == (1, 1) and tags[50714] == (64, 128, 256)
  assert tags[50717] == (60000, 60000, 60000)


def test_linear_dng_scales_float_between_black_and_white(tmp_path):
  x = np.array([[[0.0, 0.5, 1.0], [-0.2, 1.5, 0.25]]] * 32, np.float32)  # (32, 2, 3)
  x = np.tile(x, (1, 16, 1))  # (32, 32, 3): LibRaw needs a few pixels
  write_linear_dng(tmp_path / "f.dng", x, _meta(black_level=(100.0,), white_level=1100.0))
  with rawpy.imread(str(tmp_path / "f.dng")) as raw:
    got = raw.raw_image[..., :3].copy()  # a view into LibRaw memory until copied
  np.testing.assert_array_equal(got[0, :2], [[100, 600, 1100], [100, 1100, 350]])


# --- third-party raw converters -----------------------------------------------------


def _chroma(rgb: np.ndarray) -> np.ndarray:
  """Mean (R/G, B/G) of an image."""
  mean = rgb.reshape(-1, 3).astype(np.float64).mean(axis=0)
  return mean[[0, 2]] / mean[1]


def _assert_about_size(image: np.ndarray, h: int, w: int) -> None:
  """RawTherapee drops a 4-pixel demosaicing border around Bayer frames; allow 8."""
  assert image.ndim == 3 and image.shape[2] == 3
  assert h - 8 <= image.shape[0] <= h and w - 8 <= image.shape[1] <= w, image.shape
  assert image.std() > 0


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_bayer_dng_renders_in_raw_converter_like_the_original(render_with, real_data, tmp_path, tool):
  src_path = real_data.joinpath(*CANON)
  src = read_raw(src_path)
  top, left, h, w = CANON_CROP
  dng_from_raw(tmp_path / "crop.dng", src, crop=CANON_CROP)
  got = render_with(tool, tmp_path / "crop.dng", tmp_path)
  _assert_about_size(got, h, w)
  # The same region of the original frame, rendered by the same tool, has the same
  # colour: the written ColorMatrix1 / AsShotNeutral mean what the camera's did.
  full = render_with(tool, src_path, tmp_path)
  border = (src.mosaic.shape[0] - full.shape[0]) // 2
  crop_border = (h - got.shape[0]) // 2
  r0, c0 = top + crop_border - border, left + crop_border - border
  ref = full[r0:r0 + got.shape[0], c0:c0 + got.shape[1]]
  np.testing.assert_allclose(_chroma(got), _chroma(ref), rtol=0.1)


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_bayer_dng_orientation_is_applied_by_raw_converter(render_with, real_data, tmp_path, tool):
  src = read_raw(real_data.joinpath(*GOPRO))
  # 128x192 pixels = 49 KB of data: RawTherapee opens it only because the writer pads
  # files to 100,000 bytes.
  mosaic = src.mosaic[1000:1128, 1600:1792]
  meta = DngMetadata(black_level=tuple(src.black_level), white_level=src.white_level,
                     xyz_to_cam=src.xyz_to_cam, as_shot_neutral=1.0 / src.as_shot_wb,
                     make="GoPro", model="HERO7 Black", orientation=6)
  write_bayer_dng(tmp_path / "rot.dng", mosaic, src.cfa, meta)
  got = render_with(tool, tmp_path / "rot.dng", tmp_path)
  _assert_about_size(got, 192, 128)  # rotated 90 degrees clockwise


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_linear_dng_renders_in_raw_converter(render_with, real_data, tmp_path, tool):
  pixels, img = _inteltau(real_data)
  meta = DngMetadata(black_level=(0.0,), white_level=65535.0, xyz_to_cam=None,
                     as_shot_neutral=img.illuminant / img.illuminant[1])
  write_linear_dng(tmp_path / "lin.dng", pixels, meta)
  got = render_with(tool, tmp_path / "lin.dng", tmp_path)
  assert got.shape == pixels.shape  # no demosaicing, no border


# --- refusals and atomic writes -----------------------------------------------------


@pytest.mark.parametrize("kw,match", [
  (dict(white_level=64.0), "not above black"),
  (dict(white_level=70000.0), "1..65535"),
  (dict(white_level=1000.5), "integer"),
  (dict(black_level=(1.0, 2.0)), "1, 3 or 4"),
  (dict(black_level=(float("nan"),)), "1, 3 or 4"),
  (dict(orientation=0), "1..8"),
  (dict(orientation=9), "1..8"),
  (dict(orientation=True), "1..8"),
  (dict(xyz_to_cam=np.eye(4)), r"\(3, 3\)"),
  (dict(xyz_to_cam=np.zeros((3, 3))), "invertible"),
  (dict(xyz_to_cam=-np.eye(3)), "positive camera RGB"),
  (dict(as_shot_neutral=np.array([0.5, 0.0, 1.0])), "positive"),
  (dict(as_shot_neutral=np.ones(4)), "positive"),
  (dict(make="Caméra"), "ASCII"),
])
def test_bad_metadata_is_refused(kw, match):
  with pytest.raises(InputError, match=match) as info:
    _meta(**kw)
  assert "\n" not in str(info.value)


@pytest.mark.parametrize("mosaic,cfa,meta_kw,error,match", [
  (_mosaic().astype(np.float32), "RGGB", {}, InputError, "uint16"),
  (_mosaic().astype(np.int32), "RGGB", {}, InputError, "uint16"),
  (_mosaic()[None], "RGGB", {}, ShapeMismatchError, r"\(H, W\)"),
  (_mosaic()[:63], "RGGB", {}, ShapeMismatchError, "even"),
  (_mosaic()[:, :95], "RGGB", {}, ShapeMismatchError, "even"),
  (_mosaic(), "RGBG", {}, InputError, "cfa"),
  (_mosaic(), "xtrans", {}, InputError, "cfa"),
  (_mosaic(), "RGGB", dict(black_level=(1.0, 2.0, 3.0)), InputError, "1 or 4"),
])
def test_bad_bayer_input_is_refused_and_nothing_written(tmp_path, mosaic, cfa, meta_kw,
                                                        error, match):
  with pytest.raises(error, match=match) as info:
    write_bayer_dng(tmp_path / "x.dng", mosaic, cfa, _meta(**meta_kw))
  assert "\n" not in str(info.value)
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rgb,meta_kw,error,match", [
  (np.zeros((8, 8, 4), np.uint16), {}, ShapeMismatchError, r"\(H, W, 3\)"),
  (np.zeros((8, 8), np.uint16), {}, ShapeMismatchError, r"\(H, W, 3\)"),
  (np.zeros((8, 8, 3), np.int32), {}, InputError, "uint16 or float"),
  (np.full((8, 8, 3), np.nan, np.float32), {}, InputError, "NaN"),
  (np.zeros((8, 8, 3), np.uint16), dict(black_level=(1.0,) * 4), InputError, "1 or 3"),
])
def test_bad_linear_input_is_refused_and_nothing_written(tmp_path, rgb, meta_kw, error,
                                                         match):
  with pytest.raises(error, match=match):
    write_linear_dng(tmp_path / "x.dng", rgb, _meta(**meta_kw))
  assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("crop,match", [
  ((0, 0, 66, 96), "outside"),
  ((-2, 0, 32, 32), "outside"),
  ((0, 0, 0, 32), "outside"),
  ((0, 0, 31, 32), "even"),
  ((0, 0, 32), "top, left, height, width"),
])
def test_bad_crop_is_refused(tmp_path, crop, match):
  raw = RawImage(mosaic=_mosaic(), black_level=np.full(4, 64, np.float32), white_level=1023.0,
                 cfa="RGGB", as_shot_wb=np.ones(3, np.float32), xyz_to_cam=None, camera="x")
  with pytest.raises(InputError, match=match):
    dng_from_raw(tmp_path / "x.dng", raw, crop=crop)
  assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_no_file_and_keeps_the_old_one(tmp_path, monkeypatch):
  target = tmp_path / "x.dng"
  target.write_bytes(b"old")

  def fail(*_):
    raise OSError("disk full")

  monkeypatch.setattr(os, "replace", fail)
  with pytest.raises(OSError, match="disk full"):
    write_bayer_dng(target, _mosaic(), "RGGB", _meta())
  with pytest.raises(OSError, match="disk full"):
    write_linear_dng(target, np.zeros((8, 8, 3), np.uint16), _meta())
  assert [p.name for p in tmp_path.iterdir()] == ["x.dng"]
  assert target.read_bytes() == b"old"


def test_write_creates_parent_folders(tmp_path):
  write_bayer_dng(tmp_path / "a" / "b" / "x.dng", _mosaic(), "RGGB", _meta())
  assert read_raw(tmp_path / "a" / "b" / "x.dng").shape == (64, 96)

