"""CAM baseline (Nam et al., CVPR'22, "Learning sRGB-to-Raw-RGB De-rendering with
Content-Aware Metadata"): learned sample positions, raw values as metadata, a
reconstruction network, optionally fine-tuned on the samples at decode time.

Encode (needs raw-RGB and sRGB, as in the paper): the sampler network (`cam_net`) sees
[sRGB, raw] and every g x g cell keeps its best pixel (`cam_sampler.select_offsets`; one
sample per cell, 1.5625 % of the pixels at g = 8); the positions and the raw values,
quantised to `value_bits` bits, are written as a `.cam` file (`cam_file`).

Decode (needs only the sRGB, the file and the reconstructor's weights): the mask and the
sample image are rebuilt from the file, the reconstructor maps [sRGB, mask x raw, mask]
to raw-RGB, the stored values are pasted back at the sample pixels and the result is
clipped to [0, 1]. With `finetune_steps > 0` (the paper's "w/ fine-tuning", official 10
Adam steps at lr 1e-4) a copy of the reconstructor is first trained on the samples alone:
L1 between its output and the stored values at the sample pixels, full-image forward, no
randomness, one compiled step; encoder and decoder running it on the same sRGB and
file give bit-identical outputs on one platform.

Images of any size are edge-padded to multiples of `CamConfig.multiple` for the networks
and cropped back; padding pixels are never sampled.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from r2lcm_jax.baselines import cam_file, cam_net, cam_sampler
from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.baselines.cam_net import CamConfig
from r2lcm_jax.errors import ShapeMismatchError
from r2lcm_jax.io.images import srgb_to_float

__all__ = ["CamBaseline", "choose_samples", "reconstruct_from_samples", "finetune",
           "sample_images"]


def _pad(img: np.ndarray, multiple: int) -> np.ndarray:
  """(H, W, C) -> (ceil(H/m) m, ceil(W/m) m, C), edge padding."""
  h, w = img.shape[:2]
  return np.pad(img, ((0, -h % multiple), (0, -w % multiple), (0, 0)), mode="edge")


@functools.partial(jax.jit, static_argnums=(0,))
def _select(config: CamConfig, params: Any, x: jax.Array, valid: jax.Array) -> jax.Array:
  logits = config.sampler().apply({"params": params}, x)
  return cam_sampler.select_offsets(logits, config.grid, valid)


def choose_samples(config: CamConfig, sampler_params: Any, raw_rgb: np.ndarray,
                   srgb: np.ndarray, value_bits: int = 16) -> cam_file.CamSamples:
  """The encoder's samples: one per cell, where the sampler puts it.

  Args:
    config: network sizes and cell size g.
    sampler_params: the sampler's parameters.
    raw_rgb: (H, W, 3) float raw-RGB in [0, 1].
    srgb: (H, W, 3) uint8 or float sRGB in [0, 1].
    value_bits: b, values stored as round((2^b - 1) raw).

  Returns:
    CamSamples with (ceil(H/g), ceil(W/g)) offsets and values.
  """
  raw = np.clip(np.asarray(raw_rgb, np.float32), 0.0, 1.0)
  x = srgb_to_float(srgb)
  h, w = x.shape[:2]
  g, m = config.grid, config.multiple
  inp = _pad(np.concatenate([x, raw], -1), m)
  valid = np.zeros(inp.shape[:2], bool)
  valid[:h, :w] = True
  off = np.asarray(_select(config, sampler_params, jnp.asarray(inp[None]), jnp.asarray(valid)))[0]
  gh, gw = cam_file.cell_counts(h, w, g)
  off = off[:gh, :gw].astype(np.int32)
  s = cam_file.CamSamples(h, w, g, value_bits, off, np.zeros((gh, gw, 3), np.uint16))
  ys, xs = s.positions()
  q = np.round(raw[ys, xs].astype(np.float64) * ((1 << value_bits) - 1)).astype(np.uint16)
  return dataclasses.replace(s, values=q)


def sample_images(samples: cam_file.CamSamples, multiple: int) -> tuple[np.ndarray, np.ndarray]:
  """(Hp, Wp, 1) float32 mask and (Hp, Wp, 3) float32 sample image (values at the mask,
  0 elsewhere) on the padded grid (Hp, Wp multiples of `multiple`)."""
  hp = -(-samples.height // multiple) * multiple
  wp = -(-samples.width // multiple) * multiple
  mask = np.zeros((hp, wp, 1), np.float32)
  vals = np.zeros((hp, wp, 3), np.float32)
  ys, xs = samples.positions()
  mask[ys, xs] = 1.0
  vals[ys, xs] = samples.raw_values()
  return mask, vals


def _sample_l1(recon, params, x, mask, target):
  pred = recon.apply({"params": params}, x)
  return jnp.sum(mask * jnp.abs(pred - target)) / (3.0 * jnp.maximum(jnp.sum(mask), 1.0))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _finetune_step(config: CamConfig, lr: float, params: Any, opt_state: Any, x: jax.Array,
                   mask: jax.Array, target: jax.Array) -> tuple[Any, Any, jax.Array]:
  tx = optax.adam(lr)
  loss, g = jax.value_and_grad(functools.partial(_sample_l1, config.reconstructor()))(
    params, x, mask, target)
  upd, opt_state = tx.update(g, opt_state, params)
  return optax.apply_updates(params, upd), opt_state, loss


def finetune(config: CamConfig, recon_params: Any, srgb: np.ndarray,
             samples: cam_file.CamSamples, steps: int = 10,
             lr: float = 1e-4) -> tuple[Any, np.ndarray]:
  """Decode-time fine-tuning of the reconstructor on the samples (module doc).

  Args:
    recon_params: the reconstructor's parameters (not modified).
    srgb: (H, W, 3) uint8 or float sRGB.
    samples: the decoded samples of the same image.
    steps, lr: Adam steps and learning rate (official 10, 1e-4).

  Returns:
    (fine-tuned parameters, (steps,) float32 sample L1 before each step).
  """
  x = _pad(srgb_to_float(srgb), config.multiple)
  mask, vals = sample_images(samples, config.multiple)
  inp = cam_net.reconstructor_input(jnp.asarray(x[None]), jnp.asarray(mask[None]),
                                    jnp.asarray(vals[None]))
  mask, vals = jnp.asarray(mask[None]), jnp.asarray(vals[None])
  # One compiled step called `steps` times: XLA:CPU runs convolution gradients many
  # times slower inside a compiled loop (`models.context_model` module doc); a
  # `fori_loop` over the steps made one 512x768 decode take minutes.
  params, opt_state, losses = recon_params, optax.adam(float(lr)).init(recon_params), []
  for _ in range(int(steps)):
    params, opt_state, loss = _finetune_step(config, float(lr), params, opt_state, inp, mask, vals)
    losses.append(loss)
  return params, np.asarray(jnp.stack(losses) if losses else jnp.zeros((0,)), np.float32)


@functools.partial(jax.jit, static_argnums=(0,))
def _reconstruct(config: CamConfig, params: Any, x: jax.Array) -> jax.Array:
  return config.reconstructor().apply({"params": params}, x)


def reconstruct_from_samples(config: CamConfig, recon_params: Any, srgb: np.ndarray,
                             samples: cam_file.CamSamples, *, finetune_steps: int = 0,
                             finetune_lr: float = 1e-4) -> np.ndarray:
  """(H, W, 3) float32 raw-RGB in [0, 1] from the sRGB and the samples (module doc).

  Raises:
    ShapeMismatchError: sRGB and samples of different sizes, or another cell size.
  """
  x = srgb_to_float(check_image(srgb, "sRGB"))
  h, w = x.shape[:2]
  if (h, w) != (samples.height, samples.width):
    raise ShapeMismatchError(f"sRGB is {h}x{w} but the CAM metadata describes "
                             f"{samples.height}x{samples.width}")
  if samples.grid != config.grid:
    raise ShapeMismatchError(f"CAM metadata has cells of {samples.grid} px, the network {config.grid}")
  params = recon_params
  if finetune_steps > 0:
    params, _ = finetune(config, recon_params, x, samples, finetune_steps, finetune_lr)
  mask, vals = sample_images(samples, config.multiple)
  inp = cam_net.reconstructor_input(jnp.asarray(_pad(x, config.multiple)[None]),
                                    jnp.asarray(mask[None]), jnp.asarray(vals[None]))
  out = np.array(_reconstruct(config, params, inp)[0, :h, :w], np.float32)
  ys, xs = samples.positions()
  out[ys, xs] = samples.raw_values()
  return np.clip(out, 0.0, 1.0)


@dataclasses.dataclass(frozen=True, eq=False)
class CamBaseline:
  """CAM as a benchmark baseline (`base.Baseline`).

  Attributes:
    config: network sizes and cell size.
    params: {"sampler", "reconstructor"} parameters (decoding uses only the latter).
    finetune_steps: decode-time fine-tuning steps (0: plain CAM).
    finetune_lr: its Adam learning rate.
    value_bits: bit depth of the stored values.
  """

  config: CamConfig
  params: dict[str, Any]
  finetune_steps: int = 0
  finetune_lr: float = 1e-4
  value_bits: int = 16
  name: str = "cam"

  @classmethod
  def from_file(cls, path: str | os.PathLike, **kwargs) -> CamBaseline:
    """The baseline with the networks of a `cam_net.save_params` file."""
    config, params = cam_net.load_params(path)
    return cls(config, params, **kwargs)

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """`.cam` file bytes: the sampler's positions and the quantised raw values."""
    raw_rgb, srgb = check_image(raw_rgb, "raw-RGB"), check_image(srgb, "sRGB")
    if raw_rgb.shape != srgb.shape:
      raise ShapeMismatchError(f"raw-RGB {raw_rgb.shape} and sRGB {srgb.shape} differ")
    samples = choose_samples(self.config, self.params["sampler"], raw_rgb, srgb, self.value_bits)
    return cam_file.encode_cam(samples)

  def reconstruct(self, srgb: np.ndarray, metadata: bytes) -> np.ndarray:
    """(H, W, 3) float32 raw-RGB from the sRGB and the `.cam` bytes alone."""
    samples = cam_file.decode_cam(metadata)
    return reconstruct_from_samples(self.config, self.params["reconstructor"], srgb, samples,
                                    finetune_steps=self.finetune_steps,
                                    finetune_lr=self.finetune_lr)
