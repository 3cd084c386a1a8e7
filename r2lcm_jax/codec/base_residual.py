"""The codec's pre- and post-processing around the network: base image and residual gate.

Models with a base (`models.isp_base`: "isp_inverse", "fitted") code the residual over
a base image x_base computed from the sRGB; the others code the raw itself.

    encoder: Base.for_encoder(raw, sRGB)  -> target = to_residual(raw)  ─► network
             (after synthesis) choose_gate(raw, x̂)  -> gate symbols    ─► group "gate"
    decoder: Base.from_header(sRGB, header)
    both:    reconstruct(x̂, gate symbols) -> raw estimate (H, W, 3)

The base is rebuilt on the encoder side from exactly the values the header carries (the
ISP parameters as stored, the fitted map as serialised), so both sides hold the same
x_base and `reconstruct` is one function for both.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.codec import residual_gate
from r2lcm_jax.coding import bitstream
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.isp import fitted_map
from r2lcm_jax.isp.pipeline import IspParams
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["Base"]


@dataclasses.dataclass(frozen=True)
class Base:
  """The base of one image, as both sides know it.

  Attributes:
    cfg: the model configuration (its `base` field decides everything).
    x_base: float32 (H, W, 3) base image, or None for base "none".
    isp: the ISP header values (base "isp_inverse"), else None.
    fitted: the serialised fitted map (base "fitted"), else None.
  """

  cfg: R2LCMConfig
  x_base: np.ndarray | None = None
  isp: tuple[float, ...] | None = None
  fitted: bytes | None = None

  @classmethod
  def for_encoder(cls, cfg: R2LCMConfig, s: np.ndarray, raw: np.ndarray,
                  isp: IspParams | None) -> Base:
    """The encoder's base for sRGB s and raw (H, W, 3) float32.

    Raises:
      InputError: an "isp_inverse" model without `isp`, or an sRGB that ISP did not make.
    """
    if isp_base.needs_fit(cfg):
      fitted = isp_base.fit_base(cfg, s, raw)
      return cls(cfg, isp_base.base_image(cfg, s, None, fitted), fitted=fitted.to_bytes())
    if not isp_base.needs_isp(cfg):
      return cls(cfg)
    if isp is None:
      isp_base.base_image(cfg, s, isp)  # raises the InputError that names the fix
    values = isp_base.header_values(isp)
    stored = isp_base.params_from_header(values)  # exactly what the decoder will use
    isp_base.check_rendered_by(s, raw, stored)
    return cls(cfg, isp_base.base_image(cfg, s, stored), isp=values)

  @classmethod
  def from_header(cls, cfg: R2LCMConfig, s: np.ndarray, header: bitstream.Header) -> Base:
    """The decoder's base from the header's blocks (checked against the model)."""
    for needed, block, what in ((isp_base.needs_isp(cfg), header.isp, "ISP"),
                                (isp_base.needs_fit(cfg), header.fitted, "fitted-map")):
      if needed != (block is not None):
        raise BitstreamError(
          f"bitstream and model disagree on the base: the model "
          f"{'needs' if needed else 'has no use for'} the {what} block, the bitstream "
          f"{'has' if block is not None else 'has none'}")
    if header.fitted is not None:
      fitted = fitted_map.FittedMap.from_bytes(header.fitted)
      return cls(cfg, isp_base.base_image(cfg, s, None, fitted), fitted=header.fitted)
    if header.isp is not None:
      params = isp_base.params_from_header(header.isp)
      return cls(cfg, isp_base.base_image(cfg, s, params), isp=tuple(header.isp))
    return cls(cfg)

  @property
  def flags(self) -> int:
    """The header flags of the base blocks."""
    return (bitstream.FLAG_ISP if self.isp is not None else 0) | (
      bitstream.FLAG_FITTED if self.fitted is not None else 0)

  def target(self, raw: np.ndarray) -> np.ndarray:
    """What the network codes: raw (H, W, 3), or the scaled residual over the base."""
    return isp_base.to_residual(self.cfg, raw, self.x_base)

  def check_gate(self, gate: residual_gate.GateSpec | None) -> None:
    """A gate scales the residual over a base: refuse it for models without one."""
    if gate is not None and self.x_base is None:
      raise InputError("the residual gate scales the residual over a base: it needs a "
                       "model with base 'isp_inverse' or 'fitted'")

  def delta(self, x_hat: np.ndarray) -> np.ndarray | None:
    """The network's residual in raw units (H, W, 3), None without a base."""
    return None if self.x_base is None else isp_base.residual_delta(self.cfg, x_hat)

  def choose_gate(self, raw: np.ndarray, x_hat: np.ndarray,
                  gate: residual_gate.GateSpec) -> np.ndarray:
    """Encoder: the gate symbols int32 (rows, cols, 3) of network output x_hat."""
    return residual_gate.choose(raw, self.x_base, self.delta(x_hat), gate)

  def reconstruct(self, x_hat: np.ndarray, gate: residual_gate.GateSpec | None = None,
                  symbols: np.ndarray | None = None) -> np.ndarray:
    """Both sides: the raw estimate (H, W, 3) from the network output x_hat (H, W, 3)."""
    if self.x_base is None:
      return x_hat
    if gate is not None:
      return residual_gate.apply(self.x_base, self.delta(x_hat), symbols, gate)
    return isp_base.from_residual(self.cfg, x_hat, self.x_base)
