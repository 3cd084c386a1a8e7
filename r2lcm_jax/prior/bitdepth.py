"""Bit-depth recovery (PriorRAW Table 3): the 4-to-8-bit task and its simple baselines.

The paper trains on MIT-Adobe 5K and Sintel and tests on Kodak: the input is an 8-bit
image reduced to its `bits` most significant bits, the target the 8-bit image. Here
(`experiments/make_bitdepth_set.py`) a pair is written in the NUS layout PriorRAW reads:
"sRGB" = the low-bit image (`truncate`, zero padding: the low bits set to 0, stored as
8-bit PNG) and "raw" = the 8-bit image (stored as 16-bit PNG with value v * 257, so it
reads back as exactly v / 255), so the whole PriorRAW pipeline (encoder, prior,
reconstructor) and the U-Net train on it unchanged.

Baselines of the bit-depth literature, computed on 8-bit code values:
  zero padding     the input itself, v_low = (v >> (8 - bits)) << (8 - bits)
  bit replication  the `bits` high bits repeated into the low bits (MIG / BR)
  interval centre  v_low + half the quantisation step (the MMSE estimate for a flat
                   distribution inside the interval)
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.errors import ConfigError

__all__ = ["truncate", "bit_replicate", "interval_centre", "to_raw16"]


def _check(v: np.ndarray, bits: int) -> np.ndarray:
  v = np.asarray(v)
  if v.dtype != np.uint8:
    raise ConfigError(f"bit-depth recovery works on uint8 images, got {v.dtype}")
  if not 1 <= bits <= 7:
    raise ConfigError(f"bits must be in 1..7, got {bits}")
  return v


def truncate(v: np.ndarray, bits: int) -> np.ndarray:
  """uint8 -> uint8 with only the `bits` most significant bits kept (zero padding)."""
  v = _check(v, bits)
  shift = 8 - bits
  return ((v >> shift) << shift).astype(np.uint8)


def bit_replicate(v_low: np.ndarray, bits: int) -> np.ndarray:
  """Zero-padded uint8 -> uint8 with its high `bits` repeated into the low bits."""
  v = _check(v_low, bits).astype(np.uint16) >> (8 - bits)
  out = np.zeros_like(v)
  filled = 0
  while filled < 8:
    out = (out << bits) | v
    filled += bits
  return (out >> (filled - 8)).astype(np.uint8)


def interval_centre(v_low: np.ndarray, bits: int) -> np.ndarray:
  """Zero-padded uint8 -> float32 in [0, 1]: the centre of each quantisation interval."""
  v = _check(v_low, bits).astype(np.float32)
  step = 2 ** (8 - bits)
  return (v + (step - 1) / 2.0) / 255.0


def to_raw16(v: np.ndarray) -> np.ndarray:
  """uint8 -> uint16 v * 257 (reads back as v / 255 through `io.images`)."""
  return np.asarray(v, np.uint16) * np.uint16(257)
