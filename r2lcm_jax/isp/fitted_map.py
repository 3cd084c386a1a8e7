"""A global sRGB -> raw-RGB map fitted to one image pair: the base that fits any ISP.

The decoder does not know the ISP that made the sRGB (a camera's JPEG engine, darktable,
RawTherapee). The encoder has both images, so it fits a compact global map to the pair,
quantises its parameters and stores them in the bitstream; the decoder needs nothing
else. The map is additive over the three sRGB channels, each through its own
piecewise-linear curve per output channel:

    x_base[..., c] = clip(sum_j sum_k W[c, j, k] * phi_k(s_j), 0, 1)

with phi_k the hat functions on K uniform knots of [0, 1] (K = 17 by default). It holds
a 3x3 colour matrix after per-channel tone curves (W[c, j, k] = M[c, j] f_j(k / (K-1)))
as a special case, and any per-output mixture of curves. 9K parameters (153 at K = 17),
int16 at a step of 2**-14 in raw units: 310 bytes.

Why this form (`experiments/fitted_map_forms.py`, results in `experiments/README.md`:
five test images, four darktable / RawTherapee styles, PNG and JPEG q90 sRGB, fit PSNR
on the image itself): additive K=17 averages 45.0 dB (PNG) / 40.8 dB (q90) over the
third-party styles for 310 bytes; K=9 loses 1.1 / 0.3 dB, K=33 gains 0.26 / 0.14 dB for
288 more bytes; a trilinear 3D LUT needs 9^3 nodes (4378 bytes, 14x) to gain 0.5 dB,
mostly on the local styles, and a 5^3 LUT (754 bytes) is 0.5 / 0.1 dB worse; curves
followed by one 3x3 matrix (124 bytes) lose 1.0 dB on darktable's filmic and 2.0 dB on
RawTherapee's tone mapping. What is left after any of them is local (tone mapping,
local contrast), which the network codes.

The fit is a regularised linear least squares (second differences of each curve,
weight `smoothness`), solved from the normal equations. For 8-bit sRGB the normal
equations come exactly from joint histograms of the channel codes, without a per-pixel
design matrix: a 12 MP image fits in about 2 s on the 2-core CPU (evaluating the map
takes as long). The decoder only evaluates `apply`; the fit runs on the encoder, and the
bytes the decoder reads are the ones the encoder used for its own base.
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

from r2lcm_jax.errors import BitstreamError, ShapeMismatchError

__all__ = ["FittedMap", "fit", "apply", "DEFAULT_KNOTS", "STEP", "MAX_BYTES"]

DEFAULT_KNOTS = 17
MIN_KNOTS = 2
MAX_KNOTS = 64
STEP = 2.0 ** -14  # raw units per integer step of the stored parameters
_MAGIC = b"FM"
_VERSION = 1
_HEAD = struct.Struct("<2sBB")
MAX_BYTES = _HEAD.size + 2 * 9 * MAX_KNOTS
_LEVELS = 256  # the fit reads the sRGB as 8-bit codes


@dataclasses.dataclass(frozen=True, eq=False)
class FittedMap:
  """Quantised parameters of the map.

  Attributes:
    q: (3, 3, K) int16: q[c, j, k] * STEP is the value of output channel c's curve of
      input channel j at knot k / (K - 1).
  """

  q: np.ndarray

  def __post_init__(self):
    q = np.asarray(self.q)
    if q.ndim != 3 or q.shape[:2] != (3, 3) or not MIN_KNOTS <= q.shape[2] <= MAX_KNOTS:
      raise ValueError(f"fitted map parameters must be (3, 3, K) with K in "
                       f"{MIN_KNOTS}..{MAX_KNOTS}, got {q.shape}")

  @property
  def knots(self) -> int:
    """K, the knots of each curve."""
    return int(self.q.shape[2])

  @property
  def weights(self) -> np.ndarray:
    """(3, 3, K) float32 curve values in raw units."""
    return (np.asarray(self.q, np.float32) * np.float32(STEP)).astype(np.float32)

  def to_bytes(self) -> bytes:
    """b"FM" | version u8 | K u8 | 9K int16 little-endian (c, j, k order)."""
    return _HEAD.pack(_MAGIC, _VERSION, self.knots) + np.asarray(self.q, "<i2").tobytes()

  @classmethod
  def from_bytes(cls, data: bytes) -> FittedMap:
    """Parses `to_bytes` output; BitstreamError if it is not exactly that."""
    data = bytes(data)
    if len(data) < _HEAD.size:
      raise BitstreamError(f"fitted-map block of {len(data)} bytes is truncated")
    magic, version, k = _HEAD.unpack_from(data)
    if magic != _MAGIC or version != _VERSION:
      raise BitstreamError(f"fitted-map block has magic {magic!r} version {version}, "
                           f"expected {_MAGIC!r} version {_VERSION}")
    if not MIN_KNOTS <= k <= MAX_KNOTS:
      raise BitstreamError(f"fitted-map block: {k} knots out of {MIN_KNOTS}..{MAX_KNOTS}")
    if len(data) != _HEAD.size + 2 * 9 * k:
      raise BitstreamError(f"fitted-map block is {len(data)} bytes, {k} knots need "
                           f"{_HEAD.size + 2 * 9 * k}")
    q = np.frombuffer(data, "<i2", offset=_HEAD.size).reshape(3, 3, k).astype(np.int16)
    return cls(q)


def _as_float(srgb: np.ndarray) -> np.ndarray:
  s = np.asarray(srgb)
  if s.ndim != 3 or s.shape[2] != 3:
    raise ShapeMismatchError(f"sRGB must be (H, W, 3), got {s.shape}")
  if s.dtype == np.uint8:
    return s.astype(np.float32) / np.float32(255.0)
  return np.clip(s.astype(np.float32), 0.0, 1.0)


def _hats(s: np.ndarray, knots: int) -> tuple[np.ndarray, np.ndarray]:
  """(i0, f): s (...) in [0, 1] lies between knots i0 and i0 + 1 at fraction f."""
  t = s * np.float32(knots - 1)
  i0 = np.clip(np.floor(t), 0, knots - 2).astype(np.int32)
  return i0, (t - i0).astype(np.float32)


def apply(fm: FittedMap, srgb: np.ndarray) -> np.ndarray:
  """x_base (H, W, 3) float32 in [0, 1] for sRGB (H, W, 3) uint8 or float in [0, 1]."""
  s = _as_float(srgb)
  w = fm.weights  # (3 out, 3 in, K)
  out = np.zeros(s.shape, np.float32)
  for j in range(3):
    i0, f = _hats(s[..., j], fm.knots)
    table = w[:, j, :].T  # (K, 3 out)
    out += table[i0] * (1.0 - f)[..., None] + table[i0 + 1] * f[..., None]
  return np.clip(out, 0.0, 1.0)


def _basis(knots: int) -> np.ndarray:
  """(256, K) float64: phi_k of each 8-bit code."""
  i0, f = _hats(np.arange(_LEVELS, dtype=np.float32) / np.float32(255.0), knots)
  phi = np.zeros((_LEVELS, knots), np.float64)
  phi[np.arange(_LEVELS), i0] = 1.0 - f
  phi[np.arange(_LEVELS), i0 + 1] += f
  return phi


def fit(srgb: np.ndarray, raw: np.ndarray, knots: int = DEFAULT_KNOTS,
        smoothness: float = 1e-3) -> FittedMap:
  """Fits the map to one pair and quantises it.

  Args:
    srgb: (H, W, 3) uint8 or float in [0, 1] (read as 8-bit codes for the fit).
    raw: (H, W, 3) float raw-RGB in [0, 1].
    knots: K knots per curve.
    smoothness: weight of the curves' second differences, relative to the pixel count.

  Returns:
    FittedMap whose `apply` is the encoder's and the decoder's base.
  """
  s = _as_float(srgb)
  raw = np.asarray(raw, np.float64)
  if raw.shape != s.shape:
    raise ShapeMismatchError(f"raw {raw.shape} and sRGB {s.shape} differ")
  if not MIN_KNOTS <= knots <= MAX_KNOTS:
    raise ValueError(f"knots must be in {MIN_KNOTS}..{MAX_KNOTS}, got {knots}")
  codes = np.rint(s * 255.0).astype(np.int64).reshape(-1, 3)
  r = raw.reshape(-1, 3)
  n = codes.shape[0]
  phi = _basis(knots)
  K = knots
  ata = np.zeros((3 * K, 3 * K))
  atr = np.zeros((3 * K, 3))
  for j in range(3):
    for i in range(j, 3):
      joint = np.bincount(codes[:, j] * _LEVELS + codes[:, i],
                          minlength=_LEVELS * _LEVELS).reshape(_LEVELS, _LEVELS)
      block = phi.T @ joint @ phi
      ata[j * K:(j + 1) * K, i * K:(i + 1) * K] = block
      ata[i * K:(i + 1) * K, j * K:(j + 1) * K] = block.T
    sums = np.stack([np.bincount(codes[:, j], r[:, c], minlength=_LEVELS) for c in range(3)], 1)
    atr[j * K:(j + 1) * K] = phi.T @ sums
  d2 = np.zeros((max(K - 2, 0), K))
  for k in range(K - 2):
    d2[k, k:k + 3] = (1.0, -2.0, 1.0)
  reg = np.kron(np.eye(3), d2.T @ d2) * (smoothness * n / (K * K)) + np.eye(3 * K) * (1e-9 * n)
  w = np.linalg.solve(ata + reg, atr)  # (3K in, 3 out)
  w = w.T.reshape(3, 3, K)
  q = np.clip(np.rint(w / STEP), -32768, 32767).astype(np.int16)
  return FittedMap(q)
