"""`r2lcm bench overfit`: learning sanity check, R2LCM overfitted to one real crop.

A model trained on one crop and nothing else must code that crop better than SAM (raw
samples every 8 pixels, `baselines/sam.py`) at SAM's rate or lower; if it cannot, it has
a bug or a capacity problem, and this benchmark says which (`overfit_diagnosis.py`).

    .venv/bin/r2lcm bench overfit [--out experiments/results/overfit] [--steps 500]
        [--image gopro/HERO7_GOPR9231.DNG] [--isp darktable:local] [--jpeg_quality 0]
        [--crop 128x128] [--top 1408 --left 1632] [--config experiments/configs/any_isp.py]
        [--base fitted|none] [--lmbda 2] [--lr 0] [--flips] [--init_from ''] [--seed 0]
        [--eval_every 25] [--codec_every 250] [--end_gammas 0,1,2,4,8] [--end_drops 1,2,3]
        [--sam_steps 4,8,16] [--sam_reference 8] [--probe auto|always|never] [--gate_tile N]
        [--work DIR]

    # the run recorded in experiments/README.md ("Learning sanity: overfitting one crop"),
    # 27 min on the shared 2-core CPU
    nice -n 19 .venv/bin/r2lcm bench overfit --out experiments/results/overfit

    # the paper's model (no base) on the same crop
    .venv/bin/r2lcm bench overfit --base none --out experiments/results/overfit_none

Steps (one command, seeded):
1. The crop: --image (relative to --data, or a path) rendered by --isp, a third-party ISP
   (`darktable:STYLE` / `rawtherapee:STYLE`, `isp.external`, aligned to the raw-RGB grid)
   or `project`. A camera RAW is first cut to a DNG of the crop plus 128 pixels of context
   on every side (`io.dng.dng_from_raw`, as `r2lcm demo` does), so the tool renders a
   small file and its local operators still see the surroundings; other sources (INTEL-TAU
   PNGs) are rendered whole. The --crop (HxW, multiples of 16) at --top/--left (default:
   the mural and leaves of the HERO7 frame; -1: centred) is cut from the aligned pair and
   written as files, the raw-RGB as 16-bit TIFF and the sRGB as PNG (--jpeg_quality 0) or
   JPEG; everything below reads them back. The default style is darktable's `local` (tone
   equalizer + local contrast): on a crop of its `default` style the fitted map alone
   already beats SAM, which would leave the network nothing to prove.
2. Baselines on those files through their own encode / metadata file / decode
   (`benchmark.runs.run_baselines`, as `bench rd`): SAM at every --sam_steps and the fitted
   map alone (~310 bytes): PSNR and bpp.
3. The rate-constrained run: the model of --config (default `configs/any_isp.py`, the
   packaged default's architecture: base "fitted", N=16, C=4, T=4, coverage full) with
   --base and --lmbda applied, the project's loss (`train.task.create_model_and_loss`),
   optimizer (`train.optim`, the config's Adam and clipping, constant learning rate) and
   jitted train step (`train.step.make_train_step`), on a batch of the crop (with
   --flips: the crop and its three flips), --steps steps from a fresh initialisation
   (or --init_from, a parameter folder or packaged model name). A model with a base trains
   on gain * (raw - base) with the map fitted to the crop, as `r2lcm train` does. Every
   --eval_every steps: the deterministic eval forward (`make_eval_step`, training=False) on
   the crop: eval loss, bpp estimate and PSNR (unclipped, no gate). Every --codec_every
   steps and at the end: the real codec (`codec.compress_image` -> `.r2lcm` file -> read
   back -> `codec.decompress_image`, the residual gate as the CLI sets it), at the trained
   setting (drop_steps 0, gamma 0), and at the end also at every --end_gammas (drop_steps
   0) and every --end_drops (gamma 0; values >= T skipped), as `bench rd` sweeps the rate:
   true bpp and PSNR of the decoded RAW.
4. The distortion-only probe (--probe auto: only when step 3 does not beat SAM; always;
   never): the same model, steps and seed with the rate weight off (loss minus its bpp
   term), evaluated the same way (real codec at the end only).
5. The verdict (`overfit_diagnosis.diagnose`, criteria and thresholds in its doc).

Outputs in --out: curve.csv (run, step, train loss / bpp / PSNR over the eval window,
eval loss / bpp / PSNR, codec setting / bytes / bpp / PSNR / SSIM where measured; written
after every eval point, so a long run shows its progress),
curve.png (PSNR and bpp against steps, SAM and the fitted map as horizontal lines),
summary.json (every number, the criteria, the verdict, the command, wall time, hardware)
and summary.md (the tables). One line per eval point on stderr.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import shutil
import sys
import tempfile
import time

from absl import flags
from ml_collections import config_flags

from r2lcm_jax.cli.flag_checks import define_gate_tile
from r2lcm_jax.errors import ConfigError, InputError

_HERE = pathlib.Path(__file__).resolve().parent
_REPO = _HERE.parent
_MARGIN = 128  # raw pixels of context around the crop given to the tool (local operators;
# the tool may also cut a few border pixels)

_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder.")
_IMAGE = flags.DEFINE_string("image", "gopro/HERO7_GOPR9231.DNG",
                             "The RAW (or INTEL-TAU PNG): relative to --data, or a path.")
_ISP = flags.DEFINE_string("isp", "darktable:local",
                           "Who renders the sRGB: darktable:STYLE, rawtherapee:STYLE or project.")
_JPEG = flags.DEFINE_integer("jpeg_quality", 0, "0: sRGB stored as PNG; 1..100: JPEG quality.",
                             lower_bound=0, upper_bound=100)
_CROP = flags.DEFINE_string("crop", "128x128", "Crop HxW (multiples of 16, >= 32).")
_TOP = flags.DEFINE_integer("top", 1408, "Crop row in the raw-RGB grid (default: mural and "
                            "leaves of the HERO7 frame; -1: centred).")
_LEFT = flags.DEFINE_integer("left", 1632, "Crop column in the raw-RGB grid (-1: centred).")
_CONFIG = config_flags.DEFINE_config_file(
  "config", str(_HERE / "configs" / "any_isp.py"),
  "Training config: model, loss distortion, optimizer (data and schedule are not used).")
_BASE = flags.DEFINE_enum("base", "", ["", "fitted", "none"],
                          "Override model.base ('': the config's; fitted; none = the paper).")
_LMBDA = flags.DEFINE_float("lmbda", 2.0, "Rate-distortion weight (loss = lmbda 255^2 D + bpp; "
                            "the packaged default was trained at 2).")
_LR = flags.DEFINE_float("lr", 0.0, "Learning rate (0: the config's).")
_STEPS = flags.DEFINE_integer("steps", 500, "Training steps of each run.", lower_bound=1)
_EVAL_EVERY = flags.DEFINE_integer("eval_every", 25, "Eval-forward cadence (steps).",
                                   lower_bound=1)
_CODEC_EVERY = flags.DEFINE_integer("codec_every", 250, "Real-codec cadence (steps; the end is "
                                    "always measured; 0: the end only).", lower_bound=0)
_END_GAMMAS = flags.DEFINE_string("end_gammas", "0,1,2,4,8", "gamma values (drop_steps 0) of the "
                                  "real codec at the end of the rate-constrained run.")
_END_DROPS = flags.DEFINE_string("end_drops", "1,2,3", "drop_steps values (gamma 0) of the real "
                                 "codec at the end of the rate-constrained run ('' = none).")
_FLIPS = flags.DEFINE_bool("flips", False, "Batch = the crop and its three flips (else the crop).")
_INIT = flags.DEFINE_string("init_from", "", "Parameter folder or packaged model to start from "
                            "('': a fresh initialisation).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed (initialisation, noise, order masks).")
_SAM_STEPS = flags.DEFINE_string("sam_steps", "4,8,16", "SAM grid steps measured.")
_SAM_REF = flags.DEFINE_integer("sam_reference", 8, "The SAM step the verdict compares with.")
_PROBE = flags.DEFINE_enum("probe", "auto", ["auto", "always", "never"],
                           "Distortion-only probe: when SAM is not beaten, always, never.")
_OUT = flags.DEFINE_string("out", "experiments/results/overfit", "Output folder.")
_WORK = flags.DEFINE_string("work", None, "Folder for the crop files and bitstreams (kept); "
                            "default: a temporary folder, removed.")
_GATE = define_gate_tile()


def _load_sibling(name: str):
  """experiments/<name>.py, imported by path (experiments is not a package)."""
  spec = importlib.util.spec_from_file_location(f"r2lcm_experiments_{name}", _HERE / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _ints(text: str, what: str) -> list[int]:
  try:
    out = [int(v) for v in text.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"--{what}={text!r}: expected comma-separated integers") from e
  if not out or min(out) < 1:
    raise ConfigError(f"--{what}={text!r}: expected integers >= 1")
  return out


def _end_settings(gammas: str, drops: str, num_steps: int) -> list:
  """The end's rate settings: (0, 0) first, then (0, gamma) and (drop, 0) (drop < T)."""
  from r2lcm_jax.app.evaluation import RateSetting

  try:
    gs = [float(v) for v in gammas.split(",") if v.strip()]
    ds = [int(v) for v in drops.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"--end_gammas={gammas!r} / --end_drops={drops!r}: expected "
                      "comma-separated numbers") from e
  if min([0.0, *gs]) < 0 or min([0, *ds]) < 0:
    raise ConfigError("--end_gammas and --end_drops must be >= 0")
  out = [RateSetting(), *(RateSetting(0, g) for g in gs),
         *(RateSetting(d, 0.0) for d in ds if d < num_steps)]
  return list(dict.fromkeys(out))


def _crop_size(text: str) -> tuple[int, int]:
  h, sep, w = text.lower().partition("x")
  if not (sep and h.isdigit() and w.isdigit()) or int(h) % 16 or int(w) % 16 or min(
      int(h), int(w)) < 32:
    raise ConfigError(f"--crop={text!r}: expected HxW, multiples of 16, >= 32 (e.g. 128x128)")
  return int(h), int(w)


def _rel(path: str | os.PathLike) -> str:
  """`path` relative to the repository when inside it, else as given (no machine paths)."""
  p = pathlib.Path(path)
  try:
    return str(p.resolve().relative_to(_REPO))
  except ValueError:
    return str(path)


def _image_path(spec: str) -> pathlib.Path:
  p = pathlib.Path(spec)
  if not p.is_file():
    p = pathlib.Path(_DATA.value) / spec
  if not p.is_file():
    raise InputError(f"--image={spec}: no such file (nor under --data={_DATA.value})")
  return p


def _place(size: int, extent: int, pos: int, what: str) -> int:
  """Crop start along one axis (-1: centred), even, checked against the extent."""
  start = (extent - size) // 2 & ~1 if pos < 0 else pos
  if start + size > extent or start < 0:
    raise ConfigError(f"--{what}={pos}: a {size}-pixel crop does not fit in {extent} pixels "
                      "(-1: centred)")
  return start


# --- step 1: the crop --------------------------------------------------------------------

def _render_crop(path: pathlib.Path, isp: str, size: tuple[int, int], work: pathlib.Path):
  """(raw (h, w, 3) float32, sRGB (h, w, 3) uint8, description) of the requested crop."""
  from r2lcm_jax.benchmark import dataset
  from r2lcm_jax.data.sources import RAW_SUFFIXES, load_source
  from r2lcm_jax.io.dng import dng_from_raw
  from r2lcm_jax.io.raw import read_raw

  h, w = size
  if path.suffix.lower() in RAW_SUFFIXES:
    raw = read_raw(path)
    height, width = raw.mosaic.shape
    top, left = _place(h, height, _TOP.value, "top"), _place(w, width, _LEFT.value, "left")
    wt, wl = max(0, top - _MARGIN) & ~1, max(0, left - _MARGIN) & ~1
    wb, wr = min(height, top + h + _MARGIN), min(width, left + w + _MARGIN)
    window = (wt, wl, (wb - wt) & ~1, (wr - wl) & ~1)
    dng_from_raw(work / "window.dng", raw, crop=window)
    src = load_source(work / "window.dng")
    what = f"{path.name} ({width}x{height}), crop {w}x{h} at row {top}, column {left}"
  else:
    src = load_source(path)
    height, width = src.raw_rgb.shape[:2]
    top, left = _place(h, height, _TOP.value, "top"), _place(w, width, _LEFT.value, "left")
    wt, wl = 0, 0
    what = f"{path.name} ({width}x{height}), crop {w}x{h} at row {top}, column {left}"
  pair = dataset.render_pair(src, isp, None, work / "render")
  rt, rl, rh, rw = pair.crop  # the rendered rectangle in the source's raw-RGB grid
  dy, dx = top - wt - rt, left - wl - rl
  if dy < 0 or dx < 0 or dy + h > rh or dx + w > rw:
    raise InputError(f"{isp} rendered rows {rt}..{rt + rh} / columns {rl}..{rl + rw} of the "
                     f"window: the crop falls outside; move it away from the image border")
  raw_crop = pair.raw[dy:dy + h, dx:dx + w]
  srgb_crop = pair.srgb[dy:dy + h, dx:dx + w]
  tool = pair.isp.get("tool")
  who = f"{tool} {pair.isp.get('version', '')} style `{pair.isp.get('style')}`" if tool else "the project's ISP"
  return raw_crop, srgb_crop, f"{what}, sRGB by {who}"


def _write_pair(raw, srgb, work: pathlib.Path, quality: int):
  """Writes the crop as files (raw 16-bit TIFF, sRGB PNG/JPEG) and returns its ImagePair."""
  from r2lcm_jax.data.nus import ImagePair
  from r2lcm_jax.io import images

  folder = work / "crop"
  folder.mkdir(parents=True, exist_ok=True)
  images.write_tiff16(folder / "raw.tif", raw)
  srgb_path = folder / ("srgb.png" if quality == 0 else "srgb.jpg")
  if quality == 0:
    images.write_png(srgb_path, srgb)
  else:
    images.write_jpeg(srgb_path, srgb, quality)
  return ImagePair(str(folder / "raw.tif"), str(srgb_path), "crop", "overfit")


# --- steps 3-4: training runs ------------------------------------------------------------

def _distortion_only(loss_fn):
  """The probe's loss: the project's loss minus its bpp term (rate weight 0)."""

  def probe_loss(params, batch, rngs, training):
    loss, metrics = loss_fn(params, batch, rngs, training)
    loss = loss - metrics["bpp"]
    return loss, {**metrics, "loss": loss}

  return probe_loss


def _codec_points(cfg, params, x, srgb_u8, tables, settings, folder: pathlib.Path, tag: str):
  """Real-codec measurements, one per rate setting (`app.evaluation.RateSetting`):
  [{"setting", "drop_steps", "gamma", "bytes", "bpp", "psnr", "ssim"}]."""
  import jax

  from r2lcm_jax.codec import codec
  from r2lcm_jax.codec.runner import ModelRunner
  from r2lcm_jax.io import images
  from r2lcm_jax.metrics import score_pair

  runner = ModelRunner(cfg, jax.device_get(params), tables.scale_table)
  gate = codec.gate_for(runner, _GATE.value)
  h, w = x.shape[:2]
  out = []
  for s in settings:
    enc = codec.compress_image(x, srgb_u8, runner, tables, drop_steps=s.drop_steps,
                               gamma=s.gamma, gate=gate)
    path = folder / f"{tag}_{s.tag}.r2lcm"
    images.atomic_write_bytes(path, enc.data)
    data = path.read_bytes()
    dec = codec.decompress_image(srgb_u8, data, runner, tables)
    psnr, ssim = score_pair(x, dec.raw)
    out.append({"setting": s.tag, "drop_steps": s.drop_steps, "gamma": s.gamma,
                "bytes": len(data), "bpp": 8.0 * len(data) / (h * w), "psnr": psnr, "ssim": ssim})
  return out


_TRAINED = "d0_g0"  # the rate setting the model was trained at: on the eval rows


def _train_run(name: str, loss_fn, init_params, config, lr: float, batch, eval_batch, *,
               steps: int, codec_every: int, end_settings: list, codec_args: dict,
               log, on_eval) -> dict:
  """One training run on the crop; its curve rows and the numbers the verdict needs.

  `on_eval(rows)` is called with the rows so far after every eval point (progress files).
  """
  import jax
  import jax.numpy as jnp
  import numpy as np

  from r2lcm_jax.app.evaluation import RateSetting
  from r2lcm_jax.train import loop, optim, schedule, state, step

  base_key = jax.random.key(int(_SEED.value))
  tx = optim.create_optimizer(**{**dict(config.optim), "learning_rate": lr})
  sched = schedule.create_plateau_schedule(**config.schedule)
  params = init_params(jax.random.fold_in(base_key, loop.INIT))
  train_state = jax.jit(lambda p: state.create_train_state(p, tx, sched))(params)
  skip = config.optim.get("nan_policy", "skip_step") == "skip_step"  # as `train.loop`
  train_step = jax.jit(step.make_train_step(loss_fn, tx, base_key, skip_nonfinite=skip),
                       donate_argnums=0)
  eval_step = jax.jit(step.make_eval_step(loss_fn, base_key))
  base_lr = jnp.float32(lr)
  rows: list[dict] = []
  nonfinite, pending = 0, []
  t0 = time.perf_counter()

  def evaluate(at: int, settings: list) -> None:
    nonlocal nonfinite, pending
    row = {"run": name, "step": at}
    if pending:
      got = jax.device_get(pending)
      nonfinite += sum(1 for m in got if not int(m["finite"]))
      ok = [m for m in got if int(m["finite"])]
      for k in ("loss", "bpp", "psnr"):
        row[f"train_{k}"] = float(np.mean([float(m[k]) for m in ok])) if ok else float("nan")
      pending = []
    ev = jax.device_get(eval_step(train_state.params, eval_batch, jnp.int32(0)))
    row.update(eval_loss=float(ev["loss"]), eval_bpp=float(ev["bpp"]), eval_psnr=float(ev["psnr"]))
    msg = (f"{name} step {at}/{steps}: eval {row['eval_psnr']:.2f} dB @ {row['eval_bpp']:.3f} bpp "
           f"(loss {row['eval_loss']:.4g})")
    if "train_loss" in row:
      msg += f"; train loss {row['train_loss']:.4g}, {row['train_bpp']:.3f} bpp"
    extra = []
    if settings:
      points = _codec_points(cfg=codec_args["cfg"], params=train_state.params,
                             settings=settings, tag=f"{name}_step{at}",
                             **{k: v for k, v in codec_args.items() if k != "cfg"})
      for p in points:  # the trained setting on the eval row, the others on rows of their own
        r = row if p["setting"] == _TRAINED else {"run": name, "step": at}
        r.update(codec_setting=p["setting"], codec_bytes=p["bytes"], codec_bpp=p["bpp"],
                 codec_psnr=p["psnr"], codec_ssim=p["ssim"])
        if r is not row:
          extra.append(r)
        msg += f"; codec {p['setting']} {p['psnr']:.2f} dB @ {p['bpp']:.3f} bpp"
    rows.append(row)
    rows.extend(extra)
    log(f"{msg} [{time.perf_counter() - t0:.0f} s]")
    on_eval(rows)

  evaluate(0, [])
  for s in range(1, steps + 1):
    train_state, metrics = train_step(train_state, batch, base_lr)
    pending.append(metrics)
    if s == steps:
      evaluate(s, end_settings)
    elif s % _EVAL_EVERY.value == 0:
      evaluate(s, [RateSetting()] if codec_every and s % codec_every == 0 else [])
  seconds = time.perf_counter() - t0
  evals = [r for r in rows if "eval_loss" in r]
  trains = [r for r in evals if "train_loss" in r]
  last = evals[-1]
  return {
    "name": name, "rows": rows, "seconds": seconds, "steps": steps, "nonfinite": nonfinite,
    "train_loss_first": trains[0]["train_loss"], "train_loss_last": trains[-1]["train_loss"],
    "eval_steps": [r["step"] for r in evals], "eval_loss": [r["eval_loss"] for r in evals],
    "eval_psnr": [r["eval_psnr"] for r in evals], "eval_psnr_final": last["eval_psnr"],
    "eval_bpp_final": last["eval_bpp"],
    "codec_psnr_final": last.get("codec_psnr"),
    "codec_points": [{"setting": r["codec_setting"], "bytes": r["codec_bytes"],
                      "bpp": r["codec_bpp"], "psnr": r["codec_psnr"], "ssim": r["codec_ssim"]}
                     for r in rows if r["step"] == steps and "codec_psnr" in r],
  }


# --- step 5 and outputs ------------------------------------------------------------------

_CSV_FIELDS = ["run", "step", "train_loss", "train_bpp", "train_psnr", "eval_loss", "eval_bpp",
               "eval_psnr", "codec_setting", "codec_bytes", "codec_bpp", "codec_psnr",
               "codec_ssim"]


def _write_csv(path: pathlib.Path, rows: list[dict]) -> None:
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
    writer.writeheader()
    for r in rows:
      writer.writerow({k: (f"{r[k]:.6g}" if isinstance(r.get(k), float) else r.get(k, ""))
                       for k in _CSV_FIELDS})


def _plot(path: pathlib.Path, runs: list[dict], sam: list[dict], sam_ref: int,
          fitted: dict, title: str) -> None:
  """PSNR and bpp against steps; SAM and the fitted map as horizontal lines."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, (ax_p, ax_b) = plt.subplots(1, 2, figsize=(13, 4.8))
  styles = {"rate": ("tab:blue", "-"), "distortion_only": ("tab:purple", "--")}
  for run in runs:
    colour, ls = styles[run["name"]]
    ev = [r for r in run["rows"] if "eval_psnr" in r]
    cd = [r for r in run["rows"] if r.get("codec_setting") == _TRAINED]
    label = "rate-constrained" if run["name"] == "rate" else "distortion-only probe"
    ax_p.plot([r["step"] for r in ev], [r["eval_psnr"] for r in ev], ls, color=colour,
              label=f"{label}: eval forward")
    ax_p.plot([r["step"] for r in cd], [r["codec_psnr"] for r in cd], "o", color=colour,
              label=f"{label}: real codec (trained setting)")
    ax_b.plot([r["step"] for r in ev], [r["eval_bpp"] for r in ev], ls, color=colour,
              label=f"{label}: eval estimate")
    tr = [r for r in ev if "train_bpp" in r]
    ax_b.plot([r["step"] for r in tr], [r["train_bpp"] for r in tr], ls, color=colour, alpha=0.35,
              label=f"{label}: train (noisy) estimate")
    ax_b.plot([r["step"] for r in cd], [r["codec_bpp"] for r in cd], "o", color=colour,
              label=f"{label}: real codec (trained setting)")
    for p in (p for p in run["codec_points"] if p["setting"] != _TRAINED):  # the end's sweep
      for ax, v in ((ax_p, p["psnr"]), (ax_b, p["bpp"])):
        ax.plot([run["steps"]], [v], "x", color=colour)
        ax.annotate(p["setting"], (run["steps"], v), fontsize=6, xytext=(3, 0),
                    textcoords="offset points")
  for s in sam:
    ref = s["step"] == sam_ref
    kw = dict(color="tab:red", lw=1.6 if ref else 0.8, ls="-" if ref else ":")
    ax_p.axhline(s["psnr"], **kw, label=f"SAM step {s['step']} ({s['bpp']:.2f} bpp)")
    ax_b.axhline(s["bpp"], **kw, label=f"SAM step {s['step']}")
  ax_p.axhline(fitted["psnr"], color="tab:green", lw=1.2, label="fitted map alone")
  ax_b.axhline(fitted["bpp"], color="tab:green", lw=1.2, label="fitted map alone")
  ax_p.set(xlabel="step", ylabel="PSNR of the raw-RGB (dB)", title="PSNR on the trained crop")
  ax_b.set(xlabel="step", ylabel="metadata bpp", yscale="log", title="rate")
  lo = min([fitted["psnr"], *(s["psnr"] for s in sam)]) - 8
  ax_p.set_ylim(bottom=lo)
  ax_p.legend(fontsize=7, loc="lower right")
  ax_b.legend(fontsize=7, loc="upper right")
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _fmt(v, nd=2) -> str:
  return "-" if v is None or v == "" else f"{v:.{nd}f}"


def _tables(runs: list[dict], baselines: list[dict], verdict: dict) -> list[str]:
  """Markdown: the curve at the eval points with a codec measurement, the end points, the
  baselines, the criteria."""
  lines = ["| run | step | train loss | eval PSNR (dB) | eval bpp | codec PSNR (dB) | codec bpp |",
           "|---|---|---|---|---|---|---|"]
  for run in runs:
    for r in run["rows"]:
      if "eval_psnr" in r and ("codec_psnr" in r or r["step"] == 0):
        lines.append(f"| {run['name']} | {r['step']} | {_fmt(r.get('train_loss'), 1)} | "
                     f"{r['eval_psnr']:.2f} | {r['eval_bpp']:.3f} | {_fmt(r.get('codec_psnr'))} | "
                     f"{_fmt(r.get('codec_bpp'), 3)} |")
  lines += ["", "| method (real files) | PSNR (dB) | bpp |", "|---|---|---|"]
  for run in runs:
    for p in run["codec_points"]:
      lines.append(f"| R2LCM {run['name']}, step {run['steps']}, {p['setting']} | "
                   f"{p['psnr']:.2f} | {p['bpp']:.3f} |")
  for b in baselines:
    lines.append(f"| {b['method']} {b['setting']} | {b['psnr']:.2f} | {b['bpp']:.3f} |")
  lines += ["", "| criterion | run | value | threshold | fired |", "|---|---|---|---|---|"]
  for run_name, ind in (("rate", verdict["indicators"]), ("probe", verdict["probe_indicators"])):
    for k, v in ind.items():
      lines.append(f"| {k} | {run_name} | {v['value']:.4g} | {v['threshold']:g} | "
                   f"{'yes' if v['fired'] else 'no'} |")
  t = verdict["still_improving"]
  lines.append(f"| eval loss still falling (from step {t['from_step']}) | rate | {t['value']:.4g} | "
               f"{t['threshold']:g} | {'yes' if t['improving'] else 'no'} |")
  lines += ["", f"**Verdict: `{verdict['verdict']}`** — {verdict['reason']}."]
  return lines


def _hardware() -> str:
  import jax

  devs = jax.devices()
  return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores visible, "
          f"JAX {jax.__version__} on {devs[0].platform.upper()} ({len(devs)} x "
          f"{devs[0].device_kind})")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  t_start = time.perf_counter()
  args = sys.argv[3:] if sys.argv[1:3] == ["bench", "overfit"] else argv[1:]
  command = " ".join(["r2lcm bench overfit", *(shlex.quote(a) for a in args)])
  size = _crop_size(_CROP.value)
  sam_steps = _ints(_SAM_STEPS.value, "sam_steps")
  if _SAM_REF.value not in sam_steps:
    raise ConfigError(f"--sam_reference={_SAM_REF.value} is not among --sam_steps={_SAM_STEPS.value}")
  image = _image_path(_IMAGE.value)
  config = _CONFIG.value
  model_kwargs = dict(config.model)
  if _BASE.value:
    model_kwargs["base"] = _BASE.value
  if model_kwargs.get("base", "none") == "isp_inverse":
    raise ConfigError("base 'isp_inverse' needs the project ISP's parameters; use --base fitted "
                      "or none (sRGB from any ISP)")
  lr = _LR.value or float(config.optim.learning_rate)
  if _ISP.value != "project":
    from r2lcm_jax.isp import external

    external.get_style(_ISP.value)  # ConfigError listing the valid names, before any work

  import numpy as np
  from tqdm import tqdm

  from r2lcm_jax.baselines.fitted_map import FittedMapBaseline
  from r2lcm_jax.baselines.sam import SamBaseline
  from r2lcm_jax.benchmark import runs as bench_runs
  from r2lcm_jax.codec.checkpoint import resolve_checkpoint
  from r2lcm_jax.data.nus import load_pair
  from r2lcm_jax.entropy.tables import build_gaussian_tables
  from r2lcm_jax.io import images
  from r2lcm_jax.models import isp_base
  from r2lcm_jax.models.config import R2LCMConfig
  from r2lcm_jax.train import task

  diagnosis = _load_sibling("overfit_diagnosis")
  cfg = R2LCMConfig(**model_kwargs)
  end_settings = _end_settings(_END_GAMMAS.value, _END_DROPS.value, cfg.num_steps)

  def log(message: str) -> None:
    tqdm.write(message, file=sys.stderr)

  out = pathlib.Path(_OUT.value)
  if out.exists() and not out.is_dir():
    raise ConfigError(f"--out={out}: exists and is not a folder")
  work = pathlib.Path(_WORK.value) if _WORK.value else pathlib.Path(
    tempfile.mkdtemp(prefix="r2lcm-bench-overfit-"))
  work.mkdir(parents=True, exist_ok=True)
  try:
    # 1. the crop, as files
    raw, srgb, what = _render_crop(image, _ISP.value, size, work)
    pair = _write_pair(raw, srgb, work, _JPEG.value)
    x, s = load_pair(pair)  # what every method below sees
    srgb_u8 = images.read_image(pair.srgb_path)
    fmt = "PNG" if _JPEG.value == 0 else f"JPEG q{_JPEG.value}"
    log(f"crop: {what}, stored as {fmt}")

    # 2. baselines through their own files
    specs = [bench_runs.MethodSpec("SAM", f"step{k}", lambda p, k=k: SamBaseline(step=k))
             for k in sam_steps]
    fitted = FittedMapBaseline()
    specs.append(bench_runs.MethodSpec("fitted map", f"K{fitted.knots}", lambda p: fitted))
    rows = bench_runs.run_baselines([pair], specs, "crop", work / "metadata", progress=False)
    baselines = [{"method": r.method, "setting": r.setting, "psnr": r.psnr, "ssim": r.ssim,
                  "bpp": r.bpp_metadata, "bytes": r.bytes} for r in rows]
    sam = [{"step": k, **next(b for b in baselines if b["setting"] == f"step{k}")}
           for k in sam_steps]
    sam_ref = next(p for p in sam if p["step"] == _SAM_REF.value)
    fitted_row = next(b for b in baselines if b["method"] == "fitted map")
    for b in baselines:
      log(f"{b['method']} {b['setting']}: {b['psnr']:.2f} dB @ {b['bpp']:.3f} bpp")

    # 3-4. the training runs
    if isp_base.needs_fit(cfg):
      base = isp_base.base_image(cfg, s, None, isp_base.fit_base(cfg, s, x))
    else:
      base = None
    target = isp_base.to_residual(cfg, x, base)
    views = [(target, s)]
    if _FLIPS.value:
      views += [(np.ascontiguousarray(a[::-1]), np.ascontiguousarray(b[::-1])) for a, b in views]
      views += [(np.ascontiguousarray(a[:, ::-1]), np.ascontiguousarray(b[:, ::-1]))
                for a, b in views]
    batch = {"raw": np.stack([v[0] for v in views]), "srgb": np.stack([v[1] for v in views])}
    eval_batch = {"raw": target[None], "srgb": s[None]}
    init_params, loss_fn = task.create_model_and_loss(
      model_kwargs, size[0], lmbda=_LMBDA.value, distortion=str(config.loss.distortion))
    if _INIT.value:
      init_params = task.warm_start(init_params, str(resolve_checkpoint(_INIT.value)))
    (work / "bitstreams").mkdir(exist_ok=True)
    codec_args = {"cfg": cfg, "x": x, "srgb_u8": srgb_u8, "tables": build_gaussian_tables(),
                  "folder": work / "bitstreams"}
    out.mkdir(parents=True, exist_ok=True)
    done: list[dict] = []  # rows of finished runs, for the progress file

    def progress(rows: list[dict]) -> None:
      _write_csv(out / "curve.csv", done + rows)

    common = dict(steps=_STEPS.value, codec_args=codec_args, log=log, on_eval=progress)
    runs = [_train_run("rate", loss_fn, init_params, config, lr, batch, eval_batch,
                       codec_every=_CODEC_EVERY.value, end_settings=end_settings, **common)]
    done += runs[0]["rows"]
    beaten = diagnosis.beats_reference(runs[0]["codec_points"], sam_ref) is not None
    if _PROBE.value == "always" or (_PROBE.value == "auto" and not beaten):
      runs.append(_train_run("distortion_only", _distortion_only(loss_fn), init_params, config,
                             lr, batch, eval_batch, codec_every=0,
                             end_settings=end_settings[:1], **common))

    # 5. verdict and outputs
    base_psnr = fitted_row["psnr"] if isp_base.has_base(cfg) else None
    verdict = diagnosis.diagnose(runs[0], sam_ref, base_psnr, runs[1] if len(runs) > 1 else None)
    wall = time.perf_counter() - t_start
    title = (f"{what}; {fmt}; base {cfg.base}, N={cfg.N}, C={cfg.latent_channels}, "
             f"T={cfg.num_steps}, lmbda {_LMBDA.value:g}, lr {lr:g}; verdict "
             f"{verdict['verdict']}")
    _write_csv(out / "curve.csv", [r for run in runs for r in run["rows"]])
    _plot(out / "curve.png", runs, sam, _SAM_REF.value, fitted_row, title)
    setup = {
      "image": _IMAGE.value, "crop": what, "srgb_format": fmt, "isp": _ISP.value,
      "model": {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                for k, v in model_kwargs.items()},
      "lmbda": _LMBDA.value, "learning_rate": lr, "optim": dict(config.optim),
      "distortion": str(config.loss.distortion), "batch": int(batch["raw"].shape[0]),
      "flips": _FLIPS.value, "init_from": _INIT.value or "fresh", "seed": _SEED.value,
      "steps": _STEPS.value, "eval_every": _EVAL_EVERY.value, "codec_every": _CODEC_EVERY.value,
      "end_settings": [s.tag for s in end_settings], "probe": _PROBE.value,
      "gate_tile": _GATE.value,
    }
    summary = {
      "command": command, "wall_s": round(wall, 1), "hardware": _hardware(),
      "xla_flags": os.environ.get("XLA_FLAGS", ""), "setup": setup,
      "baselines": baselines, "sam_reference": sam_ref,
      "runs": {r["name"]: {k: v for k, v in r.items() if k != "rows"} for r in runs},
      "thresholds": {k: getattr(diagnosis, k) for k in (
        "LOSS_DROP_MIN", "BASE_MARGIN_DB", "CODEC_GAP_DB", "NONFINITE_MAX", "TAIL_FRACTION",
        "TAIL_LOSS_DROP")},
      **verdict,
    }
    with open(out / "summary.json", "w") as f:
      json.dump(summary, f, indent=2, default=float)
    lines = ["# Overfitting one crop (`r2lcm bench overfit`)", "",
             f"Command: `{command}`", "",
             f"Hardware: {_hardware()}. Wall time {wall:.0f} s (rate-constrained run "
             f"{runs[0]['seconds']:.0f} s" + (f", probe {runs[1]['seconds']:.0f} s" if len(runs) > 1
                                              else "") + ").", "",
             f"Crop: {what}, stored as {fmt}. Model: base `{cfg.base}`, N={cfg.N}, "
             f"C={cfg.latent_channels}, T={cfg.num_steps}, coverage {cfg.coverage}; lmbda "
             f"{_LMBDA.value:g}, lr {lr:g}, batch {setup['batch']}, init {setup['init_from']}, "
             f"{_STEPS.value} steps.", "", *_tables(runs, baselines, verdict)]
    images.atomic_write_bytes(out / "summary.md", ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))
    print(json.dumps({"verdict": verdict["verdict"], "wall_s": round(wall, 1),
                      "out": _rel(out)}))
  finally:
    if not _WORK.value:
      shutil.rmtree(work, ignore_errors=True)
