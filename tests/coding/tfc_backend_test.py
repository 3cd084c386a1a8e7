"""tensorflow-compression backend (worker in .venv-tfc): round trips, size vs our rANS."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.coding import backends, bitstream, substreams, tfc_backend
from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.errors import CoderBackendError


@pytest.fixture(scope="module")
def tables():
  return build_gaussian_tables()


@pytest.fixture(scope="module")
def tfc():
  try:
    backend = backends.get_backend("tfc")
  except CoderBackendError as e:
    pytest.skip(str(e))
  with backend:
    yield backend


def _group(seed, n, tables, escapes=0):
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, tables.num_scales, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx])).astype(np.int32)
  if escapes:
    at = rng.choice(n, escapes, replace=False)
    sym[at] = rng.choice([-(10**6), 10**6, 32767, -32768, 400, -400], escapes)
  return sym, idx


def test_missing_environment_raises_a_clear_backend_error(tmp_path, monkeypatch):
  monkeypatch.setenv("R2LCM_TFC_PYTHON", str(tmp_path / "no-python"))
  with pytest.raises(CoderBackendError, match="make tfc"):
    backends.get_backend("tfc")


def test_tfc_lookup_rows_enable_overflow_and_keep_our_cdf(tables):
  lookup = tfc_backend.tfc_lookup(tables)
  assert lookup.shape == (64, tables.cdf.shape[1] + 1)
  assert np.all(lookup[:, 0] == -16)
  np.testing.assert_array_equal(lookup[:, 1:], tables.cdf)


@pytest.mark.tfc
@pytest.mark.parametrize("k", [1, 3, 7])
def test_tfc_round_trips_substreams_with_escapes_and_empty_ones(tfc, tables, k):
  sym, idx = _group(k, 5000, tables, escapes=20)
  subs = substreams.encode_group(sym, idx, tables, num_substreams=k, backend=tfc)
  assert len(subs) == k
  for workers in (0, 2):
    out = substreams.decode_group(subs, idx, tables, backend=tfc, workers=workers)
    np.testing.assert_array_equal(out, sym)
  empty = np.zeros(0, np.int32)
  datas = tfc.encode_substreams([(empty, empty), (sym[:10], idx[:10])], tables)
  assert datas[0] == b""
  decoded = tfc.decode_substreams(datas, [empty, idx[:10]], tables)
  np.testing.assert_array_equal(decoded[1], sym[:10])


@pytest.mark.tfc
def test_tfc_and_our_rans_sizes_agree_within_one_percent(tfc, tables):
  sym, idx = _group(0, 1 << 17, tables)
  k = 4
  theirs = substreams.encode_group(sym, idx, tables, num_substreams=k, backend=tfc)
  ours = substreams.encode_group(sym, idx, tables, num_substreams=k,
                                 backend=backends.get_backend("jax"), lanes=16)
  a, b = sum(map(len, theirs)), sum(map(len, ours))
  assert abs(a - b) <= 0.01 * a, (a, b)


@pytest.mark.tfc
def test_header_coder_id_selects_the_decoder(tfc, tables):
  sym, idx = _group(5, 2000, tables)
  group = bitstream.Group("main/0", substreams.encode_group(
    sym, idx, tables, num_substreams=2, backend=tfc))
  header = bitstream.Header(
    coder_id=tfc.coder_id, table_fingerprint=tables.fingerprint,
    model_fingerprint=sha256_fingerprint(b"m"), srgb_fingerprint=sha256_fingerprint(b"s"),
    image_hw=(64, 64), padded_hw=(64, 64), crop=(0, 0, 64, 64),
    latent_shapes=((16, 16, 8),), num_steps=4, drop_steps=0, gamma_milli=0, lanes=1)
  parsed, groups = bitstream.unpack(bitstream.pack(header, [group]))
  assert parsed.coder_id == backends.CODER_TFC
  with backends.backend_for_coder(parsed.coder_id) as decoder:
    out = substreams.decode_group(groups[0].substreams, idx, tables, backend=decoder)
  np.testing.assert_array_equal(out, sym)
