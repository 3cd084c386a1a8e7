"""Quick measurement of the baselines on the project's real images.

    .venv/bin/python experiments/baselines_quick.py [--data ../shared/data/real]
        [--unet_steps 300] [--unet_features 16] [--unet_lr 1e-3] [--gopro] [--json out.json]

INTEL-TAU (20 images, 384x256, Sony IMX135) and the Canon DNG (1734x1156) are rendered
with the project's ISP (`data.sources.load_source` parameters: illuminant WB + generic
CCM for INTEL-TAU, as-shot WB + file CCM for the DNG; lossless 8-bit sRGB). For every
image, SAM (steps 4, 8, 16; and its "global prior" variant at step 8), the global mapping (step 8) and the naive inverse encode
their metadata, which is written to a real file and read back (the rate counts the
file's bytes), then reconstruct. The U-Net is trained on a fixed INTEL-TAU split
(sorted file names; test = every 4th image starting at index 3, i.e. 5 images; train =
the other 15) and evaluated on the test split, where all other methods are reported too.
`--gopro` adds one 12 MP GoPro HERO7 frame for SAM step 8 (time and peak memory).
PSNR/SSIM: `r2lcm_jax.metrics` on [0, 1] raw-RGB, per image, then averaged.
"""

from __future__ import annotations

import json
import pathlib
import resource
import sys
import tempfile
import time

import jax.numpy as jnp
import numpy as np
from absl import app, flags
from tqdm import tqdm

from r2lcm_jax import metrics
from r2lcm_jax.baselines import metadata_file
from r2lcm_jax.baselines.base import bits_per_pixel
from r2lcm_jax.baselines.global_mapping import GlobalMappingBaseline
from r2lcm_jax.baselines.naive_inverse import NaiveInverseBaseline
from r2lcm_jax.baselines.sam import SamBaseline
from r2lcm_jax.baselines.unet import UNetBaseline
from r2lcm_jax.baselines.unet_train import train_unet
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.isp import pipeline

_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder.")
_STEPS = flags.DEFINE_integer("unet_steps", 300, "U-Net training steps (0: skip the U-Net).")
_FEATURES = flags.DEFINE_integer("unet_features", 16, "U-Net width.")
_LR = flags.DEFINE_float("unet_lr", 1e-3, "U-Net Adam learning rate.")
_GOPRO = flags.DEFINE_bool("gopro", False, "Also time SAM step 8 on a 12 MP GoPro frame.")
_JSON = flags.DEFINE_string("json", None, "Optional JSON file for the per-image numbers.")


def _methods(params):
  return [("SAM step 4", SamBaseline(step=4)), ("SAM step 8", SamBaseline(step=8)),
          ("SAM step 16", SamBaseline(step=16)),
          ("SAM + global prior step 8", SamBaseline(step=8, global_prior=True)),
          ("global map step 8", GlobalMappingBaseline()),
          ("naive inverse", NaiveInverseBaseline(params))]


def _measure(base, raw, srgb, folder: pathlib.Path) -> dict:
  t0 = time.perf_counter()
  md = base.encode(raw, srgb)
  path = folder / f"{base.name}.meta"
  if md:
    metadata_file.write_metadata(path, md)
    md = path.read_bytes()
  t1 = time.perf_counter()
  rec = base.reconstruct(srgb, md)
  t2 = time.perf_counter()
  x, y = jnp.asarray(rec[None]), jnp.asarray(raw[None])
  return {"psnr": float(metrics.psnr(x, y)[0]), "ssim": float(metrics.ssim(x, y)[0]),
          "bpp": bits_per_pixel(md, *raw.shape[:2]), "bytes": len(md),
          "encode_s": t1 - t0, "decode_s": t2 - t1}


def _table(rows: dict[str, list[dict]], title: str) -> str:
  lines = [f"### {title}", "", "| method | bpp | PSNR (dB) | SSIM | decode s/img |",
           "|---|---|---|---|---|"]
  for name, rs in rows.items():
    m = {k: float(np.mean([r[k] for r in rs])) for k in ("bpp", "psnr", "ssim", "decode_s")}
    lines.append(f"| {name} | {m['bpp']:.4f} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['decode_s']:.2f} |")
  return "\n".join(lines)


def main(argv: list[str]) -> None:
  del argv
  root = pathlib.Path(_DATA.value)
  files = sorted((root / "inteltau").glob("*.png"))
  test_idx = set(range(3, len(files), 4))
  srcs = [load_source(f) for f in files]
  renders = [(s.raw_rgb, pipeline.render_srgb(s.raw_rgb, s.params), s.params) for s in srcs]
  results: dict[str, dict] = {"inteltau": {}, "inteltau_test": {}, "canon": {}}
  with tempfile.TemporaryDirectory() as tmp:
    folder = pathlib.Path(tmp)
    for i, (raw, srgb, params) in enumerate(tqdm(renders, desc="inteltau")):
      for name, base in _methods(params):
        r = _measure(base, raw, srgb, folder) | {"image": srcs[i].name}
        results["inteltau"].setdefault(name, []).append(r)
        if i in test_idx:
          results["inteltau_test"].setdefault(name, []).append(r)
    if _STEPS.value > 0:
      train = [(renders[i][0], renders[i][1].astype(np.float32) / 255.0)
               for i in range(len(renders)) if i not in test_idx]
      t0 = time.perf_counter()
      trained = train_unet(train, features=_FEATURES.value, levels=3, steps=_STEPS.value,
                           batch_size=8, patch_size=64, learning_rate=_LR.value, seed=0,
                           progress=True)
      train_s = time.perf_counter() - t0
      print(f"U-Net: {_STEPS.value} steps in {train_s:.0f} s, loss {trained.losses[:10].mean():.4f}"
            f" -> {trained.losses[-10:].mean():.4f}")
      unet = UNetBaseline(trained.model, trained.params)
      for i in sorted(test_idx):
        raw, srgb, _ = renders[i]
        results["inteltau_test"].setdefault("U-Net (0 bpp)", []).append(
          _measure(unet, raw, srgb, folder) | {"image": srcs[i].name})
      results["unet_train"] = {"steps": _STEPS.value, "seconds": train_s,
                               "loss_first10": float(trained.losses[:10].mean()),
                               "loss_last10": float(trained.losses[-10:].mean())}
    canon = load_source(root / "canon" / "colorchart.dng")
    raw = canon.raw_rgb
    srgb = pipeline.render_srgb(raw, canon.params)
    for name, base in tqdm(_methods(canon.params), desc="canon"):
      results["canon"][name] = [_measure(base, raw, srgb, folder)]
    if _STEPS.value > 0:
      results["canon"]["U-Net (0 bpp, trained on INTEL-TAU)"] = [_measure(unet, raw, srgb, folder)]
    if _GOPRO.value:
      gopro = load_source(root / "gopro" / "HERO7_GOPR9231.DNG")
      graw = gopro.raw_rgb
      gsrgb = pipeline.render_srgb(graw, gopro.params)
      before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
      r = _measure(SamBaseline(step=8), graw, gsrgb, folder)
      r["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
      r["peak_rss_gib_before"] = before / 2**20
      results["gopro_sam8"] = r
      print(f"GoPro HERO7 {graw.shape[1]}x{graw.shape[0]} SAM step 8: {r['psnr']:.2f} dB, "
            f"{r['bpp']:.4f} bpp, encode {r['encode_s']:.1f} s, decode {r['decode_s']:.1f} s, "
            f"peak RSS {r['peak_rss_gib']:.2f} GiB (before: {r['peak_rss_gib_before']:.2f})")
  print(_table(results["inteltau"], f"INTEL-TAU, all {len(files)} images (384x256)"))
  print()
  print(_table(results["inteltau_test"], f"INTEL-TAU test split ({len(test_idx)} images)"))
  print()
  print(_table(results["canon"], "Canon EOS 550D colorchart.dng (1734x1156)"))
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
  app.run(main, argv=sys.argv[:1] + sys.argv[1:])
