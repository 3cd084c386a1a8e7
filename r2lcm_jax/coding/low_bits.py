"""Raw low bits of symbols whose scale lies beyond the coding tables (format version 3).

`entropy.indexes.wide_scale_indexes` gives each symbol a shift `k` in
[0, MAX_LOW_BITS]. A symbol `s` with `k > 0` is sent as a high part, coded with the
tables, and `k` raw low bits:

  hi = (s + 2^(k-1)) >> k          (arithmetic shift: floor)
  lo = s + 2^(k-1) - (hi << k)     in [0, 2^k)
  s  = (hi << k) + lo - 2^(k-1)

(the offset centres the high part on 0 for a symmetric symbol distribution). The low
bits of a coding group are one byte string: the `k` bits of every symbol with `k > 0`,
most significant first, in the group's symbol order, packed with `np.packbits` (zero
padding in the last byte). Its length follows from the shifts, which the decoder derives
itself, so it stores no count; any other length, or non-zero padding, is refused.

API:
  split(symbols, shifts) -> (hi, lo)
  join(hi, lo, shifts) -> symbols
  pack(lo, shifts) -> bytes
  unpack(data, shifts) -> lo
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.errors import BitstreamError

__all__ = ["split", "join", "pack", "unpack"]

_MAX_SHIFT = 16


def _half(shifts: np.ndarray) -> np.ndarray:
  return np.where(shifts > 0, np.left_shift(1, np.maximum(shifts - 1, 0)), 0).astype(np.int64)


def _check_shifts(shifts: np.ndarray) -> np.ndarray:
  shifts = np.asarray(shifts, np.int64)
  if shifts.size and (shifts.min() < 0 or shifts.max() > _MAX_SHIFT):
    raise ValueError(f"shifts must lie in [0, {_MAX_SHIFT}]")
  return shifts


def split(symbols: np.ndarray, shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """int32 symbols (n,) and shifts (n,) -> (high parts int32 (n,), low bits int64 (n,))."""
  shifts = _check_shifts(shifts)
  t = np.asarray(symbols, np.int64) + _half(shifts)
  hi = t >> shifts
  return hi.astype(np.int32), t - (hi << shifts)


def join(hi: np.ndarray, lo: np.ndarray, shifts: np.ndarray) -> np.ndarray:
  """Inverse of `split`: int32 symbols (n,)."""
  shifts = _check_shifts(shifts)
  return ((np.asarray(hi, np.int64) << shifts) + lo - _half(shifts)).astype(np.int32)


def _bit_positions(shifts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(element, bit) pairs of every sent bit, MSB first within an element."""
  width = _MAX_SHIFT
  bit = np.arange(width)[None, :]
  keep = bit < shifts[:, None]
  rows, cols = np.nonzero(keep)
  return rows, shifts[rows] - 1 - cols  # bit index within the element, MSB first


def pack(lo: np.ndarray, shifts: np.ndarray) -> bytes:
  """The low bits (n,) of a group, `shifts[i]` bits each, as bytes."""
  shifts = _check_shifts(shifts)
  rows, bits = _bit_positions(shifts)
  values = (np.asarray(lo, np.int64)[rows] >> bits) & 1
  return np.packbits(values.astype(np.uint8)).tobytes()


def unpack(data: bytes, shifts: np.ndarray) -> np.ndarray:
  """Reads `pack`'s bytes back: int64 low bits (n,). BitstreamError on a wrong length."""
  shifts = _check_shifts(shifts)
  total = int(shifts.sum())
  if len(data) != (total + 7) // 8:
    raise BitstreamError(
      f"low-bit block has {len(data)} bytes, the scales call for {(total + 7) // 8}")
  flat = np.unpackbits(np.frombuffer(data, np.uint8))
  if flat[total:].any():
    raise BitstreamError("low-bit block has non-zero padding")
  rows, bits = _bit_positions(shifts)
  lo = np.zeros(shifts.shape, np.int64)
  np.add.at(lo, rows, flat[:total].astype(np.int64) << bits)
  return lo
