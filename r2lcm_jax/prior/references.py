"""Reference selection of PriorRAW (paper section 3.3): which training images form the
reference set that Algorithm 2 compresses into the prior.

The paper picks 100 "representative" training images by hand and crops / resizes each
to 1024 x 1024 (26.2 M half-resolution pixels... 512 x 512 x 100). `select_references`
is the reproducible stand-in: `count` images evenly spaced over the given (sorted)
list, so with several renders of one scene set (one root per ISP style, concatenated)
the selection spans the styles. `fit_reference` is the resize: an image is scaled down
(area average) so that its longer side is at most `size`, then cropped to even sides;
images already smaller are kept as they are (up-sampling adds no information; the
project's real images are 384 x 256 INTEL-TAU fields, far below 1024).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.errors import ConfigError

__all__ = ["select_references", "fit_reference"]

T = TypeVar("T")


def select_references(items: Sequence[T], count: int) -> list[T]:
  """`count` items evenly spaced over `items` (0 or >= len: all of them, in order).

  Raises:
    ConfigError: count < 0 or an empty list.
  """
  if count < 0:
    raise ConfigError(f"the number of references must be >= 0, got {count}")
  if not items:
    raise ConfigError("no images to select references from")
  n = len(items)
  if count == 0 or count >= n:
    return list(items)
  idx = np.floor((np.arange(count) + 0.5) * n / count).astype(int)
  return [items[i] for i in idx]


def fit_reference(raw: np.ndarray, srgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
  """(raw, srgb) (H, W, 3) float32 -> both scaled so max(H', W') <= size, sides even.

  `size` <= 0 keeps the resolution (only the even crop). Area averaging (anti-aliased
  `jax.image.resize` "linear") on raw and sRGB alike keeps them pixel-aligned.
  """
  h, w = raw.shape[:2]
  if size > 0 and max(h, w) > size:
    s = size / max(h, w)
    shape = (max(2, round(h * s)), max(2, round(w * s)), 3)
    raw, srgb = (np.asarray(jax.image.resize(jnp.asarray(a, jnp.float32), shape, "linear",
                                             antialias=True)) for a in (raw, srgb))
  h, w = (raw.shape[0] // 2) * 2, (raw.shape[1] // 2) * 2
  return raw[:h, :w], srgb[:h, :w]
