"""CAM's two networks (Nam et al., CVPR'22) in Flax Linen, and their parameter file.

Both are the project's U-Net (`baselines.unet.UNet`): `levels` stages of two 3x3 conv + ReLU and 2x2 max pooling
(widths features * 2^l), a bottleneck, `levels` stages of 2x2 stride-2 transposed conv,
skip concatenation and two 3x3 conv + ReLU, then a 1x1 conv. The official networks have
4 levels, 32 features, BatchNorm and replicate padding; here the width and depth are
settings (small on a CPU) and there is no BatchNorm (zero padding).

- sampler: [sRGB, raw] (B, H, W, 6) -> (B, H, W, 9) assignment logits (`cam_sampler`).
- reconstructor: [sRGB, mask x raw, mask] (B, H, W, 7) -> raw (B, H, W, 3), linear
  (the official ends with a sigmoid; a linear head is what the project's U-Net baseline
  uses, see `baselines.unet`), clipped to [0, 1] only at inference.

H, W must be multiples of 2^levels. `CamConfig` holds the sizes and the cell size g.
Parameter file: msgpack (`prior.param_doc`) {"format": "r2lcm-cam", "version": 1,
"config": {features, levels, grid}, "params": {"sampler": ..., "reconstructor": ...}};
a bad file raises CheckpointError.
"""

from __future__ import annotations

import dataclasses
import math
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp

from r2lcm_jax.baselines.cam_sampler import NUM_ASSIGN
from r2lcm_jax.baselines.unet import UNet
from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.prior.init import init_on_host
from r2lcm_jax.prior.param_doc import read_param_doc, restore_params, write_param_doc

__all__ = ["CamConfig", "init_params", "save_params", "load_params",
           "sampler_input", "reconstructor_input"]

_FORMAT, _VERSION = "r2lcm-cam", 1


@dataclasses.dataclass(frozen=True)
class CamConfig:
  """Sizes of the CAM networks.

  Attributes:
    features: width of the first U-Net stage (official 32).
    levels: U-Net down-sampling stages (official 4).
    grid: cell size g; one sample per g x g cell (8: 1.5625 % of the pixels).
  """

  features: int = 16
  levels: int = 3
  grid: int = 8

  def __post_init__(self):
    if not (1 <= self.features <= 1024 and 1 <= self.levels <= 6 and 1 <= self.grid <= 64):
      raise ValueError(f"CAM config out of range: {self}")

  @property
  def multiple(self) -> int:
    """Image sides the networks take are multiples of this (cells and U-Net levels)."""
    return math.lcm(self.grid, 2**self.levels)

  def sampler(self) -> UNet:
    return UNet(self.features, self.levels, NUM_ASSIGN)

  def reconstructor(self) -> UNet:
    return UNet(self.features, self.levels, 3)


def sampler_input(srgb: jax.Array, raw: jax.Array) -> jax.Array:
  """(B, H, W, 3) sRGB, (B, H, W, 3) raw -> (B, H, W, 6)."""
  return jnp.concatenate([srgb, raw], -1)


def reconstructor_input(srgb: jax.Array, mask: jax.Array, samples: jax.Array) -> jax.Array:
  """(B, H, W, 3) sRGB, (B, H, W, 1) mask, (B, H, W, 3) raw (only read at the mask) ->
  (B, H, W, 7) [sRGB, mask x raw, mask]."""
  return jnp.concatenate([srgb, mask * samples, mask], -1)


def _init_inputs(config: CamConfig) -> tuple[jax.Array, jax.Array]:
  s = config.multiple
  return jnp.zeros((1, s, s, 6), jnp.float32), jnp.zeros((1, s, s, 7), jnp.float32)


def init_params(config: CamConfig, key: jax.Array) -> dict[str, Any]:
  """He-normal parameters {"sampler", "reconstructor"} (`prior.init.init_on_host`)."""
  xs, xr = _init_inputs(config)
  ks, kr = jax.random.split(key)
  return {
    "sampler": init_on_host(lambda k: config.sampler().init(k, xs), ks, kernel_init="he_normal"),
    "reconstructor": init_on_host(lambda k: config.reconstructor().init(k, xr), kr,
                                  kernel_init="he_normal")}


def save_params(path: str | os.PathLike, config: CamConfig, params: dict[str, Any]) -> None:
  """Writes the config and both networks' parameters as one msgpack file, atomically."""
  from flax import serialization

  doc = {"format": _FORMAT, "version": _VERSION, "config": dataclasses.asdict(config),
         "params": serialization.to_state_dict(jax.device_get(params))}
  write_param_doc(path, doc)


def load_params(path: str | os.PathLike) -> tuple[CamConfig, dict[str, Any]]:
  """Reads a file of `save_params`: (config, params).

  Raises:
    CheckpointError: missing, foreign, other-version or mismatching file.
  """
  path = pathlib.Path(path)
  doc = read_param_doc(path, _FORMAT, _VERSION, "CAM parameter")
  try:
    cfg = doc["config"]
    config = CamConfig(features=int(cfg["features"]), levels=int(cfg["levels"]),
                       grid=int(cfg["grid"]))
  except (KeyError, TypeError, ValueError) as e:
    raise CheckpointError(f"{path}: invalid CAM config ({e})") from e
  xs, xr = _init_inputs(config)
  key = jax.random.key(0)
  target = {"sampler": jax.eval_shape(config.sampler().init, key, xs)["params"],
            "reconstructor": jax.eval_shape(config.reconstructor().init, key, xr)["params"]}
  return config, restore_params(path, target, doc.get("params"), "CAM")
