"""Metadata-free de-rendering baseline: a small Flax Linen U-Net from sRGB to raw-RGB (0 bpp).

Architecture (`UNet`): `levels` encoder stages of two 3x3 conv + ReLU followed by 2x2 max
pooling (widths features * 2^l), a bottleneck stage, and `levels` decoder stages of a 2x2
stride-2 transposed conv, concatenation with the encoder skip and two 3x3 conv + ReLU;
a 1x1 conv gives raw-RGB, linear: training uses the unclipped output so the L1 gradient
never vanishes (a sigmoid head collapsed to all-zero outputs on the dark INTEL-TAU targets
within a few hundred steps); `UNetBaseline` clips it to [0, 1]. Inputs are (B, H, W, 3)
float32 sRGB in [0, 1] with H, W multiples of 2^levels (`UNetBaseline` edge-pads any
image and crops back).

Parameter files are msgpack documents (`prior.param_doc`): {"format": "r2lcm-unet",
"version": 1, "config": {"features", "levels"}, "params": state dict}; a missing, corrupt
or mismatching file raises CheckpointError.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import BitstreamError, CheckpointError
from r2lcm_jax.io.images import srgb_to_float
from r2lcm_jax.prior.init import init_on_host
from r2lcm_jax.prior.param_doc import read_param_doc, restore_params, write_param_doc

__all__ = ["UNet", "UNetBaseline", "init_params", "save_params", "load_params"]

_FORMAT, _VERSION = "r2lcm-unet", 1


class _ConvBlock(nn.Module):
  """Two 3x3 convolutions with ReLU: (B, H, W, C) -> (B, H, W, features)."""

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.relu(nn.Conv(self.features, (3, 3))(x))
    return nn.relu(nn.Conv(self.features, (3, 3))(x))


class UNet(nn.Module):
  """sRGB (B, H, W, 3) float32 [0, 1] -> raw-RGB (B, H, W, 3) float32 (linear, unclipped).

  Any (B, H, W, C_in) input works (CAM's sampler and reconstructor use it too).

  Attributes:
    features: width of the first stage (doubled at each level).
    levels: number of 2x down/up-sampling stages (H, W must be multiples of 2^levels).
    out_channels: output channels (3: raw-RGB).
  """

  features: int = 16
  levels: int = 3
  out_channels: int = 3

  @nn.compact
  def __call__(self, srgb: jax.Array) -> jax.Array:
    x, skips = srgb, []
    for level in range(self.levels):
      x = _ConvBlock(self.features * 2**level)(x)
      skips.append(x)
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    x = _ConvBlock(self.features * 2**self.levels)(x)
    for level in reversed(range(self.levels)):
      width = self.features * 2**level
      x = nn.ConvTranspose(width, (2, 2), strides=(2, 2))(x)
      x = _ConvBlock(width)(jnp.concatenate([x, skips[level]], -1))
    return nn.Conv(self.out_channels, (1, 1))(x)


def init_params(model: UNet, key: jax.Array, size: int | None = None) -> Any:
  """He-normal parameters of `model` for a PRNG key; biases zero.

  Every kernel (kh, kw, c_in, c_out) is N(0, 2 / (kh kw c_in)), all cut from ONE draw
  (`prior.init.init_on_host`); the tree and shapes are those of `model.init` at a
  (1, size, size, 3) input (size default 2^levels).
  """
  size = 2**model.levels if size is None else size
  x = jnp.zeros((1, size, size, 3), jnp.float32)
  return init_on_host(lambda k: model.init(k, x), key, kernel_init="he_normal")


def save_params(path: str | os.PathLike, model: UNet, params: Any) -> None:
  """Writes model config and parameters as one msgpack file, atomically."""
  doc = {"format": _FORMAT, "version": _VERSION,
         "config": {"features": int(model.features), "levels": int(model.levels)},
         "params": serialization.to_state_dict(jax.device_get(params))}
  write_param_doc(path, doc)


def load_params(path: str | os.PathLike) -> tuple[UNet, Any]:
  """Reads a file of `save_params`.

  Returns:
    (model, params).

  Raises:
    CheckpointError: missing file, not msgpack, foreign format, other version, or
      parameters whose tree/shapes differ from the stored config's model.
  """
  path = pathlib.Path(path)
  doc = read_param_doc(path, _FORMAT, _VERSION, "U-Net parameter")
  try:
    cfg = doc["config"]
    model = UNet(features=int(cfg["features"]), levels=int(cfg["levels"]))
    if not (1 <= model.features <= 4096 and 1 <= model.levels <= 8):
      raise ValueError(f"config out of range: {cfg}")
  except (KeyError, TypeError, ValueError) as e:
    raise CheckpointError(f"{path}: invalid U-Net config ({e})") from e
  size = 2**model.levels
  target = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, size, size, 3), jnp.float32))["params"]
  return model, restore_params(path, target, doc.get("params"), "U-Net")


@dataclasses.dataclass(frozen=True, eq=False)
class UNetBaseline:
  """Trained U-Net as a 0-bpp baseline.

  Attributes:
    model: the `UNet`.
    params: its parameters.
  """

  model: UNet
  params: Any
  name: str = "unet"

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """No metadata: b""."""
    check_image(raw_rgb, "raw-RGB")
    check_image(srgb, "sRGB")
    return b""

  def reconstruct(self, srgb: np.ndarray, metadata: bytes = b"") -> np.ndarray:
    """(H, W, 3) float32 raw-RGB in [0, 1] predicted from the sRGB alone."""
    if metadata:
      raise BitstreamError(f"the U-Net baseline takes no metadata, got {len(metadata)} bytes")
    x = srgb_to_float(check_image(srgb, "sRGB"))
    h, w = x.shape[:2]
    m = 2**self.model.levels
    x = np.pad(x, ((0, -h % m), (0, -w % m), (0, 0)), mode="edge")
    y = _apply(self.model, self.params, jnp.asarray(x[None]))
    return np.clip(np.asarray(y[0, :h, :w], np.float32), 0.0, 1.0)


@functools.partial(jax.jit, static_argnums=0)
def _apply(model: UNet, params: Any, x: jax.Array) -> jax.Array:
  return model.apply({"params": params}, x)
