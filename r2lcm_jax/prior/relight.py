"""Re-lighting training raws to one common illuminant (`relight` option).

An sRGB renderer white-balances and exposes every image; its raw keeps the scene
illuminant and exposure. Two pixels of the same sRGB colour in two images lit
differently have different raws, so the contrastive assembly of Algorithm 1 (targets
assembled from reference pixels of *other* images) is charged for illuminants no
embedding can see, and the prior's groups average raws of several illuminants.
Re-lighting removes that part: every image's raw is multiplied per channel by
`mean_gains / gains`, where `gains` (3,) are the least-squares gains of its raw against
its own decoded sRGB (`srgb_decode(sRGB)`, the sRGB transfer curve undone:
g_c = <s_c, raw_c> / <s_c, s_c>) and `mean_gains` their mean over the set; clipped to
[0, 1]. Two modes (`MODES`):
  "gains"   all three gains: the set as if every image had the set's mean illuminant
            and exposure;
  "colour"  the gains over their green gain: the mean illuminant colour only, each
            image's exposure kept (the renderer's exposure and tone are a property of
            its style, which the sRGB shows; the illuminant colour is gone from it).
Measured on third-party renders (experiments/results/prior.md): "gains" trains the
better encoder up to per-image gains (its assembled raw +1.6 dB with the gain oracle;
"colour" +0.0 dB, both against the same 300 steps without re-lighting), while neither
changes the 0-bpp PSNR, which the unknown illuminant bounds.

Only the training of the encoder and the prior's raw values use it; the reconstructor
still learns the raw as captured (at test time the illuminant is unknown, and the mean
is the metadata-free guess). Needs no metadata: the gains come from each pair itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.isp.stages import srgb_decode
from r2lcm_jax.prior.diagnostics import channel_gains

__all__ = ["MODES", "srgb_gains", "relight_pairs"]

MODES = ("gains", "colour")


def srgb_gains(raw: np.ndarray, srgb: np.ndarray) -> np.ndarray:
  """(3,) float64 least-squares gains g with g * srgb_decode(srgb) ~ raw, of (H, W, 3)
  images in [0, 1] (absolute: exposure included)."""
  return channel_gains(srgb_decode(srgb), raw)


def relight_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], mode: str = "gains", *,
                  mean_gains: Sequence[float] | None = None
                  ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
  """Re-lights (raw, sRGB) pairs to their mean gains (module doc).

  Args:
    pairs: (raw (H, W, 3), srgb (H, W, 3)) float32 images in [0, 1].
    mode: "gains" or "colour" (module doc).
    mean_gains: the common gains (3,) (green = 1 for "colour"); None: the mean of the
      pairs' own.

  Returns:
    ([(clip(raw * mean_gains / gains), srgb), ...] float32 with `gains` the pair's
    `srgb_gains` (over its green gain for "colour"), mean_gains (3,) float64).

  Raises:
    ConfigError: an unknown mode, no pairs, or an image whose gains are not positive
      (an empty channel).
  """
  if mode not in MODES:
    raise ConfigError(f"relight mode {mode!r}: choose from {list(MODES)}")
  pairs = [(np.asarray(r, np.float32), np.asarray(s, np.float32)) for r, s in pairs]
  if not pairs:
    raise ConfigError("no images to re-light")
  gains = np.stack([srgb_gains(r, s) for r, s in pairs])
  if not np.all(gains > 0):
    raise ConfigError("an image has a non-positive raw / sRGB gain (an empty channel): "
                      "it cannot be re-lit")
  if mode == "colour":
    gains = gains / gains[:, 1:2]
  mean = gains.mean(axis=0) if mean_gains is None else np.asarray(mean_gains, np.float64)
  out = [(np.clip(r * (mean / g), 0.0, 1.0).astype(np.float32), s)
         for (r, s), g in zip(pairs, gains, strict=True)]
  return out, mean
