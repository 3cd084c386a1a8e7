"""Tests of the SAM grid-sample metadata file: layout, rate, strict parsing, fuzzing."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2lcm_jax.baselines import metadata_file as mf
from r2lcm_jax.baselines.base import bits_per_pixel
from r2lcm_jax.errors import BitstreamError, InputError


def _raw(h, w, seed=0):
  return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def test_grid_positions_are_cell_centres_including_partial_cells():
  ys, xs = mf.grid_positions(20, 16, 8)
  np.testing.assert_array_equal(ys, [4, 12, 18])  # last cell rows 16..19: centre 16 + 2
  np.testing.assert_array_equal(xs, [4, 12])


def test_step_8_costs_exactly_three_quarters_bpp_plus_twenty_bytes():
  h, w = 64, 96
  data = mf.encode_samples(mf.sample_grid(_raw(h, w), 8))
  assert len(data) == (h * w // 64) * 6 + mf.HEADER_BYTES + mf.TRAILER_BYTES
  assert mf.HEADER_BYTES + mf.TRAILER_BYTES == 20
  assert bits_per_pixel(data, h, w) == pytest.approx(0.75 + 160 / (h * w))


def test_samples_round_trip_bit_exactly_through_a_file(tmp_path):
  raw = _raw(37, 53, 1)
  grid = mf.sample_grid(raw, 8)
  path = tmp_path / "img.sam"
  mf.write_metadata(path, mf.encode_samples(grid))
  back = mf.read_metadata(path)
  assert (back.height, back.width, back.step) == (37, 53, 8)
  np.testing.assert_array_equal(back.samples, grid.samples)
  ys, xs = back.positions()
  np.testing.assert_allclose(back.values(), raw[ys[:, None], xs[None, :]], atol=0.5 / 65535 + 1e-7)
  assert [p.name for p in tmp_path.iterdir()] == ["img.sam"]  # no temporary left behind


def test_missing_metadata_file_is_an_input_error(tmp_path):
  with pytest.raises(InputError, match="not found"):
    mf.read_metadata(tmp_path / "absent.sam")


@pytest.mark.parametrize("cut", [0, 5, 19, 100])
def test_truncated_metadata_raises_bitstream_error(cut):
  data = mf.encode_samples(mf.sample_grid(_raw(32, 32), 8))
  with pytest.raises(BitstreamError, match="truncated"):
    mf.decode_samples(data[:cut], "x.sam")


def test_flipped_sample_bit_fails_the_crc():
  data = bytearray(mf.encode_samples(mf.sample_grid(_raw(32, 32), 8)))
  data[mf.HEADER_BYTES + 3] ^= 0x10
  with pytest.raises(BitstreamError, match="CRC"):
    mf.decode_samples(bytes(data), "x.sam")


def _with_header(data: bytes, **fields) -> bytes:
  magic, version, kind, step, h, w = struct.unpack_from("<4sBBHII", data)
  vals = dict(magic=magic, version=version, kind=kind, step=step, h=h, w=w) | fields
  body = struct.pack("<4sBBHII", *vals.values()) + data[16:-4]
  return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("fields, message", [
  (dict(magic=b"PNG\x00"), "not SAM metadata"),
  (dict(version=2), "version 2"),
  (dict(kind=1), "kind"),
  (dict(step=0), "invalid header"),
  (dict(h=0), "invalid header"),
  (dict(h=70000, w=70000), "invalid header"),
  (dict(step=4), "expected"),
])
def test_foreign_or_inconsistent_headers_raise_bitstream_error(fields, message):
  data = mf.encode_samples(mf.sample_grid(_raw(32, 32), 8))
  with pytest.raises(BitstreamError, match=message):
    mf.decode_samples(_with_header(data, **fields), "x.sam")


def test_trailing_bytes_are_rejected():
  data = mf.encode_samples(mf.sample_grid(_raw(16, 16), 8))
  with pytest.raises(BitstreamError, match="trailing"):
    mf.decode_samples(data + b"\x00", "x.sam")


_VALID = mf.encode_samples(mf.sample_grid(_raw(24, 40, 2), 8))


@settings(max_examples=300, deadline=None)
@given(st.one_of(
  st.binary(max_size=200),
  st.tuples(st.integers(0, len(_VALID) - 1), st.integers(0, 255)).map(
    lambda t: _VALID[:t[0]] + bytes([t[1]]) + _VALID[t[0] + 1:]),
  st.integers(0, len(_VALID)).map(lambda n: _VALID[:n]),
  st.binary(max_size=40).map(lambda b: _VALID[:16] + b),
))
def test_parser_never_fails_other_than_with_bitstream_error(data):
  try:
    grid = mf.decode_samples(data, "fuzz")
  except BitstreamError:
    return
  # Anything accepted is self-consistent and re-encodes to the same bytes.
  assert mf.encode_samples(grid) == data
