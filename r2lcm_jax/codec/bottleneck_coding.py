"""Coding of the CVPR'23 hyper latent through the factorized bottleneck (one step).

    encoder                                   decoder
    m = float16(mean_hw(z)) (channel_mean)    m  <── group "hyper/mean" (C float16)
    s = round(z - m)   ──► group "hyper/0" ──► s
    z_hat = s + m                             z_hat = s + m

The factorized density has no context, so all of z is one coding group. Symbols are
ordered channel-major (every position of channel 0 in raster order, then channel 1, ...)
like the context steps of `latent_coding`; the symbol of channel c is coded with table
row `base + c` (the bottleneck rows of `entropy.factorized.with_bottleneck_rows`).
Values beyond a row's support take the escape path of the coder.

The channel mean m(z_hat) of the CVPR paper is side information: its float16 bit
patterns (int16 symbols) are coded as group "hyper/mean" with the widest Gaussian row
(they escape; about 3 bytes each, C of them). Encoder and decoder both reconstruct with
the float16 value, so z_hat is identical on both sides.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.codec.step_coders import StepCoder
from r2lcm_jax.entropy import factorized
from r2lcm_jax.entropy.indexes import SYMBOL_MAX, SYMBOL_MIN

__all__ = ["code_bottleneck", "GROUP", "MEAN_GROUP"]

GROUP = "hyper/0"
MEAN_GROUP = "hyper/mean"


def _channel_mean(runner, z: np.ndarray | None, coder: StepCoder, channels: int) -> np.ndarray:
  """float32 (C,) channel mean as both sides use it (float16 values), coded if enabled."""
  if not runner.config.channel_mean:
    return np.zeros(channels, np.float32)
  idx = np.full(channels, runner.bottleneck_row - 1, np.int32)  # widest Gaussian row

  def compute():
    m = np.asarray(z, np.float32).mean(axis=(0, 1, 2)).astype(np.float16)
    return m.view(np.int16).astype(np.int32)

  bits = coder.symbols(MEAN_GROUP, idx, compute, lambda s: 16.0 * s.size)
  return np.asarray(bits, np.int32).astype(np.int16).view(np.float16).astype(np.float32)


def code_bottleneck(runner, z: np.ndarray | None, shape: tuple[int, int, int],
                    coder: StepCoder) -> np.ndarray:
  """Codes (or, with z = None, decodes) the hyper latent of a cvpr23 model.

  Args:
    runner: the model runner (`config`, `bottleneck_row`, `bottleneck_params`).
    z: float32 (1, h, w, C) continuous hyper latent (encoder) or None (decoder).
    shape: (h, w, C) of the hyper latent.
    coder: encoding or decoding step coder.

  Returns:
    float32 (1, h, w, C) z_hat, identical on both sides.
  """
  h, w, c = shape
  mean = _channel_mean(runner, z, coder, c)
  idx = np.repeat(runner.bottleneck_row + np.arange(c, dtype=np.int32), h * w)

  def compute():
    r = np.rint(np.asarray(z, np.float32)[0] - mean)  # half-to-even, as jnp.round
    r = np.nan_to_num(r, nan=0.0)
    return np.clip(r, SYMBOL_MIN, SYMBOL_MAX).astype(np.int32).transpose(2, 0, 1).ravel()

  def estimate(symbols):
    x = symbols.reshape(c, h * w).T.astype(np.float64)  # (n, C)
    p = factorized.bin_probability(runner.bottleneck_params, x, np)
    return float(-np.log2(np.maximum(p, 1e-9)).sum())

  symbols = coder.symbols(GROUP, idx.astype(np.int32), compute, estimate)
  s = np.asarray(symbols, np.int32).reshape(c, h, w).transpose(1, 2, 0).astype(np.float32)
  return (s + mean)[None].astype(np.float32)
