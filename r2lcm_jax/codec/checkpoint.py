"""A codec checkpoint: model parameters + configuration + integer coding tables.

Folder layout (what `r2lcm encode/decode --checkpoint DIR` reads):
  params.msgpack, config.json   (r2lcm_jax.models.params_io)
  tables.npz                    (r2lcm_jax.entropy.tables: integer CDFs + fingerprint)

The tables are built once when a checkpoint is exported (`save_checkpoint`) and read as
integers afterwards; encoders and decoders never rebuild them from floating point. The
bitstream header carries both fingerprints, so a bitstream decoded with another model or
other tables is refused.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

from r2lcm_jax.entropy.tables import (
  CodingTables,
  build_gaussian_tables,
  load_tables,
  save_tables,
)
from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.params_io import load_params, model_fingerprint, save_params

__all__ = ["CodecCheckpoint", "TABLES_FILE", "load_checkpoint", "save_checkpoint"]

TABLES_FILE = "tables.npz"


@dataclasses.dataclass(frozen=True, eq=False)
class CodecCheckpoint:
  """Everything needed to encode or decode.

  Attributes:
    config: model configuration.
    params: the "params" pytree (numpy leaves).
    tables: integer coding tables.
    model_fingerprint: 32-byte SHA-256 of `params`.
    path: where it was loaded from (None if built in memory).
  """

  config: R2LCMConfig
  params: dict
  tables: CodingTables
  model_fingerprint: bytes
  path: str | None = None


def save_checkpoint(
  directory: str | os.PathLike,
  params,
  config: R2LCMConfig,
  tables: CodingTables | None = None,
) -> CodecCheckpoint:
  """Writes params, config and coding tables (default Gaussian tables if None)."""
  tables = build_gaussian_tables() if tables is None else tables
  d = pathlib.Path(directory)
  fp = save_params(d, params, config)
  save_tables(d / TABLES_FILE, tables)
  del fp
  return load_checkpoint(d)


def load_checkpoint(directory: str | os.PathLike) -> CodecCheckpoint:
  """Reads a codec checkpoint folder.

  Raises:
    CheckpointError: missing folder/files, corrupt content, fingerprint mismatch.
  """
  d = pathlib.Path(directory)
  if not d.is_dir():
    raise CheckpointError(f"{d}: checkpoint folder not found")
  params, config = load_params(d)
  tables_path = d / TABLES_FILE
  if not tables_path.is_file():
    raise CheckpointError(
      f"{tables_path}: missing coding tables (export the checkpoint with "
      "r2lcm_jax.codec.checkpoint.save_checkpoint or `r2lcm port-checkpoint`)"
    )
  tables = load_tables(tables_path)
  return CodecCheckpoint(config, params, tables, model_fingerprint(params), str(d))
