"""The prior metadata (`Prior`) and its versioned file.

A prior is K entries of (feature (D,), sRGB (3,), raw (3,)) float32 (Algorithm 2's
output). File format (npz, uncompressed, no pickles):

  header    uint8 array: UTF-8 JSON {"magic": "r2lcm-prior", "version": 1, "entries": K,
            "dim": D, "encoder_fingerprint": hex, "fingerprint": hex, "info": {...}}
  features  (K, D) float32;  srgb  (K, 3) float32;  raw  (K, 3) float32

`fingerprint` is the SHA-256 (`coding.fingerprint`) of the three arrays and
`encoder_fingerprint` that of the encoder parameters that produced the features, so a
prior is never searched with another encoder's embeddings. Writes are atomic.
A missing, truncated, corrupted, foreign or future-version file raises `PriorFileError`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io.atomic import atomic_write_bytes

__all__ = ["MAGIC", "VERSION", "Prior", "PriorFileError", "save_prior", "load_prior"]

MAGIC, VERSION = "r2lcm-prior", 1
_ARRAYS = ("features", "srgb", "raw")


class PriorFileError(CheckpointError):
  """A prior file that is missing, truncated, corrupted, foreign or of another version."""


@dataclasses.dataclass(frozen=True, eq=False)
class Prior:
  """Prior metadata entries.

  Attributes:
    features: (K, D) float32 embeddings.
    srgb: (K, 3) float32 sRGB in [0, 1].
    raw: (K, 3) float32 raw-RGB in [0, 1].
    encoder_fingerprint: hex SHA-256 of the encoder parameters.
    info: JSON-able provenance (clusters, group size, reference pixels, seed).
  """

  features: np.ndarray
  srgb: np.ndarray
  raw: np.ndarray
  encoder_fingerprint: str
  info: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    k = self.features.shape[0]
    if (self.features.ndim != 2 or self.srgb.shape != (k, 3) or self.raw.shape != (k, 3)
        or k < 1):
      raise ValueError(f"prior arrays disagree: features {self.features.shape}, "
                       f"srgb {self.srgb.shape}, raw {self.raw.shape}")

  def __len__(self) -> int:
    return int(self.features.shape[0])

  def fingerprint(self) -> str:
    """Hex SHA-256 of the three arrays."""
    return sha256_fingerprint({n: np.asarray(getattr(self, n), np.float32) for n in _ARRAYS}).hex()


def save_prior(path: str | os.PathLike, prior: Prior) -> None:
  """Writes `prior` atomically (see module doc)."""
  header = {"magic": MAGIC, "version": VERSION, "entries": len(prior),
            "dim": int(prior.features.shape[1]), "encoder_fingerprint": prior.encoder_fingerprint,
            "fingerprint": prior.fingerprint(), "info": prior.info}
  buf = io.BytesIO()
  np.savez(buf, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8),
           **{n: np.asarray(getattr(prior, n), np.float32) for n in _ARRAYS})
  atomic_write_bytes(path, buf.getvalue())


def load_prior(path: str | os.PathLike) -> Prior:
  """Reads a file of `save_prior`.

  Raises:
    PriorFileError: see module doc.
  """
  path = pathlib.Path(path)
  try:
    data = path.read_bytes()
  except OSError as e:
    raise PriorFileError(f"{path}: cannot read prior file ({e.strerror or e})") from e
  if not data.startswith(b"PK"):
    raise PriorFileError(f"{path}: not an r2lcm prior file")
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
      header = json.loads(bytes(npz["header"]).decode())
      arrays = {n: np.array(npz[n]) for n in _ARRAYS} if header.get("magic") == MAGIC else {}
  except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, UnicodeDecodeError) as e:
    raise PriorFileError(f"{path}: truncated or corrupted prior file ({type(e).__name__}: {e})") from e
  if not isinstance(header, dict) or header.get("magic") != MAGIC:
    raise PriorFileError(f"{path}: not an r2lcm prior file")
  if header.get("version") != VERSION:
    raise PriorFileError(f"{path}: prior file version {header.get('version')} is not supported "
                         f"(this build reads version {VERSION})")
  try:
    prior = Prior(**{n: arrays[n].astype(np.float32, copy=False) for n in _ARRAYS},
                  encoder_fingerprint=str(header["encoder_fingerprint"]),
                  info=dict(header.get("info", {})))
  except (KeyError, ValueError, AttributeError) as e:
    raise PriorFileError(f"{path}: inconsistent prior file ({e})") from e
  if len(prior) != header.get("entries") or prior.fingerprint() != header.get("fingerprint"):
    raise PriorFileError(f"{path}: prior file is corrupted (fingerprint mismatch)")
  return prior
