"""Native CPU rANS: numba-compiled kernels, one call per substream, substreams in threads.

Same arithmetic and bytes as the NumPy reference (`rans_numpy`) and the JAX coder
(`rans_jax`); the format is specified in `rans_format`. Each substream is coded by one
scalar loop over its symbols in storage order (symbol i sits in lane i % L), so the L
interleaved lanes give the CPU independent dependency chains to overlap. The kernels
are compiled by numba with `nogil=True`, so `NativeRans` runs the substreams of a call
concurrently in a thread pool (one thread per CPU core by default; calls of fewer than
2^15 symbols stay in the calling thread); the bytes do not depend on the threads.

* Encoder: walks the symbols last to first and writes the emitted 16-bit words from the
  end of a buffer backwards, which leaves them in the format's decoder reading order
  (step-major, then lane). The division x // f multiplies by a float64 reciprocal of f
  from a table; for x < 2^32 and f < 2^16 the truncated product is the quotient or one
  less, and one integer correction step makes quotient and remainder exact.
  Renormalisation is branch-free in both directions (it happens on ~1 symbol in 8, at
  random, so a branch would mispredict).
* Decoder: slot -> bin through a two-level table like the JAX decoder's (coarse bucket,
  fine row of a mixed bucket), with 2^10 buckets per row and int16 entries where they
  fit, so that the tables stay in the core's L2 cache.
Escape values (rare) are converted and serialised by the NumPy helpers of `rans_format`.

Compiled kernels are cached on disk by numba (`cache=True`: in `__pycache__` next to
this file, or numba's user-wide cache directory when that is read-only); where neither
is writable the kernels are compiled in memory on first use (a few seconds).

API:
  available() -> bool (numba importable)
  NativeRans(tables, *, workers=None)
  NativeRans(tables).encode_many([(symbols int32 (n_k,), indexes int32 (n_k,)), ...],
                                 lanes=L) -> list[bytes]
  NativeRans(tables).decode_many([bytes, ...], [indexes int32 (n_k,), ...],
                                 lanes=None) -> list[int32 (n_k,)]
  encode(symbols, indexes, tables, *, lanes) -> bytes
  decode(data, indexes, tables, *, lanes=None) -> int32 (n,)
Corrupt data raises `BitstreamError`; invalid arguments raise `ValueError`.
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib.util
import os

import numpy as np

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.coding.rans_numpy import as_rans_tables
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = ["available", "NativeRans", "encode", "decode", "default_workers", "kernels",
           "decoder_tables"]

_COARSE_BITS = 10
_MIN_PARALLEL_SYMBOLS = 1 << 15  # smaller calls run in the calling thread
_BAD_INDEX = -1
_WORDS_EXHAUSTED = -2
_BAD_FINAL_STATE = -3


def available() -> bool:
  """True if numba can be imported (the kernels compile on first use)."""
  return importlib.util.find_spec("numba") is not None


def default_workers() -> int:
  """CPU cores this process may run on."""
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # not on Linux
    return max(1, os.cpu_count() or 1)


def _encode_kernel(sym, idx, packed, inv_freq, offset, support, precision, lanes,
                   states, words, codes):
  """Encodes one substream.

  Args:
    sym, idx: int32 (n,) symbols and table rows (n >= 1).
    packed: uint32 (S, M) start | freq << 16; inv_freq: float64 (S, M) 1 / freq.
    offset, support: int32 (S,).
    precision: P; lanes: L = min(lanes, n).
    states: uint32 (L,) out: final lane states.
    words: uint16 (n + 1,) out: the emitted words in words[first_word:] (entry 0 is
      scratch: every step stores its word and keeps it only if it emits, no branch).
    codes: int64 (n,) out: zig-zag escape codes in symbol order in codes[first_code:].

  Returns:
    (first_word, first_code), or (_BAD_INDEX, i) for a row index out of range.
  """
  n = sym.shape[0]
  num_rows = packed.shape[0]
  x = np.empty(lanes, np.int64)
  x[:] = 1 << 16
  shift = 32 - precision
  wpos = n + 1
  epos = n
  lane = (n - 1) % lanes
  for i in range(n - 1, -1, -1):
    k = np.int64(idx[i])
    if k < 0 or k >= num_rows:
      return _BAD_INDEX, i
    b = np.int64(sym[i]) - np.int64(offset[k])
    sup = np.int64(support[k])
    if b < 0 or b >= sup:
      epos -= 1
      codes[epos] = -2 * b - 1 if b < 0 else 2 * (b - sup)
      b = sup
    fc = np.int64(packed[k, b])
    f = fc >> 16
    xi = x[lane]
    emit = np.int64(xi >= (f << shift))
    words[wpos - 1] = xi & 0xFFFF
    wpos -= emit
    xi >>= emit << 4
    q = np.int64(np.float64(xi) * inv_freq[k, b])  # floor(xi / f) or one less
    r = xi - q * f
    up = np.int64(r >= f)
    q += up
    r -= up * f
    x[lane] = (q << precision) + r + (fc & 0xFFFF)
    lane -= 1
    if lane < 0:
      lane = lanes - 1
  for j in range(lanes):
    states[j] = x[j]
  return wpos, epos


def _decode_kernel(words, idx, states, packed, coarse, fine, offset, support, precision,
                   coarse_bits, out):
  """Decodes one substream.

  Args:
    words: uint16 (W + 1,) the substream body read as words, plus one padding word
      (the body may run on into the escape varints; the decoder stops where the
      encoder's words end). Every step reads a word and keeps it only if it
      renormalises (no branch).
    idx: int32 (n,) table rows; states: uint32 (L,) initial lane states.
    packed, offset, support: RansTables arrays; coarse, fine: `decoder_tables`.
    precision: P; coarse_bits: C of `decoder_tables`.
    out: int32 (n,) out: decoded values bin + offset (escape bins give support +
      offset; the caller replaces them by the escaped values).

  Returns:
    (words read, escape bins), or (_BAD_INDEX, i), (_WORDS_EXHAUSTED, 0),
    (_BAD_FINAL_STATE, lane).
  """
  n = idx.shape[0]
  lanes = states.shape[0]
  num_rows = packed.shape[0]
  num_words = words.shape[0] - 1
  x = np.empty(lanes, np.int64)
  for j in range(lanes):
    x[j] = states[j]
  mask = (1 << precision) - 1
  fine_bits = precision - coarse_bits
  fine_mask = (1 << fine_bits) - 1
  ptr = 0
  num_esc = 0
  lane = 0
  for i in range(n):
    k = np.int64(idx[i])
    if k < 0 or k >= num_rows:
      return _BAD_INDEX, i
    xi = x[lane]
    slot = xi & mask
    b = np.int64(coarse[k, slot >> fine_bits])
    if b < 0:
      b = np.int64(fine[-1 - b, slot & fine_mask])
    fc = np.int64(packed[k, b])
    xi = (fc >> 16) * (xi >> precision) + slot - (fc & 0xFFFF)
    need = np.int64(xi < (1 << 16))
    w = np.int64(words[min(ptr, num_words)])
    x[lane] = (xi << (need << 4)) | (w & -need)
    ptr += need
    num_esc += np.int64(b == support[k])
    out[i] = b + offset[k]
    lane += 1
    if lane == lanes:
      lane = 0
  if ptr > num_words:
    return _WORDS_EXHAUSTED, 0
  for j in range(lanes):
    if x[j] != 1 << 16:
      return _BAD_FINAL_STATE, j
  return ptr, num_esc


def decoder_tables(rt: fmt.RansTables, coarse_bits: int = _COARSE_BITS
                   ) -> tuple[np.ndarray, np.ndarray, int]:
  """Two-level slot -> bin table of `rt.lut` with C = min(P, coarse_bits) bits.

  Returns:
    coarse (S, 2^C): the bin of bucket j if all its slots decode to one bin, else
      -(1 + r) for row r of `fine`; fine (F, 2^(P-C)) (F >= 1): the bins of the slots of
      the mixed buckets; C. int16 if every entry fits, else int32.
  """
  p = rt.precision
  cb = min(p, int(coarse_bits))
  s = rt.lut.shape[0]
  buckets = rt.lut.reshape(s, 1 << cb, 1 << (p - cb))
  pure = np.all(buckets == buckets[:, :, :1], axis=2).reshape(-1)
  mixed = np.flatnonzero(~pure)
  coarse = buckets[:, :, 0].reshape(-1).astype(np.int64)
  coarse[mixed] = -1 - np.arange(mixed.size)
  fine = buckets.reshape(-1, 1 << (p - cb))[mixed]
  if fine.shape[0] == 0:
    fine = np.zeros((1, 1 << (p - cb)), np.int32)
  small = np.iinfo(np.int16)
  fits = coarse.min() >= small.min and max(coarse.max(), fine.max()) <= small.max
  dtype = np.int16 if fits else np.int32
  return (np.ascontiguousarray(coarse.reshape(s, 1 << cb).astype(dtype)),
          np.ascontiguousarray(fine.astype(dtype)), cb)


@functools.cache
def kernels():
  """(encode, decode) numba dispatchers, compiled on first call (disk-cached if possible).

  Raises ImportError without numba.
  """
  import numba

  def jit(fn):
    try:
      return numba.njit(nogil=True, cache=True, error_model="numpy")(fn)
    except RuntimeError:  # no writable cache location: compile in memory only
      return numba.njit(nogil=True, cache=False, error_model="numpy")(fn)

  return jit(_encode_kernel), jit(_decode_kernel)


def _as_int32_symbols(symbols, shape) -> np.ndarray:
  sym = np.asarray(symbols)
  if sym.shape != shape:
    raise ValueError(f"symbols {sym.shape} and indexes {shape} differ in shape")
  if sym.dtype != np.int32:
    if sym.dtype.kind not in "iu" or (sym.size and (
        sym.min() < np.iinfo(np.int32).min or sym.max() > np.iinfo(np.int32).max)):
      raise ValueError("symbols must be integers in the int32 range")
    sym = sym.astype(np.int32)
  return np.ascontiguousarray(sym)


def _as_int32_indexes(indexes) -> np.ndarray:
  idx = np.asarray(indexes)
  if idx.ndim != 1:
    raise ValueError(f"indexes must be 1-D, got shape {idx.shape}")
  if idx.dtype.kind not in "iu":
    raise ValueError(f"indexes must be integers, got {idx.dtype}")
  if idx.dtype != np.int32:
    if idx.size and (idx.min() < 0 or idx.max() >= 1 << 31):
      raise ValueError("indexes out of range")
    idx = idx.astype(np.int32)
  return np.ascontiguousarray(idx)  # the kernels check the range


class NativeRans:
  """Native rANS coder bound to one set of tables; substreams run in `workers` threads."""

  def __init__(self, tables: CodingTables | fmt.RansTables, *, workers: int | None = None):
    """Args:
      tables: the coding tables.
      workers: threads for the substreams of a call (None: the CPU cores this process
        may use; 1: the calling thread). The bytes do not depend on it.
    """
    self._encode_kernel, self._decode_kernel = kernels()
    self.rt = as_rans_tables(tables)
    rt = self.rt
    self._workers = default_workers() if workers is None else max(1, int(workers))
    self._packed = np.ascontiguousarray(rt.packed)
    # 1 / f of every bin; unused bins (f = 0) are never coded.
    freq = rt.freq.astype(np.float64)
    self._inv_freq = np.divide(1.0, freq, out=np.zeros_like(freq), where=freq > 0)
    self._coarse, self._fine, self._coarse_bits = decoder_tables(rt)
    self._offset = np.ascontiguousarray(rt.offset)
    self._support = np.ascontiguousarray(rt.support)

  def _map(self, fn, args: list, symbols: int) -> list:
    if self._workers > 1 and len(args) > 1 and symbols >= _MIN_PARALLEL_SYMBOLS:
      with concurrent.futures.ThreadPoolExecutor(min(self._workers, len(args))) as pool:
        return list(pool.map(fn, args))
    return [fn(a) for a in args]

  def _encode_one(self, item, lanes: int) -> bytes:
    symbols, indexes = item
    idx = _as_int32_indexes(indexes)
    sym = _as_int32_symbols(symbols, idx.shape)
    n = idx.size
    num, _ = fmt.lane_layout(n, lanes)
    if n == 0:
      return b""
    rt = self.rt
    states = np.empty(num, np.uint32)
    words = np.empty(n + 1, np.uint16)
    codes = np.empty(n, np.int64)
    first_word, first_code = self._encode_kernel(
      sym, idx, self._packed, self._inv_freq, self._offset, self._support,
      rt.precision, num, states, words, codes)
    if first_word == _BAD_INDEX:
      raise ValueError(f"indexes must be in [0, {rt.support.size})")
    return fmt.pack_substream(states, words[first_word:], codes[first_code:])

  def _decode_one(self, view: fmt.SubstreamView, idx: np.ndarray) -> np.ndarray:
    rt = self.rt
    num_words = len(view.body) // 2
    body = np.empty(num_words + 1, np.uint16)
    body[:num_words] = np.frombuffer(view.body, "<u2", count=num_words)
    body[num_words] = 0
    out = np.empty(idx.size, np.int32)
    used, num_esc = self._decode_kernel(
      body, idx, view.states, self._packed, self._coarse, self._fine, self._offset,
      self._support, rt.precision, self._coarse_bits, out)
    if used == _BAD_INDEX:
      raise ValueError(f"indexes must be in [0, {rt.support.size})")
    if used == _WORDS_EXHAUSTED:
      raise BitstreamError("substream words exhausted (truncated or corrupt)")
    if used == _BAD_FINAL_STATE:
      raise BitstreamError("substream did not decode to the initial coder state (corrupt)")
    codes = fmt.split_body(view, used, num_esc)
    if codes.size:
      bins = (out.astype(np.int64) - rt.offset[idx]).astype(np.int32)
      return fmt.from_bins(bins, idx, codes, rt)
    return out

  def encode_many(self, items: list[tuple[np.ndarray, np.ndarray]], *, lanes: int
                  ) -> list[bytes]:
    """Encodes each (symbols int32 (n_k,), indexes int32 (n_k,)) into one substream."""
    fmt.lane_layout(1, lanes)  # validates lanes
    items = list(items)
    return self._map(lambda item: self._encode_one(item, lanes), items,
                     sum(np.size(i) for _, i in items))

  def decode_many(self, datas: list[bytes], indexes: list[np.ndarray], *,
                  lanes: int | None = None) -> list[np.ndarray]:
    """Decodes substreams; returns int32 symbols (n_k,) per substream."""
    if len(datas) != len(indexes):
      raise ValueError("need one index array per substream")
    jobs = []
    for data, indexes_k in zip(datas, indexes, strict=True):
      idx = _as_int32_indexes(indexes_k)
      if idx.size == 0:
        if data:
          raise BitstreamError(f"substream of {len(data)} bytes for zero symbols")
        jobs.append(None)
      else:
        jobs.append((fmt.parse_substream(bytes(data), idx.size, lanes), idx))
    return self._map(
      lambda job: np.zeros(0, np.int32) if job is None else self._decode_one(*job), jobs,
      sum(job[1].size for job in jobs if job is not None))


def encode(symbols: np.ndarray, indexes: np.ndarray,
           tables: CodingTables | fmt.RansTables, *, lanes: int) -> bytes:
  """Encodes int32 symbols (n,) with table rows `indexes` (n,) into one substream."""
  return NativeRans(tables, workers=1).encode_many([(symbols, indexes)], lanes=lanes)[0]


def decode(data: bytes, indexes: np.ndarray, tables: CodingTables | fmt.RansTables,
           *, lanes: int | None = None) -> np.ndarray:
  """Decodes one substream; returns int32 symbols (n,) for the n given indexes."""
  return NativeRans(tables, workers=1).decode_many([data], [indexes], lanes=lanes)[0]
