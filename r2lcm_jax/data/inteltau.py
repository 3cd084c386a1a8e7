"""INTEL-TAU samples: demosaiced raw-RGB 16-bit PNGs with a JSON ground-truth illuminant.

Each `<stem>.png` (H, W, 3 uint16, black level and colour shading already corrected, RGB)
comes with `<stem>_metadata.json` holding `illuminant_color_raw` (camera RGB).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re

import numpy as np

from r2lcm_jax.data.nus import load_raw_rgb
from r2lcm_jax.errors import ImageFormatError, InputError

__all__ = ["InteltauImage", "metadata_path", "find_inteltau", "read_inteltau"]


@dataclasses.dataclass(frozen=True, eq=False)
class InteltauImage:
  """One INTEL-TAU sample.

  Attributes:
    raw_rgb: (H, W, 3) float32 in [0, 1] (uint16 / 65535).
    illuminant: (3,) float32 ground-truth illuminant in raw RGB.
    name: file stem.
    camera: sensor name from the file name (e.g. "SonyIMX135").
    path: the PNG file.
  """

  raw_rgb: np.ndarray
  illuminant: np.ndarray
  name: str
  camera: str
  path: str


def metadata_path(png: str | os.PathLike) -> pathlib.Path:
  """`<stem>.png` -> `<stem>_metadata.json` beside it."""
  png = pathlib.Path(png)
  return png.with_name(f"{png.stem}_metadata.json")


def find_inteltau(folder: str | os.PathLike) -> list[pathlib.Path]:
  """Sorted PNGs of a folder that have their `_metadata.json`; InputError if none."""
  folder = pathlib.Path(folder)
  if not folder.is_dir():
    raise InputError(f"{folder}: not a folder")
  found = sorted(p for p in folder.glob("*.png") if metadata_path(p).is_file())
  if not found:
    raise InputError(f"{folder}: no INTEL-TAU PNG with a _metadata.json (empty folder)")
  return found


def _camera_from_name(stem: str) -> str:
  m = re.search(r"sensorname_(.+)$", stem)
  if not m:
    return "inteltau"
  parts = m.group(1).split("_")
  return "".join(p.upper() if any(c.isdigit() for c in p) else p.capitalize() for p in parts)


def read_inteltau(path: str | os.PathLike) -> InteltauImage:
  """Reads one INTEL-TAU PNG and its illuminant.

  Raises:
    InputError: the JSON sidecar is missing.
    ImageFormatError: not a 16-bit RGB PNG, or a JSON without a valid illuminant.
  """
  path = pathlib.Path(path)
  meta = metadata_path(path)
  if not meta.is_file():
    raise InputError(f"{path}: INTEL-TAU metadata {meta.name} not found")
  raw_rgb = load_raw_rgb(path)
  try:
    ill = np.asarray(json.loads(meta.read_text())["illuminant_color_raw"], np.float32)
  except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
    raise ImageFormatError(f"{meta}: no illuminant_color_raw ({type(e).__name__}: {e})") from e
  if ill.shape != (3,) or not np.all(np.isfinite(ill)) or np.any(ill <= 0):
    raise ImageFormatError(f"{meta}: illuminant must be 3 positive numbers, got {ill.tolist()}")
  return InteltauImage(raw_rgb=raw_rgb, illuminant=ill, name=path.stem,
                       camera=_camera_from_name(path.stem), path=str(path))
