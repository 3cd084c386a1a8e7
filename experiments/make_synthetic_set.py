"""Renders synthetic scenes in a camera's space into a NUS-layout training set.

    .venv/bin/python experiments/make_synthetic_set.py --profile r2lcm_jax/assets/models/default/camera.json \\
        --out data/synthetic_gopro --count 24 --first_seed 1000 [--height 384 --width 512] \\
        [--jpeg_quality 90] [--split train]

Each scene is `data.synthetic.synthetic_scene(seed, ...)` (smooth shapes, a hue ramp and
bright light sources that clip in the sRGB) in the sensor of `--profile`, rendered with
the project's ISP (`isp.pipeline.render`, JPEG at --jpeg_quality) and written as

    OUT/synthetic/<split>/raw/scene_<seed>.tif    16-bit raw-RGB
    OUT/synthetic/<split>/sRGB/scene_<seed>.jpg   the JPEG as stored
    OUT/manifest.json                             per image: the ISP parameters (data.manifest)

so it can be a second root of a training run (`data.root = "A:B"`). Real camera frames
rarely clip as much as these scenes; a model that reconstructs over the naive inverse ISP
(`model.base = "isp_inverse"`) learns from them what the metadata must carry where the
sRGB clipped. `r2lcm demo` uses seed 0: keep --first_seed away from it.
"""

from __future__ import annotations

import pathlib

from absl import app, flags

from r2lcm_jax.data import manifest
from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io import images
from r2lcm_jax.io.atomic import atomic_write_bytes
from r2lcm_jax.io.camera_profile import load_profile
from r2lcm_jax.isp import pipeline

_PROFILE = flags.DEFINE_string("profile", None, "camera.json of the sensor to synthesise in.")
_OUT = flags.DEFINE_string("out", None, "Output dataset root.")
_COUNT = flags.DEFINE_integer("count", 24, "Number of scenes.")
_FIRST = flags.DEFINE_integer("first_seed", 1000, "Seed of the first scene (the demo uses 0).")
_H = flags.DEFINE_integer("height", 384, "Scene height (even).")
_W = flags.DEFINE_integer("width", 512, "Scene width (even).")
_Q = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the stored sRGB (0: PNG).")
_SPLIT = flags.DEFINE_string("split", "train", "Split folder.")


def main(argv):
  del argv
  if not (_PROFILE.value and _OUT.value):
    raise ConfigError("--profile and --out are required")
  if _FIRST.value <= 0 < _FIRST.value + _COUNT.value:
    raise ConfigError("the seeds must not include 0 (the demo's scene)")
  profile = load_profile(_PROFILE.value)
  root = pathlib.Path(_OUT.value)
  base = root / "synthetic" / _SPLIT.value
  for sub in ("raw", "sRGB"):
    (base / sub).mkdir(parents=True, exist_ok=True)
  entries = []
  for seed in range(_FIRST.value, _FIRST.value + _COUNT.value):
    res = pipeline.render(synthetic_scene(seed, _H.value, _W.value, profile=profile),
                          jpeg_quality=_Q.value or None)
    name = f"scene_{seed}"
    raw_path = base / "raw" / f"{name}.tif"
    images.write_tiff16(raw_path, res.raw_rgb)
    if res.jpeg_bytes is not None:
      srgb_path = base / "sRGB" / f"{name}.jpg"
      atomic_write_bytes(srgb_path, res.jpeg_bytes)
    else:
      srgb_path = base / "sRGB" / f"{name}.png"
      images.write_png(srgb_path, res.srgb)
    h, w = res.raw_rgb.shape[:2]
    entries.append(manifest.make_entry(
      name=name, camera="synthetic", split=_SPLIT.value, raw=str(raw_path.relative_to(root)),
      srgb=str(srgb_path.relative_to(root)), height=h, width=w, crop=(0, 0, h, w),
      full_size=(h, w), jpeg_quality=_Q.value or None, srgb_bytes=srgb_path.stat().st_size,
      isp=res.params.to_dict(), project_isp=res.params.to_dict(),
      source=f"synthetic_scene({seed}, {_H.value}, {_W.value})", kind="synthetic", seed=seed))
  manifest.merge_manifest(root, entries, {"profile": str(_PROFILE.value), "split": _SPLIT.value,
                                          "jpeg_quality": _Q.value or None})
  print(f"wrote {len(entries)} scenes into {root}")


if __name__ == "__main__":
  app.run(main)
