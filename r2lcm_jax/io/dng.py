"""Writing DNG files: a Bayer mosaic (CFA DNG) or demosaiced raw RGB (LinearRaw DNG).

Raws that are not DNGs (INTEL-TAU's demosaiced raw-RGB PNGs, the Halide Bayer PNG) and
crops of real DNGs become files that third-party raw converters (darktable,
RawTherapee, LibRaw/rawpy) open as raws; the decoder can write its reconstruction the
same way. The file is one uncompressed 16-bit strip in IFD 0 (NewSubFileType 0,
little-endian classic TIFF) with the DNG 1.4 tags a converter needs: CFA layout (Bayer
only), black and white levels, one colour matrix calibrated for D65, the as-shot
neutral, the orientation and a default crop covering the whole image (so converters do
not crop it).

Why `tifffile`: it is maintained, already a dependency (16-bit TIFF output), and writes
arbitrary tags of any TIFF type through `extratags`, which is all DNG needs on top of
TIFF; no maintained pure-Python DNG writer fits (the ones that exist are unmaintained or
pull in heavy native dependencies). The bytes are built in memory and written with
`atomic_write_bytes`, so a failure leaves nothing behind. Files smaller than 100,000
bytes are padded with trailing zeros, because RawTherapee refuses smaller raw files.

Colour: `DngMetadata.xyz_to_cam` (CIE XYZ (D65) -> camera RGB, LibRaw's convention as
`read_raw` returns it) is written as ColorMatrix1 with CalibrationIlluminant1 = D65,
its rows rescaled so that D65 white maps to the as-shot neutral (`_color_matrix` says
why: without it RawTherapee renders a Canon crop with twice too much blue). Without a
matrix (`None`) the generic `raw.SRGB_FROM_XYZ` is used, i.e. camera RGB is declared to
be linear sRGB and a converter applies no colour correction beyond white balance.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os

import numpy as np
import tifffile

from r2lcm_jax.errors import InputError, ShapeMismatchError
from r2lcm_jax.io.images import atomic_write_bytes
from r2lcm_jax.io.raw import SRGB_FROM_XYZ, XYZ_FROM_SRGB, RawImage

__all__ = [
  "DngMetadata",
  "write_bayer_dng",
  "write_linear_dng",
  "dng_from_raw",
  "split_camera",
  "PHOTOMETRIC_CFA",
  "PHOTOMETRIC_LINEAR_RAW",
  "ILLUMINANT_D65",
]

PHOTOMETRIC_CFA = 32803
PHOTOMETRIC_LINEAR_RAW = 34892
ILLUMINANT_D65 = 21  # EXIF LightSource code

_BAYER = ("RGGB", "GRBG", "BGGR", "GBRG")

# TIFF field types.
_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10

# Tag codes (TIFF 6, TIFF/EP, DNG 1.4).
_ORIENTATION = 274
_MAKE, _MODEL = 271, 272
_CFA_REPEAT_PATTERN_DIM, _CFA_PATTERN = 33421, 33422
_DNG_VERSION, _DNG_BACKWARD_VERSION, _UNIQUE_CAMERA_MODEL = 50706, 50707, 50708
_CFA_PLANE_COLOR, _CFA_LAYOUT = 50710, 50711
_BLACK_LEVEL_REPEAT_DIM, _BLACK_LEVEL, _WHITE_LEVEL = 50713, 50714, 50717
_DEFAULT_CROP_ORIGIN, _DEFAULT_CROP_SIZE = 50719, 50720
_COLOR_MATRIX1, _AS_SHOT_NEUTRAL, _BASELINE_EXPOSURE = 50721, 50728, 50730
_CALIBRATION_ILLUMINANT1 = 50778

_MIN_FILE_BYTES = 100_000  # see _encode
_INT32_MAX = 2**31 - 1
_UINT32_MAX = 2**32 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class DngMetadata:
  """What a DNG needs besides the pixels.

  Attributes:
    black_level: 1 value, or one per CFA position of the 2x2 tile in raster order (4,
      Bayer), or one per channel (3, LinearRaw).
    white_level: saturation value, integral, in (max(black_level), 65535].
    xyz_to_cam: (3, 3) CIE XYZ (D65) -> camera RGB, written as ColorMatrix1 with
      CalibrationIlluminant1 = D65 (the scale of its rows does not matter, see
      `_color_matrix`); None writes `raw.SRGB_FROM_XYZ` (camera RGB taken as linear
      sRGB).
    as_shot_neutral: (3,) camera-RGB value of a neutral surface, G = 1 by convention
      (the reciprocal of the white-balance gains).
    make: camera maker (7-bit ASCII).
    model: camera model (7-bit ASCII); UniqueCameraModel is "make model".
    orientation: EXIF/TIFF orientation 1..8 (1 = rows top to bottom, columns left to
      right).

  Raises:
    InputError: a value of the wrong shape, non-finite, out of range, or non-ASCII text.
  """

  black_level: tuple[float, ...]
  white_level: float
  xyz_to_cam: np.ndarray | None
  as_shot_neutral: np.ndarray
  make: str = "r2lcm_jax"
  model: str = "unknown"
  orientation: int = 1

  def __post_init__(self):
    black = np.asarray(self.black_level, np.float64).reshape(-1)
    if black.size not in (1, 3, 4) or not np.all(np.isfinite(black)) or np.any(black < 0):
      raise InputError(
        f"DNG black_level must be 1, 3 or 4 finite values >= 0, got {self.black_level}")
    white = float(self.white_level)
    if not math.isfinite(white) or white != round(white) or not 0 < white <= 65535:
      raise InputError(
        f"DNG white_level must be an integer in 1..65535, got {self.white_level}")
    if white <= black.max():
      raise InputError(f"DNG white_level {white:g} not above black_level {black.max():g}")
    if self.xyz_to_cam is not None:
      m = np.asarray(self.xyz_to_cam, np.float64)
      if m.shape != (3, 3) or not np.all(np.isfinite(m)):
        raise InputError(
          f"DNG xyz_to_cam must be a finite (3, 3) matrix, got shape {m.shape}")
      d65 = m @ XYZ_FROM_SRGB.sum(axis=1)
      if np.any(d65 <= 1e-6) or abs(np.linalg.det(m)) < 1e-12:
        raise InputError(
          f"DNG xyz_to_cam must be invertible and map D65 white to positive camera RGB,"
          f" got {np.round(d65, 6).tolist()}")
    neutral = np.asarray(self.as_shot_neutral, np.float64)
    if neutral.shape != (3,) or not np.all(np.isfinite(neutral)) or np.any(neutral <= 0):
      raise InputError(
        f"DNG as_shot_neutral must be 3 positive numbers, got {neutral.tolist()}")
    orientation = self.orientation
    is_int = isinstance(orientation, (int, np.integer)) and not isinstance(orientation, bool)
    if not is_int or not 1 <= orientation <= 8:
      raise InputError(f"DNG orientation must be an integer in 1..8, got {orientation!r}")
    for name in ("make", "model"):
      text = getattr(self, name)
      if not isinstance(text, str) or not text.isascii() or "\x00" in text:
        raise InputError(f"DNG {name} must be 7-bit ASCII text, got {text!r}")


def _rational(value: float, signed: bool) -> tuple[int, int]:
  """value -> (numerator, denominator) with up to 6 decimals, fitting (S)RATIONAL."""
  limit = _INT32_MAX if signed else _UINT32_MAX
  den = 1_000_000
  while den > 1 and abs(round(value * den)) > limit:
    den //= 10
  num = round(value * den)
  if abs(num) > limit or (not signed and num < 0):
    raise InputError(f"DNG value {value:g} does not fit a {'S' if signed else ''}RATIONAL")
  g = math.gcd(num, den) or 1
  return num // g, den // g


def _rationals(values, signed: bool) -> list[int]:
  """Flat [num0, den0, num1, den1, ...] for tifffile's (S)RATIONAL extratags."""
  out: list[int] = []
  for v in np.asarray(values, np.float64).reshape(-1):
    out.extend(_rational(float(v), signed))
  return out


def _black_level_tags(black: np.ndarray, repeat: tuple[int, int]) -> list[tuple]:
  """BlackLevelRepeatDim + BlackLevel (LONG when integral, else RATIONAL)."""
  tags = [(_BLACK_LEVEL_REPEAT_DIM, _SHORT, 2, repeat, True)]
  if np.all(black == np.round(black)):
    tags.append((_BLACK_LEVEL, _LONG, black.size, [int(v) for v in black], True))
  else:
    tags.append((_BLACK_LEVEL, _RATIONAL, black.size, _rationals(black, False), True))
  return tags


def _color_matrix(meta: DngMetadata) -> np.ndarray:
  """ColorMatrix1 (3, 3): `xyz_to_cam` with row i scaled so D65 white -> neutral_i.

  `xyz_to_cam` (LibRaw's convention, as `read_raw` returns it) is only known up to
  the scale of its rows: LibRaw normalises them so that D65 white maps to (1, 1, 1).
  A DNG ColorMatrix maps XYZ to camera values *before* white balance, and DNG
  converters read the scene illuminant off it (XYZ of white = inverse(ColorMatrix) @
  AsShotNeutral) and adapt that illuminant to the output white. Scaling row i by
  neutral_i makes that illuminant D65, the calibration illuminant, so converters
  render white balance then `xyz_to_cam`, as LibRaw and the project's ISP do, and
  LibRaw reads `xyz_to_cam` back unchanged. The matrix is scaled so its largest
  camera response to D65 white is 1.
  """
  m = SRGB_FROM_XYZ if meta.xyz_to_cam is None else np.asarray(meta.xyz_to_cam, np.float64)
  white = m @ XYZ_FROM_SRGB.sum(axis=1)  # camera response to D65 white (Y = 1), > 0
  neutral = np.asarray(meta.as_shot_neutral, np.float64)
  return (neutral / neutral.max() / white)[:, None] * m


def _common_tags(meta: DngMetadata, height: int, width: int, samples: int) -> list[tuple]:
  """The DNG tags shared by Bayer and LinearRaw files (levels added by the caller)."""
  color_matrix = _color_matrix(meta)
  make, model = meta.make.strip() or "unknown", meta.model.strip() or "unknown"
  white = int(round(float(meta.white_level)))
  return [
    (_MAKE, _ASCII, 0, make, True),
    (_MODEL, _ASCII, 0, model, True),
    (_ORIENTATION, _SHORT, 1, int(meta.orientation), True),
    (_DNG_VERSION, _BYTE, 4, (1, 4, 0, 0), True),
    (_DNG_BACKWARD_VERSION, _BYTE, 4, (1, 1, 0, 0), True),
    (_UNIQUE_CAMERA_MODEL, _ASCII, 0, f"{make} {model}", True),
    (_WHITE_LEVEL, _LONG, samples, [white] * samples, True),
    (_DEFAULT_CROP_ORIGIN, _LONG, 2, (0, 0), True),
    (_DEFAULT_CROP_SIZE, _LONG, 2, (width, height), True),
    (_COLOR_MATRIX1, _SRATIONAL, 9, _rationals(color_matrix, True), True),
    (_AS_SHOT_NEUTRAL, _RATIONAL, 3, _rationals(meta.as_shot_neutral, False), True),
    (_BASELINE_EXPOSURE, _SRATIONAL, 1, (0, 1), True),
    (_CALIBRATION_ILLUMINANT1, _SHORT, 1, ILLUMINANT_D65, True),
  ]


def _encode(data: np.ndarray, photometric: int, tags: list[tuple]) -> bytes:
  """A little-endian classic TIFF, one uncompressed strip, as bytes."""
  buf = io.BytesIO()
  with tifffile.TiffWriter(buf, bigtiff=False, byteorder="<") as tif:
    tif.write(data, photometric=photometric, planarconfig="contig", subfiletype=0,
              software="r2lcm_jax", metadata=None, extratags=tags)
  data = buf.getvalue()
  # RawTherapee (5.9) does not open raw files under 100,000 bytes ("Error loading
  # file"); trailing bytes outside every IFD and strip are ignored by TIFF readers.
  return data + bytes(max(0, _MIN_FILE_BYTES - len(data)))


def write_bayer_dng(path: str | os.PathLike, mosaic: np.ndarray, cfa: str,
                    meta: DngMetadata) -> None:
  """Writes a Bayer mosaic as a CFA DNG (PhotometricInterpretation 32803).

  Args:
    path: destination (written atomically).
    mosaic: (H, W) uint16 sensor values, H and W even, in sensor orientation.
    cfa: 2x2 Bayer phase in raster order: "RGGB", "GRBG", "BGGR" or "GBRG".
    meta: levels, colour and camera name; `black_level` has 1 or 4 values (4: per
      position of the 2x2 tile in raster order).

  Raises:
    InputError: unknown CFA, wrong dtype, wrong number of black levels.
    ShapeMismatchError: mosaic not 2-D, empty, or with an odd height or width.
  """
  mosaic = np.asarray(mosaic)
  if cfa not in _BAYER:
    raise InputError(f"DNG cfa must be one of {_BAYER}, got {cfa!r}")
  if mosaic.ndim != 2 or mosaic.size == 0:
    raise ShapeMismatchError(f"Bayer DNG needs an (H, W) mosaic, got shape {mosaic.shape}")
  if mosaic.dtype != np.uint16:
    raise InputError(f"Bayer DNG needs a uint16 mosaic, got {mosaic.dtype}")
  height, width = mosaic.shape
  if height % 2 or width % 2:
    raise ShapeMismatchError(f"Bayer DNG needs an even height and width, got {mosaic.shape}")
  black = np.asarray(meta.black_level, np.float64).reshape(-1)
  if black.size not in (1, 4):
    raise InputError(f"Bayer DNG needs 1 or 4 black levels, got {black.size}")
  repeat = (1, 1) if black.size == 1 else (2, 2)
  tags = _common_tags(meta, height, width, samples=1)
  tags += [
    (_CFA_REPEAT_PATTERN_DIM, _SHORT, 2, (2, 2), True),  # CFAPattern: 0 R, 1 G, 2 B
    (_CFA_PATTERN, _BYTE, 4, tuple("RGB".index(c) for c in cfa), True),
    (_CFA_PLANE_COLOR, _BYTE, 3, (0, 1, 2), True),
    (_CFA_LAYOUT, _SHORT, 1, 1, True),
  ]
  tags += _black_level_tags(black, repeat)
  data = _encode(np.ascontiguousarray(mosaic), PHOTOMETRIC_CFA, tags)
  atomic_write_bytes(path, data)


def write_linear_dng(path: str | os.PathLike, raw_rgb: np.ndarray,
                     meta: DngMetadata) -> None:
  """Writes demosaiced raw RGB as a LinearRaw DNG (PhotometricInterpretation 34892).

  Args:
    path: destination (written atomically).
    raw_rgb: (H, W, 3) camera RGB. uint16 is written as is (values in the units of
      `meta`'s levels). Float is black-subtracted and normalised, 0 = black and
      1 = white: it is clipped to [0, 1] and written as
      round(black_c + x * (white - black_c)) per channel c (with black 0:
      round(x * white_level)).
    meta: levels, colour and camera name; `black_level` has 1 or 3 values (per
      channel).

  Raises:
    InputError: wrong dtype, non-finite float values, wrong number of black levels.
    ShapeMismatchError: not (H, W, 3), or empty.
  """
  raw_rgb = np.asarray(raw_rgb)
  if raw_rgb.ndim != 3 or raw_rgb.shape[2] != 3 or raw_rgb.size == 0:
    raise ShapeMismatchError(f"LinearRaw DNG needs (H, W, 3) raw RGB, got shape {raw_rgb.shape}")
  black = np.asarray(meta.black_level, np.float64).reshape(-1)
  if black.size not in (1, 3):
    raise InputError(f"LinearRaw DNG needs 1 or 3 black levels, got {black.size}")
  black = np.broadcast_to(black, (3,)).copy()
  if raw_rgb.dtype == np.uint16:
    data = raw_rgb
  elif np.issubdtype(raw_rgb.dtype, np.floating):
    if not np.all(np.isfinite(raw_rgb)):
      raise InputError("LinearRaw DNG float raw RGB has NaN or infinite values")
    white = float(meta.white_level)
    x = np.clip(raw_rgb.astype(np.float64), 0.0, 1.0)
    data = np.round(black + x * (white - black)).astype(np.uint16)
  else:
    raise InputError(f"LinearRaw DNG needs uint16 or float raw RGB, got {raw_rgb.dtype}")
  height, width = data.shape[:2]
  tags = _common_tags(meta, height, width, samples=3)
  tags += _black_level_tags(black, (1, 1))
  atomic_write_bytes(path, _encode(np.ascontiguousarray(data), PHOTOMETRIC_LINEAR_RAW, tags))


def split_camera(camera: str) -> tuple[str, str]:
  """Camera name -> (make, model): "Canon EOS Kiss X4" -> ("Canon", "EOS Kiss X4").

  Non-ASCII characters become "?" (TIFF text is 7-bit ASCII).
  """
  camera = camera.encode("ascii", "replace").decode("ascii").replace("\x00", "").strip()
  make, _, model = camera.partition(" ")
  return make or "unknown", model.strip() or make or "unknown"


def dng_from_raw(path: str | os.PathLike, raw: RawImage, *,
                 crop: tuple[int, int, int, int] | None = None) -> None:
  """Writes a RawImage (or a crop of it) as a Bayer DNG.

  The mosaic stays in sensor orientation (Orientation 1, as `read_raw` returns it).
  The camera name is split at its first space into Make and Model, so `read_raw`
  gives the same name back.

  Args:
    path: destination (written atomically).
    raw: the frame; its (H, W) mosaic, CFA, per-position black levels, white level,
      as-shot white balance (AsShotNeutral = 1 / gains) and `xyz_to_cam` are written.
    crop: (top, left, height, width) inside the mosaic, height and width even and > 0.
      An odd top or left is allowed: the CFA phase and the black levels are re-phased
      to the crop's first pixel.

  Raises:
    InputError / ShapeMismatchError: a crop outside the mosaic or of odd size.
  """
  mosaic, cfa = raw.mosaic, raw.cfa
  black = np.asarray(raw.black_level, np.float64).reshape(2, 2)
  if crop is not None:
    try:
      top, left, h, w = (int(v) for v in crop)
    except (TypeError, ValueError) as e:
      raise InputError(f"DNG crop must be (top, left, height, width), got {crop!r}") from e
    height, width = mosaic.shape
    if h <= 0 or w <= 0 or top < 0 or left < 0 or top + h > height or left + w > width:
      raise ShapeMismatchError(
        f"DNG crop {(top, left, h, w)} outside the {height}x{width} mosaic")
    if h % 2 or w % 2:
      raise ShapeMismatchError(f"DNG crop needs an even height and width, got {h}x{w}")
    mosaic = mosaic[top:top + h, left:left + w]
    tile = np.array(list(cfa)).reshape(2, 2)
    tile = np.roll(tile, (-(top % 2), -(left % 2)), axis=(0, 1))
    black = np.roll(black, (-(top % 2), -(left % 2)), axis=(0, 1))
    cfa = "".join(tile.reshape(-1))
  make, model = split_camera(raw.camera)
  wb = np.asarray(raw.as_shot_wb, np.float64)
  meta = DngMetadata(
    black_level=tuple(float(v) for v in black.reshape(-1)),
    white_level=float(round(float(raw.white_level))),
    xyz_to_cam=raw.xyz_to_cam,
    as_shot_neutral=wb[1] / wb,
    make=make,
    model=model,
  )
  write_bayer_dng(path, mosaic, cfa, meta)
