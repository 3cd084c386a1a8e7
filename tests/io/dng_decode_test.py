"""`r2lcm decode --out X.dng`: the reconstruction as a raw file that raw editors open.

A crop of a shared real DNG (odd top row, so the CFA phase and the black levels are
re-phased) is encoded with the packaged model, decoded to `.dng`, read back with rawpy
(same CFA, levels, matrix, neutral; values = the re-mosaiced reconstruction) and
rendered by darktable-cli and RawTherapee.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.app.files import decode_file, encode_file, load_runner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.io.dng import dng_from_raw
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.io.sensor_layout import SensorLayout

GOPRO = ("gopro", "HERO7_GOPR9231.DNG")
CROP = (1001, 1600, 256, 384)  # odd top: the crop's first pixel is another CFA colour


@pytest.fixture(scope="module")
def decoded(real_data, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("dng_decode")
  src = read_raw(real_data.joinpath(*GOPRO))
  dng_from_raw(tmp / "crop.dng", src, crop=CROP)
  ckpt, runner = load_runner("default")
  enc = encode_file(str(tmp / "crop.dng"), str(tmp / "img"), ckpt, runner)
  dec = decode_file(str(enc.srgb_path), str(enc.metadata_path), str(tmp / "recon.dng"), ckpt, runner)
  return {"tmp": tmp, "crop": read_raw(tmp / "crop.dng"), "enc": enc, "dec": dec,
          "ckpt": ckpt, "runner": runner}


def test_decoded_dng_reads_back_with_the_source_layout(decoded):
  crop, back = decoded["crop"], read_raw(decoded["tmp"] / "recon.dng")
  assert back.mosaic.shape == crop.mosaic.shape
  assert back.cfa == crop.cfa
  np.testing.assert_array_equal(back.black_level, crop.black_level)
  assert back.white_level == crop.white_level
  np.testing.assert_allclose(back.as_shot_wb, crop.as_shot_wb, rtol=1e-4)
  np.testing.assert_allclose(back.xyz_to_cam, crop.xyz_to_cam, atol=1e-3)
  assert back.camera == crop.camera


def test_dng_values_are_the_remosaiced_reconstruction(decoded):
  back = read_raw(decoded["tmp"] / "recon.dng")
  layout = SensorLayout.from_bytes(bitstream.unpack(decoded["enc"].metadata_path.read_bytes())[0].sensor)
  x = np.clip(decoded["dec"].raw.astype(np.float64), 0, 1)
  np.testing.assert_array_equal(back.mosaic, layout.remosaic(x))
  # normalised back: within 16-bit rounding of the reconstruction at every site
  h, w = back.mosaic.shape
  black = np.tile(back.black_level.reshape(2, 2), (h // 2, w // 2)).astype(np.float64)
  norm = (back.mosaic - black) / (back.white_level - black)
  colour = np.tile(np.array(["RGB".index(c) for c in back.cfa]).reshape(2, 2), (h // 2, w // 2))
  at_sites = np.take_along_axis(x, colour[..., None], axis=2)[..., 0]
  assert np.max(np.abs(norm - at_sites) * (back.white_level - black)) <= 0.5 + 1e-6
  # and it is a reconstruction of the source, not just any mosaic
  src_norm = (decoded["crop"].mosaic - black) / (back.white_level - black)
  psnr = -10 * np.log10(np.mean((np.clip(src_norm, 0, 1) - np.clip(norm, 0, 1)) ** 2))
  assert psnr > 35, psnr


@pytest.mark.parametrize("tool", ["darktable", "rawtherapee"])
def test_raw_converters_render_the_decoded_dng_like_the_source(decoded, render_with, tmp_path, tool):
  got = render_with(tool, decoded["tmp"] / "recon.dng", tmp_path)
  ref = render_with(tool, decoded["tmp"] / "crop.dng", tmp_path)
  assert got.shape == ref.shape and got.std() > 0
  diff = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / np.iinfo(got.dtype).max
  assert np.mean(diff) < 0.02, np.mean(diff)


def test_bitstream_without_a_sensor_layout_is_refused_for_dng_and_nothing_written(decoded):
  header, groups = bitstream.unpack(decoded["enc"].metadata_path.read_bytes())
  stripped = dataclasses.replace(header, flags=header.flags & ~bitstream.FLAG_SENSOR, sensor=None)
  meta = decoded["tmp"] / "stripped.r2lcm"
  meta.write_bytes(bitstream.pack(stripped, groups))
  out = decoded["tmp"] / "never.dng"
  with pytest.raises(InputError, match="sensor layout"):
    decode_file(str(decoded["enc"].srgb_path), str(meta), str(out), decoded["ckpt"], decoded["runner"])
  assert not out.exists()


def test_layout_block_round_trips_and_refuses_future_or_broken_blocks(decoded):
  data = bitstream.unpack(decoded["enc"].metadata_path.read_bytes())[0].sensor
  layout = SensorLayout.from_bytes(data)
  assert layout.kind == "bayer" and layout.to_bytes() == data
  with pytest.raises(BitstreamError, match="newer"):
    SensorLayout.from_bytes(bytes([99]) + data[1:])
  with pytest.raises(BitstreamError, match="truncated"):
    SensorLayout.from_bytes(data[:-3])
  linear = dataclasses.replace(layout, kind="linear", cfa="", black_level=(0.0,), white_level=65535.0)
  assert SensorLayout.from_bytes(linear.to_bytes()).kind == "linear"


def test_cli_decode_writes_a_dng_by_extension(decoded, tmp_path):
  enc = decoded["enc"]
  out = tmp_path / "cli.dng"
  proc = subprocess.run([sys.executable, "-m", "r2lcm_jax", "decode", "--srgb", str(enc.srgb_path),
                         "--metadata", str(enc.metadata_path), "--out", str(out)],
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  np.testing.assert_array_equal(read_raw(out).mosaic, read_raw(decoded["tmp"] / "recon.dng").mosaic)
