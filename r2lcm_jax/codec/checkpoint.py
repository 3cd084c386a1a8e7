"""A codec checkpoint: model parameters + configuration + integer coding tables.

Folder layout (what `r2lcm encode/decode --checkpoint DIR` reads):
  params.msgpack, config.json   (r2lcm_jax.models.params_io)
  tables.npz                    (r2lcm_jax.entropy.tables: integer CDFs + fingerprint)
  rate.json (optional)          {"drop_steps": D, "gamma": G}: the rate setting the model
                                was evaluated at and recommends; `r2lcm encode` / `demo`
                                use it when --drop_steps / --gamma are not given

A packaged model is named instead of given by path: `--checkpoint default` (the default
when the flag is omitted) loads `r2lcm_jax/assets/models/default/`, shipped inside the
package (see its MODEL.md for data, steps and results).

The tables are built once when a checkpoint is exported (`save_checkpoint`) and read as
integers afterwards; encoders and decoders never rebuild them from floating point. The
bitstream header carries both fingerprints, so a bitstream decoded with another model or
other tables is refused.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import json
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

__all__ = [
  "CodecCheckpoint",
  "DEFAULT_MODEL",
  "TABLES_FILE",
  "RATE_FILE",
  "load_checkpoint",
  "packaged_models",
  "resolve_checkpoint",
  "save_checkpoint",
]

TABLES_FILE = "tables.npz"
RATE_FILE = "rate.json"
DEFAULT_MODEL = "default"
_ASSET_PARTS = ("assets", "models")


def _packaged_root() -> pathlib.Path:
  return pathlib.Path(str(importlib.resources.files("r2lcm_jax").joinpath(*_ASSET_PARTS)))


def packaged_models() -> list[str]:
  """Names of the models shipped inside the package (sorted)."""
  root = _packaged_root()
  if not root.is_dir():
    return []
  return sorted(p.name for p in root.iterdir() if (p / TABLES_FILE).is_file())


def resolve_checkpoint(spec: str | os.PathLike | None) -> pathlib.Path:
  """A checkpoint folder from a path or a packaged model's name (None: "default").

  An existing folder wins over a packaged name of the same spelling.

  Raises:
    CheckpointError: neither a folder nor a packaged model.
  """
  spec = DEFAULT_MODEL if spec is None or str(spec) == "" else spec
  path = pathlib.Path(spec)
  if path.is_dir():
    return path
  name = str(spec)
  if os.sep not in name and name in packaged_models():
    return _packaged_root() / name
  have = ", ".join(packaged_models()) or "none"
  raise CheckpointError(
    f"{spec}: checkpoint folder not found, and not a packaged model (packaged: {have})"
  )


@dataclasses.dataclass(frozen=True, eq=False)
class CodecCheckpoint:
  """Everything needed to encode or decode.

  Attributes:
    config: model configuration.
    params: the "params" pytree (numpy leaves).
    tables: integer coding tables.
    model_fingerprint: 32-byte SHA-256 of `params`.
    path: where it was loaded from (None if built in memory).
    rate: the recommended (drop_steps, gamma) from rate.json, else (0, 0.0).
  """

  config: R2LCMConfig
  params: dict
  tables: CodingTables
  model_fingerprint: bytes
  path: str | None = None
  rate: tuple[int, float] = (0, 0.0)


def _read_rate(path: pathlib.Path, config: R2LCMConfig) -> tuple[int, float]:
  """(drop_steps, gamma) of an optional rate.json; CheckpointError if it is malformed."""
  if not path.is_file():
    return (0, 0.0)
  try:
    doc = json.loads(path.read_text())
    drop, gamma = int(doc["drop_steps"]), float(doc["gamma"])
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{path}: not a rate setting ({type(e).__name__}: {e})") from None
  if set(doc) - {"drop_steps", "gamma", "note"} or not 0 <= drop < config.num_steps or not (
      0.0 <= gamma <= 64.0):
    raise CheckpointError(f"{path}: drop_steps must be in 0..{config.num_steps - 1} and "
                          f"gamma in [0, 64] (keys drop_steps, gamma, note), got {doc}")
  return (drop, gamma)


def save_checkpoint(
  directory: str | os.PathLike,
  params,
  config: R2LCMConfig,
  tables: CodingTables | None = None,
) -> CodecCheckpoint:
  """Writes params, config and coding tables (default Gaussian tables if None).

  A cvpr23 model's default tables also hold its factorized bottleneck's integer CDFs,
  built here once from its trained parameters (`entropy.factorized`).
  """
  if tables is None:
    tables = build_gaussian_tables()
    if config.arch == "cvpr23":
      from r2lcm_jax.entropy import factorized

      tables = factorized.with_bottleneck_rows(
        tables, factorized.build_factorized_tables(params["entropy_bottleneck"]))
  d = pathlib.Path(directory)
  fp = save_params(d, params, config)
  save_tables(d / TABLES_FILE, tables)
  del fp
  return load_checkpoint(d)


def load_checkpoint(directory: str | os.PathLike | None) -> CodecCheckpoint:
  """Reads a codec checkpoint folder, or a packaged model by name (see module doc).

  Raises:
    CheckpointError: missing folder/files, corrupt content, fingerprint mismatch.
  """
  d = resolve_checkpoint(directory)
  params, config = load_params(d)
  tables_path = d / TABLES_FILE
  if not tables_path.is_file():
    raise CheckpointError(
      f"{tables_path}: missing coding tables (export the checkpoint with "
      "r2lcm_jax.codec.checkpoint.save_checkpoint or `r2lcm port-checkpoint`)"
    )
  tables = load_tables(tables_path)
  return CodecCheckpoint(config, params, tables, model_fingerprint(params), str(d),
                         _read_rate(d / RATE_FILE, config))
