"""Raw low bits of symbols beyond the tables: split/join and pack/unpack invert, bad blocks fail."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.coding import low_bits
from r2lcm_jax.errors import BitstreamError


def _case(seed, n=5000):
  rng = np.random.default_rng(seed)
  symbols = rng.integers(-32768, 32768, n).astype(np.int32)
  shifts = rng.integers(0, 8, n).astype(np.int32)
  shifts[rng.random(n) < 0.3] = 0
  return symbols, shifts


@pytest.mark.parametrize("seed", [0, 1])
def test_split_then_join_gives_the_symbols_back(seed):
  symbols, shifts = _case(seed)
  hi, lo = low_bits.split(symbols, shifts)
  assert ((lo >= 0) & (lo < (1 << shifts))).all()
  np.testing.assert_array_equal(hi[shifts == 0], symbols[shifts == 0])
  np.testing.assert_array_equal(low_bits.join(hi, lo, shifts), symbols)


def test_high_part_is_centred():
  """With the 2^(k-1) offset, symbols within +-2^(k-1) of 0 have high part 0."""
  shifts = np.full(16, 4, np.int32)
  symbols = np.arange(-8, 8, dtype=np.int32)
  hi, _ = low_bits.split(symbols, shifts)
  assert not hi.any()


@pytest.mark.parametrize("seed", [2, 3])
def test_pack_unpack_round_trip_and_size(seed):
  symbols, shifts = _case(seed)
  _, lo = low_bits.split(symbols, shifts)
  data = low_bits.pack(lo, shifts)
  assert len(data) == (int(shifts.sum()) + 7) // 8
  np.testing.assert_array_equal(low_bits.unpack(data, shifts), lo)


def test_bits_are_written_most_significant_first():
  data = low_bits.pack(np.array([0b101, 0, 1]), np.array([3, 0, 1]))
  assert data == bytes([0b10110000])


def test_wrong_length_and_padding_are_refused():
  shifts = np.array([3, 2], np.int32)
  data = low_bits.pack(np.array([5, 2]), shifts)
  with pytest.raises(BitstreamError, match="low-bit block has 2 bytes"):
    low_bits.unpack(data + b"\0", shifts)
  with pytest.raises(BitstreamError, match="padding"):
    low_bits.unpack(bytes([data[0] | 1]), shifts)
  with pytest.raises(ValueError, match="shifts"):
    low_bits.split(np.zeros(1, np.int32), np.array([17]))
