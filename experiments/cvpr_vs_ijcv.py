"""CVPR'23 vs IJCV'24 model at equal training budget: RD points on a test split, BD-rate.

    .venv/bin/python experiments/cvpr_vs_ijcv.py --root data/inteltau --camera imx135 \\
        --cvpr runs/cvpr23_l0.24,runs/cvpr23_l0.03 --ijcv runs/small_real_l0.24,... \\
        --out experiments/results/cvpr23.md

`--root` takes several folders separated by ':' (e.g. the test split of every
third-party sRGB variant); the images of all of them are pooled. `--ijcv_rates` adds RD
points from each IJCV model's variable rate (`drop_steps:gamma`, as `r2lcm encode`); the
BD figures use each model's upper envelope over all its runs and settings.

Every run folder is a `r2lcm train` workdir (newest checkpoint). Each test image (whole,
landscape; H and W must be multiples of both models' size multiple) goes through the
model's deterministic evaluation forward (`training=False`: the decoder's values, fixed
order-mask keys). The rate is the model's own estimate, the sum of -log2 likelihoods of
the positions a bitstream codes (IJCV positions no step selects cost nothing and decode
to 0, as in the codec), plus for the CVPR model its side information (C float16 channel
means). Both models are measured the same way; the repository's rate-estimate test
(tests/codec/rate_estimate_test.py) bounds the gap to real bitstream bytes for the IJCV
model on these images (container overhead aside). PSNR on the unclamped raw-RGB, data
range 1, averaged in dB over images; bpp averaged over images.

With `--real`, every run is also exported (`codec.checkpoint.save_checkpoint`: Gaussian
tables, plus the factorized bottleneck's tables for the CVPR model) and every image is
encoded to a real `.r2lcm` bitstream and decoded (checked bit-exact against the
encoder's latents): bpp = 8 * file bytes / pixels (header and container included),
PSNR of the decoded raw.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.app.export import read_run_params
from r2lcm_jax.benchmark.bd_rate import bd_psnr, bd_rate
from r2lcm_jax.data.nus import find_pairs, load_pair
from r2lcm_jax.data.transforms import to_landscape
from r2lcm_jax.metrics import psnr
from r2lcm_jax.models.r2lcm import R2LCM


def evaluate_real(params, cfg, images, drop_steps=0, gamma=0.0) -> tuple[float, float]:
  """(mean bpp of the real files, mean PSNR of the decoded raw) through the codec."""
  from r2lcm_jax.codec import codec
  from r2lcm_jax.codec.checkpoint import save_checkpoint
  from r2lcm_jax.codec.runner import ModelRunner

  with tempfile.TemporaryDirectory() as tmp:
    ckpt = save_checkpoint(tmp, params, cfg)
  runner = ModelRunner(ckpt.config, ckpt.params, ckpt.tables.scale_table)
  bpps, psnrs = [], []
  for raw, srgb in images:
    srgb8 = np.round(np.clip(srgb, 0, 1) * 255).astype(np.uint8)
    enc = codec.compress_image(raw, srgb8, runner, ckpt.tables, drop_steps=drop_steps,
                               gamma=gamma)
    dec = codec.decompress_image(srgb8, enc.data, runner, ckpt.tables)
    np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
    np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
    bpps.append(8 * len(enc.data) / (raw.shape[0] * raw.shape[1]))
    psnrs.append(float(psnr(jnp.asarray(dec.raw[None]), jnp.asarray(raw[None]))[0]))
  return float(np.mean(bpps)), float(np.mean(psnrs))


def evaluate_run(workdir: str, images: list[tuple[np.ndarray, np.ndarray]],
                 real: bool = False, drop_steps: int = 0, gamma: float = 0.0) -> dict:
  """One RD point of a run at one rate setting (the IJCV model's variable rate: the
  last `drop_steps` context steps not sent, `gamma` added to the last sent step's log2
  step; both 0 for the model's own rate)."""
  params, cfg, step = read_run_params(workdir)
  model = R2LCM(cfg)
  fwd = jax.jit(lambda p, x, s: model.apply({"params": p}, x, s, training=False,
                                            drop_steps=drop_steps, gamma=gamma))
  bpps, psnrs = [], []
  for raw, srgb in images:
    h, w = raw.shape[:2]
    out = fwd(params, jnp.asarray(raw[None]), jnp.asarray(srgb[None]))
    bits = 0.0
    for level in ("hyper", "main"):
      coded = np.asarray(out["order"][level]) < cfg.num_steps  # (1, h, w)
      lik = np.asarray(out["likelihoods"][level], np.float64)
      bits += float(-(np.log2(lik) * coded[..., None]).sum())
    if cfg.arch == "cvpr23" and cfg.channel_mean:
      bits += 16 * cfg.latent_channels
    bpps.append(bits / (h * w))
    psnrs.append(float(psnr(out["x_hat"], jnp.asarray(raw[None]))[0]))
  out = {"run": workdir, "arch": cfg.arch, "step": step, "bpp": float(np.mean(bpps)),
         "psnr": float(np.mean(psnrs)), "real_bpp": float("nan"), "real_psnr": float("nan"),
         "rate": f"{drop_steps}:{gamma:g}"}
  if real:
    out["real_bpp"], out["real_psnr"] = evaluate_real(params, cfg, images, drop_steps, gamma)
  return out


def envelope(points: list[dict], rate_key: str, psnr_key: str) -> list[dict]:
  """The points no other point beats (lower or equal rate with higher PSNR), by rate.

  Several runs and rate settings of one model give a cloud of points; its RD curve
  is the upper envelope, which is what a user picking the best setting gets."""
  pts = sorted(points, key=lambda r: (r[rate_key], -r[psnr_key]))
  out = []
  for r in pts:
    if not out or r[psnr_key] > out[-1][psnr_key]:
      out.append(r)
  return out


def main(argv=None) -> int:
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--root", required=True,
                  help="data folder(s) in the NUS layout, colon-separated (e.g. one per sRGB variant)")
  ap.add_argument("--camera", default=None)
  ap.add_argument("--split", default="test")
  ap.add_argument("--cvpr", required=True, help="comma-separated run folders")
  ap.add_argument("--ijcv", required=True, help="comma-separated run folders")
  ap.add_argument("--out", default="")
  ap.add_argument("--real", action="store_true", help="also code real bitstreams")
  ap.add_argument("--ijcv_rates", default="0:0",
                  help="comma-separated drop_steps:gamma settings for every IJCV run "
                       "(variable rate from one model); 0:0 is the model's own rate")
  a = ap.parse_args(argv)
  settings = [(int(d), float(g)) for d, g in
              (x.split(":") for x in a.ijcv_rates.split(",") if x)]
  roots = [r for r in a.root.split(":") if r]
  images = [to_landscape(*load_pair(p)) for r in roots for p in find_pairs(r, a.split, a.camera)]
  rows = {"cvpr23": [], "ijcv24": []}
  for arch, runs, rates in (("cvpr23", a.cvpr, [(0, 0.0)]), ("ijcv24", a.ijcv, settings)):
    for run in filter(None, runs.split(",")):
      for d, g in rates:
        r = evaluate_run(run, images, a.real, d, g)
        rows[arch].append(r)
        print(f"{arch} {run} step {r['step']} rate {r['rate']}: bpp {r['bpp']:.4f} "
              f"PSNR {r['psnr']:.2f} dB; real files: bpp {r['real_bpp']:.4f} "
              f"PSNR {r['real_psnr']:.2f} dB", flush=True)
  lines = [f"{len(images)} test images of {', '.join(roots)} ({a.split}), whole images.", "",
           "| model | run | step | drop:gamma | bpp (estimate) | PSNR (dB) | bpp (real files) "
           "| PSNR decoded (dB) | on the estimate envelope |",
           "|---|---|---|---|---|---|---|---|---|"]
  for arch in rows:
    hull = {id(r) for r in envelope(rows[arch], "bpp", "psnr")}
    for r in sorted(rows[arch], key=lambda r: r["bpp"]):
      lines.append(f"| {arch} | {pathlib.Path(r['run']).name} | {r['step']} | {r['rate']} | "
                   f"{r['bpp']:.4f} | {r['psnr']:.2f} | {r['real_bpp']:.4f} | "
                   f"{r['real_psnr']:.2f} | {'yes' if id(r) in hull else ''} |")
  kinds = [("bpp", "psnr", "estimate")] + ([("real_bpp", "real_psnr", "real files")] if a.real else [])
  lines += ["", "BD figures are over each model's upper envelope (points no other point of the "
            "same model beats at lower or equal rate)."]
  for rk, pk, what in kinds:
    c, j = envelope(rows["cvpr23"], rk, pk), envelope(rows["ijcv24"], rk, pk)
    if len(c) < 2 or len(j) < 2:
      lines += ["", f"{what}: fewer than 2 envelope points on a curve, no BD figures"]
      continue
    try:
      br = bd_rate([r[rk] for r in c], [r[pk] for r in c], [r[rk] for r in j], [r[pk] for r in j])
      bp = bd_psnr([r[rk] for r in c], [r[pk] for r in c], [r[rk] for r in j], [r[pk] for r in j])
      lines += ["", f"{what}: BD-rate of IJCV against CVPR (negative = IJCV needs fewer bits): "
                f"{br.value:+.1f} % over PSNR [{br.lo:.2f}, {br.hi:.2f}] dB"
                + ("" if br.defined else " (the PSNR ranges do not overlap)"),
                f"BD-PSNR of IJCV against CVPR: {bp.value:+.2f} dB"
                + ("" if bp.defined else " (the rate ranges do not overlap)")]
    except ValueError as e:  # repeated PSNRs, non-finite values: say so
      lines += ["", f"BD-rate not computable: {e}"]
  text = "\n".join(lines)
  print(text)
  if a.out:
    pathlib.Path(a.out).write_text(text + "\n")
  return 0


if __name__ == "__main__":
  sys.exit(main())
