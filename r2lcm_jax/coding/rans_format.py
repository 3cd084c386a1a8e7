"""The rANS substream format shared by the NumPy and JAX coders (host-side NumPy).

Arithmetic (integer only): state `x` uint32 in [2^16, 2^32), 16-bit renormalisation
words, CDF precision P <= 16 (frequencies of a row sum to 2^P).

* encode bin b of row k (f = freq[k, b], c = start[k, b]):
  if x >= f << (32 - P): emit x & 0xffff, x >>= 16;  then x = ((x // f) << P) + x % f + c
* decode: slot = x & (2^P - 1); b = LUT[k, slot]; x = f * (x >> P) + slot - c;
  if x < 2^16: x = (x << 16) | next word.
The encoder starts every lane at x = 2^16 and processes symbols last to first; the
decoder must end every lane at 2^16 having consumed exactly all words.

Lanes: a substream of n symbols uses `L = min(lanes, n)` interleaved lanes; symbol i goes
to lane i % L at step i // L (steps t = 0..ceil(n/L)-1; lanes past the end of the last
step are idle). Words are serialised in decoder reading order: step-major, then lane
(Giesen's interleaving), so no per-lane lengths are stored.

Escape: value v with row k is bin `b = v - offset[k]` if that is in [0, support_k),
else the escape bin `support_k`, and the distance beyond the support goes to the escape
list, in symbol order, as the zig-zag code
    u = 2 (b - support_k)   if b >= support_k    (above the support)
    u = -2 b - 1            if b < 0             (below the support)
written as an unsigned LEB128 varint (7 bits per byte, low group first, high bit = more
bytes follow; at most 5 bytes since |b| < 2^33; a multi-byte varint never ends in a
zero byte, so every value has exactly one encoding). An escape costs the escape bin plus
8 bits for values within 64 of the support edge, close to the likelihood the model
charges (its floor, about 23 bits), where format version 1 paid a raw int32.

Substream bytes, for n > 0 symbols (multi-byte fields little-endian):

    u16 L | u32 state[L] | u16 word[W] | varint[0] ... varint[E-1]

The decoder reads the words from the front as it decodes; when it is done it knows W
(the words it consumed) and E (the escape bins it decoded), and the E varints must fill
the rest of the substream exactly. n = 0 gives b"". Every field is checked.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.entropy.tables import CodingTables, validate_tables
from r2lcm_jax.errors import BitstreamError

__all__ = [
  "RANS_L",
  "MAX_LANES",
  "RansTables",
  "rans_tables",
  "to_bins",
  "from_bins",
  "lane_layout",
  "pack_substream",
  "SubstreamView",
  "parse_substream",
  "split_body",
  "check_indexes",
  "escape_varints",
  "read_escape_varints",
  "MAX_VARINT_BYTES",
]

RANS_L = 1 << 16  # lower bound of the state interval
MAX_LANES = 65535
COARSE_BITS = 12  # decoder's coarse slot table: 2^12 buckets per row
MAX_VARINT_BYTES = 5  # zig-zag escape codes are < 2^35
_INT32 = np.iinfo(np.int32)


@dataclasses.dataclass(frozen=True, eq=False)
class RansTables:
  """Coder view of CodingTables (int32 NumPy arrays).

  Attributes:
    freq: (S, M) frequency of bin b in row k (0 beyond the escape bin), M = max_len - 1.
    start: (S, M) cumulative start of bin b.
    support: (S,) number of regular bins; the escape bin index equals it.
    offset: (S,) value of bin 0.
    lut: (S, 2^P) bin of every slot (slot -> symbol inverse table).
    packed: uint32 (S, M) start | freq << 16 (freq of a bin is < 2^16).
    coarse: int32 (S, 2^C), C = min(P, COARSE_BITS): two-level slot -> bin table. For
      bucket j (slots j * 2^(P-C) ...) the entry is the bin if every slot of the
      bucket decodes to the same bin, else -(1 + r) where row r of `fine` resolves it.
    fine: int32 (F, 2^(P-C)) bins of the slots of the F mixed buckets (F >= 1).
    coarse_bits: C.
    precision: P.
    fingerprint: the CodingTables fingerprint.
  """

  freq: np.ndarray
  start: np.ndarray
  support: np.ndarray
  offset: np.ndarray
  lut: np.ndarray
  packed: np.ndarray
  coarse: np.ndarray
  fine: np.ndarray
  coarse_bits: int
  precision: int
  fingerprint: bytes


def rans_tables(tables: CodingTables) -> RansTables:
  """Derives the coder arrays from validated integer tables (integer ops only)."""
  validate_tables(tables)
  cdf = tables.cdf.astype(np.int64)
  s, m = cdf.shape
  freq = np.diff(cdf, axis=1)
  start = cdf[:, :-1].copy()
  p = tables.precision
  lut = np.empty((s, 1 << p), np.int32)
  slots = np.arange(1 << p)
  for k in range(s):
    n_sym = int(tables.cdf_length[k]) - 1
    lut[k] = np.searchsorted(cdf[k, 1 : n_sym + 1], slots, side="right")
  support = (tables.cdf_length - 2).astype(np.int32)
  cb = min(p, COARSE_BITS)
  buckets = lut.reshape(s, 1 << cb, 1 << (p - cb))
  pure = np.all(buckets == buckets[:, :, :1], axis=2)
  mixed = np.nonzero(~pure.reshape(-1))[0]
  coarse = buckets[:, :, 0].astype(np.int32).reshape(-1)
  coarse[mixed] = -1 - np.arange(mixed.size, dtype=np.int32)
  fine = buckets.reshape(-1, 1 << (p - cb))[mixed]
  if fine.shape[0] == 0:
    fine = np.zeros((1, 1 << (p - cb)), np.int32)
  return RansTables(
    freq=freq.astype(np.int32), start=start.astype(np.int32),
    support=support, offset=tables.offset.astype(np.int32), lut=lut,
    packed=(start | (freq << 16)).astype(np.uint32),
    coarse=coarse.reshape(s, 1 << cb), fine=fine.astype(np.int32), coarse_bits=cb,
    precision=int(p),
    fingerprint=tables.fingerprint,
  )


def check_indexes(indexes: np.ndarray, num_scales: int) -> np.ndarray:
  """int32 (n,) copy of `indexes`; ValueError if not 1-D or out of [0, num_scales)."""
  idx = np.asarray(indexes)
  if idx.ndim != 1:
    raise ValueError(f"indexes must be 1-D, got shape {idx.shape}")
  if idx.size and (idx.min() < 0 or idx.max() >= num_scales):
    raise ValueError(f"indexes must be in [0, {num_scales})")
  return idx.astype(np.int32)


def to_bins(symbols: np.ndarray, indexes: np.ndarray, rt: RansTables
            ) -> tuple[np.ndarray, np.ndarray]:
  """int32 symbols (n,) -> (bins int32 (n,), zig-zag escape codes uint64 (E,))."""
  sym = np.asarray(symbols)
  if sym.shape != indexes.shape:
    raise ValueError(f"symbols {sym.shape} and indexes {indexes.shape} differ in shape")
  if sym.dtype.kind not in "iu" or (sym.size and (
      sym.min() < _INT32.min or sym.max() > _INT32.max)):
    raise ValueError("symbols must be integers in the int32 range")
  b = sym.astype(np.int64) - rt.offset[indexes]
  sup = rt.support[indexes].astype(np.int64)
  esc = (b < 0) | (b >= sup)
  bins = np.where(esc, sup, b).astype(np.int32)
  be, se = b[esc], sup[esc]
  codes = np.where(be < 0, -2 * be - 1, 2 * (be - se))
  return bins, codes.astype(np.uint64)


def from_bins(bins: np.ndarray, indexes: np.ndarray, codes: np.ndarray,
              rt: RansTables) -> np.ndarray:
  """Inverse of `to_bins`; BitstreamError if the escape codes do not fit."""
  sup = rt.support[indexes]
  esc = bins == sup
  if int(esc.sum()) != codes.size:
    raise BitstreamError("escape count does not match the substream")
  values = bins.astype(np.int64) + rt.offset[indexes]
  if codes.size:
    u = codes.astype(np.int64)  # < 2^35
    b = np.where(u & 1, -((u + 1) >> 1), sup[esc].astype(np.int64) + (u >> 1))
    v = b + rt.offset[indexes[esc]]
    if np.any((v < _INT32.min) | (v > _INT32.max)):
      raise BitstreamError("escaped value outside the int32 range (corrupt)")
    values[esc] = v
  return values.astype(np.int32)


def escape_varints(codes: np.ndarray) -> bytes:
  """Zig-zag codes uint64 (E,) (< 2^35) -> their LEB128 varints, concatenated."""
  u = np.asarray(codes, np.uint64)
  if u.size == 0:
    return b""
  j = np.arange(MAX_VARINT_BYTES, dtype=np.uint64)
  groups = (u[:, None] >> (np.uint64(7) * j)) & np.uint64(0x7F)
  nbytes = 1 + (u[:, None] >> (np.uint64(7) * j[1:])).astype(bool).sum(axis=1)
  keep = j[None, :] < nbytes[:, None]
  more = j[None, :] < (nbytes[:, None] - 1)
  region = (groups | (more.astype(np.uint64) << np.uint64(7))).astype(np.uint8)
  return region[keep].tobytes()


def read_escape_varints(region: bytes, num: int) -> np.ndarray:
  """Parses exactly `num` varints that must fill `region`; zig-zag codes uint64 (num,).

  BitstreamError if the region ends early or has bytes left over, or a varint is longer
  than 5 bytes or not canonical.
  """
  raw = np.frombuffer(region, np.uint8)
  if num == 0:
    if raw.size:
      raise BitstreamError(f"{raw.size} bytes after the last coder word (corrupt)")
    return np.zeros(0, np.uint64)
  ends = np.flatnonzero(raw < 0x80)
  if ends.size < num:
    raise BitstreamError("substream too short for its escape values")
  if ends.size > num or int(ends[-1]) + 1 != raw.size:
    raise BitstreamError("bytes left over after the escape values (corrupt)")
  starts = np.concatenate([[0], ends[:-1] + 1])
  lengths = ends - starts + 1
  if lengths.max() > MAX_VARINT_BYTES:
    raise BitstreamError("escape varint longer than 5 bytes (corrupt)")
  if np.any((lengths > 1) & (raw[ends] == 0)):
    raise BitstreamError("escape varint is not canonical (corrupt)")
  j = np.arange(MAX_VARINT_BYTES)
  pos = np.minimum(starts[:, None] + j, raw.size - 1)
  digits = np.where(j < lengths[:, None], raw[pos] & 0x7F, 0).astype(np.uint64)
  return (digits << (np.uint64(7) * j.astype(np.uint64))).sum(axis=1, dtype=np.uint64)


def lane_layout(n: int, lanes: int) -> tuple[int, int]:
  """(L, T): lanes used and steps for n symbols with at most `lanes` lanes."""
  if not 1 <= lanes <= MAX_LANES:
    raise ValueError(f"lanes must be in [1, {MAX_LANES}], got {lanes}")
  num = min(lanes, n)
  return num, (n + num - 1) // num if num else 0


def pack_substream(states: np.ndarray, words: np.ndarray, codes: np.ndarray) -> bytes:
  """u16 L | u32 states[L] | u16 words[W] | escape varints (see the module doc)."""
  return b"".join((
    np.uint16(states.size).astype("<u2").tobytes(),
    np.asarray(states, "<u4").tobytes(),
    np.asarray(words, "<u2").tobytes(),
    escape_varints(codes),
  ))


@dataclasses.dataclass(frozen=True)
class SubstreamView:
  """Parsed fixed part of a substream: lanes, states uint32 (L,), body uint8 (rest)."""

  lanes: int
  states: np.ndarray
  body: bytes


def parse_substream(data: bytes, n: int, lanes: int | None) -> SubstreamView:
  """Checks the lane header and states of a substream for n > 0 symbols."""
  if len(data) < 2:
    raise BitstreamError(f"substream of {len(data)} bytes is truncated")
  num = int(np.frombuffer(data, "<u2", count=1)[0])
  expected = min(lanes, n) if lanes is not None else None
  if num < 1 or num > n or (expected is not None and num != expected):
    raise BitstreamError(
      f"substream lane count {num} invalid for {n} symbols"
      + (f" (expected {expected})" if expected is not None else ""))
  end = 2 + 4 * num
  if len(data) < end:
    raise BitstreamError(f"substream of {len(data)} bytes is truncated")
  # A symbol emits at most one 16-bit word and one escape varint (<= 5 bytes).
  if len(data) - end > (2 + MAX_VARINT_BYTES) * n:
    raise BitstreamError(f"substream of {len(data)} bytes is too long for {n} symbols")
  states = np.frombuffer(data, "<u4", count=num, offset=2).astype(np.uint32)
  if np.any(states < RANS_L):
    raise BitstreamError("substream has an invalid initial coder state")
  return SubstreamView(lanes=num, states=states, body=data[end:])


def split_body(view: SubstreamView, num_words: int, num_escapes: int) -> np.ndarray:
  """Zig-zag escape codes uint64 (E,) after the W words the decoder consumed.

  BitstreamError if the words overran the substream or the E varints do not fill the
  rest of it exactly.
  """
  if 2 * num_words > len(view.body):
    raise BitstreamError("substream words exhausted (truncated or corrupt)")
  return read_escape_varints(view.body[2 * num_words :], num_escapes)
