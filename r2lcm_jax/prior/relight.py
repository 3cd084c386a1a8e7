"""Re-lighting training raws to one common illuminant and exposure (`relight` option).

An sRGB renderer white-balances and exposes every image; its raw keeps the scene
illuminant. Two pixels of the same sRGB colour in two images lit differently have
different raws, so the contrastive assembly of Algorithm 1 (targets assembled from
reference pixels of *other* images) is charged for illuminants no embedding can see,
and the prior's groups average raws of several illuminants. Re-lighting removes that
part: every image's raw is multiplied per channel by `mean_gains / gains`, where `gains`
(3,) are the least-squares gains of its raw against its own decoded sRGB
(`srgb_decode(sRGB)`, the sRGB transfer curve undone: g_c = <s_c, raw_c> / <s_c, s_c>)
divided by their green gain, and `mean_gains` their mean over the set. The result is
the set as if every image had the set's mean illuminant colour; clipped to [0, 1].

Only the colour is normalised, not the exposure (G stays as it is): how bright the raw
is under a given sRGB depends on the renderer's exposure and tone settings, which the
sRGB's look shows (a style is learnable), while the illuminant colour is gone from a
white-balanced sRGB. Normalising all three gains was measured worse: the assembled raw
of darktable's `default` style (+0.7 EV) lost 3 dB (experiments/results/prior.md).

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

__all__ = ["srgb_gains", "relight_pairs"]


def srgb_gains(raw: np.ndarray, srgb: np.ndarray) -> np.ndarray:
  """(3,) float64 least-squares gains g with g * srgb_decode(srgb) ~ raw, of (H, W, 3)
  images in [0, 1] (absolute: exposure included)."""
  return channel_gains(srgb_decode(srgb), raw)


def relight_pairs(pairs: Iterable[tuple[np.ndarray, np.ndarray]], *,
                  mean_gains: Sequence[float] | None = None
                  ) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
  """Re-lights (raw, sRGB) pairs to their mean illuminant colour (module doc).

  Args:
    pairs: (raw (H, W, 3), srgb (H, W, 3)) float32 images in [0, 1].
    mean_gains: the common gains (3,), green = 1; None: the mean of the pairs' own gains
      (each divided by its green gain).

  Returns:
    ([(clip(raw * mean_gains / gains), srgb), ...] float32 with `gains` the pair's
    `srgb_gains` over their green gain, mean_gains (3,) float64).

  Raises:
    ConfigError: no pairs, or an image whose gains are not positive (an empty channel).
  """
  pairs = [(np.asarray(r, np.float32), np.asarray(s, np.float32)) for r, s in pairs]
  if not pairs:
    raise ConfigError("no images to re-light")
  gains = np.stack([srgb_gains(r, s) for r, s in pairs])
  if not np.all(gains > 0):
    raise ConfigError("an image has a non-positive raw / sRGB gain (an empty channel): "
                      "it cannot be re-lit")
  gains = gains / gains[:, 1:2]
  mean = gains.mean(axis=0) if mean_gains is None else np.asarray(mean_gains, np.float64)
  out = [(np.clip(r * (mean / g), 0.0, 1.0).astype(np.float32), s)
         for (r, s), g in zip(pairs, gains, strict=True)]
  return out, mean
