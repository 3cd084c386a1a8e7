"""The networks of the model, each a `ConditionedSequential` (sRGB before every layer).

Layer lists follow SPEC section 2 (official `RawLearnedJournal4`); indices match the
official `nn.Sequential` indices so that `layers_{i}` <-> `<list>.<level>.<i>`.
Channel counts quoted for N=64, C=8 (inputs include the 3 sRGB channels).

| ours | official | role |
|---|---|---|
| `g_a` | g_a_list.0 | raw encoder x -> y (H/4) |
| `h_a` | g_a_list.1 | hyper encoder y -> z (H/16) |
| `h_s` | g_s_list.1 | hyper synthesis z_hat -> P_main (2C, H/4) |
| `g_s` | g_s_list.0 | raw decoder bicubic(y_hat) -> x_hat (full res) |
| `g_mask` | g_mask_list.l | order-mask logits (2) |
| `context_prediction` | context_prediction_list.l | context features (2C) |
| `entropy_parameters` | entropy_parameters_list.l | (sigma, mu, q) (3C) |
"""

from __future__ import annotations

from r2lcm_jax.layers.attention import AttentionBlock
from r2lcm_jax.layers.blocks import (
  ConvBlock,
  ConvBlockUpsample,
  ConvBlockWithStride,
  ResidualBlock,
  ResidualBlockUpsample,
  ResidualBlockWithStride,
)
from r2lcm_jax.layers.conditioning import ConditionedSequential
from r2lcm_jax.layers.conv import Conv, SubpelConv, leaky_relu
from r2lcm_jax.layers.masked_deconv import MaskedDeconv
from r2lcm_jax.layers.pca import PCALayer
from r2lcm_jax.models.config import R2LCMConfig

__all__ = [
  "make_g_a",
  "make_h_a",
  "make_h_s",
  "make_g_s",
  "make_g_mask",
  "make_context_prediction",
  "make_entropy_parameters",
]


def _kw(cfg: R2LCMConfig) -> dict:
  return dict(dtype=cfg.dtype, param_dtype=cfg.pdtype)


def make_g_a(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Raw encoder: cat[S, x] (B,H,W,6) -> y (B, H/4, W/4, C); last attention has no sRGB.

  The CVPR'23 encoder (arch "cvpr23", SPEC section 14) is the same layer list; its
  conditioning rule gives no sRGB to either attention block (layers 3 and 8).
  """
  n, c, s, kw = cfg.N, cfg.latent_channels, cfg.strides, _kw(cfg)
  return ConditionedSequential(
    layers=(
      ResidualBlockWithStride(n, s[0], "gdn", **kw),
      ResidualBlock(n, **kw),
      ResidualBlockWithStride(n, s[1], "gdn", **kw),
      AttentionBlock(**kw),
      ResidualBlock(n, **kw),
      ResidualBlockWithStride(n, s[2], "gdn", **kw),
      ResidualBlock(n, **kw),
      Conv(c, 3, s[3], "reflect", **kw),
      AttentionBlock(**kw),
    ),
    no_srgb=(3, 8) if cfg.arch == "cvpr23" else (8,),
    name=name,
  )


def make_h_a(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Hyper encoder: y (B,h,w,C) -> z (B, h/4, w/4, C)."""
  n, c, kw = cfg.N, cfg.latent_channels, _kw(cfg)
  return ConditionedSequential(
    layers=(
      ConvBlock(n, **kw),
      ConvBlockWithStride(n, 2, "lrelu", **kw),
      Conv(c, 3, 2, "reflect", **kw),
    ),
    name=name,
  )


def make_h_s(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Hyper synthesis: z_hat (B,h/4,w/4,C) -> P_main (B, h, w, 2C)."""
  n, c, kw = cfg.N, cfg.latent_channels, _kw(cfg)
  return ConditionedSequential(
    layers=(
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      ConvBlockUpsample(n, 2, "lrelu", **kw),
      ConvBlockUpsample(n * 3 // 2, 2, "lrelu", **kw),
      Conv(2 * c, 3, 1, "reflect", **kw),
    ),
    name=name,
  )


def make_g_s(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Raw decoder at full resolution: bicubic(y_hat) (B,H,W,C) -> x_hat (B,H,W,3)."""
  n, kw = cfg.N, _kw(cfg)
  return ConditionedSequential(
    layers=(
      AttentionBlock(**kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, 1, "gdn", **kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, 1, "gdn", **kw),
      AttentionBlock(**kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, 1, "gdn", **kw),
      ResidualBlock(n, **kw),
      SubpelConv(3, 1, **kw),
    ),
    name=name,
  )


def make_g_mask(
  cfg: R2LCMConfig, name: str | None = None, outputs: int = 2
) -> ConditionedSequential:
  """Order-mask logits: cat[P (2C), K (1)] -> (B, h, w, 2).

  With `outputs=T` the same three convs are the CVPR'23 `h_mask` (input P only, T
  logits per position; `models.joint_order`).
  """
  n, kw = cfg.N, _kw(cfg)
  return ConditionedSequential(
    layers=(
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(n * 3 // 2, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(outputs, 3, 1, "reflect", **kw),
    ),
    name=name,
  )


def make_context_prediction(
  cfg: R2LCMConfig, name: str | None = None
) -> ConditionedSequential:
  """Context: cat[u_hat*K (C), Q*K (C), K (1)] -> ctx (B, h, w, 2C)."""
  n, c, kw = cfg.N, cfg.latent_channels, _kw(cfg)
  return ConditionedSequential(
    layers=(
      MaskedDeconv(n, 5, **kw),
      leaky_relu,
      Conv(n * 3 // 2, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(2 * c, 3, 1, "reflect", **kw),
    ),
    name=name,
  )


def make_entropy_parameters(
  cfg: R2LCMConfig, name: str | None = None
) -> ConditionedSequential:
  """1x1 MLP: cat[P (2C), ctx (2C), K (1)] -> (B, h, w, 3C) = [sigma | mu | q]."""
  c, kw = cfg.latent_channels, _kw(cfg)
  hidden = 2 * cfg.N
  out = 3 * c if cfg.adaptive_quant else 2 * c
  return ConditionedSequential(
    layers=(
      PCALayer(**kw),
      Conv(hidden, 1, **kw),
      leaky_relu,
      Conv(hidden, 1, **kw),
      leaky_relu,
      Conv(hidden, 1, **kw),
      leaky_relu,
      Conv(out, 1, **kw),
    ),
    name=name,
  )
