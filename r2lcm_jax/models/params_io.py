"""On-disk format of model parameters, and the model fingerprint.

A parameter folder holds:
* `params.msgpack`: `flax.serialization.msgpack_serialize` of the "params" tree
  (numpy float32 leaves);
* `config.json`: `{"format": "r2lcm_params", "version": 1, "config": R2LCMConfig.to_dict(),
  "fingerprint": hex SHA-256 of the parameters}`.
Files are written to temporary names in the folder and renamed into place.
`model_fingerprint` is what the codec writes into bitstreams: SHA-256 over, for every leaf
in sorted path order, the path, dtype, shape and little-endian bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib

import jax
import numpy as np
from flax import serialization

from r2lcm_jax.errors import CheckpointError, ConfigError
from r2lcm_jax.io.images import atomic_write_bytes
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["save_params", "load_params", "model_fingerprint", "PARAMS_FILE", "CONFIG_FILE"]

PARAMS_FILE = "params.msgpack"
CONFIG_FILE = "config.json"
_FORMAT = "r2lcm_params"
_VERSION = 1


def _leaves(params) -> list[tuple[str, np.ndarray]]:
  flat = jax.tree_util.tree_leaves_with_path(params)
  items = [
    ("/".join(str(getattr(k, "key", k)) for k in path), np.asarray(v)) for path, v in flat
  ]
  return sorted(items, key=lambda kv: kv[0])


def model_fingerprint(params) -> bytes:
  """32-byte SHA-256 of the parameters (independent of dict insertion order)."""
  h = hashlib.sha256()
  for name, arr in _leaves(params):
    arr = np.ascontiguousarray(arr)
    le = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    h.update(name.encode())
    h.update(str(arr.dtype.name).encode())
    h.update(repr(tuple(arr.shape)).encode())
    h.update(le.tobytes())
  return h.digest()


def save_params(directory: str | os.PathLike, params, config: R2LCMConfig) -> bytes:
  """Writes params + config into `directory` (created if needed); returns the fingerprint."""
  d = pathlib.Path(directory)
  d.mkdir(parents=True, exist_ok=True)
  host = jax.tree_util.tree_map(lambda a: np.asarray(a), params)
  fp = model_fingerprint(host)
  atomic_write_bytes(d / PARAMS_FILE, serialization.msgpack_serialize(host))
  meta = {"format": _FORMAT, "version": _VERSION, "config": config.to_dict(),
          "fingerprint": fp.hex()}
  atomic_write_bytes(d / CONFIG_FILE, json.dumps(meta, indent=2).encode())
  return fp


def load_params(directory: str | os.PathLike):
  """Reads a folder written by `save_params`.

  Returns:
    (params nested dict of numpy arrays, R2LCMConfig).

  Raises:
    CheckpointError: missing files, corrupt content, or a fingerprint mismatch.
  """
  d = pathlib.Path(directory)
  cfg_path, par_path = d / CONFIG_FILE, d / PARAMS_FILE
  for p in (cfg_path, par_path):
    if not p.is_file():
      raise CheckpointError(f"{p}: missing (not an r2lcm parameter folder)")
  try:
    meta = json.loads(cfg_path.read_text())
    if meta.get("format") != _FORMAT:
      raise CheckpointError(f"{cfg_path}: not an r2lcm parameter file")
    if meta.get("version") != _VERSION:
      raise CheckpointError(f"{cfg_path}: unsupported version {meta.get('version')}")
    config = R2LCMConfig.from_dict(meta["config"])
  except CheckpointError:
    raise
  except (ValueError, KeyError, TypeError, ConfigError) as e:
    raise CheckpointError(f"{cfg_path}: corrupt config ({e})") from e
  try:
    params = serialization.msgpack_restore(par_path.read_bytes())
  except Exception as e:  # msgpack raises several unrelated types
    raise CheckpointError(f"{par_path}: corrupt parameter file ({e})") from e
  if not isinstance(params, dict) or not params:
    raise CheckpointError(f"{par_path}: corrupt parameter file (no parameter tree)")
  if model_fingerprint(params).hex() != meta.get("fingerprint"):
    raise CheckpointError(f"{par_path}: fingerprint mismatch (corrupted or edited)")
  return params, config
