"""Writes a 4-to-8-bit recovery set (PriorRAW Table 3) in the NUS layout PriorRAW trains on.

    .venv/bin/python experiments/make_bitdepth_set.py --roots A:B:... --split train \\
        [--camera any] [--match IMX135] --out runs/bitdepth [--bits 4]

For every pair of the given roots (`prior.stages.dataset_pairs`), its 8-bit sRGB (a PNG
render) becomes the target and its `--bits` most significant bits the input
(`prior.bitdepth`):

    OUT/<root folder>/<camera>/<split>/raw/<name>.png    the 8-bit image as 16-bit (v * 257)
    OUT/<root folder>/<camera>/<split>/sRGB/<name>.png   the truncated image (8-bit PNG)

The paper trains on MIT-Adobe 5K and Sintel and tests on Kodak; none is available
offline, so the stand-in is the real camera images of ../shared/data/real rendered to
8-bit by the project's ISP and by darktable / RawTherapee (`r2lcm render`, `r2lcm bench
rd`): the INTEL-TAU train split (001-014) for training, 018-020 for the test.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
from absl import app, flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io.images import read_image, write_png
from r2lcm_jax.prior import stages
from r2lcm_jax.prior.bitdepth import to_raw16, truncate

_ROOTS = flags.DEFINE_string("roots", None, "NUS-layout roots of 8-bit PNG renders (PATH-like list).")
_SPLIT = flags.DEFINE_string("split", "train", "Split to convert.")
_CAMERA = flags.DEFINE_string("camera", None, "Camera folder (None: the only one).")
_MATCH = flags.DEFINE_string("match", "", "Keep only pairs whose name contains this.")
_OUT = flags.DEFINE_string("out", None, "Output root.")
_BITS = flags.DEFINE_integer("bits", 4, "Bits kept in the input.")


def main(argv: list[str]) -> None:
  del argv
  if not _ROOTS.value or not _OUT.value:
    raise ConfigError("--roots and --out are required")
  count = 0
  for root in [r for r in _ROOTS.value.split(os.pathsep) if r]:
    for pair in stages.dataset_pairs(root, _SPLIT.value, _CAMERA.value, match=_MATCH.value):
      v = read_image(pair.srgb_path)
      if v.dtype != np.uint8 or not str(pair.srgb_path).lower().endswith(".png"):
        raise ConfigError(f"{pair.srgb_path}: an 8-bit PNG render is needed")
      folder = pathlib.Path(_OUT.value) / pathlib.Path(root).name / pair.camera / _SPLIT.value
      write_png(folder / "raw" / f"{pair.name}.png", to_raw16(v))
      write_png(folder / "sRGB" / f"{pair.name}.png", truncate(v, _BITS.value))
      count += 1
  print(f"{count} pairs ({_BITS.value}-to-8-bit) -> {_OUT.value}")


if __name__ == "__main__":
  app.run(main)
