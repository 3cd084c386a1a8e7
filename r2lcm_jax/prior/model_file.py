"""PriorRAW parameter files: the encoder alone, or encoder + reconstructor (msgpack).

Document: {"format": "r2lcm-prior-model", "version": 1,
"encoder": {"config": {features, embed_dim}, "params": state dict},
"reconstructor": {"config": {features, heads, use_prior, reliable, nonlocal_fusion},
"params": state dict} or {}} (files without the three switches are full models: all on).
Written and read through `prior.param_doc` (atomic; a missing, corrupt, foreign,
other-version or shape-mismatched file raises CheckpointError).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
from flax import serialization

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.prior.encoder import PixelSearchEncoder
from r2lcm_jax.prior.init import init_on_host
from r2lcm_jax.prior.param_doc import read_param_doc, restore_params, write_param_doc
from r2lcm_jax.prior.reconstructor import PriorReconstructor

__all__ = ["PriorModel", "SWITCHES", "save_model", "load_model", "init_reconstructor_params"]

_FORMAT, _VERSION = "r2lcm-prior-model", 1
SWITCHES = ("use_prior", "reliable", "nonlocal_fusion")  # Table 1's reconstructor rows


@dataclasses.dataclass(frozen=True, eq=False)
class PriorModel:
  """Encoder (and optionally reconstructor) definitions with their parameters."""

  encoder: PixelSearchEncoder
  encoder_params: Any
  reconstructor: PriorReconstructor | None = None
  reconstructor_params: Any = None


def _reconstructor_init(model: PriorReconstructor, embed_dim: int):
  args = (jnp.zeros((1, 16, 16, 3)), jnp.zeros((1, 8, 8, embed_dim)), jnp.zeros((4, embed_dim)),
          jnp.zeros((4, 3)), jnp.zeros((4, 3)))
  return lambda k: model.init(k, *args)


def init_reconstructor_params(model: PriorReconstructor, embed_dim: int, key: jax.Array):
  """Parameters of `model` for embeddings of size `embed_dim` (`prior.init`, host side;
  shapes do not depend on the prior size K)."""
  return init_on_host(_reconstructor_init(model, embed_dim), key, {"head_gain": 0.0})


def save_model(path: str | os.PathLike, model: PriorModel) -> None:
  """Writes `model` as one msgpack file, atomically."""
  doc = {"format": _FORMAT, "version": _VERSION,
         "encoder": {"config": {"features": model.encoder.features,
                                "embed_dim": model.encoder.embed_dim},
                     "params": serialization.to_state_dict(jax.device_get(model.encoder_params))},
         "reconstructor": {}}
  if model.reconstructor is not None:
    doc["reconstructor"] = {
      "config": {"features": model.reconstructor.features, "heads": model.reconstructor.heads,
                 **{k: bool(getattr(model.reconstructor, k)) for k in SWITCHES}},
      "params": serialization.to_state_dict(jax.device_get(model.reconstructor_params))}
  write_param_doc(path, doc)


def load_model(path: str | os.PathLike, *, need_reconstructor: bool = False) -> PriorModel:
  """Reads a file of `save_model`.

  Raises:
    CheckpointError: see module doc, or no reconstructor when `need_reconstructor`.
  """
  path = pathlib.Path(path)
  doc = read_param_doc(path, _FORMAT, _VERSION, "PriorRAW model")
  try:
    ecfg, rcfg = doc["encoder"]["config"], doc["reconstructor"].get("config")
    encoder = PixelSearchEncoder(features=int(ecfg["features"]), embed_dim=int(ecfg["embed_dim"]))
    recon = None
    if rcfg is not None:
      switches = {k: rcfg.get(k, True) for k in SWITCHES}
      if not all(isinstance(v, bool) for v in switches.values()):
        raise ValueError(f"reconstructor switches must be booleans: {switches}")
      recon = PriorReconstructor(features=int(rcfg["features"]), heads=int(rcfg["heads"]),
                                 **switches)
    if not (1 <= encoder.features <= 1024 and 1 <= encoder.embed_dim <= 1024):
      raise ValueError(f"encoder config out of range: {ecfg}")
    if recon is not None and not (1 <= recon.heads <= recon.features <= 1024):
      raise ValueError(f"reconstructor config out of range: {rcfg}")
  except (KeyError, TypeError, ValueError, AttributeError) as e:
    raise CheckpointError(f"{path}: invalid PriorRAW model config ({e})") from e
  if recon is None and need_reconstructor:
    raise CheckpointError(f"{path}: holds only an encoder; a trained reconstructor is needed "
                          "(`r2lcm prior train --stage reconstructor`)")
  key = jax.random.key(0)
  etarget = jax.eval_shape(lambda: encoder.init(key, jnp.zeros((1, 16, 16, 3)))["params"])
  eparams = restore_params(path, etarget, doc["encoder"]["params"], "encoder")
  rparams = None
  if recon is not None:
    rtarget = jax.eval_shape(_reconstructor_init(recon, encoder.embed_dim), key)["params"]
    rparams = restore_params(path, rtarget, doc["reconstructor"]["params"], "reconstructor")
  return PriorModel(encoder, eparams, recon, rparams)
