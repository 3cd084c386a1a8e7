"""Uniform-grid raw-RGB samples and their metadata file (SAM / global-mapping baselines).

Grid: the image is cut into `step` x `step` cells in raster order (the last row/column of
cells may be partial); each cell holds one sample at its centre,

    y_i = i * step + min(step, H - i * step) // 2,   i = 0 .. ceil(H / step) - 1

(and the same for x), i.e. pixel (4, 4) of a full 8 x 8 cell. Positions are implicit, so a
sample costs 3 x 16 bits: round(65535 * raw) as uint16. At step 8 that is 1/64 of the
pixels = 1.5625 %, 0.75 bpp (plus the file overhead below).

File layout (little endian), `HEADER_BYTES + 6 n + TRAILER_BYTES` bytes:

    0   4  magic b"R2SM"
    4   1  version (1)
    5   1  kind (0 = uniform grid of raw-RGB uint16 samples)
    6   2  step (>= 1)
    8   4  height H (>= 1)
    12  4  width W (>= 1)
    16  6n samples: uint16 (ceil(H/step), ceil(W/step), 3) in raster order
    end 4  CRC-32 (zlib) of every byte before it

Overhead: 20 bytes = 160 bits per image. Parsing is strict: anything else raises
BitstreamError naming the source and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import struct
import zlib

import numpy as np

from r2lcm_jax.errors import BitstreamError, InputError, ShapeMismatchError
from r2lcm_jax.io.atomic import atomic_write_bytes

__all__ = [
  "MAGIC",
  "VERSION",
  "HEADER_BYTES",
  "TRAILER_BYTES",
  "MAX_PIXELS",
  "SampleGrid",
  "grid_positions",
  "sample_grid",
  "encode_samples",
  "decode_samples",
  "read_file_bytes",
  "write_metadata",
  "read_metadata",
]

MAGIC = b"R2SM"
VERSION = 1
_KIND_UNIFORM_GRID = 0
_HEADER = struct.Struct("<4sBBHII")
HEADER_BYTES = _HEADER.size  # 16
TRAILER_BYTES = 4
MAX_PIXELS = 1 << 31  # refuse headers describing images larger than this (2 Gpx)


@dataclasses.dataclass(frozen=True, eq=False)
class SampleGrid:
  """Raw-RGB samples on the uniform grid of an image.

  Attributes:
    height, width: image size H, W in pixels.
    step: grid step in pixels.
    samples: (ceil(H/step), ceil(W/step), 3) uint16, round(65535 * raw_rgb).
  """

  height: int
  width: int
  step: int
  samples: np.ndarray

  def positions(self) -> tuple[np.ndarray, np.ndarray]:
    """(gh,) row and (gw,) column pixel indices of the samples (int64)."""
    return grid_positions(self.height, self.width, self.step)

  def values(self) -> np.ndarray:
    """(gh, gw, 3) float32 raw-RGB values of the samples in [0, 1]."""
    return self.samples.astype(np.float32) / np.float32(65535.0)


def _axis_positions(n: int, step: int) -> np.ndarray:
  starts = np.arange(0, n, step, dtype=np.int64)
  return starts + np.minimum(step, n - starts) // 2


def grid_positions(height: int, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
  """Centres of the `step` x `step` cells (see module doc).

  Returns:
    rows (ceil(H/step),) and columns (ceil(W/step),), int64 pixel indices.
  """
  if step < 1 or height < 1 or width < 1:
    raise ValueError(f"need step, height, width >= 1, got {step}, {height}, {width}")
  return _axis_positions(height, step), _axis_positions(width, step)


def sample_grid(raw_rgb: np.ndarray, step: int) -> SampleGrid:
  """Samples an (H, W, 3) float raw-RGB image in [0, 1] on the grid of `step`."""
  raw_rgb = np.asarray(raw_rgb)
  if raw_rgb.ndim != 3 or raw_rgb.shape[2] != 3:
    raise ShapeMismatchError(f"raw-RGB must be (H, W, 3), got {raw_rgb.shape}")
  if not 1 <= step <= 0xFFFF:
    raise ValueError(f"step must be in [1, 65535], got {step}")
  h, w = raw_rgb.shape[:2]
  ys, xs = grid_positions(h, w, step)
  vals = np.clip(raw_rgb[ys[:, None], xs[None, :]].astype(np.float64), 0.0, 1.0)
  return SampleGrid(h, w, int(step), np.round(vals * 65535.0).astype(np.uint16))


def encode_samples(grid: SampleGrid) -> bytes:
  """The metadata file contents of a SampleGrid (see module doc)."""
  gh, gw = -(-grid.height // grid.step), -(-grid.width // grid.step)
  if grid.samples.shape != (gh, gw, 3) or grid.samples.dtype != np.uint16:
    raise ShapeMismatchError(
      f"samples must be uint16 {(gh, gw, 3)} for {grid.height}x{grid.width} at step {grid.step},"
      f" got {grid.samples.dtype} {grid.samples.shape}")
  head = _HEADER.pack(MAGIC, VERSION, _KIND_UNIFORM_GRID, grid.step, grid.height, grid.width)
  body = head + grid.samples.astype("<u2").tobytes()
  return body + struct.pack("<I", zlib.crc32(body))


def decode_samples(data: bytes, source: str = "<metadata>") -> SampleGrid:
  """Parses metadata bytes strictly.

  Args:
    data: the file contents.
    source: name used in error messages (file name).

  Raises:
    BitstreamError: truncated, foreign (magic), future version, unknown kind, invalid
      header fields, wrong length or CRC mismatch.
  """
  data = bytes(data)
  if len(data) < HEADER_BYTES + TRAILER_BYTES:
    raise BitstreamError(f"{source}: truncated SAM metadata ({len(data)} bytes, header needs"
                         f" {HEADER_BYTES + TRAILER_BYTES})")
  magic, version, kind, step, h, w = _HEADER.unpack_from(data, 0)
  if magic != MAGIC:
    raise BitstreamError(f"{source}: not SAM metadata (magic {magic!r}, expected {MAGIC!r})")
  if version != VERSION:
    raise BitstreamError(f"{source}: SAM metadata version {version} is not supported (only {VERSION})")
  if kind != _KIND_UNIFORM_GRID:
    raise BitstreamError(f"{source}: unknown SAM sample kind {kind}")
  if step < 1 or h < 1 or w < 1 or h * w > MAX_PIXELS:
    raise BitstreamError(f"{source}: invalid header (step {step}, size {h}x{w})")
  gh, gw = -(-h // step), -(-w // step)
  expected = HEADER_BYTES + 6 * gh * gw + TRAILER_BYTES
  if len(data) != expected:
    what = "truncated" if len(data) < expected else "trailing bytes in"
    raise BitstreamError(f"{source}: {what} SAM metadata ({len(data)} bytes, expected {expected}"
                         f" for {h}x{w} at step {step})")
  (crc,) = struct.unpack_from("<I", data, expected - TRAILER_BYTES)
  if crc != zlib.crc32(data[:expected - TRAILER_BYTES]):
    raise BitstreamError(f"{source}: corrupted SAM metadata (CRC-32 mismatch)")
  samples = np.frombuffer(data, "<u2", count=gh * gw * 3, offset=HEADER_BYTES)
  return SampleGrid(h, w, step, samples.astype(np.uint16).reshape(gh, gw, 3))


def write_metadata(path: str | os.PathLike, data: bytes) -> None:
  """Writes metadata bytes atomically (`io.atomic`)."""
  atomic_write_bytes(path, bytes(data))


def read_file_bytes(path: str | os.PathLike, what: str = "metadata") -> bytes:
  """The bytes of a baseline's `what` file; InputError if it is missing or a folder."""
  path = pathlib.Path(path)
  try:
    return path.read_bytes()
  except FileNotFoundError as e:
    raise InputError(f"{path}: {what} file not found") from e
  except IsADirectoryError as e:
    raise InputError(f"{path}: is a folder, not a {what} file") from e


def read_metadata(path: str | os.PathLike) -> SampleGrid:
  """Reads and parses a metadata file (InputError if missing, BitstreamError if bad)."""
  return decode_samples(read_file_bytes(path), str(path))
