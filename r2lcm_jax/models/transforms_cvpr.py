"""The CVPR'23 model's transforms (arch "cvpr23"), each a `ConditionedSequential`.

Layer lists follow SPEC section 14 and the conference backbone as shipped in the
official `raw_checkboard.py` (`RawCheckboardContext`), index for index. Differences from
the journal transforms (`models.transforms`): the backbone is symmetric, with g_s
upsampling by learned sub-pixel convolutions (`ResidualBlockUpsample(r = stride)`) back
to full resolution (no bicubic, no full-resolution decoder), and the attention blocks
receive **no** sRGB (the CVPR conditioning rule skips them). The blocks, convolutions and
the conditioning rule are the shared ones of `r2lcm_jax.layers`; the encoder g_a is
`transforms.make_g_a` (same layer list, attention without sRGB for this arch) and the
order-mask network `h_mask` is `transforms.make_g_mask(outputs=T)`.

Channel counts for N=64, C=8 (inputs include the 3 sRGB channels where they get them):

| ours | official | role |
|---|---|---|
| `g_a` (transforms.make_g_a) | g_a | cat[S, x] (6) -> y (C) at H / stride**down_num |
| `h_a` | h_a | y -> z (C) at y / 4: 5 conv3x3 with LReLU, two of stride 2 |
| `h_s` | h_s | z_hat -> P (2C) at y's size: conv + two sub-pixel x2 |
| `g_s` | g_s | y_hat -> x_hat (3) at H, sub-pixel upsampling in its 4 slots |
"""

from __future__ import annotations

from r2lcm_jax.layers.attention import AttentionBlock
from r2lcm_jax.layers.blocks import ResidualBlock, ResidualBlockUpsample
from r2lcm_jax.layers.conditioning import ConditionedSequential
from r2lcm_jax.layers.conv import Conv, SubpelConv, leaky_relu
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["make_h_a_cvpr", "make_h_s_cvpr", "make_g_s_cvpr"]


def _kw(cfg: R2LCMConfig) -> dict:
  return dict(dtype=cfg.dtype, param_dtype=cfg.pdtype)


def make_h_a_cvpr(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Hyper encoder: y (B,h,w,C) -> z (B, h/4, w/4, C)."""
  n, c, kw = cfg.N, cfg.latent_channels, _kw(cfg)
  return ConditionedSequential(
    layers=(
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(n, 3, 2, "reflect", **kw),
      leaky_relu,
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      Conv(c, 3, 2, "reflect", **kw),
    ),
    name=name,
  )


def make_h_s_cvpr(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Hyper synthesis: z_hat (B,h/4,w/4,C) -> P (B, h, w, 2C)."""
  n, c, kw = cfg.N, cfg.latent_channels, _kw(cfg)
  return ConditionedSequential(
    layers=(
      Conv(n, 3, 1, "reflect", **kw),
      leaky_relu,
      SubpelConv(n, 2, **kw),
      leaky_relu,
      Conv(n * 3 // 2, 3, 1, "reflect", **kw),
      leaky_relu,
      SubpelConv(n * 3 // 2, 2, **kw),
      leaky_relu,
      Conv(2 * c, 3, 1, "reflect", **kw),
    ),
    name=name,
  )


def make_g_s_cvpr(cfg: R2LCMConfig, name: str | None = None) -> ConditionedSequential:
  """Raw decoder: y_hat (B,H/f,W/f,C) -> x_hat (B,H,W,3), learned sub-pixel upsampling."""
  n, s, kw = cfg.N, cfg.strides, _kw(cfg)
  return ConditionedSequential(
    layers=(
      AttentionBlock(**kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, s[3], "gdn", **kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, s[2], "gdn", **kw),
      AttentionBlock(**kw),
      ResidualBlock(n, **kw),
      ResidualBlockUpsample(n, s[1], "gdn", **kw),
      ResidualBlock(n, **kw),
      SubpelConv(3, s[0], **kw),
    ),
    no_srgb=(0, 5),
    name=name,
  )
