"""Whole-image PriorRAW: embeddings, assembly (the ablation rows) and tiled reconstruction.

`reconstruct_image` runs encoder + reconstructor window by window (`codec.tiling`, on a
grid of 8-pixel cells so every window is a multiple of the U-Net's 8): windows of
`tile` + 2 `halo` pixels, only their cores kept. The halo (default 64 px) covers most of
the networks' receptive field; the stitched image can differ from an untiled run by
small amounts near window borders.

Peak memory for a 12.8 MP image (4384 x 2920), tile 512, halo 64 (640 x 640 windows):
the image-sized arrays are the float32 sRGB (154 MB), its padded copy (154 MB), the
float32 output (154 MB) and the 16-bit TIFF (77 MB + its encoded buffer 77 MB), about
0.6 GB; one window's activations are at most ~20 maps of 640 x 640 x 16..128 floats at
falling resolution (~0.3 GB); every affinity (assembly and each attention head) holds
one `query_chunk x key_chunk` block (4096 x 1024 floats = 16 MB) plus the chunk's
running sums. The total stays near 1-2 GB, independent of the image size except for
the image-sized arrays (linear) and of the prior size K (streamed). Measured
(experiments/results/prior.md): 4384 x 2920 with a 5,000-entry prior, peak RSS of the
whole process 1.58 GiB (0.58 GiB before the reconstruction started).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.codec.tiling import apply_tiled
from r2lcm_jax.errors import CheckpointError, ShapeMismatchError
from r2lcm_jax.prior.compression import encoder_fingerprint
from r2lcm_jax.prior.model_file import PriorModel
from r2lcm_jax.prior.prior_file import Prior
from r2lcm_jax.prior.reconstructor import assemble_from_prior, upsample2

__all__ = ["encode_image", "assemble_image", "reconstruct_image", "check_prior_matches"]


def _pad_to(x: np.ndarray, multiple: int) -> np.ndarray:
  h, w = x.shape[:2]
  return np.pad(x, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="edge")


@functools.partial(jax.jit, static_argnums=0)
def _encode(encoder, params, srgb):
  return encoder.apply({"params": params}, srgb)


def encode_image(model: PriorModel, srgb: np.ndarray) -> jax.Array:
  """(H, W, 3) float32 sRGB -> (1, ceil(H/2), ceil(W/2), D) embeddings (edge-padded to even)."""
  return _encode(model.encoder, model.encoder_params, jnp.asarray(_pad_to(srgb, 2)[None]))


def assemble_image(model: PriorModel, srgb: np.ndarray, keys: np.ndarray,
                   values: np.ndarray, *, key_chunk: int = 1024,
                   query_chunk: int = 4096) -> np.ndarray:
  """The assembled image alone (no network): pixel searching / clustered-prior rows.

  Args:
    model: encoder.
    srgb: (H, W, 3) float32 target sRGB.
    keys: (N, D) reference or prior embeddings.
    values: (N, C) their values (raw).

  Returns:
    (H, W, C) float32: the half-resolution assembly, bilinearly up-sampled.
  """
  feats = encode_image(model, srgb)
  out = upsample2(assemble_from_prior(feats, jnp.asarray(keys), jnp.asarray(values),
                                     key_chunk=key_chunk, query_chunk=query_chunk))
  return np.asarray(out[0, :srgb.shape[0], :srgb.shape[1]])


def check_prior_matches(model: PriorModel, prior: Prior) -> None:
  """CheckpointError unless `prior` was built with `model`'s encoder."""
  if prior.features.shape[1] != model.encoder.embed_dim:
    raise CheckpointError(f"prior embeddings have size {prior.features.shape[1]} but the "
                          f"encoder produces {model.encoder.embed_dim}")
  if prior.encoder_fingerprint != encoder_fingerprint(model.encoder_params):
    raise CheckpointError("the prior was built with a different encoder than the checkpoint's "
                          "(encoder fingerprints differ)")


@functools.partial(jax.jit, static_argnums=(0, 1))
def _window(encoder, recon, eparams, rparams, pf, ps, pr, srgb):
  feats = encoder.apply({"params": eparams}, srgb)
  return recon.apply({"params": rparams}, srgb, feats, pf, ps, pr)


def reconstruct_image(model: PriorModel, prior: Prior, srgb: np.ndarray, *, tile: int = 512,
                      halo: int = 64) -> np.ndarray:
  """Algorithm 3 on a whole image, window by window.

  Args:
    model: encoder + trained reconstructor.
    prior: prior built with this encoder.
    srgb: (H, W, 3) float32 sRGB in [0, 1].
    tile, halo: window core and context in pixels (multiples of 8).

  Returns:
    (H, W, 3) float32 raw-RGB in [0, 1].

  Raises:
    CheckpointError: no reconstructor, or a prior of another encoder.
    ShapeMismatchError: not an (H, W, 3) image.
  """
  if model.reconstructor is None:
    raise CheckpointError("the model has no trained reconstructor")
  srgb = np.asarray(srgb, np.float32)
  if srgb.ndim != 3 or srgb.shape[2] != 3:
    raise ShapeMismatchError(f"sRGB must be an (H, W, 3) image, got shape {srgb.shape}")
  if tile % 8 or halo % 8 or tile < 8:
    raise ValueError(f"tile and halo must be multiples of 8 (tile >= 8), got {tile}, {halo}")
  check_prior_matches(model, prior)
  h, w = srgb.shape[:2]
  padded = _pad_to(srgb, 8)[None]
  consts = [jnp.asarray(a, jnp.float32) for a in (prior.features, prior.srgb, prior.raw)]

  def fn(window):
    return _window(model.encoder, model.reconstructor, model.encoder_params,
                   model.reconstructor_params, *consts, jnp.asarray(window))

  out = apply_tiled(fn, [(padded, 8)], (padded.shape[1] // 8, padded.shape[2] // 8), 8, 3,
                    tile=tile // 8, halo=halo // 8)
  return np.clip(out[0, :h, :w], 0.0, 1.0)  # the linear head of a reconstructor without prior
