"""Single-file parameter documents (msgpack): PriorRAW model files (`prior.model_file`)
and U-Net baseline files (`baselines.unet`).

A document is one msgpack map written by `flax.serialization.msgpack_serialize`:
`{"format": NAME, "version": N, ...}` plus, per network, its config and its parameters as
a state dict. `read_param_doc` checks the name and version; `restore_params` puts a state
dict into the tree of the network its config describes. A missing, corrupt, foreign,
other-version or mismatching file raises CheckpointError naming the file. (Parameter
folders of the R2LCM model are `models.params_io`.)
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io.atomic import atomic_write_bytes

__all__ = ["write_param_doc", "read_param_doc", "restore_params"]


def write_param_doc(path: str | os.PathLike, doc: dict[str, Any]) -> None:
  """Writes `doc` (device arrays fetched to the host) as one msgpack file, atomically."""
  atomic_write_bytes(path, serialization.msgpack_serialize(jax.device_get(doc)))


def read_param_doc(path: str | os.PathLike, fmt: str, version: int, what: str) -> dict[str, Any]:
  """The document in `path`, whose "format" must be `fmt` and "version" `version`.

  Args:
    what: the file's kind in error messages, e.g. "U-Net parameter".

  Raises:
    CheckpointError: missing or unreadable file, not msgpack, another format or version.
  """
  path = pathlib.Path(path)
  try:
    data = path.read_bytes()
  except FileNotFoundError as e:
    raise CheckpointError(f"{path}: {what} file not found") from e
  except OSError as e:
    raise CheckpointError(f"{path}: cannot read {what} file ({e.strerror or e})") from e
  try:
    doc = serialization.msgpack_restore(data)
  except Exception as e:  # msgpack raises several unrelated types on garbage
    raise CheckpointError(f"{path}: not a {what} file ({type(e).__name__}: {e})") from e
  if not isinstance(doc, dict) or doc.get("format") != fmt:
    raise CheckpointError(f"{path}: not a {what} file")
  if doc.get("version") != version:
    raise CheckpointError(f"{path}: {what} file version {doc.get('version')} is not supported")
  return doc


def restore_params(path: str | os.PathLike, target: Any, state: Any, what: str) -> Any:
  """`state` (a state dict from the document) as a pytree shaped like `target`.

  Args:
    path: the file (for messages).
    target: the network's parameter tree (`jax.eval_shape` of its init: shapes, dtypes).
    state: the stored state dict.
    what: the network in messages, e.g. "encoder".

  Returns:
    The parameters as jax arrays of the target's dtypes.

  Raises:
    CheckpointError: another tree, or leaves of other shapes or dtypes.
  """
  try:
    params = serialization.from_state_dict(target, state)
  except (KeyError, TypeError, ValueError) as e:
    raise CheckpointError(f"{path}: {what} parameters do not match the stored config ({e})") from e
  got = jax.tree.map(lambda a: (tuple(np.shape(a)), np.asarray(a).dtype), params)
  if got != jax.tree.map(lambda a: (tuple(a.shape), a.dtype), target):
    raise CheckpointError(f"{path}: {what} parameter shapes do not match the stored config")
  return jax.tree.map(lambda a, t: jnp.asarray(a, t.dtype), params, target)
