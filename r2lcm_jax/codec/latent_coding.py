"""The coding loop of one latent level, shared by both levels and both directions.

    P (conditioning), sRGB ──► order map O (coding-order option; decoder rebuilds it)
                                    │
    for step i = 0..T-1:            ▼
      (û, Q, K=[O<i]) ──► CP + EP ──► σ, μ, q  (rounded through float16)
      sel = [O == i]; q' = q + γ on the last sent main step
      dropped step  : û[sel] = μ[sel]                      (nothing sent)
      otherwise     : s = round((u-μ)/2^q')  ──► substreams ──► bytes     (encoder)
                      bytes ──► s                                          (decoder)
                      û[sel] = f16(μ + s·2^q');  Q[sel] = q

Symbols of a step are ordered channel-major (channel 0 of every selected position in
raster order, then channel 1, ...), as in the official code. Parameters and decoded
values pass through float16 on both sides so that encoder and decoder feed identical
arrays to the next step.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.codec.step_coders import StepCoder
from r2lcm_jax.entropy import gaussian
from r2lcm_jax.entropy import indexes as entropy_indexes
from r2lcm_jax.errors import InputError
from r2lcm_jax.models.coding_order import DEFAULT_ORDER
from r2lcm_jax.models.context_model import gamma_applies, is_dropped

__all__ = ["RateSettings", "code_level"]

_MAX_GAMMA_MILLI = 1 << 20  # gamma <= 1048.576


@dataclasses.dataclass(frozen=True)
class RateSettings:
  """Variable-rate knobs of one bitstream (identical on both sides).

  Attributes:
    drop_steps: the last `drop_steps` main-level steps are not sent (decoder uses μ).
    gamma_milli: γ·1000 as an integer; the last sent main step is coded with step
      2^(q + γ). Stored as an integer so both sides use the same float γ.
  """

  drop_steps: int = 0
  gamma_milli: int = 0

  @property
  def gamma(self) -> float:
    return self.gamma_milli / 1000.0

  @classmethod
  def from_request(cls, drop_steps: int, gamma: float, num_steps: int) -> RateSettings:
    """The encoder's settings; InputError unless 0 <= drop_steps < T and gamma >= 0."""
    if not 0 <= drop_steps < num_steps:
      raise InputError(f"drop_steps must be in 0..{num_steps - 1}, got {drop_steps}")
    gamma_milli = int(round(float(gamma) * 1000))
    if not 0 <= gamma_milli <= _MAX_GAMMA_MILLI:
      raise InputError(f"gamma must be >= 0 and reasonable, got {gamma}")
    return cls(drop_steps=int(drop_steps), gamma_milli=gamma_milli)


def _f16(a: np.ndarray) -> np.ndarray:
  return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


def code_level(
  runner: ModelRunner,
  level: str,
  u: np.ndarray | None,
  P: np.ndarray,
  srgb: np.ndarray,
  rate: RateSettings,
  coder: StepCoder,
  order: str = DEFAULT_ORDER,
) -> np.ndarray:
  """Runs the T context steps of `level`, coding (or decoding) its symbols.

  Args:
    runner: jitted model pieces.
    level: "hyper" or "main".
    u: float32 (1, h, w, C) continuous latent (encoder) or None (decoder).
    P: float32 (1, h, w, 2C) conditioning (zeros for the hyper level).
    srgb: float32 (1, H, W, 3) sRGB in [0, 1] (padded image).
    rate: the rate settings.
    coder: encoding or decoding step coder.
    order: the coding-order option (`models.coding_order`; recorded in the header).

  Returns:
    float32 (1, h, w, C): the quantised latent û, identical on both sides.
  """
  _, h, w, _ = P.shape
  C = runner.latent_channels
  T = runner.num_steps
  steps = np.asarray(runner.order_map(level, P, srgb, order))[0]  # (h, w) int32
  u_hat = np.zeros((1, h, w, C), np.float32)
  q_map = np.zeros((1, h, w, C), np.float32)
  for i in range(T):
    sel = steps == i
    if not sel.any():  # an empty step changes nothing: skip its networks on both sides
      continue
    known = (steps < i).astype(np.float32)[None, :, :, None]
    sigma, mu, q = (
      _f16(a)[0] for a in runner.entropy_parameters(level, u_hat, q_map, known, P, srgb)
    )
    # Channel-major gather: (C, n) then flattened.
    mu_s = mu[sel].T.ravel()
    q_s = q[sel].T.ravel()
    if is_dropped(level, i, T, rate.drop_steps):
      values = mu_s
    else:
      q_code = q_s + np.float32(rate.gamma) if gamma_applies(level, i, T, rate.drop_steps) else q_s
      q_code = q_code.astype(np.float32)
      sigma_s = sigma[sel].T.ravel()
      if coder.wide_scales:  # format >= 3: beyond the tables, high part + raw low bits
        idx, shifts, q_sym = entropy_indexes.wide_scale_indexes(
          sigma_s, q_code, runner.scale_table)
      else:
        idx, shifts, q_sym = entropy_indexes.scale_indexes(
          sigma_s, q_code, runner.scale_table), None, q_code
      u_s = None if u is None else u[0][sel].T.ravel()

      def estimate(symbols, mu_s=mu_s, sigma_s=sigma_s, q_code=q_code, q_sym=q_sym):
        values = entropy_indexes.dequantize(symbols, mu_s, q_sym)
        return gaussian.code_length_bits(values, mu_s, sigma_s, q_code)

      symbols = coder.symbols(
        f"{level}/{i}",
        np.asarray(idx, np.int32),
        lambda u_s=u_s, mu_s=mu_s, q_sym=q_sym: entropy_indexes.quantize_symbols(
          u_s, mu_s, q_sym
        ),
        estimate,
        shifts,
      )
      values = _f16(entropy_indexes.dequantize(symbols, mu_s, q_sym))
    n = int(sel.sum())
    u_hat[0][sel] = values.reshape(C, n).T
    q_map[0][sel] = q[sel]
  return u_hat
