"""Putting a third-party render on the project's raw-RGB grid, pixel-exactly, and proving it.

A raw converter's output is not in the project's grid: it may be flipped or rotated
(the file's orientation flag), cropped (demosaic borders, DNG DefaultCrop, rawprepare
margins) or extended. `align` finds the dihedral transform and the integer offset that
map the render onto the raw grid, by normalised correlation of high-pass luminance
images (render luminance vs. luminance of raw-RGB^(1/2.2): tone curves and local
operators change the low frequencies, not the positions of edges):

1. the render's shape limits the transforms tried (4 of the 8 when it is not square);
2. on a pyramid (2x2 means, top level <= 512 px on the short side) a normalised
   cross-correlation over the overlap (FFT) scores every offset within `max_shift` px of any placement of
   the render inside the grid, for every transform; the best wins;
3. the offset is refined level by level (+-2 px) down to full resolution, then climbed
   to a local maximum;
4. both images are cut to their overlap, and `verify` checks the result: the
   correlation at shifts -2..2 px must peak at (0, 0), above `MIN_PEAK`, or the render
   is refused ("render does not align").

A border of `margin` render pixels (where converters' demosaicers are least faithful)
is left out of every score.
"""

from __future__ import annotations

import dataclasses
import math
import types
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import ndimage

from r2lcm_jax.errors import InputError, ShapeMismatchError

__all__ = [
  "TRANSFORMS",
  "MIN_PEAK",
  "Alignment",
  "inverse_transform",
  "apply_transform",
  "render_luma",
  "reference_luma",
  "align",
  "verify",
]

# name -> (transpose first?, flip rows?, flip columns?) applied to the render.
TRANSFORMS = types.MappingProxyType({
  "identity": (False, False, False),
  "flip_lr": (False, False, True),
  "flip_ud": (False, True, False),
  "rot180": (False, True, True),
  "transpose": (True, False, False),
  "rot90_cw": (True, False, True),
  "rot90_ccw": (True, True, False),
  "transverse": (True, True, True),
})
MIN_PEAK = 0.25  # aligned renders score 0.75-0.9; unrelated images about 0.0-0.1
_HP_SIGMA = 2.0
_TOP_SIDE = 256


@dataclasses.dataclass(frozen=True, eq=False)
class Alignment:
  """A render on the raw grid.

  Attributes:
    srgb: (h, w, 3) uint8, the render transformed and cut to the overlap.
    crop: (top, left, h, w) of that overlap in the raw grid.
    transform: the TRANSFORMS key applied to the render.
    offset: (dy, dx): the transformed render's pixel (0, 0) lies at raw (dy, dx).
    render_shape: (H, W) of the render as the tool wrote it.
    peak: normalised high-pass correlation at (0, 0) after cutting.
    second: best correlation at the other shifts in -2..2.
    scores: (5, 5) correlations at shifts -2..2 (rows: dy, columns: dx).
  """

  srgb: np.ndarray
  crop: tuple[int, int, int, int]
  transform: str
  offset: tuple[int, int]
  render_shape: tuple[int, int]
  peak: float
  second: float
  scores: np.ndarray

  def to_dict(self) -> dict[str, Any]:
    """JSON-serialisable summary for the manifest."""
    return {"transform": self.transform, "offset": list(self.offset),
            "render_shape": list(self.render_shape), "crop": list(self.crop),
            "peak": round(self.peak, 4), "second": round(self.second, 4),
            "scores": [[round(float(v), 4) for v in row] for row in self.scores]}


def inverse_transform(name: str) -> str:
  """The TRANSFORMS key that undoes `name` (apply_transform(apply_transform(x, name), inv) == x)."""
  probe = np.arange(6).reshape(2, 3)
  moved = apply_transform(probe, name)
  for inv in TRANSFORMS:
    back = apply_transform(moved, inv)
    if back.shape == probe.shape and np.array_equal(back, probe):
      return inv
  raise ValueError(f"unknown transform {name!r}")  # unreachable: the group is closed


def apply_transform(img: np.ndarray, name: str) -> np.ndarray:
  """One of the 8 dihedral transforms of an (H, W[, C]) image (a view when possible)."""
  transpose, flip_rows, flip_cols = TRANSFORMS[name]
  out = np.swapaxes(img, 0, 1) if transpose else img
  if flip_rows:
    out = out[::-1]
  if flip_cols:
    out = out[:, ::-1]
  return out


def _luma(rgb: np.ndarray) -> np.ndarray:
  return (0.2126 * rgb[..., 0] + 0.7152 * rgb[..., 1] + 0.0722 * rgb[..., 2]).astype(np.float32)


def render_luma(srgb: np.ndarray) -> np.ndarray:
  """(H, W) float32 luminance of an 8-bit display-sRGB image, in [0, 1]."""
  return _luma(np.asarray(srgb, np.float32) / np.float32(255.0))


def reference_luma(raw_rgb: np.ndarray) -> np.ndarray:
  """(H, W) float32 luminance of raw-RGB^(1/2.2): the grid's picture, roughly display-like."""
  return _luma(np.power(np.clip(np.asarray(raw_rgb, np.float32), 0.0, 1.0), 1.0 / 2.2))


def _highpass(y: np.ndarray) -> np.ndarray:
  return (y - ndimage.gaussian_filter(y, _HP_SIGMA, mode="reflect")).astype(np.float32)


def _down2(y: np.ndarray) -> np.ndarray:
  h, w = (y.shape[0] // 2) * 2, (y.shape[1] // 2) * 2
  y = y[:h, :w]
  return 0.25 * (y[0::2, 0::2] + y[1::2, 0::2] + y[0::2, 1::2] + y[1::2, 1::2])


@dataclasses.dataclass(frozen=True, eq=False)
class _Level:
  """One pyramid level: the render's high-pass without its margin, and the raw's.

  Attributes:
    a: (h - 2 m, w - 2 m) render high-pass inside the margin m.
    b: (H, W) raw-grid high-pass.
    margin: m; render pixel (y, x) is a[y - m, x - m].
  """

  a: np.ndarray
  b: np.ndarray
  margin: int


def _level(render_y: np.ndarray, ref_y: np.ndarray, margin: int) -> _Level:
  h, w = render_y.shape
  margin = min(margin, (h - 1) // 4, (w - 1) // 4)
  a = _highpass(render_y)[margin:h - margin, margin:w - margin]
  return _Level(a=np.ascontiguousarray(a), b=_highpass(ref_y), margin=margin)


def _ncc(lv: _Level, dy: int, dx: int, min_overlap: float) -> float:
  """Normalised correlation with the render's pixel (0, 0) at raw (dy, dx)."""
  h, w = lv.a.shape
  big_h, big_w = lv.b.shape
  dy, dx = dy + lv.margin, dx + lv.margin
  y0, y1 = max(0, -dy), min(h, big_h - dy)
  x0, x1 = max(0, -dx), min(w, big_w - dx)
  if y1 <= y0 or x1 <= x0 or (y1 - y0) * (x1 - x0) < min_overlap:
    return -math.inf
  a = lv.a[y0:y1, x0:x1]
  b = lv.b[y0 + dy:y1 + dy, x0 + dx:x1 + dx]
  den = math.sqrt(float(np.einsum("ij,ij->", a, a)) * float(np.einsum("ij,ij->", b, b)))
  return float(np.einsum("ij,ij->", a, b)) / den if den > 0 else -math.inf


def _xcorr(r: np.ndarray, s: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
  """c[dy mod P, dx mod Q] = sum_yx r[y, x] s[y + dy, x + dx] (zero-padded to `shape`)."""
  fr = sfft.rfft2(r, shape, workers=1)
  fs = sfft.rfft2(s, shape, workers=1)
  return sfft.irfft2(np.conj(fr) * fs, shape, workers=1)


def _search(lv: _Level, max_shift: int, min_overlap: float) -> tuple[float, int, int]:
  """Best (score, dy, dx) over every offset within max_shift of a placement inside b."""
  h, w = lv.a.shape
  big_h, big_w = lv.b.shape
  m = lv.margin
  ys = np.arange(min(-max_shift, big_h - h - max_shift), max(max_shift, big_h - h + max_shift) + 1)
  xs = np.arange(min(-max_shift, big_w - w - max_shift), max(max_shift, big_w - w + max_shift) + 1)
  shape = (sfft.next_fast_len(h + big_h), sfft.next_fast_len(w + big_w))
  ones_a, ones_b = np.ones_like(lv.a), np.ones_like(lv.b)
  num = _xcorr(lv.a, lv.b, shape)
  energy_a = _xcorr(lv.a * lv.a, ones_b, shape)
  energy_b = _xcorr(ones_a, lv.b * lv.b, shape)
  area = _xcorr(ones_a, ones_b, shape)
  iy, ix = np.ix_(ys % shape[0], xs % shape[1])
  den = np.sqrt(np.clip(energy_a[iy, ix], 0, None) * np.clip(energy_b[iy, ix], 0, None))
  ok = (area[iy, ix] >= min_overlap - 0.5) & (den > 1e-12)
  score = np.where(ok, num[iy, ix] / np.maximum(den, 1e-12), -np.inf)
  i, j = divmod(int(np.argmax(score)), score.shape[1])
  return float(score[i, j]), int(ys[i]) - m, int(xs[j]) - m


def _climb(lv: _Level, dy: int, dx: int, radius: int, min_overlap: float,
           max_steps: int = 16) -> tuple[float, int, int]:
  """Best offset in a (2 radius + 1)^2 window, re-centred until the centre wins."""
  best = (_ncc(lv, dy, dx, min_overlap), dy, dx)
  for _ in range(max_steps):
    cy, cx = best[1], best[2]
    for sy in range(-radius, radius + 1):
      for sx in range(-radius, radius + 1):
        if sy or sx:
          s = _ncc(lv, cy + sy, cx + sx, min_overlap)
          if s > best[0]:
            best = (s, cy + sy, cx + sx)
    if (best[1], best[2]) == (cy, cx):
      break
  return best


def _candidates(shape: tuple[int, int], grid: tuple[int, int]) -> list[str]:
  """Transforms whose output shape fits the grid up to a 25 % (or 64 px) size change."""
  tol = max(64, int(0.25 * min(grid)))
  out = []
  for name, (transpose, _, _) in TRANSFORMS.items():
    h, w = (shape[1], shape[0]) if transpose else shape
    if abs(h - grid[0]) <= tol and abs(w - grid[1]) <= tol:
      out.append(name)
  return out


def verify(srgb: np.ndarray, raw_rgb: np.ndarray, *, margin: int = 8,
           min_peak: float = MIN_PEAK) -> tuple[float, float, np.ndarray]:
  """Checks that an sRGB image and a raw-RGB image of the same size are pixel-aligned.

  Args:
    srgb: (h, w, 3) uint8.
    raw_rgb: (h, w, 3) float in [0, 1].
    margin: border pixels left out.
    min_peak: lowest acceptable correlation at (0, 0).

  Returns:
    (peak, second, scores): correlation at (0, 0), best elsewhere, (5, 5) scores at
    shifts -2..2 (the sRGB's pixel (0, 0) against raw (dy, dx)).

  Raises:
    ShapeMismatchError: different sizes.
    InputError: "render does not align": the scores do not peak at (0, 0), or the peak
      is below `min_peak`.
  """
  srgb, raw_rgb = np.asarray(srgb), np.asarray(raw_rgb)
  if srgb.shape[:2] != raw_rgb.shape[:2]:
    raise ShapeMismatchError(f"sRGB {srgb.shape[:2]} and raw-RGB {raw_rgb.shape[:2]} differ in size")
  lv = _level(render_luma(srgb), reference_luma(raw_rgb), margin)
  min_overlap = 0.5 * lv.a.size
  scores = np.array([[_ncc(lv, dy, dx, min_overlap) for dx in range(-2, 3)]
                     for dy in range(-2, 3)], np.float64)
  peak = float(scores[2, 2])
  others = np.delete(scores.reshape(-1), 12)
  second = float(others.max())
  if not (peak > second and peak >= min_peak):
    i, j = divmod(int(np.argmax(scores)), 5)
    raise InputError(
      f"render does not align with the raw grid: correlation peaks at shift ({i - 2}, {j - 2})"
      f" with {float(scores.max()):.3f} (at (0, 0): {peak:.3f}; need a peak at (0, 0) of at"
      f" least {min_peak})")
  return peak, second, scores


def align(render: np.ndarray, raw_rgb: np.ndarray, *, max_shift: int = 64,
          margin: int = 8) -> Alignment:
  """Finds the transform and offset of a render on the raw grid, cuts and verifies.

  Args:
    render: (H', W', 3) uint8 display sRGB as the tool wrote it.
    raw_rgb: (H, W, 3) float32 raw-RGB in [0, 1], the project's grid.
    max_shift: search range in px beyond every placement of the render inside the grid.
    margin: render border pixels left out of the scores.

  Returns:
    Alignment (the cut sRGB, its crop in the raw grid, the transform, the scores).

  Raises:
    InputError: no transform fits the grid's shape, or the render does not align.
  """
  render = np.asarray(render)
  raw_rgb = np.asarray(raw_rgb)
  if render.ndim != 3 or render.shape[2] != 3 or render.dtype != np.uint8:
    raise InputError(f"render must be (H, W, 3) uint8, got {render.shape} {render.dtype}")
  grid = raw_rgb.shape[:2]
  names = _candidates(render.shape[:2], grid)
  if not names:
    raise InputError(f"render of {render.shape[1]}x{render.shape[0]} px does not fit the"
                     f" {grid[1]}x{grid[0]} raw grid in any orientation")
  ref_pyr = [reference_luma(raw_rgb)]
  levels = 0
  while min(ref_pyr[-1].shape) > 2 * _TOP_SIDE:
    ref_pyr.append(_down2(ref_pyr[-1]))
    levels += 1
  y_full = render_luma(render)
  best: tuple[float, int, int, str, list[np.ndarray]] | None = None
  for name in names:
    pyr = [np.ascontiguousarray(apply_transform(y_full, name))]
    for _ in range(levels):
      pyr.append(_down2(pyr[-1]))
    scale = 2 ** levels
    lv = _level(pyr[-1], ref_pyr[-1], max(2, margin // scale))
    score, dy, dx = _search(lv, max(4, -(-max_shift // scale)), 0.5 * min(lv.a.size, lv.b.size))
    if best is None or score > best[0]:
      best = (score, dy, dx, name, pyr)
  _, dy, dx, name, pyr = best
  for k in range(levels - 1, -1, -1):
    lv = _level(pyr[k], ref_pyr[k], max(2, margin // 2 ** k))
    _, dy, dx = _climb(lv, 2 * dy, 2 * dx, 2 if k else 1,
                       0.5 * min(lv.a.size, lv.b.size))
  out = np.ascontiguousarray(apply_transform(render, name))
  h, w = out.shape[:2]
  y0, y1 = max(0, -dy), min(h, grid[0] - dy)
  x0, x1 = max(0, -dx), min(w, grid[1] - dx)
  if y1 - y0 <= 2 * margin or x1 - x0 <= 2 * margin:
    raise InputError("render does not align with the raw grid: no usable overlap")
  srgb = np.ascontiguousarray(out[y0:y1, x0:x1])
  crop = (y0 + dy, x0 + dx, y1 - y0, x1 - x0)
  raw_cut = raw_rgb[crop[0]:crop[0] + crop[2], crop[1]:crop[1] + crop[3]]
  peak, second, scores = verify(srgb, raw_cut, margin=margin)
  return Alignment(srgb=srgb, crop=crop, transform=name, offset=(dy, dx),
                   render_shape=(int(render.shape[0]), int(render.shape[1])),
                   peak=peak, second=second, scores=scores)
