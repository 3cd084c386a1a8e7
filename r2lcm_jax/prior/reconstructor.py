"""Algorithm 3: the prior-metadata-based reconstructor of PriorRAW (paper section 3.4).

Inputs: the target sRGB (B, H, W, 3) (H, W multiples of 8), its pixel-searching
embeddings (B, H/2, W/2, D) and the prior (K entries of feature, sRGB, raw).

Prior metadata fusion module:
  1. assembly (eq. 4): FsRGB, FRAW = softmax(f_t . f_prior^T) x [sRGB_prior, RAW_prior] at
     half resolution (`affinity.assemble_chunked`), bilinearly up-sampled to (H, W);
  2. D = |FsRGB - sRGB| (eq. 5);
  3. f_p = Conv_fuse([D, sRGB, FRAW]) (eq. 6; two 3x3 convs);
  4. reliability gating f_c = f_p * sigmoid(Conv_conf(f_p)) (eq. 7; a one-channel
     spatial confidence map);
  5. non-local fusion: multi-head attention at half resolution with queries from f_c
     (a stride-2 conv), keys from the prior features and values from the prior raw
     (per-head linear maps), then an FFN, both residual -> f_o (B, H/2, W/2, C).
RAW encoder-decoder: a 3-level U-Net (`layers.blocks` conv blocks; stride-2 convs down,
sub-pixel convs up) over [f_c, sRGB]; f_o is fused (resized + 1x1 / 3x3 conv) into the
first encoder level and into every decoder level; a 3x3 head gives 3 channels and a
sigmoid limits them to [0, 1].

Our one addition (documented deviation): the head's logits are added to
`logit(FRAW)` and scaled by a learned gain that starts at 0, so the untrained network
outputs the assembled raw and training learns the correction (short CPU runs otherwise
spend their steps learning the identity; a plain sigmoid head also tends to collapse on
dark raw targets, see `baselines.unet`).

Table 1's reconstructor rows are switches of `PriorReconstructor` (all on: the full
model above):
  use_prior=False        "sRGB + U-Net": the RAW encoder-decoder over the sRGB alone (no
                         assembly, no fusion module, no attention); its head is linear
                         (`out = head`, unclipped in training, clipped to [0, 1] by
                         `inference.reconstruct_image`), as the metadata-free U-Net of
                         `baselines.unet` (a sigmoid head collapses on dark raw targets);
  reliable=False         "+ Prior RAW": f_c = f_p (no reliability gating);
  nonlocal_fusion=False  no non-local fusion: f_o is not computed and not fused.
Rows: sRGB + U-Net (use_prior off), + Prior RAW (reliable and nonlocal_fusion off),
+ Reliable Attention (nonlocal_fusion off), + Non-Local (all on).

Loss (`l1_ssim_loss`): alpha L1 + beta (1 - SSIM) (`metrics.ssim`, 7x7 window).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax import metrics
from r2lcm_jax.layers.blocks import ConvBlock, ConvBlockUpsample, ConvBlockWithStride
from r2lcm_jax.layers.conv import Conv
from r2lcm_jax.prior.affinity import assemble_chunked

__all__ = ["PriorReconstructor", "assemble_from_prior", "upsample2", "l1_ssim_loss"]


def upsample2(x: jax.Array) -> jax.Array:
  """Bilinear x2: (B, h, w, C) -> (B, 2h, 2w, C) (half-pixel centres)."""
  b, h, w, c = x.shape
  return jax.image.resize(x, (b, 2 * h, 2 * w, c), "linear")


def assemble_from_prior(feats: jax.Array, prior_feat: jax.Array, prior_values: jax.Array, *,
                        key_chunk: int = 1024, query_chunk: int = 4096) -> jax.Array:
  """Half-resolution assembly: (B, h, w, D) features -> (B, h, w, C) softmax-weighted values.

  Args:
    feats: (B, h, w, D) target embeddings.
    prior_feat: (K, D) prior (or reference) embeddings.
    prior_values: (K, C) their values (e.g. raw, or [raw, sRGB]).
    key_chunk, query_chunk: `assemble_chunked` block sizes.
  """
  b, h, w, d = feats.shape
  out = assemble_chunked(feats.reshape(-1, d), prior_feat, prior_values,
                         key_chunk=key_chunk, query_chunk=query_chunk)
  return out.reshape(b, h, w, prior_values.shape[-1])


class _PriorAttention(nn.Module):
  """Multi-head attention of image queries over the prior (keys: features, values: raw)."""

  features: int
  heads: int
  key_chunk: int
  query_chunk: int

  @nn.compact
  def __call__(self, x, prior_feat, prior_raw):
    b, h, w, c = x.shape
    dh = self.features // self.heads
    q = nn.Dense(self.heads * dh, name="query")(x).reshape(-1, self.heads, dh)
    k = nn.Dense(self.heads * dh, name="key")(prior_feat).reshape(-1, self.heads, dh)
    v = nn.Dense(self.heads * dh, name="value")(prior_raw).reshape(-1, self.heads, dh)
    q = q * (dh**-0.5)
    att = jax.vmap(lambda qq, kk, vv: assemble_chunked(
      qq, kk, vv, key_chunk=self.key_chunk, query_chunk=self.query_chunk),
      in_axes=1, out_axes=1)(q, k, v)
    return nn.Dense(c, name="out")(att.reshape(b, h, w, self.heads * dh))


class PriorReconstructor(nn.Module):
  """(sRGB (B,H,W,3), feats (B,H/2,W/2,D), prior) -> raw (B,H,W,3) (see module doc).

  The output is in (0, 1) with the prior (`use_prior`), linear without it.

  Attributes:
    features: width C of the fusion module and first U-Net level.
    heads: attention heads (C must be divisible by it).
    key_chunk, query_chunk: block sizes of every affinity computation.
    use_prior, reliable, nonlocal_fusion: Table 1's switches (module doc).
  """

  features: int = 16
  heads: int = 2
  key_chunk: int = 1024
  query_chunk: int = 4096
  use_prior: bool = True
  reliable: bool = True
  nonlocal_fusion: bool = True

  @nn.compact
  def __call__(self, srgb, feats, prior_feat, prior_srgb, prior_raw, *, return_assembled=False):
    c = self.features
    if not self.use_prior:
      out = Conv(3, 3, name="head")(self._encoder_decoder(ConvBlock(c, name="enc0")(srgb), None))
      return (out, None) if return_assembled else out
    values = jnp.concatenate([prior_raw, prior_srgb], axis=-1)
    assembled = upsample2(assemble_from_prior(feats, prior_feat, values, key_chunk=self.key_chunk,
                                              query_chunk=self.query_chunk))
    fraw, fsrgb = assembled[..., :3], assembled[..., 3:]
    dist = jnp.abs(fsrgb - srgb)
    f_p = ConvBlock(c, name="conv_fuse")(jnp.concatenate([dist, srgb, fraw], axis=-1))
    f_c = f_p * jax.nn.sigmoid(Conv(1, 3, name="conv_conf")(f_p)) if self.reliable else f_p
    f_o = None
    if self.nonlocal_fusion:  # non-local fusion at half resolution
      x = Conv(c, 3, 2, name="to_query")(f_c)
      x = x + _PriorAttention(c, self.heads, self.key_chunk, self.query_chunk, name="mha")(
        nn.LayerNorm(name="norm_q")(x), prior_feat, prior_raw)
      y = nn.LayerNorm(name="norm_ffn")(x)
      f_o = x + nn.Dense(c, name="ffn_out")(nn.gelu(nn.Dense(2 * c, name="ffn_in")(y)))
    e0 = ConvBlock(c, name="enc0")(jnp.concatenate([f_c, srgb], axis=-1))
    d0 = self._encoder_decoder(e0, f_o)
    gain = self.param("head_gain", nn.initializers.zeros, ())
    head = Conv(3, 3, name="head")(d0)
    p = jnp.clip(fraw, 1e-4, 1.0 - 1e-4)
    out = jax.nn.sigmoid(jnp.log(p) - jnp.log1p(-p) + gain * head)
    return (out, fraw) if return_assembled else out

  def _encoder_decoder(self, e0: jax.Array, f_o: jax.Array | None) -> jax.Array:
    """The RAW encoder-decoder from its first level e0 (B, H, W, C), fusing f_o
    (B, H/2, W/2, C) when given -> (B, H, W, C)."""
    c = self.features
    fo = (lambda shape: [_resize(f_o, shape)]) if f_o is not None else (lambda shape: [])
    e1 = ConvBlockWithStride(2 * c, name="down1")(e0)
    if f_o is not None:
      e1 = Conv(2 * c, 1, name="fuse1")(jnp.concatenate([e1, f_o], axis=-1))
    e2 = ConvBlockWithStride(4 * c, name="down2")(e1)
    bott = ConvBlockWithStride(8 * c, name="down3")(e2)
    d2 = ConvBlockUpsample(4 * c, r=2, name="up2")(bott)
    d2 = ConvBlock(4 * c, name="dec2")(jnp.concatenate([d2, e2, *fo(e2.shape)], -1))
    d1 = ConvBlockUpsample(2 * c, r=2, name="up1")(d2)
    d1 = ConvBlock(2 * c, name="dec1")(jnp.concatenate([d1, e1, *fo(e1.shape)], -1))
    d0 = ConvBlockUpsample(c, r=2, name="up0")(d1)
    return ConvBlock(c, name="dec0")(jnp.concatenate([d0, e0, *fo(e0.shape)], -1))


def _resize(x: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  if x.shape[1:3] == tuple(shape[1:3]):
    return x
  return jax.image.resize(x, (*shape[:3], x.shape[-1]), "linear")


def l1_ssim_loss(pred: jax.Array, target: jax.Array, *, alpha: float = 1.0,
                 beta: float = 0.1) -> tuple[jax.Array, dict[str, jax.Array]]:
  """alpha L1 + beta (1 - SSIM) of (B, H, W, 3) images (H, W >= 7).

  Returns:
    loss () float32 and metrics {"l1", "ssim", "psnr"} (batch means).
  """
  l1 = jnp.mean(jnp.abs(pred - target))
  s = jnp.mean(metrics.ssim(pred, target))
  return alpha * l1 + beta * (1.0 - s), {"l1": l1, "ssim": s,
                                          "psnr": jnp.mean(metrics.psnr(pred, target))}
