"""The sensor description a trained model belongs to (for synthetic scenes and reports).

A `CameraProfile` keeps what is needed to synthesise a RAW frame "in a camera's space"
(CFA phase, black and white levels, XYZ -> camera matrix) and the camera's name. It is
taken from a real frame (`from_raw`) and stored as JSON next to a packaged model
(`camera.json`), so `r2lcm demo` can generate a scene the model has seen the sensor of.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io.raw import RawImage

__all__ = ["CameraProfile", "from_raw", "load_profile", "save_profile"]


@dataclasses.dataclass(frozen=True)
class CameraProfile:
  """A Bayer sensor.

  Attributes:
    camera: camera name.
    cfa: 2x2 Bayer phase ("RGGB", "GRBG", "BGGR", "GBRG").
    black_level: (4,) black level per CFA position (raster order of the 2x2 tile).
    white_level: saturation value.
    xyz_to_cam: (3, 3) CIE XYZ -> camera RGB.
  """

  camera: str
  cfa: str
  black_level: tuple[float, float, float, float]
  white_level: float
  xyz_to_cam: tuple[tuple[float, float, float], ...]

  def black_array(self) -> np.ndarray:
    """float32 (4,)."""
    return np.asarray(self.black_level, np.float32)

  def xyz_to_cam_array(self) -> np.ndarray:
    """float32 (3, 3)."""
    return np.asarray(self.xyz_to_cam, np.float32)


def from_raw(raw: RawImage) -> CameraProfile:
  """The profile of a real frame (it must carry a colour matrix)."""
  if raw.xyz_to_cam is None:
    raise ValueError(f"{raw.path or raw.camera}: no colour matrix, cannot make a profile")
  return CameraProfile(
    camera=raw.camera,
    cfa=raw.cfa,
    black_level=tuple(float(v) for v in np.asarray(raw.black_level).reshape(4)),
    white_level=float(raw.white_level),
    xyz_to_cam=tuple(tuple(float(v) for v in row) for row in np.asarray(raw.xyz_to_cam)),
  )


def save_profile(path: str | os.PathLike, profile: CameraProfile) -> None:
  """Writes the profile as JSON."""
  pathlib.Path(path).write_text(json.dumps(dataclasses.asdict(profile), indent=1) + "\n")


def load_profile(path: str | os.PathLike) -> CameraProfile:
  """Reads a profile written by `save_profile`.

  Raises:
    CheckpointError: missing, unreadable or malformed file.
  """
  p = pathlib.Path(path)
  try:
    d = json.loads(p.read_text())
    profile = CameraProfile(
      camera=str(d["camera"]),
      cfa=str(d["cfa"]),
      black_level=tuple(float(v) for v in d["black_level"]),
      white_level=float(d["white_level"]),
      xyz_to_cam=tuple(tuple(float(v) for v in row) for row in d["xyz_to_cam"]),
    )
  except FileNotFoundError:
    raise CheckpointError(f"{p}: camera profile not found") from None
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{p}: malformed camera profile ({e})") from None
  if (len(profile.black_level) != 4 or np.asarray(profile.xyz_to_cam).shape != (3, 3)
      or profile.cfa not in ("RGGB", "GRBG", "BGGR", "GBRG") or profile.white_level <= 0):
    raise CheckpointError(f"{p}: malformed camera profile (shapes, CFA or white level)")
  return profile
