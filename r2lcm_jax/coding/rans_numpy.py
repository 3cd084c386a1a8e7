"""NumPy reference rANS coder (uint64 arithmetic, lanes vectorised, one loop over steps).

The byte format and the arithmetic are specified in `r2lcm_jax.coding.rans_format`; the
JAX coder (`rans_jax`) must produce identical bytes, which the tests check. This
implementation is written independently of the JAX one (uint64 states, NumPy boolean
indexing for the word streams) and is meant for tests and small inputs: its Python loop
runs ceil(n / lanes) steps.

API:
  encode(symbols: int32 (n,), indexes: int32 (n,), tables, *, lanes: int) -> bytes
  decode(data: bytes, indexes: int32 (n,), tables, *, lanes: int | None = None)
      -> int32 (n,)
`tables` is a `CodingTables` or a precomputed `RansTables` (`rans_format.rans_tables`).
`lanes=None` on decode accepts the lane count stored in the substream. Corrupt data
raises `BitstreamError`; invalid arguments raise `ValueError`.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = ["encode", "decode", "as_rans_tables"]

_WORD = np.uint64(0xFFFF)
_SIXTEEN = np.uint64(16)


def as_rans_tables(tables: CodingTables | fmt.RansTables) -> fmt.RansTables:
  """RansTables for `tables` (derived on the fly from CodingTables)."""
  return tables if isinstance(tables, fmt.RansTables) else fmt.rans_tables(tables)


def _grid(a: np.ndarray, n: int, num: int, steps: int, fill: int = 0) -> np.ndarray:
  out = np.full(num * steps, fill, a.dtype)
  out[:n] = a
  return out.reshape(steps, num)


def encode(symbols: np.ndarray, indexes: np.ndarray,
           tables: CodingTables | fmt.RansTables, *, lanes: int) -> bytes:
  """Encodes int32 symbols (n,) with table rows `indexes` (n,) into one substream."""
  rt = as_rans_tables(tables)
  idx = fmt.check_indexes(indexes, rt.support.size)
  bins, codes = fmt.to_bins(symbols, idx, rt)
  n = idx.size
  num, steps = fmt.lane_layout(n, lanes)
  if n == 0:
    return b""
  p = np.uint64(rt.precision)
  valid = _grid(np.ones(n, bool), n, num, steps, False)
  freq = _grid(rt.freq[idx, bins], n, num, steps, 1).astype(np.uint64)
  start = _grid(rt.start[idx, bins], n, num, steps).astype(np.uint64)
  x = np.full(num, fmt.RANS_L, np.uint64)
  words = np.zeros((steps, num), np.uint16)
  emit = np.zeros((steps, num), bool)
  shift = np.uint64(32) - p
  for t in range(steps - 1, -1, -1):
    f, v = freq[t], valid[t]
    e = v & (x >= (f << shift))
    words[t] = (x & _WORD).astype(np.uint16)
    emit[t] = e
    x = np.where(e, x >> _SIXTEEN, x)
    x = np.where(v, ((x // f) << p) + x % f + start[t], x)
  return fmt.pack_substream(x.astype(np.uint32), words[emit], codes)


def decode(data: bytes, indexes: np.ndarray, tables: CodingTables | fmt.RansTables,
           *, lanes: int | None = None) -> np.ndarray:
  """Decodes one substream; returns int32 symbols (n,) for the n given indexes."""
  rt = as_rans_tables(tables)
  idx = fmt.check_indexes(indexes, rt.support.size)
  n = idx.size
  if n == 0:
    if data:
      raise BitstreamError(f"substream of {len(data)} bytes for zero symbols")
    return np.zeros(0, np.int32)
  view = fmt.parse_substream(bytes(data), n, lanes)
  num = view.lanes
  steps = (n + num - 1) // num
  p = np.uint64(rt.precision)
  mask = np.uint64((1 << rt.precision) - 1)
  wbuf = np.frombuffer(view.body, "<u2", count=len(view.body) // 2).astype(np.uint64)
  rows = _grid(idx, n, num, steps)
  valid = _grid(np.ones(n, bool), n, num, steps, False)
  x = view.states.astype(np.uint64)
  bins = np.zeros((steps, num), np.int32)
  ptr = 0
  for t in range(steps):
    k, v = rows[t], valid[t]
    slot = x & mask
    b = rt.lut[k, slot.astype(np.int64)]
    f = rt.freq[k, b].astype(np.uint64)
    c = rt.start[k, b].astype(np.uint64)
    x1 = f * (x >> p) + slot - c
    need = v & (x1 < np.uint64(fmt.RANS_L))
    cnt = int(need.sum())
    if ptr + cnt > wbuf.size:
      raise BitstreamError("substream words exhausted (truncated or corrupt)")
    x1[need] = (x1[need] << _SIXTEEN) | wbuf[ptr : ptr + cnt]
    x = np.where(v, x1, x)
    bins[t] = b
    ptr += cnt
  bins = bins.reshape(-1)[:n]
  num_esc = int(np.count_nonzero(bins == rt.support[idx]))
  if np.any(x != np.uint64(fmt.RANS_L)):
    raise BitstreamError("substream did not decode to the initial coder state (corrupt)")
  codes = fmt.split_body(view, ptr, num_esc)
  return fmt.from_bins(bins, idx, codes, rt)
