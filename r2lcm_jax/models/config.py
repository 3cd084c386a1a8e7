"""Configuration of the R2LCM models: IJCV'24 (`learned_context_journal4`) and CVPR'23."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax.numpy as jnp

from r2lcm_jax.errors import ConfigError

__all__ = ["R2LCMConfig", "LEVELS", "COVERAGES", "BASES", "ARCHS", "CONTEXTS"]

LEVELS = ("hyper", "main")
COVERAGES = ("official", "full")
BASES = ("none", "isp_inverse", "fitted")
CONTEXTS = ("learned_order", "serial")
ARCHS = ("ijcv24", "cvpr23")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@dataclasses.dataclass(frozen=True)
class R2LCMConfig:
  """Hyper-parameters; the defaults are the official README configuration.

  Attributes:
    N: base width (64). Hidden widths: N, 3N/2 (mask / context / hyper-synthesis),
      2N (entropy-parameter MLP, 128 at N=64).
    latent_channels: C, channels of y and z (8).
    num_steps: T, context-model steps per level (4).
    stride: stride of each learned down-sampling slot (2).
    down_num: number of strided slots of g_a (2) => y is at H / stride**down_num and the
      decoder upsamples it by the same factor (bicubic). z is y's size / 4.
    adaptive_quant: predict a per-element log2 step q (else q = 0).
    scale_bound: lower bound of the Gaussian scale (0.01).
    likelihood_bound: lower bound of likelihoods (1e-7).
    coverage: what happens to positions that no step selects.
      "official": as the reference: they are never coded (decoder value 0), and training
        charges them -log2(1e-7) = 23.25 bits per element (the train/test mismatch that
        pushes the masks to cover everything).
      "full": the last step takes every position not selected before, so every latent
        element is coded and the training rate equals what is coded.
      Default "official" (fidelity with the published checkpoints, which were trained
      with it); "full" is the cleaner choice for new training and is measured in
      `experiments/results/model.md`.
    compute_dtype: "float32" | "bfloat16" (network activations; entropy math stays fp32).
    param_dtype: "float32".
    codec_seed: seed of the fixed Gumbel keys used by the order masks outside training.
    base: what the network reconstructs (`models.isp_base`).
      "none": the paper: x_hat = g_s(...), the raw-RGB itself.
      "isp_inverse": our extension for sRGB rendered by a known global ISP: the
        network codes and reconstructs the residual r = residual_gain * (x_raw - x_base)
        over the naive inverse x_base = invert_render(sRGB, ISP parameters), and the
        decoder returns x_base + r_hat / residual_gain. The ISP parameters travel in the
        bitstream header (56 bytes). Only for sRGB made by that ISP.
      "fitted": the same residual over x_base = a global sRGB -> raw map that the
        encoder fits to the image pair (`isp.fitted_map`, 9 * fitted_knots int16 in
        the header): works for sRGB from any ISP, the decoder needs nothing but the
        sRGB and the bitstream.
    residual_gain: scale of the residual domain (16: a typical residual of a few 1e-3
      becomes a few 1e-2, the range the PyTorch-default initialisation produces).
    fitted_knots: K, knots of each curve of the fitted map (base "fitted").
    arch: which published model the networks build (SPEC sections 2 and 14).
      "ijcv24" (default): the journal model: g_a to H/stride**down_num, hyper level coded
        by its own learned-context model, sequential order masks, bicubic upsampling and
        a full-resolution decoder.
      "cvpr23": the conference model: symmetric g_a / g_s (learned sub-pixel
        upsampling, no bicubic), 5-conv h_a and sub-pixel h_s, the hyper latent coded
        by a factorized entropy bottleneck (`layers.factorized_bottleneck`), and the
        main level's T order masks predicted jointly by one `h_mask` network
        (`models.joint_order`). Its published setting is `down_num=4`,
        `adaptive_quant=False`, `scale_bound=0.11`, `channel_mean=True`
        (experiments/configs/cvpr23.py).
    channel_mean: (cvpr23 only) subtract the per-image channel mean m(z) of the hyper
      latent before the factorized bottleneck and add it back after; the C means travel
      as side information (the CVPR paper's saved channel mean m(v_hat)).
    context: the entropy model of both latent levels.
      "learned_order" (default): the sRGB-guided context model (masks + T steps).
      "serial": the CVPR'23 supplement's "Ours (serial)" baseline, a PixelCNN-style 5x5
        mask-A context model in raster order (`models.serial_context`), coded one
        position at a time (`models.serial_coding`).
  """

  N: int = 64
  latent_channels: int = 8
  num_steps: int = 4
  stride: int = 2
  down_num: int = 2
  adaptive_quant: bool = True
  scale_bound: float = 0.01
  likelihood_bound: float = 1e-7
  coverage: str = "official"
  compute_dtype: str = "float32"
  param_dtype: str = "float32"
  codec_seed: int = 0
  base: str = "none"
  residual_gain: float = 16.0
  fitted_knots: int = 17
  arch: str = "ijcv24"
  channel_mean: bool = False
  context: str = "learned_order"  # see the docstring (models.serial_context)

  def __post_init__(self):
    if self.coverage not in COVERAGES:
      raise ConfigError(f"coverage must be one of {COVERAGES}, got {self.coverage!r}")
    if self.context not in CONTEXTS:
      raise ConfigError(f"context must be one of {CONTEXTS}, got {self.context!r}")
    if self.base not in BASES:
      raise ConfigError(f"base must be one of {BASES}, got {self.base!r}")
    if self.arch not in ARCHS:
      raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
    if self.channel_mean and self.arch != "cvpr23":
      raise ConfigError("channel_mean is a cvpr23 option (the ijcv24 hyper level has no bottleneck)")
    if not 2 <= self.fitted_knots <= 64:
      raise ConfigError(f"fitted_knots must be in 2..64, got {self.fitted_knots}")
    if not self.residual_gain > 0:
      raise ConfigError(f"residual_gain must be positive, got {self.residual_gain}")
    for name in ("compute_dtype", "param_dtype"):
      if getattr(self, name) not in _DTYPES:
        raise ConfigError(f"{name} must be one of {tuple(_DTYPES)}")
    if not 0 <= self.down_num <= 4:
      raise ConfigError(f"down_num must be in 0..4, got {self.down_num}")
    if self.N < 2 or self.latent_channels < 1 or self.num_steps < 1 or self.stride < 1:
      raise ConfigError("N, latent_channels, num_steps and stride must be positive")

  @property
  def dtype(self) -> Any:
    """Compute dtype as a jnp dtype."""
    return _DTYPES[self.compute_dtype]

  @property
  def pdtype(self) -> Any:
    """Parameter dtype as a jnp dtype."""
    return _DTYPES[self.param_dtype]

  @property
  def strides(self) -> tuple[int, int, int, int]:
    """Stride of g_a's four slots: `stride` for the first `down_num`, else 1."""
    return tuple(self.stride if i < self.down_num else 1 for i in range(4))

  @property
  def upscale(self) -> int:
    """Resolution factor between x and y = stride**down_num (4 by default; ijcv24: the
    decoder's bicubic factor, cvpr23: the product of g_s's sub-pixel factors)."""
    return self.stride**self.down_num

  @property
  def size_multiple(self) -> int:
    """Input H and W must be multiples of this (16 by default)."""
    return self.upscale * 4

  def to_dict(self) -> dict:
    """JSON-serialisable dict."""
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d: dict) -> R2LCMConfig:
    """Inverse of `to_dict`; unknown keys raise ConfigError."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
      raise ConfigError(f"unknown R2LCMConfig keys: {sorted(unknown)}")
    return cls(**d)
