"""The figure writer (matplotlib, headless, atomic PNG) and the error-map figure."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np

from r2lcm_jax.io.atomic import atomic_path

__all__ = ["figure", "error_map_figure"]


@contextlib.contextmanager
def figure(path: str | os.PathLike, *, dpi: int = 100, **subplots) -> Iterator:
  """`with figure(path, figsize=...) as (fig, axes):` draw; the PNG is written on exit.

  Headless (Agg); nothing is written if drawing raises; the figure is always closed.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, axes = plt.subplots(**subplots)
  try:
    yield fig, axes
    fig.tight_layout()
    with atomic_path(path) as tmp:
      fig.savefig(tmp, dpi=dpi, format="png")
  finally:
    plt.close(fig)


def error_map_figure(path: str | os.PathLike, srgb: np.ndarray, x: np.ndarray,
                     x_hat: np.ndarray, vmax: float) -> None:
  """sRGB | RAW^(1/2.2) | reconstruction^(1/2.2) | max-over-channels |error|.

  Args: srgb, x, x_hat float (H, W, 3) on [0, 1]; vmax: top of the error colour scale.
  """
  err = np.abs(x - x_hat).max(axis=-1)
  panels = [
    (np.clip(srgb, 0, 1), "sRGB"),
    (np.clip(x, 0, 1) ** (1 / 2.2), "RAW (gamma 2.2 for display)"),
    (np.clip(x_hat, 0, 1) ** (1 / 2.2), "reconstruction"),
  ]
  size = (16, 4 * x.shape[0] / x.shape[1] + 0.6)
  with figure(path, nrows=1, ncols=4, figsize=size) as (fig, axes):
    for ax, (img, title) in zip(axes, panels, strict=False):
      ax.imshow(img)
      ax.set_title(title)
    im = axes[3].imshow(err, cmap="viridis", vmin=0, vmax=vmax)
    axes[3].set_title(f"max |error| over channels (0..{vmax:g})")
    fig.colorbar(im, ax=axes[3], fraction=0.046)
    for ax in axes:
      ax.axis("off")
