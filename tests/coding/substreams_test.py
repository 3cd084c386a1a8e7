"""Coding groups in K substreams: split rule, choice of K, backends and worker counts agree."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from r2lcm_jax.coding import backends, substreams
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.errors import BitstreamError, CoderBackendError


@pytest.fixture(scope="module")
def tables():
  return build_gaussian_tables()


@pytest.fixture(scope="module")
def jax_backend():
  # One padded grid for every example (n <= 3000, K <= 8, lanes 8 or 256): one compile.
  with backends.get_backend("jax", min_grid=(384, 8, 256), min_fine_rows=4096) as b:
    yield b


def _group(seed, n, tables):
  rng = np.random.default_rng(seed)
  idx = rng.integers(0, tables.num_scales, n).astype(np.int32)
  sym = np.rint(rng.normal(0, tables.scale_table[idx] * 1.3)).astype(np.int32)
  return sym, idx


@given(n=st.integers(0, 10**7), k=st.integers(1, 5000))
def test_split_covers_every_symbol_once_with_balanced_sizes(n, k):
  b = substreams.split_indices(n, k)
  assert b[0] == 0 and b[-1] == n and b.size == k + 1
  sizes = np.diff(b)
  assert sizes.min() >= 0 and sizes.max() - sizes.min() <= 1


def test_choice_of_k_and_lanes_is_bounded_and_keeps_overhead_small():
  for n in (0, 1, 100, 10**4, 10**6, 2 * 10**7):
    for bits in (None, 0.0, 0.1 * n, 3.0 * n):
      k = substreams.choose_num_substreams(n, bits, lanes=64)
      assert 1 <= k <= max(1, n) and k <= substreams.MAX_SUBSTREAMS
      lanes = substreams.choose_lanes(n, bits, num_substreams=k, max_lanes=64)
      assert 1 <= lanes <= 64
      payload_bits = 2.0 * n if bits is None else bits
      if k * lanes > 1:
        cost = k * lanes * substreams.LANE_COST_BITS
        assert cost <= substreams.OVERHEAD_BUDGET * payload_bits
  assert substreams.choose_num_substreams(2 * 10**7, 4 * 10**7, lanes=64) > 8
  assert substreams.choose_num_substreams(10**6, 2 * 10**6, lanes=4096) == 2


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(0, 3000), k=st.integers(1, 6),
       lanes=st.sampled_from([8, 256]))
def test_every_backend_and_worker_count_decodes_the_same_symbols(
    tables, jax_backend, seed, n, k, lanes):
  k = min(k, max(1, n))
  sym, idx = _group(seed, n, tables)
  numpy_backend = backends.get_backend("numpy", workers=2)
  # A payload estimate that lets every substream use `lanes` lanes (when n allows).
  est_bits = lanes * k * substreams.LANE_COST_BITS / substreams.OVERHEAD_BUDGET
  subs = substreams.encode_group(sym, idx, tables, num_substreams=k,
                                 backend=jax_backend, lanes=lanes, est_bits=est_bits)
  assert len(subs) == k
  assert subs == substreams.encode_group(sym, idx, tables, num_substreams=k,
                                         backend=numpy_backend, lanes=lanes,
                                         est_bits=est_bits)
  for backend in (jax_backend, numpy_backend):
    for workers in (0, 1, 3):
      out = substreams.decode_group(subs, idx, tables, backend=backend, workers=workers)
      assert out.dtype == np.int32
      np.testing.assert_array_equal(out, sym)


def test_decode_group_rejects_impossible_substream_counts(tables, jax_backend):
  sym, idx = _group(0, 10, tables)
  subs = substreams.encode_group(sym, idx, tables, num_substreams=2, backend=jax_backend)
  with pytest.raises(BitstreamError, match="substreams"):
    substreams.decode_group(subs * 6, idx, tables, backend=jax_backend)
  with pytest.raises(BitstreamError):
    substreams.decode_group([], idx, tables, backend=jax_backend)
  with pytest.raises(BitstreamError):  # substreams swapped: sizes no longer fit
    substreams.decode_group(subs[::-1] + [b"\x01"], idx[:3], tables, backend=jax_backend)


def test_backend_registry_reports_unknown_names_and_coder_ids():
  with pytest.raises(CoderBackendError, match="unknown coder backend"):
    backends.get_backend("zstd")
  with pytest.raises(CoderBackendError, match="unknown coder id"):
    backends.backend_for_coder(99)
  assert backends.backend_for_coder(backends.CODER_RANS, prefer="numpy").name == "numpy"
  assert backends.get_backend("numpy").coder_id == backends.get_backend("jax").coder_id
