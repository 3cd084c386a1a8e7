"""The NUS dataset as released by Nam et al. (CVPR'22): raw-RGB / sRGB pairs.

Layout: `<root>/<Camera>/{train,val,test}/{raw,sRGB}/*.{png,tif}`; raw and sRGB files are
paired by sorted file name. sRGB may also be JPEG (`.jpg`, as `r2lcm render
--jpeg_quality` writes it). Loading follows the official code (SPEC §10):
- raw: 16-bit demosaiced raw-RGB, divided by 65535;
- sRGB: 8-bit -> v / 255; 16-bit (the tif release) -> round(v / 255) / 255, the official
  quirk that squeezes 16-bit values onto an 8-bit-like grid whose maximum is 257/255;
- an sRGB whose height differs from the raw's is rotated 90 degrees counter-clockwise
  (portrait sRGB stored for a landscape raw); any remaining size difference is an error.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from r2lcm_jax.errors import ImageFormatError, InputError, ShapeMismatchError
from r2lcm_jax.io.images import read_image

__all__ = ["ImagePair", "IMAGE_SUFFIXES", "SRGB_SUFFIXES", "find_pairs", "load_pair", "load_raw_rgb", "load_srgb"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
SRGB_SUFFIXES = IMAGE_SUFFIXES + (".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class ImagePair:
  """One raw-RGB / sRGB pair of files.

  Attributes:
    raw_path: 16-bit raw-RGB image.
    srgb_path: 8-bit (or 16-bit tif) sRGB image.
    name: the raw file's stem.
    camera: camera folder name.
  """

  raw_path: str
  srgb_path: str
  name: str
  camera: str


def _images_in(folder: pathlib.Path, suffixes=IMAGE_SUFFIXES) -> list[pathlib.Path]:
  return sorted(p for p in folder.iterdir()
                if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith("."))


def find_pairs(root: str | os.PathLike, split: str, camera: str | None = None) -> list[ImagePair]:
  """Lists the raw/sRGB pairs of one split.

  Args:
    root: dataset root holding one folder per camera.
    split: "train", "val" or "test".
    camera: one camera folder; None = every camera folder that has this split.

  Returns:
    Pairs sorted by camera, then by file name.

  Raises:
    InputError: missing folders, an empty raw folder, or different raw/sRGB counts.
  """
  root = pathlib.Path(root)
  if not root.is_dir():
    raise InputError(f"{root}: dataset root is not a folder")
  if camera is not None:
    cameras = [camera]
  else:
    cameras = sorted(p.name for p in root.iterdir() if (p / split / "raw").is_dir())
    if not cameras:
      raise InputError(f"{root}: no <Camera>/{split}/raw folder found")
  pairs: list[ImagePair] = []
  for cam in cameras:
    base = root / cam / split
    raw_dir, srgb_dir = base / "raw", base / "sRGB"
    for d in (raw_dir, srgb_dir):
      if not d.is_dir():
        raise InputError(f"{d}: folder missing")
    raws, srgbs = _images_in(raw_dir), _images_in(srgb_dir, SRGB_SUFFIXES)
    if not raws:
      raise InputError(f"{raw_dir}: no .png/.tif images (empty folder)")
    if len(raws) != len(srgbs):
      raise InputError(f"{base}: {len(raws)} raw images but {len(srgbs)} sRGB images")
    pairs += [ImagePair(str(r), str(s), r.stem, cam) for r, s in zip(raws, srgbs, strict=True)]
  return pairs


def load_raw_rgb(path: str | os.PathLike) -> np.ndarray:
  """16-bit raw-RGB file -> (H, W, 3) float32 v / 65535."""
  arr = read_image(path)
  if arr.ndim != 3 or arr.dtype != np.uint16:
    raise ImageFormatError(f"{path}: raw-RGB must be 16-bit 3-channel, got {arr.shape} {arr.dtype}")
  return arr.astype(np.float32) / np.float32(65535.0)


def load_srgb(path: str | os.PathLike) -> np.ndarray:
  """sRGB file -> (H, W, 3) float32: v/255 (8-bit) or round(v/255)/255 (16-bit quirk)."""
  arr = read_image(path)
  if arr.ndim != 3:
    raise ImageFormatError(f"{path}: sRGB must have 3 channels, got {arr.shape}")
  if arr.dtype == np.uint16:
    arr = np.round(arr.astype(np.float32) / np.float32(255.0))
  return arr.astype(np.float32) / np.float32(255.0)


def load_pair(pair: ImagePair) -> tuple[np.ndarray, np.ndarray]:
  """Loads one pair as the official test loader does.

  Returns:
    raw (H, W, 3) float32 in [0, 1] and srgb (H, W, 3) float32 (8-bit grid; at most
    257/255 for 16-bit tif sRGB), the sRGB rotated 90 degrees CCW if it was portrait.

  Raises:
    ShapeMismatchError: the two images differ in size (after the rotation rule).
  """
  raw = load_raw_rgb(pair.raw_path)
  srgb = load_srgb(pair.srgb_path)
  if srgb.shape[0] != raw.shape[0]:
    srgb = np.ascontiguousarray(np.rot90(srgb, 1))
  if srgb.shape != raw.shape:
    raise ShapeMismatchError(
      f"{pair.raw_path} is {raw.shape[1]}x{raw.shape[0]} but {pair.srgb_path} is "
      f"{srgb.shape[0]}x{srgb.shape[1]} (WxH, after rotation): raw and sRGB must have the same size")
  return raw, srgb
