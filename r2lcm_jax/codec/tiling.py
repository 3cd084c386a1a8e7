"""Overlapping tiles for running the full-resolution networks on large images.

The main latent sits at 1/`scale` of the image resolution (scale = 4 for the default
model). Large images are processed in windows laid on the *latent* grid: every window
has the same shape (so one compiled function serves all of them), covers a core region
plus a halo of `halo` latent pixels on every side that is inside the image, and only the
core of each window's output is kept. When the halo is at least the receptive-field
radius of the network (in latent pixels), the stitched output equals the untiled one up
to floating-point summation order: there are no seams.

Receptive-field radii of the default R2LCM networks (see SPEC_R2LCM.md §2):
  g_s[0] after bicubic x4: 21 full-resolution pixels + 2 latent taps of the bicubic
  kernel  -> 8 latent pixels are enough;
  g_a[0]: 2 stride-2 stages and ~12 3x3 convolutions at 1/4 resolution -> 8 latent
  pixels are enough.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

__all__ = ["Window", "plan_windows", "apply_tiled"]


@dataclasses.dataclass(frozen=True)
class Window:
  """One tile on the coarse (latent) grid.

  Attributes:
    win: (y0, y1, x0, x1) of the window, in coarse pixels, inside the image.
    core: (y0, y1, x0, x1) of the core region this window is responsible for.
  """

  win: tuple[int, int, int, int]
  core: tuple[int, int, int, int]

  def core_in_window(self) -> tuple[int, int, int, int]:
    """The core, in coordinates relative to the window origin."""
    y0, _, x0, _ = self.win
    c = self.core
    return (c[0] - y0, c[1] - y0, c[2] - x0, c[3] - x0)


def _axis_plan(n: int, tile: int, halo: int) -> list[tuple[int, int, int, int]]:
  """Splits one axis of length `n` into (win0, win1, core0, core1) with equal windows."""
  if n <= tile + 2 * halo:
    return [(0, n, 0, n)]
  size = tile + 2 * halo
  plans = []
  core0 = 0
  while core0 < n:
    core1 = min(core0 + tile, n)
    win0 = min(max(core0 - halo, 0), n - size)
    plans.append((win0, win0 + size, core0, core1))
    core0 = core1
  return plans


def plan_windows(height: int, width: int, tile: int, halo: int) -> list[Window]:
  """Plans windows over a (height, width) coarse grid.

  Args:
    height, width: coarse-grid size (latent pixels).
    tile: core size in coarse pixels (>= 1).
    halo: context kept on every side of a core (>= 0).

  Returns:
    Windows in raster order. All windows have the same shape
    (min(height, tile + 2 halo), min(width, tile + 2 halo)); their cores partition the
    grid.
  """
  if tile < 1 or halo < 0:
    raise ValueError(f"tile must be >= 1 and halo >= 0, got tile={tile}, halo={halo}")
  rows = _axis_plan(height, tile, halo)
  cols = _axis_plan(width, tile, halo)
  return [
    Window(win=(r[0], r[1], c[0], c[1]), core=(r[2], r[3], c[2], c[3]))
    for r in rows
    for c in cols
  ]


def apply_tiled(
  fn: Callable[..., np.ndarray],
  inputs: list[tuple[np.ndarray, int]],
  coarse_hw: tuple[int, int],
  out_scale: int,
  out_channels: int,
  *,
  tile: int,
  halo: int,
  progress: Callable[[int], None] | None = None,
) -> np.ndarray:
  """Runs `fn` window by window and stitches the cores of its outputs.

  Args:
    fn: maps the windowed inputs (each (1, h_i, w_i, c_i), in `inputs` order) to an
      output (1, h*out_scale, w*out_scale, out_channels) for a coarse window (h, w).
    inputs: (array (1, H_i, W_i, C_i), scale_i) pairs; array i has scale_i pixels per
      coarse pixel (e.g. the latent: 1, the sRGB image: 4).
    coarse_hw: (h, w) of the coarse grid.
    out_scale: output pixels per coarse pixel.
    out_channels: channels of the output.
    tile, halo: see `plan_windows`.
    progress: called with 1 after each window (e.g. a tqdm update).

  Returns:
    float32 (1, h*out_scale, w*out_scale, out_channels).
  """
  h, w = coarse_hw
  out = np.empty((1, h * out_scale, w * out_scale, out_channels), np.float32)
  for window in plan_windows(h, w, tile, halo):
    y0, y1, x0, x1 = window.win
    args = [a[:, y0 * s : y1 * s, x0 * s : x1 * s] for a, s in inputs]
    res = np.asarray(fn(*args))
    cy0, cy1, cx0, cx1 = window.core_in_window()
    gy0, gy1, gx0, gx1 = window.core
    s = out_scale
    out[:, gy0 * s : gy1 * s, gx0 * s : gx1 * s] = res[:, cy0 * s : cy1 * s, cx0 * s : cx1 * s]
    if progress is not None:
      progress(1)
  return out
