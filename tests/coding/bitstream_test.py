"""The .r2lcm container: round trip, strict bounded parsing, and fuzzing."""

from __future__ import annotations

import dataclasses
import struct
import time
import zlib

import numpy as np
import pytest

from r2lcm_jax.coding import backends, bitstream, substreams
from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.errors import BitstreamError

GROUP_SIZES = {"hyper/0": 40, "main/0": 300, "main/1": 0, "main/2": 500}


@pytest.fixture(scope="module")
def tables():
  return build_gaussian_tables()


def _header(tables, **kw):
  fields = dict(
    coder_id=backends.CODER_RANS, table_fingerprint=tables.fingerprint,
    model_fingerprint=sha256_fingerprint({"w": np.arange(4.0)}),
    srgb_fingerprint=sha256_fingerprint(b"srgb"), image_hw=(61, 93),
    padded_hw=(64, 96), crop=(1, 2, 61, 93), latent_shapes=((1, 2, 8), (16, 24, 8)),
    num_steps=4, drop_steps=1, gamma_milli=-250, lanes=16)
  fields.update(kw)
  return bitstream.Header(**fields)


@pytest.fixture(scope="module")
def coded(tables):
  """(file bytes, {group: (symbols, indexes)}) of a small realistic bitstream."""
  rng = np.random.default_rng(0)
  backend = backends.get_backend("numpy")
  groups, data = [], {}
  for name, n in GROUP_SIZES.items():
    idx = rng.integers(0, 64, n).astype(np.int32)
    sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
    k = 1 if n < 100 else 3
    groups.append(bitstream.Group(name, substreams.encode_group(
      sym, idx, tables, num_substreams=k, backend=backend, lanes=16)))
    data[name] = (sym, idx)
  return bitstream.pack(_header(tables), groups), data


def _decode_all(blob, data, tables, backend):
  header, groups = bitstream.unpack(blob)
  out = {}
  for g in groups:
    if g.name not in data:
      raise BitstreamError(f"unknown group {g.name}")
    out[g.name] = substreams.decode_group(g.substreams, data[g.name][1], tables,
                                          backend=backend)
  return header, out


def test_pack_unpack_round_trip_restores_header_groups_and_symbols(coded, tables):
  blob, data = coded
  header, out = _decode_all(blob, data, tables, backends.get_backend("numpy"))
  assert header == _header(tables)
  assert list(out) == list(GROUP_SIZES)
  for name, (sym, _) in data.items():
    np.testing.assert_array_equal(out[name], sym)


@pytest.mark.parametrize("blob, message", [
  (b"", "bad magic"),
  (b"PK\x03\x04" + bytes(100), "bad magic"),
  (bitstream.MAGIC, "truncated at byte 8"),
])
def test_foreign_and_empty_files_are_rejected_with_a_reason(blob, message):
  with pytest.raises(BitstreamError, match=message):
    bitstream.unpack(blob)


def test_future_version_truncation_and_crc_errors_say_what_is_wrong(coded):
  blob, _ = coded
  future = blob[:8] + struct.pack("<H", 7) + blob[10:]
  with pytest.raises(BitstreamError, match="future version"):
    bitstream.unpack(future)
  with pytest.raises(BitstreamError, match="truncated at byte 40"):
    bitstream.unpack(blob[:40])
  with pytest.raises(BitstreamError, match="truncated"):
    bitstream.unpack(blob[:-1])
  with pytest.raises(BitstreamError, match="trailing data"):
    bitstream.unpack(blob + b"\x00")
  flipped = bytearray(blob)
  flipped[-1] ^= 0x10
  with pytest.raises(BitstreamError, match=r"CRC mismatch in group 3 \('main/2'\)"):
    bitstream.unpack(bytes(flipped))
  flipped = bytearray(blob)
  flipped[20] ^= 1
  with pytest.raises(BitstreamError, match="CRC mismatch in header"):
    bitstream.unpack(bytes(flipped))


def _forge(header_body: bytes, table: bytes, payload: bytes = b"") -> bytes:
  """A file with correct CRCs around arbitrary header/table contents."""
  version = bitstream.FORMAT_VERSION
  head = bitstream.MAGIC + struct.pack("<HH", version, len(header_body)) + header_body
  return (head + struct.pack("<I", zlib.crc32(head)) + table
          + struct.pack("<I", zlib.crc32(table)) + payload)


def _body(blob):
  hlen = struct.unpack_from("<H", blob, 10)[0]
  return blob[12 : 12 + hlen]


def test_hostile_counts_with_valid_crcs_are_rejected_without_allocating(coded):
  blob, _ = coded
  body = _body(blob)
  start = time.perf_counter()
  cases = [
    struct.pack("<I", 0xFFFFFFFF),  # absurd group count
    struct.pack("<I", 1) + b"\x01a" + struct.pack("<II", 0x7FFFFFFF, 0),  # huge K
    struct.pack("<I", 1) + b"\x01a" + struct.pack("<II", 3, 0) + b"\x00" * 8,  # short
    struct.pack("<I", 1) + b"\x01a" + struct.pack("<III", 1, 0, 0xFFFFFFFF),  # length
    struct.pack("<I", 1) + b"\x00" + struct.pack("<II", 1, 0),  # empty name
  ]
  for table in cases:
    with pytest.raises(BitstreamError):
      bitstream.unpack(_forge(body, table))
  assert time.perf_counter() - start < 1.0
  # Header fields out of bounds, with valid CRCs.
  for bad in (dict(image_hw=(70000, 5), padded_hw=(70000, 5), crop=(0, 0, 70000, 5)),
              dict(crop=(10, 10, 61, 93)), dict(lanes=0), dict(drop_steps=5),
              dict(latent_shapes=((1, 2, 9999),)), dict(coder_id=77)):
    h = dataclasses.replace(_header(build_gaussian_tables()), **bad)
    with pytest.raises(BitstreamError, match="invalid header"):
      bitstream.pack(h, [])
    forged = _forge(_forged_body(h), struct.pack("<I", 0))
    with pytest.raises(BitstreamError, match="invalid header"):
      bitstream.unpack(forged)


def _forged_body(h):
  fixed = struct.pack(
    "<BB32s32s32s8IHHiI", h.coder_id, h.flags, h.table_fingerprint,
    h.model_fingerprint, h.srgb_fingerprint, *h.image_hw, *h.padded_hw, *h.crop,
    h.num_steps, h.drop_steps, h.gamma_milli, h.lanes)
  return fixed + bytes([len(h.latent_shapes)]) + b"".join(
    struct.pack("<3I", *s) for s in h.latent_shapes)


def test_fuzzed_files_are_rejected_or_decode_identically(coded, tables):
  """Thousands of truncated, bit-flipped and random files: BitstreamError or exact."""
  blob, data = coded
  backend = backends.get_backend("numpy")
  _, reference = _decode_all(blob, data, tables, backend)
  rng = np.random.default_rng(1)
  start = time.perf_counter()
  outcomes = {"rejected": 0, "identical": 0}

  def check(candidate):
    try:
      _, out = _decode_all(candidate, data, tables, backend)
    except BitstreamError:
      outcomes["rejected"] += 1
      return
    assert list(out) == list(reference)
    for name in out:
      np.testing.assert_array_equal(out[name], reference[name])
    outcomes["identical"] += 1

  for cut in range(len(blob)):  # every truncation
    check(blob[:cut])
  for _ in range(1500):  # 1..3 bit flips anywhere
    b = bytearray(blob)
    for pos in rng.integers(0, len(b) * 8, rng.integers(1, 4)):
      b[pos // 8] ^= 1 << (pos % 8)
    check(bytes(b))
  for _ in range(500):  # random files, some with a valid magic/version prefix
    junk = rng.integers(0, 256, rng.integers(0, 400)).astype(np.uint8).tobytes()
    prefix = [b"", bitstream.MAGIC, blob[:12], blob[:200]][rng.integers(0, 4)]
    check(prefix + junk)
  assert outcomes["rejected"] >= len(blob) + 1900
  assert time.perf_counter() - start < 60


def test_corrupt_payload_behind_valid_crcs_never_escapes_bitstream_error(coded, tables):
  """The rANS decoders are the last line of defence when the CRC is recomputed."""
  blob, data = coded
  header, groups = bitstream.unpack(blob)
  rng = np.random.default_rng(2)
  numpy_backend = backends.get_backend("numpy")
  jax_backend = backends.get_backend("jax", min_grid=(32, 4, 16), min_fine_rows=4096)
  results = {"rejected": 0, "decoded": 0}
  for trial in range(400):
    new_groups = []
    for g in groups:
      subs = []
      for s in g.substreams:
        b = bytearray(s)
        if b and rng.random() < 0.5:
          mode = rng.integers(0, 3)
          if mode == 0:
            b[rng.integers(0, len(b))] ^= 1 << rng.integers(0, 8)
          elif mode == 1:
            del b[rng.integers(0, len(b)):]
          else:
            b += rng.integers(0, 256, rng.integers(1, 9)).astype(np.uint8).tobytes()
        subs.append(bytes(b))
      new_groups.append(bitstream.Group(g.name, subs))
    candidate = bitstream.pack(header, new_groups)
    backend = jax_backend if trial % 8 == 0 else numpy_backend
    try:
      _, out = _decode_all(candidate, data, tables, backend)
    except BitstreamError:
      results["rejected"] += 1
      continue
    for name, (sym, _) in data.items():
      assert out[name].shape == sym.shape and out[name].dtype == np.int32
    results["decoded"] += 1
  assert results["rejected"] > 300


def test_fingerprints_distinguish_values_shapes_and_dtypes():
  a = np.arange(6, dtype=np.float32)
  fps = {sha256_fingerprint(x) for x in (
    a, a.reshape(2, 3), a.astype(np.float64), a + 1, {"a": a}, {"b": a}, [a], b"x")}
  assert len(fps) == 8
  assert sha256_fingerprint({"x": a, "y": 1}) == sha256_fingerprint({"y": 1, "x": a})
  assert len(sha256_fingerprint(b"")) == 32
