"""Reading and writing ordinary images (PNG, TIFF, JPEG) with atomic writes.

16-bit RGB PNG (the NUS and INTEL-TAU raw-RGB files) is decoded and encoded with
`imagecodecs` (Pillow truncates it to 8 bits); TIFF with `tifffile`; JPEG with Pillow
at fixed settings (4:2:0 chroma subsampling, no optimisation) so the bytes are
deterministic. Every writer goes through `io.atomic.atomic_write_bytes`, so a failure
never leaves a half-written output.
"""

from __future__ import annotations

import io
import os
import zlib

import imagecodecs
import numpy as np
import tifffile
from PIL import Image

from r2lcm_jax.errors import ImageFormatError, InputError, ShapeMismatchError
from r2lcm_jax.io.atomic import atomic_write_bytes

__all__ = [
  "srgb_to_float",
  "read_image",
  "write_tiff16",
  "write_png",
  "write_jpeg",
  "encode_jpeg",
  "decode_jpeg",
  "to_uint16",
  "to_uint8",
]

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _check_png_complete(data: bytes, path: str) -> None:
  """Walks the PNG chunks (CRC checked) so a truncated file is reported, not decoded."""
  pos = len(_PNG_MAGIC)
  while True:
    if pos + 8 > len(data):
      raise ImageFormatError(f"{path}: truncated PNG (no IEND chunk)")
    length = int.from_bytes(data[pos:pos + 4], "big")
    kind = data[pos + 4:pos + 8]
    end = pos + 12 + length
    if end > len(data):
      raise ImageFormatError(f"{path}: truncated PNG (chunk {kind!r} cut short)")
    crc = int.from_bytes(data[end - 4:end], "big")
    if zlib.crc32(data[pos + 4:end - 4]) != crc:
      raise ImageFormatError(f"{path}: corrupted PNG (bad CRC in chunk {kind!r})")
    if kind == b"IEND":
      return
    pos = end


def _normalise_layout(arr: np.ndarray, path: str) -> np.ndarray:
  """(H,W), (H,W,1), (H,W,3), (H,W,4) -> (H,W) or (H,W,3), dtype uint8/uint16."""
  if arr.dtype not in (np.uint8, np.uint16):
    raise ImageFormatError(f"{path}: unsupported sample type {arr.dtype} (need 8 or 16 bit)")
  if arr.ndim == 3 and arr.shape[-1] == 1:
    arr = arr[..., 0]
  if arr.ndim == 3 and arr.shape[-1] == 4:
    arr = arr[..., :3]
  if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3):
    return np.ascontiguousarray(arr)
  raise ImageFormatError(f"{path}: unsupported image layout {arr.shape}")


def read_image(path: str | os.PathLike) -> np.ndarray:
  """Reads a PNG, TIFF or JPEG image without changing its bit depth.

  Args:
    path: the image file.

  Returns:
    uint8 or uint16 array, (H, W, 3) RGB (alpha dropped) or (H, W) grayscale.

  Raises:
    InputError: the file is missing or unreadable.
    ImageFormatError: not a PNG/TIFF/JPEG, truncated, or an unsupported layout.
  """
  path = str(path)
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise InputError(f"{path}: cannot read ({e.strerror or e})") from e
  if not data:
    raise ImageFormatError(f"{path}: empty file")
  try:
    if data.startswith(_PNG_MAGIC):
      _check_png_complete(data, path)
      arr = imagecodecs.png_decode(data)
    elif data.startswith(_TIFF_MAGICS):
      with tifffile.TiffFile(io.BytesIO(data)) as tif:
        arr = tif.pages[0].asarray()
    elif data.startswith(_JPEG_MAGIC):
      with Image.open(io.BytesIO(data)) as im:
        im.load()
        arr = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
    else:
      raise ImageFormatError(f"{path}: not a PNG, TIFF or JPEG image")
  except ImageFormatError:
    raise
  except Exception as e:  # decoder-specific errors: all mean a broken file
    raise ImageFormatError(f"{path}: cannot decode image ({type(e).__name__}: {e})") from e
  return _normalise_layout(np.asarray(arr), path)


def srgb_to_float(srgb: np.ndarray) -> np.ndarray:
  """uint8 (H, W, 3) -> float32 /255; float input is returned as float32 (H, W, 3)."""
  srgb = np.asarray(srgb)
  if srgb.ndim != 3 or srgb.shape[2] != 3:
    raise ShapeMismatchError(f"sRGB must be (H, W, 3), got {srgb.shape}")
  if srgb.dtype == np.uint8:
    return srgb.astype(np.float32) / np.float32(255.0)
  if not np.issubdtype(srgb.dtype, np.floating):
    raise InputError(f"sRGB must be uint8 or float, got {srgb.dtype}")
  return np.ascontiguousarray(srgb, np.float32)


def to_uint16(rgb: np.ndarray) -> np.ndarray:
  """float in [0,1] (clipped) -> round(x*65535) uint16; uint16 passes through."""
  rgb = np.asarray(rgb)
  if rgb.dtype == np.uint16:
    return rgb
  if not np.issubdtype(rgb.dtype, np.floating):
    raise ValueError(f"expected float in [0,1] or uint16, got {rgb.dtype}")
  return np.round(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
  """float in [0,1] (clipped) -> round(x*255) uint8; uint8 passes through."""
  rgb = np.asarray(rgb)
  if rgb.dtype == np.uint8:
    return rgb
  if not np.issubdtype(rgb.dtype, np.floating):
    raise ValueError(f"expected float in [0,1] or uint8, got {rgb.dtype}")
  return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)


def write_tiff16(path: str | os.PathLike, rgb: np.ndarray) -> None:
  """Writes a 16-bit TIFF (uncompressed, RGB or gray).

  Args:
    path: destination.
    rgb: (H, W, 3) or (H, W); float in [0, 1] (scaled by 65535, rounded) or uint16.
  """
  arr = to_uint16(rgb)
  buf = io.BytesIO()
  photometric = "rgb" if arr.ndim == 3 else "minisblack"
  tifffile.imwrite(buf, arr, photometric=photometric)
  atomic_write_bytes(path, buf.getvalue())


def write_png(path: str | os.PathLike, arr: np.ndarray) -> None:
  """Writes an 8- or 16-bit PNG (bit depth from the dtype: uint8 or uint16).

  Args:
    path: destination.
    arr: (H, W, 3) or (H, W) uint8 / uint16.
  """
  arr = np.ascontiguousarray(arr)
  if arr.dtype not in (np.uint8, np.uint16):
    raise ValueError(f"write_png needs uint8 or uint16, got {arr.dtype}")
  atomic_write_bytes(path, bytes(imagecodecs.png_encode(arr, level=6)))


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
  """Encodes (H, W, 3) uint8 RGB as baseline JPEG (4:2:0) at `quality` (1..100)."""
  if not 1 <= int(quality) <= 100:
    raise ValueError(f"JPEG quality must be in 1..100, got {quality}")
  rgb = np.ascontiguousarray(rgb)
  if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[-1] != 3:
    raise ValueError(f"encode_jpeg needs (H,W,3) uint8, got {rgb.shape} {rgb.dtype}")
  buf = io.BytesIO()
  Image.fromarray(rgb, "RGB").save(buf, format="JPEG", quality=int(quality),
                                   subsampling=2, optimize=False)
  return buf.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
  """Decodes JPEG bytes to (H, W, 3) uint8 RGB."""
  with Image.open(io.BytesIO(data)) as im:
    return np.asarray(im.convert("RGB"))


def write_jpeg(path: str | os.PathLike, rgb: np.ndarray, quality: int) -> bytes:
  """Writes (H, W, 3) uint8 RGB as JPEG at `quality`; returns the bytes written."""
  data = encode_jpeg(rgb, quality)
  atomic_write_bytes(path, data)
  return data
