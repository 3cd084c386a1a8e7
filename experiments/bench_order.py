"""Table 2 analogue (CVPR'23 supplement): the coding order of the context model, at encode
time, on one trained model: learned sRGB-guided masks vs the deterministic argmax map vs
random sparse masks vs the checkerboard.

`r2lcm bench order --work WORK [--checkpoint r2lcm_jax/assets/models/default]
    [--variants darktable-default_png,...] [--orders learned,argmax,random,checkerboard]
    [--crop 512x768] [--data ../shared/data/real] [--out experiments/results/order_ablation.md]`

Test split and renders as `r2lcm bench rd` (`benchmark/splits.py`: INTEL-TAU 018-020,
the HERO7 frame and the Canon chart, 512x768 centre crops; renders in WORK/data are
reused, missing ones are rendered). Every test image of every variant is encoded with
each order into a real `.r2lcm` bitstream (the order is recorded in its header), decoded
(the decoded latents must equal the encoder's), and scored (PSNR of the decoded RAW,
metadata bpp = 8 * file bytes / pixels). Rate settings: gamma 0, drop_steps 0, no residual
gate, so that only the order differs between the rows.

The order changes which neighbours are known when a position is coded, and so the
predicted mean and (adaptive) step of every element: the reconstruction is not
bit-identical across orders (unlike the paper's lossless claim, its quantisation was
around the same means); the table reports PSNR per order to show how close it stays.
Also reported: how many hyper- and main-latent positions each step codes (from the
bitstream's groups) and the model's own rate estimate, to explain the ranking.
"""

from __future__ import annotations

import collections
import pathlib
import platform
import time

import numpy as np
from absl import flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models.coding_order import ORDERS

__all__ = ["main"]

_WORK = flags.DEFINE_string("work", None, "Work folder of `r2lcm bench rd` (renders in WORK/data).")
_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder.")
_CKPT = flags.DEFINE_string("checkpoint", "r2lcm_jax/assets/models/default", "Codec checkpoint.")
_VARIANTS = flags.DEFINE_string(
  "variants", "darktable-default_png,darktable-local_png,rawtherapee-default_png,"
  "rawtherapee-drc_png", "Rendered variants (third-party ISPs).")
_ORDERS = flags.DEFINE_string("orders", ",".join(ORDERS), "Coding orders to compare.")
_CROP = flags.DEFINE_string("crop", "512x768", "Centre crop HxW of the larger test images.")
_OUT = flags.DEFINE_string("out", "", "Write the markdown report here.")


def _crop(text: str) -> tuple[int, int]:
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise ConfigError(f"--crop must be HxW, got {text!r}") from None
  return h, w


def _score(pair, order: str, runner, tables) -> dict:
  from r2lcm_jax.codec import codec
  from r2lcm_jax.data.nus import load_pair
  from r2lcm_jax.metrics import score_pair

  x, s = load_pair(pair)
  t0 = time.perf_counter()
  enc = codec.compress_image(x, s, runner, tables, order=order, gate=None)
  dec = codec.decompress_image(s, enc.data, runner, tables)
  if not (np.array_equal(dec.y_hat, enc.y_hat) and np.array_equal(dec.z_hat, enc.z_hat)):
    raise AssertionError(f"{pair.name} {order}: decoded latents differ from the encoder's")
  if dec.header.order != order:
    raise AssertionError(f"{pair.name}: header records order {dec.header.order!r}, not {order!r}")
  psnr, _ = score_pair(x, dec.raw)
  h, w = x.shape[:2]
  steps = {"hyper": collections.Counter(), "main": collections.Counter()}
  for name, g in enc.groups.items():
    level, _, step = name.partition("/")
    if level in steps:
      steps[level][int(step)] += g.symbols // runner.latent_channels
  return {"bpp": 8 * len(enc.data) / (h * w), "psnr": psnr,
          "est_bpp": enc.estimated_bits / (h * w), "seconds": time.perf_counter() - t0,
          "steps": steps, "hyper_bytes": sum(g.bytes for n, g in enc.groups.items()
                                                    if n.startswith("hyper/"))}


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _WORK.value:
    raise ConfigError("--work is required (the renders of `r2lcm bench rd --work WORK`)")
  orders = [o.strip() for o in _ORDERS.value.split(",") if o.strip()]
  bad = [o for o in orders if o not in ORDERS]
  if bad or not orders:
    raise ConfigError(f"--orders: unknown {bad}; choose from {ORDERS}")
  crop = _crop(_CROP.value)
  from r2lcm_jax.app.files import load_runner
  from r2lcm_jax.benchmark import dataset, splits

  variants = [dataset.parse_variant_name(v.strip())
              for v in _VARIANTS.value.split(",") if v.strip()]
  t_start = time.perf_counter()
  ckpt, runner = load_runner(_CKPT.value)
  tables = ckpt.tables
  tests = [e for e in splits.plan_splits(_DATA.value) if e.split == "test"]
  roots = dataset.render_variants(tests, pathlib.Path(_WORK.value) / "data", variants,
                                  crop=crop, splits={v.name: ("test",) for v in variants})
  res: dict[tuple[str, str, str], dict] = {}
  names: dict[str, list[str]] = {}
  for v in variants:
    pairs = dataset.split_pairs(roots[v.name], "test", {str(e.path) for e in tests})
    names[v.name] = [f"{p.camera}/{p.name}" for p in pairs]
    for p in pairs:
      for o in orders:
        r = _score(p, o, runner, tables)
        res[(v.name, f"{p.camera}/{p.name}", o)] = r
        print(f"{v.name} {p.camera}/{p.name} {o}: {r['bpp']:.4f} bpp {r['psnr']:.2f} dB "
              f"({r['seconds']:.1f} s)", flush=True)

  def mean(key, o, vs=None):
    vals = [r[key] for (v, _, oo), r in res.items() if oo == o and (vs is None or v in vs)]
    return float(np.mean(vals))

  ref = "learned" if "learned" in orders else orders[0]
  cfg = ckpt.config
  lines = [
    "# Coding-order ablation (Table 2 analogue): `r2lcm bench order`", "",
    f"Command: `r2lcm bench order --work WORK --checkpoint {_CKPT.value} --variants "
    f"{_VARIANTS.value} --orders {_ORDERS.value} --crop {_CROP.value}`", "",
    f"Model: `{_CKPT.value}` (N={cfg.N}, C={cfg.latent_channels}, T={cfg.num_steps}, base "
    f"`{cfg.base}`, coverage `{cfg.coverage}`), trained with the learned masks only. Test "
    f"split: {len(next(iter(names.values())))} images per variant "
    f"({', '.join(next(iter(names.values())))}), {len(variants)} variants. gamma 0, "
    "drop_steps 0, no residual gate. Real bitstreams; every one decoded to the encoder's "
    f"latents. {platform.machine()} CPU, wall {time.perf_counter() - t_start:.0f} s.", "",
    "## Mean over all test images and variants", "",
    f"| order | metadata bpp | bpp / {ref} | PSNR dB | model-estimated bpp | hyper bytes (mean) "
    "| hyper positions per step (%) | main positions per step (%) |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for o in orders:
    occ = []
    for level in ("hyper", "main"):
      steps = collections.Counter()
      for (_, _, oo), r in res.items():
        if oo == o:
          steps.update(r["steps"][level])
      tot = sum(steps.values()) or 1
      occ.append(" / ".join(f"{100 * steps[i] / tot:.1f}" for i in range(cfg.num_steps)))
    lines.append(
      f"| {o} | {mean('bpp', o):.4f} | {mean('bpp', o) / mean('bpp', ref):.4f} | "
      f"{mean('psnr', o):.2f} | {mean('est_bpp', o):.4f} | {mean('hyper_bytes', o):.0f} | "
      f"{occ[0]} | {occ[1]} |")
  lines += ["", "## Per variant: metadata bpp (PSNR dB)", "",
            "| variant | " + " | ".join(orders) + " |", "|---|" + "---|" * len(orders)]
  for v in variants:
    cells = [f"{mean('bpp', o, {v.name}):.4f} ({mean('psnr', o, {v.name}):.2f})" for o in orders]
    lines.append(f"| {v.name} | " + " | ".join(cells) + " |")
  lines += ["", "## Per image (mean over variants): metadata bpp / " + ref, "",
            "| image | " + " | ".join(orders) + " |", "|---|" + "---|" * len(orders)]
  for name in next(iter(names.values())):
    row = []
    for o in orders:
      a = np.mean([r["bpp"] for (_, n, oo), r in res.items() if n == name and oo == o])
      b = np.mean([r["bpp"] for (_, n, oo), r in res.items() if n == name and oo == ref])
      row.append(f"{a / b:.4f}")
    lines.append(f"| {name} | " + " | ".join(row) + " |")
  text = "\n".join(lines) + "\n"
  print(text)
  if _OUT.value:
    pathlib.Path(_OUT.value).write_text(text)
