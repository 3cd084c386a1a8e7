"""PriorRAW on rendered INTEL-TAU: train, build the prior, and the paper's Table-1 ablation.

    r2lcm bench prior --config experiments/configs/prior_small_real.py:root=data/inteltau \\
        --workdir runs/prior [--unet_steps -1] [--reuse] [--json out.json]
    r2lcm bench prior --config ... --workdir runs/prior --big 4384x2920   # 12.8 MP run only

Stages (each timed): contrastive encoder training (Algorithm 1, `prior.stages`), prior
compression (Algorithm 2), reconstructor training (Algorithm 3), and the metadata-free
U-Net baseline (`baselines.unet_train`) on the same train split with as many steps as
the reconstructor (`--unet_steps`, 0 skips it). `--reuse` keeps the files already in
the workdir (encoder.msgpack, prior.npz, model.msgpack, unet.msgpack).

Rows on the test split (full images, PSNR / SSIM of `r2lcm_jax.metrics` on raw-RGB in
[0, 1], per image then averaged):
  pixel searching      assembled raw from ALL half-resolution pixels of the train split
  clustered prior      assembled raw from the prior (Algorithm 2)
  full reconstructor   Algorithm 3 with the prior
  sRGB + U-Net         the baseline U-Net (0 bpp, no prior)
Assembled rows are computed at the embeddings' half resolution and bilinearly
up-sampled. `--big HxW` instead reconstructs one sRGB of that size (the first test
image tiled) and reports the time and the process's peak RSS.
"""

from __future__ import annotations

import json
import pathlib
import resource
import time

import jax.numpy as jnp
import numpy as np
from absl import flags
from ml_collections import config_flags

from r2lcm_jax import metrics
from r2lcm_jax.baselines.unet import UNetBaseline, load_params, save_params
from r2lcm_jax.baselines.unet_train import train_unet
from r2lcm_jax.data.nus import load_pair
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior import stages
from r2lcm_jax.prior.compression import encode_references
from r2lcm_jax.prior.inference import assemble_image, reconstruct_image
from r2lcm_jax.prior.model_file import load_model
from r2lcm_jax.prior.prior_file import load_prior, save_prior

_CONFIG = config_flags.DEFINE_config_file("config", None, "PriorRAW config, `path.py[:args]`.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder.")
_UNET = flags.DEFINE_integer("unet_steps", -1, "U-Net baseline steps (-1: as the reconstructor; 0: skip).")
_REUSE = flags.DEFINE_bool("reuse", False, "Reuse trained files already in the workdir.")
_JSON = flags.DEFINE_string("json", None, "Write the per-image numbers here.")
_BIG = flags.DEFINE_string("big", None, "Only reconstruct one HxW image (time, peak RSS).")


def _score(pred: np.ndarray, raw: np.ndarray) -> dict[str, float]:
  x, y = jnp.asarray(np.clip(pred, 0, 1)[None]), jnp.asarray(raw[None])
  return {"psnr": float(metrics.psnr(x, y)[0]), "ssim": float(metrics.ssim(x, y)[0])}


def _timed(fn, *args, **kwargs):
  t0 = time.perf_counter()
  out = fn(*args, **kwargs)
  return out, time.perf_counter() - t0


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _big(config, work: pathlib.Path, size: str) -> None:
  h, w = (int(v) for v in size.lower().split("x"))
  model = load_model(work / "model.msgpack", need_reconstructor=True)
  prior = load_prior(work / "prior.npz")
  test = stages.dataset_pairs(config.data.root, config.data.test_split, config.data.camera)
  _, srgb = load_pair(test[0])
  reps = (-(-h // srgb.shape[0]), -(-w // srgb.shape[1]), 1)
  big = np.ascontiguousarray(np.tile(srgb, reps)[:h, :w])
  print(f"input {w}x{h} ({h * w / 1e6:.1f} MP), prior {len(prior)} entries; "
        f"peak RSS before: {_peak_rss_gib():.2f} GiB")
  out, secs = _timed(reconstruct_image, model, prior, big)
  print(f"reconstructed {out.shape[1]}x{out.shape[0]} in {secs:.1f} s; "
        f"peak RSS {_peak_rss_gib():.2f} GiB; finite={bool(np.all(np.isfinite(out)))}")


def main(argv: list[str]) -> None:
  del argv
  config, work = _CONFIG.value, _WORKDIR.value
  if config is None or not work:
    raise ConfigError("--config and --workdir are required")
  work = pathlib.Path(work)
  if _BIG.value:
    _big(config, work, _BIG.value)
    return
  times: dict[str, float] = {}
  enc_path, prior_path, model_path = (work / n for n in ("encoder.msgpack", "prior.npz",
                                                         "model.msgpack"))
  train = stages.dataset_pairs(config.data.root, config.data.train_split, config.data.camera)
  test = stages.dataset_pairs(config.data.root, config.data.test_split, config.data.camera)
  if not (_REUSE.value and enc_path.exists()):
    _, times["encoder training"] = _timed(stages.train_encoder_stage, config, work)
  encoder = load_model(enc_path)
  if not (_REUSE.value and prior_path.exists()):
    p = config.prior
    prior, times["prior build"] = _timed(stages.build_prior, encoder, train,
                                         num_clusters=int(p.clusters),
                                         group_size=int(p.group_size),
                                         iterations=int(p.iterations), seed=int(config.seed))
    save_prior(prior_path, prior)
  prior = load_prior(prior_path)
  if not (_REUSE.value and model_path.exists()):
    _, times["reconstructor training"] = _timed(stages.train_reconstructor_stage, config, work,
                                                enc_path, prior_path)
  model = load_model(model_path, need_reconstructor=True)
  unet_steps = int(config.reconstructor.num_steps) if _UNET.value < 0 else _UNET.value
  unet = None
  if unet_steps > 0:
    unet_path = work / "unet.msgpack"
    if not (_REUSE.value and unet_path.exists()):
      r = config.reconstructor
      res, times["U-Net training"] = _timed(
        train_unet, train, steps=unet_steps, batch_size=int(r.batch_size),
        patch_size=int(r.patch_size), learning_rate=float(r.learning_rate), seed=int(config.seed))
      save_params(unet_path, res.model, res.params)
    unet = UNetBaseline(*load_params(unet_path))
  refs, times["reference encoding"] = _timed(
    encode_references, encoder.encoder, encoder.encoder_params, (load_pair(p) for p in train))
  rows: dict[str, list[dict]] = {}
  for pair in test:
    raw, srgb = load_pair(pair)
    preds = {
      "pixel searching": lambda s: assemble_image(encoder, s, refs[0], refs[2]),
      "clustered prior": lambda s: assemble_image(encoder, s, prior.features, prior.raw),
      "full reconstructor": lambda s: reconstruct_image(model, prior, s),
    }
    if unet is not None:
      preds["sRGB + U-Net"] = unet.reconstruct
    for name, fn in preds.items():
      pred, secs = _timed(fn, srgb)
      rows.setdefault(name, []).append({"image": pair.name, **_score(pred, raw), "seconds": secs})
  print(f"train {len(train)} images ({refs[0].shape[0]} reference pixels), prior {len(prior)} "
        f"entries {prior.info}, test {len(test)} images")
  print("\n| method | PSNR (dB) | SSIM | s / image |\n|---|---|---|---|")
  for name, rs in rows.items():
    m = {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "seconds")}
    print(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['seconds']:.2f} |")
  print("\nper image: " + "; ".join(f"{n}: " + ", ".join(f"{r['image'][-25:]} {r['psnr']:.2f}"
                                                         for r in rs) for n, rs in rows.items()))
  print("stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
  print(f"peak RSS {_peak_rss_gib():.2f} GiB")
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps({"rows": rows, "seconds": times,
                                                     "prior": prior.info}, indent=1))
