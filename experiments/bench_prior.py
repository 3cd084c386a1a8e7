"""PriorRAW: train, build the prior, and the paper's Table-1 ablation on the test split.

    r2lcm bench prior --config experiments/configs/prior_any_isp.py:root=...,test_root=... \\
        --workdir runs/prior [--variants unet,prior,reliable,full] [--curve 250,500,750]
        [--unet_steps -1] [--clusters_sweep 500,1000,2000] [--group_sweep 50,100,200]
        [--sweep_references 14] [--pixel_search] [--reuse] [--json out.json]
    r2lcm bench prior --config ... --workdir runs/prior --big 4384x2920   # 12.8 MP run only

Data: the config's `data` group through `prior.stages.config_pairs` (one or several roots
separated like PATH, a name filter `match`; the test split may have its own root and
camera, e.g. third-party renders, `experiments/configs/prior_any_isp.py`).

Stages (each timed; every one resumes or is skipped):
  encoder        Algorithm 1 (`prior.stages.train_encoder_stage`; Orbax checkpoints in
                 <workdir>/encoder, a rerun resumes); skipped with --reuse when
                 encoder.msgpack exists.
  prior          Algorithm 2 over the reference set: `prior.references` images of the
                 train split (`prior.references.select_references`, 0 = all) resized to
                 `prior.reference_size` (longer side; 0 = as they are); prior.npz.
  reconstructors Table 1's rows as switches of the reconstructor (`--variants`):
                   unet      sRGB + U-Net (the same encoder-decoder, no prior input)
                   prior     + Prior RAW (assembled raw input, no gating, no non-local)
                   reliable  + Reliable Attention (no non-local fusion)
                   full      + Non-Local (the full Algorithm 3)
                 each trained with the config's reconstructor group (same steps, patches,
                 loss, learning rate) in <workdir>/reconstructor[_<variant>] (checkpoints;
                 a rerun resumes) -> model[_<variant>].msgpack. `--curve N1,N2,...` trains
                 every variant in increments (resuming from its checkpoint) and evaluates
                 it on the test split at each N: PSNR vs training steps.
  U-Net          the project's metadata-free baseline (`baselines.unet_train`, L1 loss,
                 its own architecture) for `--unet_steps` (-1: as the reconstructor;
                 0: skip); not resumable (it is fast).

Rows on the test split (full images; PSNR / SSIM of `r2lcm_jax.metrics` on raw-RGB in
[0, 1], per image then averaged; "gain-oracle PSNR" is the diagnostic of
`prior.diagnostics.gain_oracle`: the prediction after the per-image least-squares channel
gains against the ground truth, i.e. with the image's white balance / exposure given):
  pixel searching      (--pixel_search) assembled raw from every half-resolution pixel of
                       the sweep reference set
  clustered prior      assembled raw from prior.npz (Algorithm 2)
  K=..., G=...         the cluster-count / group-size sweeps (--clusters_sweep,
                       --group_sweep; one k-means per K, grouped for every G) on the
                       sweep reference set (--sweep_references, 0 = the prior's)
  the variants and the U-Net
  --bitdepth_bits B    (Table 3, on a set of experiments/make_bitdepth_set.py) the
                       zero-padding, bit-replication and interval-centre baselines
Assembled rows are computed at the embeddings' half resolution and bilinearly
up-sampled. Every row is also reported per test root (e.g. per ISP style).
`--big HxW` instead reconstructs one sRGB of that size (the first test image tiled) and
reports the time and the process's peak RSS.
"""

from __future__ import annotations

import copy
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
from r2lcm_jax.prior.bitdepth import bit_replicate, interval_centre
from r2lcm_jax.prior.compression import group_nearest
from r2lcm_jax.prior.diagnostics import gain_oracle
from r2lcm_jax.prior.inference import assemble_image, reconstruct_image
from r2lcm_jax.prior.kmeans import kmeans_inner_product
from r2lcm_jax.prior.model_file import load_model
from r2lcm_jax.prior.prior_file import load_prior, save_prior
from r2lcm_jax.prior.references import fit_reference, select_references

_CONFIG = config_flags.DEFINE_config_file("config", None, "PriorRAW config, `path.py[:args]`.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder.")
_VARIANTS = flags.DEFINE_list("variants", ["full"], "Reconstructor rows of Table 1 to train and "
                              "evaluate: unet, prior, reliable, full (empty: none).")
_CURVE = flags.DEFINE_list("curve", [], "Step counts at which every variant is also evaluated.")
_UNET = flags.DEFINE_integer("unet_steps", -1, "U-Net baseline steps (-1: as the reconstructor; 0: skip).")
_CLUSTERS = flags.DEFINE_list("clusters_sweep", [], "Cluster counts of the sweep rows.")
_GROUPS = flags.DEFINE_list("group_sweep", [], "Group sizes of the sweep rows.")
_SWEEP_REFS = flags.DEFINE_integer("sweep_references", 0, "Reference images of the pixel-search "
                                   "and sweep rows (0: the prior's reference set).")
_SEARCH = flags.DEFINE_bool("pixel_search", False, "Add the pixel-searching row.")
_BITS = flags.DEFINE_integer("bitdepth_bits", 0, "Table 3: the data is a bit-depth recovery set "
                             "(experiments/make_bitdepth_set.py) of this many input bits; adds "
                             "the zero-padding, bit-replication and interval-centre rows.")
_REUSE = flags.DEFINE_bool("reuse", False, "Reuse trained files already in the workdir.")
_JSON = flags.DEFINE_string("json", None, "Write the per-image numbers here.")
_BIG = flags.DEFINE_string("big", None, "Only reconstruct one HxW image (time, peak RSS).")

# Table 1's reconstructor rows: (use_prior, reliable, nonlocal_fusion).
VARIANTS = {"unet": (False, False, False), "prior": (True, False, False),
            "reliable": (True, True, False), "full": (True, True, True)}
ROW_NAMES = {"unet": "sRGB + U-Net (reconstructor, no prior)", "prior": "+ Prior RAW",
             "reliable": "+ Reliable Attention", "full": "+ Non-Local (full PriorRAW)"}


def _timed(fn, *args, **kwargs):
  t0 = time.perf_counter()
  out = fn(*args, **kwargs)
  return out, time.perf_counter() - t0


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _score(pred: np.ndarray, raw: np.ndarray) -> dict[str, float]:
  pred = np.clip(pred, 0, 1)
  x, y = jnp.asarray(pred[None]), jnp.asarray(raw[None])
  oracle, gains = gain_oracle(pred, raw)
  return {"psnr": float(metrics.psnr(x, y)[0]), "ssim": float(metrics.ssim(x, y)[0]),
          "gain_oracle_psnr": oracle, "gains": [float(g) for g in gains]}


def _group(pair) -> str:
  """The test root of a pair (`<root>/<camera>/<split>/raw/<name>`): e.g. the ISP style."""
  return pathlib.Path(pair.raw_path).parents[3].name


def _evaluate(fn, test: list, loaded: list) -> list[dict]:
  rows = []
  for pair, (raw, srgb) in zip(test, loaded, strict=True):
    pred, secs = _timed(fn, srgb)
    rows.append({"image": pair.name, "group": _group(pair), **_score(pred, raw), "seconds": secs})
  return rows


def _variant_config(config, variant: str, steps: int):
  c = copy.deepcopy(config)
  use_prior, reliable, nonlocal_fusion = VARIANTS[variant]
  c.reconstructor.update(dict(use_prior=use_prior, reliable=reliable,
                              nonlocal_fusion=nonlocal_fusion, num_steps=steps))
  return c


def _variant_files(variant: str) -> tuple[str, str]:
  """(training folder, model file) of a variant; the full model keeps the stage defaults."""
  if variant == "full":
    return "reconstructor", "model.msgpack"
  return f"reconstructor_{variant}", f"model_{variant}.msgpack"


def _load_references(pairs: list, size: int):
  return (fit_reference(*load_pair(p), size) for p in pairs)


def _big(config, work: pathlib.Path, size: str) -> None:
  h, w = (int(v) for v in size.lower().split("x"))
  model = load_model(work / "model.msgpack", need_reconstructor=True)
  prior = load_prior(work / "prior.npz")
  test = stages.config_pairs(config, "test")
  _, srgb = load_pair(test[0])
  reps = (-(-h // srgb.shape[0]), -(-w // srgb.shape[1]), 1)
  big = np.ascontiguousarray(np.tile(srgb, reps)[:h, :w])
  print(f"input {w}x{h} ({h * w / 1e6:.1f} MP), prior {len(prior)} entries; "
        f"peak RSS before: {_peak_rss_gib():.2f} GiB")
  out, secs = _timed(reconstruct_image, model, prior, big)
  print(f"reconstructed {out.shape[1]}x{out.shape[0]} in {secs:.1f} s; "
        f"peak RSS {_peak_rss_gib():.2f} GiB; finite={bool(np.all(np.isfinite(out)))}")


def _ints(values: list[str], name: str) -> list[int]:
  try:
    out = [int(v) for v in values if v]
  except ValueError as e:
    raise ConfigError(f"--{name}: expected integers, got {','.join(values)}") from e
  if any(v < 1 for v in out):
    raise ConfigError(f"--{name}: values must be >= 1, got {out}")
  return out


def _summary(rows: dict[str, list[dict]]) -> str:
  lines = ["| method | PSNR (dB) | SSIM | gain-oracle PSNR (dB) | s / image |", "|---|---|---|---|---|"]
  for name, rs in rows.items():
    m = {k: float(np.mean([r[k] for r in rs])) for k in ("psnr", "ssim", "gain_oracle_psnr",
                                                           "seconds")}
    lines.append(f"| {name} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['gain_oracle_psnr']:.2f} "
                 f"| {m['seconds']:.2f} |")
  groups = sorted({r["group"] for rs in rows.values() for r in rs})
  lines += ["", "| method | " + " | ".join(groups) + " |", "|---" * (len(groups) + 1) + "|"]
  for name, rs in rows.items():
    by = [np.mean([r["psnr"] for r in rs if r["group"] == g]) for g in groups]
    lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in by) + " |")
  return "\n".join(lines)


def _sweeps(encoder, ref_pairs: list, size: int, relight: str, test: list, loaded: list,
            clusters: list[int], groups: list[int], default_group: int, iterations: int,
            seed: int, search: bool, rows: dict, times: dict) -> dict:
  (refs, _), times["sweep reference encoding"] = _timed(
    stages.encode_reference_images, encoder, _load_references(ref_pairs, size), relight)
  info = {"images": len(ref_pairs), "pixels": int(refs[0].shape[0])}
  if search:
    rows[f"pixel searching ({info['pixels']} px)"] = _evaluate(
      lambda s: assemble_image(encoder, s, refs[0], refs[2]), test, loaded)
  groups = groups or [default_group]
  for k in clusters:
    t0 = time.perf_counter()
    _, assign, score = kmeans_inner_product(refs[0], k, seed=seed, iterations=iterations)
    assign, score = np.asarray(assign), np.asarray(score)
    times[f"k-means K={k}"] = time.perf_counter() - t0
    for g in groups:
      f, _, r = group_nearest(assign, score, k, g, refs[0], refs[1], refs[2])
      rows[f"clustered prior K={k}, G={g} ({len(f)} entries)"] = _evaluate(
        lambda s, f=f, r=r: assemble_image(encoder, s, f, r), test, loaded)
  return info


def main(argv: list[str]) -> None:
  del argv
  config, work = _CONFIG.value, _WORKDIR.value
  if config is None or not work:
    raise ConfigError("--config and --workdir are required")
  work = pathlib.Path(work)
  if _BIG.value:
    _big(config, work, _BIG.value)
    return
  variants = [v for v in _VARIANTS.value if v]
  unknown = sorted(set(variants) - set(VARIANTS))
  if unknown:
    raise ConfigError(f"--variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
  final = int(config.reconstructor.num_steps)
  curve = sorted({n for n in _ints(_CURVE.value, "curve") if n < final})
  clusters, groups = _ints(_CLUSTERS.value, "clusters_sweep"), _ints(_GROUPS.value, "group_sweep")
  if groups and not clusters:
    clusters = [int(config.prior.clusters)]
  times: dict[str, float] = {}
  enc_path, prior_path = work / "encoder.msgpack", work / "prior.npz"
  train = stages.config_pairs(config, "train")
  val = stages.config_pairs(config, "val")
  test = stages.config_pairs(config, "test")
  loaded = [load_pair(p) for p in test]
  p = config.prior
  ref_size = int(p.get("reference_size", 0))
  ref_pairs = select_references(train, int(p.get("references", 0)))
  relight = str(config.get("relight", ""))
  if not (_REUSE.value and enc_path.exists()):
    _, times["encoder training"] = _timed(stages.train_encoder_stage, config, work, train=train,
                                          val=val)
  encoder = load_model(enc_path)
  if not (_REUSE.value and prior_path.exists()):
    refs = _load_references(ref_pairs, ref_size)
    prior, times["prior build"] = _timed(stages.build_prior_from_arrays, encoder, refs,
                                         relight=relight,
                                         num_clusters=int(p.clusters),
                                         group_size=int(p.group_size),
                                         iterations=int(p.iterations), seed=int(config.seed))
    prior.info["images"] = [q.name for q in ref_pairs]
    prior.info["reference_size"] = ref_size
    save_prior(prior_path, prior)
  prior = load_prior(prior_path)
  rows: dict[str, list[dict]] = {}
  curves: dict[str, dict[int, dict]] = {}
  if _BITS.value:
    b = _BITS.value
    code = lambda s: np.round(np.clip(s, 0, 1) * 255).astype(np.uint8)  # noqa: E731
    rows[f"{b}-bit input, zero padding"] = _evaluate(lambda s: s, test, loaded)
    rows[f"{b}-bit input, bit replication"] = _evaluate(
      lambda s: bit_replicate(code(s), b).astype(np.float32) / 255, test, loaded)
    rows[f"{b}-bit input, interval centre"] = _evaluate(
      lambda s: interval_centre(code(s), b), test, loaded)
  rows["clustered prior (prior.npz)"] = _evaluate(
    lambda s: assemble_image(encoder, s, prior.features, prior.raw), test, loaded)
  for v in variants:
    folder, model_file = _variant_files(v)
    done = _REUSE.value and (work / model_file).exists()
    for n in [] if done else [*curve, final]:
      _, secs = _timed(stages.train_reconstructor_stage, _variant_config(config, v, n), work,
                       enc_path, prior_path, train=train, val=val, folder=folder,
                       model_file=model_file)
      times[f"{v} training to {n}"] = secs
      if n < final:
        model = load_model(work / model_file, need_reconstructor=True)
        rs = _evaluate(lambda s, m=model: reconstruct_image(m, prior, s), test, loaded)
        curves.setdefault(v, {})[n] = {k: float(np.mean([r[k] for r in rs]))
                                       for k in ("psnr", "ssim", "gain_oracle_psnr")}
    model = load_model(work / model_file, need_reconstructor=True)
    rows[ROW_NAMES[v]] = _evaluate(lambda s, m=model: reconstruct_image(m, prior, s), test, loaded)
    curves.setdefault(v, {})[final] = {k: float(np.mean([r[k] for r in rows[ROW_NAMES[v]]]))
                                       for k in ("psnr", "ssim", "gain_oracle_psnr")}
  unet_steps = final if _UNET.value < 0 else _UNET.value
  if unet_steps > 0:
    unet_path = work / "unet.msgpack"
    if not (_REUSE.value and unet_path.exists()):
      r = config.reconstructor
      res, times["U-Net training"] = _timed(
        train_unet, train, steps=unet_steps, batch_size=int(r.batch_size),
        patch_size=int(r.patch_size), learning_rate=float(r.learning_rate), seed=int(config.seed))
      save_params(unet_path, res.model, res.params)
    unet = UNetBaseline(*load_params(unet_path))
    rows[f"U-Net baseline (baselines.unet, L1, {unet_steps} steps)"] = _evaluate(
      unet.reconstruct, test, loaded)
  sweep = None
  if clusters or _SEARCH.value:
    sweep_pairs = select_references(train, _SWEEP_REFS.value) if _SWEEP_REFS.value else ref_pairs
    sweep = _sweeps(encoder, sweep_pairs, ref_size, relight, test, loaded, clusters, groups,
                    int(p.group_size), int(p.iterations), int(config.seed), _SEARCH.value,
                    rows, times)
  print(f"train {len(train)} images, references {len(ref_pairs)} images (size {ref_size or 'as is'}),"
        f" prior {len(prior)} entries {prior.info.get('reference_pixels')} px, test {len(test)} "
        f"images, sweep references {sweep}")
  print("\n" + _summary(rows))
  if curves:
    print("\nPSNR (dB) / gain-oracle PSNR vs reconstructor steps:")
    for v, c in curves.items():
      print(f"  {v}: " + ", ".join(f"{n}: {m['psnr']:.2f} / {m['gain_oracle_psnr']:.2f}"
                                   for n, m in sorted(c.items())))
  print("stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
  print(f"peak RSS {_peak_rss_gib():.2f} GiB")
  if _JSON.value:
    pathlib.Path(_JSON.value).write_text(json.dumps(
      {"rows": rows, "curves": curves, "seconds": times, "prior": prior.info,
       "sweep_references": sweep}, indent=1))
