"""rANS coders: exact round trips, NumPy == native == JAX bytes, escapes, corruption, rate."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2lcm_jax.coding import backends, rans_format, rans_jax, rans_native, rans_numpy
from r2lcm_jax.entropy.tables import CodingTables, build_gaussian_tables
from r2lcm_jax.errors import BitstreamError

# One padded grid for every example below, so each (precision) compiles once.
GRID = (512, 4, 64)

NUM_SCALES, MAX_LEN = 4, 40


def random_tables(seed: int, precision: int) -> CodingTables:
  """Random valid tables of a fixed padded shape (4 rows, <= 38 regular bins)."""
  rng = np.random.default_rng(seed)
  total = 1 << precision
  cdf = np.full((NUM_SCALES, MAX_LEN), total, np.int32)
  lengths, offsets = [], []
  for k in range(NUM_SCALES):
    n_sym = int(rng.integers(2, min(MAX_LEN - 1, total) + 1))  # incl. escape
    cuts = np.sort(rng.choice(np.arange(1, total), n_sym - 1, replace=False))
    cdf[k, : n_sym + 1] = np.concatenate([[0], cuts, [total]])
    lengths.append(n_sym + 1)
    offsets.append(int(rng.integers(-40, 10)))
  return CodingTables(
    cdf=cdf, cdf_length=np.asarray(lengths, np.int32),
    offset=np.asarray(offsets, np.int32),
    scale_table=np.arange(1, NUM_SCALES + 1, dtype=np.float32),
    precision=precision, tail_mass=0.0)


def random_symbols(rng, tables: CodingTables, n: int, escape_rate: float):
  idx = rng.integers(0, tables.num_scales, n).astype(np.int32)
  support = tables.cdf_length[idx] - 2
  sym = (tables.offset[idx] + (rng.random(n) * support).astype(np.int64))
  esc = rng.random(n) < escape_rate
  extremes = np.asarray([np.iinfo(np.int32).min, np.iinfo(np.int32).max, -1, 0,
                         -100000, 100000], np.int64)
  wild = np.where(rng.random(n) < 0.5, rng.choice(extremes, n),
                  tables.offset[idx] + np.where(rng.random(n) < 0.5, -1, support))
  return np.where(esc, wild, sym).astype(np.int32), idx


@pytest.fixture(scope="module")
def coders():
  """JaxRans per precision with the shared grid."""
  return {}


def _jax(coders, tables):
  key = tables.fingerprint
  if key not in coders:
    coders[key] = rans_jax.JaxRans(tables, min_grid=GRID, min_fine_rows=256)
  return coders[key]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), precision=st.sampled_from([8, 12, 16]),
       n=st.integers(0, 400), lanes=st.sampled_from([1, 2, 3, 5, 16, 64]),
       escape_rate=st.sampled_from([0.0, 0.02, 0.5]))
def test_numpy_native_and_jax_round_trip_with_identical_bytes(coders, seed, precision, n,
                                                              lanes, escape_rate):
  """Every coder writes the same bytes, so every decoder reads every encoder's output."""
  tables = random_tables(seed, precision)
  sym, idx = random_symbols(np.random.default_rng(seed), tables, n, escape_rate)
  jr = _jax(coders, tables)
  nr = rans_native.NativeRans(tables)
  data = rans_numpy.encode(sym, idx, tables, lanes=lanes)
  assert jr.encode_many([(sym, idx)], lanes=lanes)[0] == data
  assert nr.encode_many([(sym, idx)], lanes=lanes)[0] == data
  np.testing.assert_array_equal(rans_numpy.decode(data, idx, tables, lanes=lanes), sym)
  np.testing.assert_array_equal(jr.decode_many([data], [idx], lanes=lanes)[0], sym)
  np.testing.assert_array_equal(nr.decode_many([data], [idx], lanes=lanes)[0], sym)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(0, 300), min_size=1,
                                                       max_size=4),
       lanes=st.sampled_from([1, 4, 64]))
def test_jax_codes_several_substreams_in_one_call_like_numpy_one_by_one(
    coders, seed, sizes, lanes):
  tables = random_tables(seed, 16)
  rng = np.random.default_rng(seed)
  items = [random_symbols(rng, tables, n, 0.05) for n in sizes]
  jr = _jax(coders, tables)
  datas = jr.encode_many(items, lanes=lanes)
  assert datas == [rans_numpy.encode(s, i, tables, lanes=lanes) for s, i in items]
  decoded = jr.decode_many(datas, [i for _, i in items])
  for (s, _), d in zip(items, decoded, strict=True):
    np.testing.assert_array_equal(d, s)
  for workers in (1, 3):  # substreams in threads: same bytes, same symbols
    nr = rans_native.NativeRans(tables, workers=workers)
    assert nr.encode_many(items, lanes=lanes) == datas
    for (s, _), d in zip(items, nr.decode_many(datas, [i for _, i in items]), strict=True):
      np.testing.assert_array_equal(d, s)


def test_every_backend_pair_through_the_substream_api_on_gaussian_tables():
  """Realistic tables (precision 16, 64 rows): every backend writes the NumPy
  reference's bytes, and every backend decodes every backend's output."""
  from r2lcm_jax.coding import substreams

  tables = build_gaussian_tables()
  rng = np.random.default_rng(17)
  n = 5000
  idx = rng.integers(0, 64, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
  sym[::701] = -123456  # escapes
  names = ("numpy", "native", "jax")
  options = {"jax": {"min_grid": (64, 4, 64), "min_fine_rows": 4096}}
  coders = {name: backends.get_backend(name, **options.get(name, {})) for name in names}
  encoded = {name: substreams.encode_group(sym, idx, tables, num_substreams=3,
                                           backend=coder, lanes=40)
             for name, coder in coders.items()}
  assert encoded["native"] == encoded["numpy"]
  assert encoded["jax"] == encoded["numpy"]
  for enc in names:
    for dec in names:
      out = substreams.decode_group(encoded[enc], idx, tables, backend=coders[dec])
      np.testing.assert_array_equal(out, sym, err_msg=f"{enc} -> {dec}")


def test_native_substreams_in_threads_give_the_reference_bytes():
  """Calls above the parallel threshold run each substream in its own thread."""
  tables = build_gaussian_tables()
  rng = np.random.default_rng(23)
  items = []
  for n in (15000, 20000, 0, 9000):
    idx = rng.integers(0, 64, n).astype(np.int32)
    sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
    sym[::997] = 2**31 - 1  # escapes
    items.append((sym, idx))
  assert sum(i.size for _, i in items) >= rans_native._MIN_PARALLEL_SYMBOLS
  serial = rans_native.NativeRans(tables, workers=1)
  threaded = rans_native.NativeRans(tables, workers=3)
  datas = threaded.encode_many(items, lanes=32)
  assert datas == serial.encode_many(items, lanes=32)
  assert datas == [rans_numpy.encode(s, i, tables, lanes=32) for s, i in items]
  for (s, _), d in zip(items, threaded.decode_many(datas, [i for _, i in items]),
                       strict=True):
    np.testing.assert_array_equal(d, s)


def test_auto_backend_is_native_on_a_cpu_and_all_rans_backends_share_the_coder_id():
  import jax

  expected = "native" if jax.default_backend() == "cpu" else "jax"
  assert backends.default_rans_backend() == expected
  assert backends.get_backend("auto").name == expected
  assert backends.backend_for_coder(backends.CODER_RANS).name == expected
  ids = {backends.get_backend(name).coder_id for name in ("numpy", "native", "jax")}
  assert ids == {backends.CODER_RANS}


def test_module_functions_of_both_coders_agree_on_gaussian_tables():
  tables = build_gaussian_tables()
  rng = np.random.default_rng(7)
  n = 3000
  idx = rng.integers(0, 64, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
  sym[::500] = 40000  # escapes
  a = rans_numpy.encode(sym, idx, tables, lanes=32)
  assert rans_jax.encode(sym, idx, tables, lanes=32) == a
  assert rans_native.encode(sym, idx, tables, lanes=32) == a
  np.testing.assert_array_equal(rans_jax.decode(a, idx, tables, lanes=32), sym)
  np.testing.assert_array_equal(rans_numpy.decode(a, idx, tables), sym)
  np.testing.assert_array_equal(rans_native.decode(a, idx, tables), sym)


@pytest.mark.parametrize("coder", [rans_numpy, rans_native])
def test_empty_input_is_an_empty_substream(coder):
  tables = random_tables(0, 12)
  empty = np.zeros(0, np.int32)
  assert coder.encode(empty, empty, tables, lanes=8) == b""
  assert coder.decode(b"", empty, tables).size == 0
  with pytest.raises(BitstreamError):
    coder.decode(b"\x00", empty, tables)


def test_corrupt_substreams_raise_bitstream_error(coders):
  tables = random_tables(3, 16)
  rng = np.random.default_rng(3)
  sym, idx = random_symbols(rng, tables, 400, 0.05)
  data = rans_numpy.encode(sym, idx, tables, lanes=16)
  jr = _jax(coders, tables)
  nr = rans_native.NativeRans(tables)
  flipped = bytearray(data)
  flipped[len(data) // 2] ^= 0x10  # one bit of a coder word
  bad = [data[:-2], data[:1], data + b"\x00\x00", b"\x00" * len(data),
         data[:2] + b"\x00\x00\x00\x00" + data[6:], bytes(flipped)]
  for blob in bad:
    with pytest.raises(BitstreamError):
      rans_numpy.decode(blob, idx, tables)
    with pytest.raises(BitstreamError):
      jr.decode_many([blob], [idx])
    with pytest.raises(BitstreamError):
      nr.decode_many([blob], [idx])
  with pytest.raises(BitstreamError, match="lane count"):
    rans_numpy.decode(data, idx, tables, lanes=8)
  with pytest.raises(BitstreamError, match="lane count"):
    nr.decode_many([data], [idx], lanes=8)


@pytest.mark.parametrize("coder", [rans_numpy, rans_native])
def test_invalid_arguments_raise_value_error(coder):
  tables = random_tables(1, 12)
  zeros = np.zeros(3, np.int32)
  for bad_idx in (np.full(3, 9, np.int32), np.asarray([0, -1, 0], np.int32)):
    with pytest.raises(ValueError):
      coder.encode(zeros, bad_idx, tables, lanes=2)
  with pytest.raises(ValueError):
    coder.encode(zeros, np.zeros(2, np.int32), tables, lanes=2)
  with pytest.raises(ValueError):
    coder.encode(zeros, zeros, tables, lanes=0)
  with pytest.raises(ValueError):
    coder.encode(np.asarray([0, 1, 2**40]), zeros, tables, lanes=2)
  data = coder.encode(zeros, zeros, tables, lanes=2)
  with pytest.raises(ValueError):
    coder.decode(data, np.full(3, 9, np.int32), tables)


def test_rate_is_within_half_a_percent_of_the_table_information_content():
  tables = build_gaussian_tables()
  rt = rans_format.rans_tables(tables)
  rng = np.random.default_rng(11)
  n = 1 << 17
  idx = rng.integers(10, 50, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
  bins, esc = rans_format.to_bins(sym, idx, rt)
  assert esc.size == 0
  ideal_bits = -np.log2(rt.freq[idx, bins] / 2.0**16).sum()
  data = rans_jax.encode(sym, idx, tables, lanes=16)
  assert 8 * len(data) <= ideal_bits * 1.005
  assert 8 * len(data) >= ideal_bits


_SHARDED_SCRIPT = """
import jax
jax.config.update("jax_num_cpu_devices", 2)
import numpy as np
from r2lcm_jax.coding import rans_jax, rans_numpy
from r2lcm_jax.entropy.tables import build_gaussian_tables
tables = build_gaussian_tables()
rng = np.random.default_rng(5)
items = []
for n in (700, 1, 0, 2000, 333):
  idx = rng.integers(0, 64, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
  sym[::97] = -77777
  items.append((sym, idx))
coder = rans_jax.JaxRans(tables, devices=jax.devices())
datas = coder.encode_many(items, lanes=8)
assert datas == [rans_numpy.encode(s, i, tables, lanes=8) for s, i in items]
out = coder.decode_many(datas, [i for _, i in items])
assert all(np.array_equal(o, s) for o, (s, _) in zip(out, items))
print("sharded ok", len(jax.devices()))
"""


def test_substreams_sharded_over_two_cpu_devices_give_the_same_bytes():
  """shard_map over the substream axis (separate process: the device count is set at
  JAX start-up)."""
  import os
  import subprocess
  import sys

  env = dict(os.environ, JAX_PLATFORMS="cpu")
  result = subprocess.run([sys.executable, "-c", _SHARDED_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "sharded ok 2" in result.stdout


def test_float_assisted_division_of_the_encoder_is_exact_at_the_edges():
  import jax.numpy as jnp

  rng = np.random.default_rng(9)
  f = np.concatenate([[1, 1, 2, 65535, 65535, 32768, 3],
                      rng.integers(2, 1 << 16, 200000)]).astype(np.uint64)
  hi = f << np.uint64(16)  # encoder invariant at precision 16: x < f << 16
  x = np.concatenate([[65536, 65536 * 1 + 65535, 65536, 65536, hi[4] - 1, hi[5] - 1,
                       hi[6] - 1],
                      rng.integers(0, 1 << 62, 200000).astype(np.uint64)
                      % (hi[7:] - np.uint64(65536)) + np.uint64(65536)]).astype(np.uint64)
  x = np.minimum(x, hi - np.uint64(1))
  q, r = rans_jax._divmod_u16_quotient(jnp.asarray(x.astype(np.uint32)),
                                       jnp.asarray(f.astype(np.uint32)))
  np.testing.assert_array_equal(np.asarray(q), x // f)
  np.testing.assert_array_equal(np.asarray(r), x % f)


@settings(max_examples=80, deadline=None)
@given(codes=st.lists(st.integers(0, 2**35 - 1), max_size=40),
       extra=st.binary(min_size=1, max_size=7))
def test_escape_varints_parse_back_exactly_and_refuse_extra_bytes(codes, extra):
  c = np.asarray(codes, np.uint64)
  region = rans_format.escape_varints(c)
  assert len(region) == sum(max(1, -(-int(v).bit_length() // 7)) for v in codes)
  np.testing.assert_array_equal(rans_format.read_escape_varints(region, len(codes)), c)
  with pytest.raises(BitstreamError):
    rans_format.read_escape_varints(region + extra, len(codes))
  if codes:
    with pytest.raises(BitstreamError):
      rans_format.read_escape_varints(region[:-1], len(codes))


def test_non_canonical_long_or_missing_varints_are_refused():
  ok = rans_format.escape_varints(np.asarray([300], np.uint64))
  assert ok == bytes([0xAC, 0x02])  # LEB128: low 7 bits first, high bit = more
  for bad, why in [(bytes([0x80 | 5, 0x00]), "canonical"),
                   (bytes([0x80] * 5 + [0x01]), "longer"),
                   (bytes([0x85]), "too short")]:
    with pytest.raises(BitstreamError, match=why):
      rans_format.read_escape_varints(bad, 1)


def test_an_escape_just_outside_the_support_costs_the_escape_bin_and_one_byte():
  tables = build_gaussian_tables()
  rt = rans_format.rans_tables(tables)
  n = 4096
  idx = np.zeros(n, np.int32)  # scale 0.01: support {0}, escape bin of frequency 1
  sym = np.where(np.arange(n) % 64 == 0, 22, 0).astype(np.int32)  # 64 escapes
  data = rans_numpy.encode(sym, idx, tables, lanes=1)
  bins, codes = rans_format.to_bins(sym, idx, rt)
  assert codes.size == 64 and int(codes.max()) < 128
  esc_freq = int(rt.freq[0, rt.support[0]])
  bin_bits = -np.log2(rt.freq[0, bins] / 2.0**16).sum()
  assert esc_freq == 1
  # states + words (the bins' information content, within a word) + one byte per escape
  assert 8 * len(data) <= 16 + 32 + bin_bits + 16 + 64 * 8
  np.testing.assert_array_equal(rans_numpy.decode(data, idx, tables), sym)
