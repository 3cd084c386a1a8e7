"""Camera RAW input: a Bayer mosaic and the metadata the ISP needs.

`read_raw` opens any file LibRaw knows (DNG, CR2, NEF, ARW, ...) through rawpy and keeps
the *visible* sensor area in sensor orientation (the EXIF/DNG orientation flag is not
applied, so raw-RGB and sRGB stay pixel-aligned with the mosaic). Mosaics with an odd
height or width lose their last row/column so the 2x2 CFA tile is complete.

Colour matrix: `xyz_to_cam` maps CIE XYZ (D65) to camera RGB. LibRaw's Adobe table
(`rgb_xyz_matrix`) is used when it is filled; otherwise it is derived from LibRaw's
camera->sRGB matrix `color_matrix` (for DNGs, computed from the file's ColorMatrix):
`xyz_to_cam = inv(color_matrix) @ SRGB_FROM_XYZ`, which the ISP turns back into exactly
that camera->sRGB matrix. `None` when the file carries neither.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re

import numpy as np

from r2lcm_jax.errors import ImageFormatError, InputError

__all__ = [
  "RawImage",
  "read_raw",
  "cfa_from_pattern",
  "cfa_masks",
  "SRGB_FROM_XYZ",
  "XYZ_FROM_SRGB",
  "camera_slug",
]

# Linear sRGB (D65) <-> CIE XYZ (D65), IEC 61966-2-1.
XYZ_FROM_SRGB = np.array(
  [[0.4124564, 0.3575761, 0.1804375],
   [0.2126729, 0.7151522, 0.0721750],
   [0.0193339, 0.1191920, 0.9503041]], dtype=np.float64)
SRGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_SRGB)

_BAYER = ("RGGB", "GRBG", "BGGR", "GBRG")


@dataclasses.dataclass(frozen=True, eq=False)
class RawImage:
  """A Bayer RAW frame.

  Attributes:
    mosaic: (H, W) uint16 sensor values, H and W even.
    black_level: (4,) float32 black level per CFA position, raster order of the 2x2
      tile (top-left, top-right, bottom-left, bottom-right).
    white_level: saturation value (same units as `mosaic`).
    cfa: 2x2 Bayer phase in raster order: "RGGB", "GRBG", "BGGR" or "GBRG".
    as_shot_wb: (3,) float32 RGB gains of the camera's white balance, G = 1.
    xyz_to_cam: (3, 3) float32 CIE XYZ -> camera RGB, or None if unknown.
    camera: camera name (free text; `camera_slug` makes a folder name of it).
    path: source file, or None for generated frames.
  """

  mosaic: np.ndarray
  black_level: np.ndarray
  white_level: float
  cfa: str
  as_shot_wb: np.ndarray
  xyz_to_cam: np.ndarray | None
  camera: str
  path: str | None = None

  def __post_init__(self):
    if self.cfa not in _BAYER:
      raise ValueError(f"cfa must be one of {_BAYER}, got {self.cfa!r}")
    if self.mosaic.ndim != 2 or self.mosaic.dtype != np.uint16:
      raise ValueError(f"mosaic must be (H,W) uint16, got {self.mosaic.shape} {self.mosaic.dtype}")
    if self.mosaic.shape[0] % 2 or self.mosaic.shape[1] % 2:
      raise ValueError(f"mosaic dimensions must be even, got {self.mosaic.shape}")
    if np.shape(self.black_level) != (4,) or np.shape(self.as_shot_wb) != (3,):
      raise ValueError("black_level must have shape (4,) and as_shot_wb shape (3,)")
    if not float(self.white_level) > float(np.max(self.black_level)):
      raise ValueError(f"white level {self.white_level} not above black {self.black_level}")

  @property
  def shape(self) -> tuple[int, int]:
    """(H, W) of the mosaic."""
    return tuple(self.mosaic.shape)


def cfa_from_pattern(pattern: np.ndarray, color_desc: str) -> str:
  """LibRaw's 2x2 `raw_pattern` + colour description ("RGBG") -> e.g. "RGGB"."""
  pattern = np.asarray(pattern)
  if pattern.shape != (2, 2):
    raise ValueError(f"not a 2x2 Bayer pattern: shape {pattern.shape}")
  cfa = "".join(color_desc[int(i)] for i in pattern.reshape(-1))
  if cfa not in _BAYER:
    raise ValueError(f"not a Bayer pattern: {cfa!r}")
  return cfa


def cfa_masks(cfa: str, height: int, width: int) -> np.ndarray:
  """Boolean (3, H, W) masks of the R, G and B sites of a Bayer mosaic."""
  masks = np.zeros((3, height, width), dtype=bool)
  for pos, colour in enumerate(cfa):
    dy, dx = divmod(pos, 2)
    masks["RGB".index(colour), dy::2, dx::2] = True
  return masks


def camera_slug(camera: str) -> str:
  """A folder-safe camera name: "Canon EOS Kiss X4" -> "CanonEOSKissX4"."""
  slug = re.sub(r"[^A-Za-z0-9_-]", "", camera)
  return slug or "unknown"


def _camera_name(path: str) -> str:
  """Make + Model from the TIFF tags of TIFF-based RAWs (DNG, CR2, NEF, ...)."""
  try:
    import tifffile

    logging.getLogger("tifffile").disabled = True
    try:
      with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        make = str(tags["Make"].value).strip() if "Make" in tags else ""
        model = str(tags["Model"].value).strip() if "Model" in tags else ""
    finally:
      logging.getLogger("tifffile").disabled = False
  except Exception:  # not TIFF-based (e.g. RAF, CRW): no name, not an error
    return "unknown"
  if model.lower().startswith(make.lower()):
    return model or "unknown"
  return f"{make} {model}".strip() or "unknown"


def _xyz_to_cam(raw) -> np.ndarray | None:
  adobe = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
  if np.any(adobe != 0):
    return adobe.astype(np.float32)
  rgb_cam = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
  if np.any(rgb_cam != 0) and abs(np.linalg.det(rgb_cam)) > 1e-8:
    return (np.linalg.inv(rgb_cam) @ SRGB_FROM_XYZ).astype(np.float32)
  return None


def read_raw(path: str | os.PathLike) -> RawImage:
  """Reads a camera RAW file with rawpy (LibRaw).

  Args:
    path: a DNG or any RAW format LibRaw supports.

  Returns:
    RawImage with the visible Bayer mosaic (H, W) uint16 and its metadata.

  Raises:
    InputError: the file does not exist or is not a regular file.
    ImageFormatError: not a RAW file, truncated/corrupted, or not a 2x2 Bayer sensor.
  """
  import rawpy

  path = str(path)
  p = pathlib.Path(path)
  if not p.is_file():
    raise InputError(f"{path}: no such file")
  if p.stat().st_size == 0:
    raise ImageFormatError(f"{path}: empty file")
  try:
    with rawpy.imread(path) as raw:
      if raw.raw_pattern is None or np.asarray(raw.raw_pattern).shape != (2, 2):
        raise ImageFormatError(f"{path}: not a 2x2 Bayer sensor (X-Trans/Foveon/linear DNG)")
      cfa = cfa_from_pattern(raw.raw_pattern, raw.color_desc.decode("ascii"))
      mosaic = np.array(raw.raw_image_visible, dtype=np.uint16, copy=True)
      per_colour = np.asarray(raw.black_level_per_channel, dtype=np.float32)
      pattern = np.asarray(raw.raw_pattern).reshape(-1)
      black = per_colour[pattern].astype(np.float32)
      white = float(raw.white_level)
      wb = np.asarray(raw.camera_whitebalance, dtype=np.float32)[:3]
      xyz_to_cam = _xyz_to_cam(raw)
  except ImageFormatError:
    raise
  except ValueError as e:
    raise ImageFormatError(f"{path}: unsupported colour filter array ({e})") from e
  except rawpy.LibRawFileUnsupportedError as e:
    raise ImageFormatError(f"{path}: not a RAW file LibRaw can read ({e})") from e
  except rawpy.LibRawError as e:
    raise ImageFormatError(
      f"{path}: cannot decode RAW, truncated or corrupted ({type(e).__name__}: {e})") from e
  h, w = mosaic.shape
  mosaic = mosaic[: h - h % 2, : w - w % 2]
  if mosaic.size == 0:
    raise ImageFormatError(f"{path}: empty RAW frame")
  if not np.all(np.isfinite(wb)) or wb[1] <= 0 or np.any(wb <= 0):
    wb = np.ones(3, np.float32)  # no usable as-shot white balance in the file
  wb = (wb / wb[1]).astype(np.float32)
  if white <= float(black.max()):
    raise ImageFormatError(f"{path}: white level {white} not above black level {black.max()}")
  return RawImage(mosaic=np.ascontiguousarray(mosaic), black_level=black, white_level=white,
                  cfa=cfa, as_shot_wb=wb, xyz_to_cam=xyz_to_cam,
                  camera=_camera_name(path), path=path)
