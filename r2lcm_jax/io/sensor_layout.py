"""What a DNG of the reconstruction needs and the sRGB does not give: the sensor layout.

The codec reconstructs raw RGB (H, W, 3) in [0, 1] (black subtracted, divided by
white - black, demosaiced). A raw editor wants the sensor's own numbers: the Bayer phase,
the black and white levels, a colour matrix and the as-shot neutral. The encoder stores
them in the bitstream (header flag `FLAG_SENSOR`, this module's bytes), and the decoder
writes a DNG with them (`write_dng`):

* kind "bayer": the reconstruction is re-mosaiced to the source CFA. Each site takes its
  own colour's value, back in sensor units:
  `v = round(black[pos] + clip(x, 0, 1) * (white - black[pos]))` (uint16). Reading that
  DNG gives back the normalised reconstruction within 16-bit rounding.
* kind "linear": a LinearRaw DNG of the three channels (sources that were never a
  Bayer mosaic, e.g. INTEL-TAU fields, or a RAW turned to fit a rotated camera JPEG).

Block layout (little-endian; `to_bytes` / `from_bytes`):

    version u8 (1) | kind u8 (0 bayer, 1 linear) | cfa u8 (index in BAYER_PATTERNS; 0
    for linear) | orientation u8 | n_black u8 | black n_black x f32 | white f32 |
    has_matrix u8 | [xyz_to_cam 9 x f32] | illuminant u16 (EXIF code) |
    as_shot_neutral 3 x f32 | make_len u8 | make | model_len u8 | model

A future version number is refused with a clear error (`BitstreamError`), as is any
value a DNG could not hold.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np

from r2lcm_jax.errors import BitstreamError, InputError, ShapeMismatchError
from r2lcm_jax.io import dng

__all__ = ["SensorLayout", "BAYER_PATTERNS", "LAYOUT_VERSION"]

LAYOUT_VERSION = 1
BAYER_PATTERNS = ("RGGB", "GRBG", "BGGR", "GBRG")
KINDS = ("bayer", "linear")

_HEAD = struct.Struct("<BBBBB")
_F32 = struct.Struct("<f")


@dataclasses.dataclass(frozen=True, eq=False)
class SensorLayout:
  """Sensor facts for a DNG of the reconstruction.

  Attributes:
    kind: "bayer" (re-mosaic to `cfa`) or "linear" (LinearRaw, three channels).
    cfa: Bayer phase of the image's first pixel ("RGGB", ...); "" for "linear".
    black_level: 4 values per 2x2 CFA position in raster order (bayer), or 1 or 3
      (linear), in sensor units.
    white_level: saturation, integral, in (max(black_level), 65535].
    xyz_to_cam: (3, 3) CIE XYZ (D65) -> camera RGB, or None (camera RGB = linear sRGB).
    as_shot_neutral: (3,) camera RGB of a neutral surface, G = 1.
    orientation: EXIF orientation 1..8.
    make, model: camera maker and model (ASCII).
    illuminant: EXIF LightSource code the matrix is calibrated for (21 = D65).
  """

  kind: str
  cfa: str
  black_level: tuple[float, ...]
  white_level: float
  xyz_to_cam: np.ndarray | None
  as_shot_neutral: tuple[float, float, float]
  orientation: int = 1
  make: str = "r2lcm_jax"
  model: str = "unknown"
  illuminant: int = dng.ILLUMINANT_D65

  def __post_init__(self):
    if self.kind not in KINDS:
      raise InputError(f"sensor layout kind must be one of {KINDS}, got {self.kind!r}")
    if self.kind == "bayer" and self.cfa not in BAYER_PATTERNS:
      raise InputError(f"Bayer sensor layout needs a CFA in {BAYER_PATTERNS}, got {self.cfa!r}")
    if self.kind == "linear" and self.cfa:
      raise InputError("a linear sensor layout has no CFA")
    n = len(self.black_level)
    if (self.kind == "bayer" and n != 4) or (self.kind == "linear" and n not in (1, 3)):
      raise InputError(f"{self.kind} sensor layout: {n} black levels")
    if self.illuminant != dng.ILLUMINANT_D65:
      raise InputError(f"only D65-calibrated matrices are written, got illuminant {self.illuminant}")
    self.dng_metadata()  # every remaining check (levels, matrix, neutral, text)

  def dng_metadata(self) -> dng.DngMetadata:
    """The DNG writer's metadata (raises InputError for values a DNG cannot hold)."""
    return dng.DngMetadata(
      black_level=tuple(float(v) for v in self.black_level),
      white_level=float(self.white_level),
      xyz_to_cam=None if self.xyz_to_cam is None else np.asarray(self.xyz_to_cam, np.float64),
      as_shot_neutral=np.asarray(self.as_shot_neutral, np.float64),
      make=self.make, model=self.model, orientation=int(self.orientation))

  # --- serialisation -----------------------------------------------------------------

  def to_bytes(self) -> bytes:
    """The header block (module doc)."""
    out = [_HEAD.pack(LAYOUT_VERSION, KINDS.index(self.kind),
                      BAYER_PATTERNS.index(self.cfa) if self.kind == "bayer" else 0,
                      int(self.orientation), len(self.black_level))]
    out += [struct.pack(f"<{len(self.black_level)}f", *self.black_level),
            _F32.pack(float(self.white_level))]
    if self.xyz_to_cam is None:
      out.append(b"\x00")
    else:
      out.append(b"\x01" + struct.pack("<9f", *np.asarray(self.xyz_to_cam, np.float64).reshape(-1)))
    out.append(struct.pack("<H3f", self.illuminant, *self.as_shot_neutral))
    for text in (self.make, self.model):
      raw = text.encode("ascii")[:255]
      out.append(bytes([len(raw)]) + raw)
    return b"".join(out)

  @classmethod
  def from_bytes(cls, data: bytes) -> SensorLayout:
    """Parses a header block; BitstreamError for a future version or malformed bytes."""
    pos = 0

    def take(n: int) -> bytes:
      nonlocal pos
      if pos + n > len(data):
        raise BitstreamError(f"sensor-layout block truncated at byte {pos} (needs {n} more)")
      pos += n
      return data[pos - n:pos]

    version, kind, cfa, orientation, n_black = _HEAD.unpack(take(_HEAD.size))
    if version > LAYOUT_VERSION:
      raise BitstreamError(f"sensor-layout block version {version} is newer than this "
                           f"decoder's {LAYOUT_VERSION}")
    if version < 1 or kind >= len(KINDS) or cfa >= len(BAYER_PATTERNS) or n_black > 4:
      raise BitstreamError(f"malformed sensor-layout block (version {version}, kind {kind}, "
                           f"cfa {cfa}, {n_black} black levels)")
    black = struct.unpack(f"<{n_black}f", take(4 * n_black))
    (white,) = _F32.unpack(take(4))
    has_matrix = take(1)[0]
    matrix = np.array(struct.unpack("<9f", take(36)), np.float64).reshape(3, 3) if has_matrix else None
    illuminant, *neutral = struct.unpack("<H3f", take(14))
    make = take(take(1)[0]).decode("ascii", "replace")
    model = take(take(1)[0]).decode("ascii", "replace")
    if pos != len(data):
      raise BitstreamError(f"sensor-layout block has {len(data) - pos} trailing bytes")
    try:
      return cls(kind=KINDS[kind], cfa=BAYER_PATTERNS[cfa] if KINDS[kind] == "bayer" else "",
                 black_level=tuple(black), white_level=white, xyz_to_cam=matrix,
                 as_shot_neutral=tuple(neutral), orientation=orientation, make=make,
                 model=model, illuminant=illuminant)
    except InputError as e:
      raise BitstreamError(f"sensor-layout block holds values a DNG cannot: {e}") from e

  # --- geometry and pixels -----------------------------------------------------------

  def cropped(self, top: int, left: int) -> SensorLayout:
    """The layout of a crop starting at (top, left): the CFA and black levels re-phased."""
    if self.kind != "bayer" or (top % 2 == 0 and left % 2 == 0):
      return self
    shift = (-(top % 2), -(left % 2))
    tile = np.roll(np.array(list(self.cfa)).reshape(2, 2), shift, axis=(0, 1))
    black = np.roll(np.asarray(self.black_level, np.float64).reshape(2, 2), shift, axis=(0, 1))
    return dataclasses.replace(self, cfa="".join(tile.reshape(-1)),
                               black_level=tuple(float(v) for v in black.reshape(-1)))

  def remosaic(self, raw_rgb: np.ndarray) -> np.ndarray:
    """Bayer sensor values of a normalised reconstruction.

    Args:
      raw_rgb: float (H, W, 3) in [0, 1] (clipped), H and W even.

    Returns:
      uint16 (H, W): `round(black[pos] + x[colour(pos)] * (white - black[pos]))`.

    Raises:
      ShapeMismatchError: not (H, W, 3) or odd sides; InputError: not a Bayer layout.
    """
    if self.kind != "bayer":
      raise InputError("remosaic needs a Bayer sensor layout")
    raw_rgb = np.asarray(raw_rgb)
    if raw_rgb.ndim != 3 or raw_rgb.shape[2] != 3 or raw_rgb.shape[0] % 2 or raw_rgb.shape[1] % 2:
      raise ShapeMismatchError(f"re-mosaicing needs (H, W, 3) with even H and W, got {raw_rgb.shape}")
    h, w, _ = raw_rgb.shape
    colour = np.array(["RGB".index(c) for c in self.cfa]).reshape(2, 2)
    black = np.asarray(self.black_level, np.float64).reshape(2, 2)
    out = np.empty((h, w), np.uint16)
    x = np.clip(raw_rgb.astype(np.float64), 0.0, 1.0)
    for dy in (0, 1):
      for dx in (0, 1):
        b = black[dy, dx]
        v = b + x[dy::2, dx::2, colour[dy, dx]] * (float(self.white_level) - b)
        out[dy::2, dx::2] = np.clip(np.round(v), 0, 65535).astype(np.uint16)
    return out

  def write_dng(self, path: str | os.PathLike, raw_rgb: np.ndarray) -> None:
    """Writes the normalised reconstruction (H, W, 3) as a DNG of this layout (atomic)."""
    meta = self.dng_metadata()
    if self.kind == "bayer":
      dng.write_bayer_dng(path, self.remosaic(raw_rgb), self.cfa, meta)
    else:
      dng.write_linear_dng(path, np.asarray(raw_rgb, np.float32), meta)
