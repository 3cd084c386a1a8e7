"""`r2lcm bench rd`: rate-distortion benchmark of R2LCM and the baselines on real RAWs.

    .venv/bin/r2lcm bench rd --out DIR [--quick] [--checkpoint CKPT] [--data ../shared/data/real]
        [--work DIR] [--variants png,q90,q50,q10] [--crop HxW] [--cameras imx135,gopro,canon]
        [--r2lcm_config experiments/configs/rd_real.py[:args]] [--r2lcm_steps N]
        [--drop_steps 0,1,2,3] [--gammas 0.5,1,2] [--sam_steps 4,8,16,32] [--global_step 8]
        [--unet_steps N] [--unet_features F] [--max_test N] [--error_max 0.02] [--seed 0]
        [--train_variant png] [--prior_config experiments/configs/prior_small_real.py[:args]]
        [--prior_steps N]

Steps (one command, seeded):
1. Split the real RAWs by the fixed rule of `r2lcm_jax/benchmark/splits.py` (INTEL-TAU
   001-014 / 015-017 / 018-020; GoPro Fusion front+back train, HERO7 test; Canon test only).
2. Render them with the project's ISP into one NUS-layout dataset per sRGB variant
   (`png` = lossless 8-bit sRGB, `qNN` = JPEG quality NN), optionally centre-cropped
   (`r2lcm_jax/benchmark/dataset.py`), in --work (default: a temporary folder, removed).
3. Train what needs training on the train split of the `png` variant (--train_variant
   picks another, e.g. q90 for a model meant for JPEGs): R2LCM with the
   project's train loop and --r2lcm_config / --r2lcm_steps (skipped with --checkpoint),
   the U-Net de-rendering baseline with `baselines.unet_train` (--unet_steps), and,
   only when --prior_config is given, PriorRAW on the same train pairs as the U-Net
   (validation: the val split of the same variants) with the stages of `prior.stages`:
   contrastive encoder, prior compression, reconstructor (--prior_steps overrides the
   steps of both training stages); its files (encoder.msgpack, prior.npz, model.msgpack
   and the training folders) go to <work>/prior/.
4. Evaluate on the test split of every variant, through real files: R2LCM over
   drop_steps (gamma 0) and gamma (drop 0) with real `.r2lcm` bitstreams; SAM at every
   --sam_steps; the global colour mapping at --global_step; the naive inverse ISP, the
   U-Net and PriorRAW (`baselines.prior_raw`), all three 0 bpp.
5. Write into --out: report.md (tables, BD-rate of R2LCM vs SAM, the issue's targets,
   budget, command, hardware), results.csv (every measurement), rd_<variant>.png (PSNR
   vs metadata bpp per camera and for all test images), error_maps/*.png (first variant,
   first test image of each camera, every method), r2lcm_checkpoint/ when R2LCM was trained.

--quick: a CPU smoke run of about 3-4 minutes on 2 cores: 256x384 centre crops (all four
variants still fit), the committed tiny checkpoint tests/fixtures/tiny_real_checkpoint (no
R2LCM training), drop_steps 0..3 and gamma 1, SAM steps 4/8/16/32, 150 U-Net steps of
width 8, no PriorRAW (unless --prior_config is given). Flags given explicitly override
the quick values (e.g. `--variants png,q50` for a shorter run). The full run (no --quick)
is meant for a GPU.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import platform
import shlex
import shutil
import sys
import tempfile
import time

from absl import flags, logging

from r2lcm_jax.cli.flag_checks import define_gate_tile
from r2lcm_jax.errors import ConfigError

_REPO = pathlib.Path(__file__).resolve().parents[1]
_FIXTURE = _REPO / "tests" / "fixtures" / "tiny_real_checkpoint"

_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder (inteltau/, gopro/, canon/).")
_OUT = flags.DEFINE_string("out", None, "Output folder for the report, plots and error maps.")
_WORK = flags.DEFINE_string("work", None, "Folder for renders, bitstreams and training runs "
                            "(kept); default: a temporary folder, removed at the end.")
_QUICK = flags.DEFINE_bool("quick", False, "CPU smoke run (see the module doc).")
_CKPT = flags.DEFINE_string("checkpoint", None, "Existing codec checkpoint: skip R2LCM training.")
_VARIANTS = flags.DEFINE_string("variants", "png,q90,q50,q10", "sRGB variants: png and/or qNN.")
_CROP = flags.DEFINE_string("crop", "", "Centre crop HxW of every larger image ('' = full frames).")
_CAMERAS = flags.DEFINE_string("cameras", "imx135,gopro,canon", "Cameras to include.")
_R2LCM_CONFIG = flags.DEFINE_string("r2lcm_config", "experiments/configs/rd_real.py",
                                    "Training config path[:args] for R2LCM.")
_R2LCM_STEPS = flags.DEFINE_integer("r2lcm_steps", 0, "R2LCM training steps (0: the config's).")
_DROPS = flags.DEFINE_string("drop_steps", "0,1,2,3", "R2LCM drop_steps values (gamma 0); "
                             "values >= the model's T are skipped.")
_GAMMAS = flags.DEFINE_string("gammas", "0.5,1,2", "R2LCM gamma values (drop_steps 0).")
_SAM_STEPS = flags.DEFINE_string("sam_steps", "4,8,16,32", "SAM grid steps.")
_GLOBAL_STEP = flags.DEFINE_integer("global_step", 8, "Grid step of the global colour mapping.")
_UNET_STEPS = flags.DEFINE_integer("unet_steps", 3000, "U-Net training steps (0: no U-Net).")
_UNET_FEATURES = flags.DEFINE_integer("unet_features", 16, "U-Net width.")
_UNET_BATCH = flags.DEFINE_integer("unet_batch", 8, "U-Net batch size (64x64 patches).")
_MAX_TEST = flags.DEFINE_integer("max_test", 0, "At most this many test images per camera (0: all).")
_ERROR_MAX = flags.DEFINE_float("error_max", 0.02, "Top of the error-map colour scale.")
_TRAIN_VARIANT = flags.DEFINE_string(
  "train_variant", "png", "sRGB variant(s), comma-separated, whose train splits R2LCM and "
  "the U-Net learn from (several: their union, as the paper samples the JPEG quality).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the U-Net (R2LCM: the config's seed).")
_PRIOR_CONFIG = flags.DEFINE_string(
  "prior_config", "", "PriorRAW config path[:args] (e.g. experiments/configs/"
  "prior_small_real.py:clusters=2000; its data group is ignored: PriorRAW trains on the "
  "U-Net's train pairs); '' = PriorRAW not run.")
_PRIOR_STEPS = flags.DEFINE_integer("prior_steps", 0, "Steps of each PriorRAW training stage "
                                    "(encoder and reconstructor; 0: the config's).")
_GATE = define_gate_tile()

# Values --quick uses for flags not given on the command line.
_QUICK_VALUES = {"crop": "256x384", "checkpoint": str(_FIXTURE), "gammas": "1",
                 "unet_steps": 150, "unet_features": 8}


def _value(flag) -> object:
  """The flag's value, or its --quick value when --quick is on and it was not given."""
  if _QUICK.value and not flags.FLAGS[flag.name].present and flag.name in _QUICK_VALUES:
    return _QUICK_VALUES[flag.name]
  return flag.value


def _ints(text: str, what: str) -> list[int]:
  try:
    return [int(v) for v in text.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"--{what}={text!r}: expected comma-separated integers") from e


def _floats(text: str, what: str) -> list[float]:
  try:
    return [float(v) for v in text.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"--{what}={text!r}: expected comma-separated numbers") from e


def _crop(text: str) -> tuple[int, int] | None:
  if not text:
    return None
  h, sep, w = text.lower().partition("x")
  if not sep or not h.isdigit() or not w.isdigit() or int(h) < 16 or int(w) < 16:
    raise ConfigError(f"--crop={text!r}: expected HxW with H, W >= 16 (e.g. 256x384)")
  return int(h), int(w)


def _config_file(spec: str, flag: str):
  """`get_config(args)` of the config file of `path.py[:args]` (path relative to the
  current folder or the repository)."""
  path, _, arg = spec.partition(":")
  p = pathlib.Path(path)
  if not p.is_absolute() and not p.is_file():
    p = _REPO / p
  if not p.is_file():
    raise ConfigError(f"--{flag}: {path} not found")
  mod_spec = importlib.util.spec_from_file_location(f"r2lcm_bench_rd_{flag}", p)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def _load_config(spec: str, roots: list[pathlib.Path], steps: int):
  """ml_collections config from `path.py[:args]` with data.root (the roots joined by
  os.pathsep) and num_steps set."""
  config = _config_file(spec, "r2lcm_config")
  config.data.root = os.pathsep.join(str(r) for r in roots)
  if steps:
    config.num_steps = steps
  return config


def _train_r2lcm(spec: str, steps: int, roots: list[pathlib.Path], work: pathlib.Path,
                 out: pathlib.Path, final_out: pathlib.Path) -> tuple[pathlib.Path, str]:
  """Trains R2LCM on the train splits of `roots`; exports a codec checkpoint into `out` (the
  staging folder that becomes `final_out`)."""
  import jax

  from r2lcm_jax.codec.checkpoint import save_checkpoint
  from r2lcm_jax.models.config import R2LCMConfig
  from r2lcm_jax.train import loop

  config = _load_config(spec, roots, steps)
  jax.config.update("jax_threefry_partitionable", True)
  t0 = time.perf_counter()
  state = loop.train_and_evaluate(config, work / "r2lcm_train")
  seconds = time.perf_counter() - t0
  ckpt_dir = out / "r2lcm_checkpoint"
  save_checkpoint(ckpt_dir, jax.device_get(state.params), R2LCMConfig(**dict(config.model)))
  m = config.model
  return ckpt_dir, (f"R2LCM trained here: config `{spec}`, {int(state.step)} steps "
                    f"(N={m.N}, C={m.latent_channels}, T={m.num_steps}, lambda {config.loss.lmbda}, "
                    f"patches {config.data.patch_size}, batch {config.data.batch_size}, base "
                    f"{m.get('base', 'none')}) on the train split of "
                    f"{', '.join(f'`{r.name}`' for r in roots)} in "
                    f"{seconds:.0f} s; checkpoint exported to `{_rel(final_out / ckpt_dir.name)}`")


def _prior_config(spec: str, steps: int):
  """The PriorRAW config of --prior_config, with --prior_steps applied to both training
  stages; ConfigError if it is not a PriorRAW config."""
  config = _config_file(spec, "prior_config")
  if not all(k in config for k in ("seed", "encoder", "prior", "reconstructor")):
    raise ConfigError(f"--prior_config={spec}: not a PriorRAW config (needs seed, encoder, "
                      "prior and reconstructor groups, as experiments/configs/prior_small_real.py)")
  if steps:
    config.encoder.num_steps = steps
    config.reconstructor.num_steps = steps
  return config


def _train_prior(spec: str, config, train: list, val: list, work: pathlib.Path):
  """Trains PriorRAW on `train` (ImagePairs; validation on `val`, may be empty) into
  `work`/prior with the stages of `prior.stages`.

  Returns:
    (PriorRawBaseline loaded from the written files, the report's budget sentence).
  """
  from r2lcm_jax.baselines.prior_raw import PriorRawBaseline
  from r2lcm_jax.prior import stages
  from r2lcm_jax.prior.prior_file import save_prior

  folder = work / "prior"
  t0 = time.perf_counter()
  encoder = stages.train_encoder_stage(config, folder, train=train, val=val)
  t1 = time.perf_counter()
  p = config.prior
  prior = stages.build_prior(encoder, train, num_clusters=int(p.clusters),
                             group_size=int(p.group_size), iterations=int(p.iterations),
                             seed=int(config.seed))
  save_prior(folder / "prior.npz", prior)
  t2 = time.perf_counter()
  stages.train_reconstructor_stage(config, folder, folder / "encoder.msgpack",
                                   folder / "prior.npz", train=train, val=val)
  t3 = time.perf_counter()
  baseline = PriorRawBaseline.from_files(folder / "model.msgpack", folder / "prior.npz")
  e, r = config.encoder, config.reconstructor
  size = (folder / "prior.npz").stat().st_size
  return baseline, (
    f"PriorRAW trained here: config `{spec}`, on {len(train)} train images "
    f"(`{_TRAIN_VARIANT.value}` variant; validation {len(val)} images); encoder "
    f"{int(e.num_steps)} steps (width {int(e.features)}, D {int(e.embed_dim)}, batch "
    f"{int(e.batch_size)} + {int(e.reference_batch_size)} references of {int(e.patch_size)}"
    f"x{int(e.patch_size)}) in {t1 - t0:.0f} s; prior {len(prior)} entries (k-means "
    f"{int(p.clusters)}, groups of {int(p.group_size)}, from "
    f"{prior.info.get('reference_pixels', '?')} half-resolution pixels; {size / 1e6:.2f} MB "
    f"file) in {t2 - t1:.0f} s; reconstructor {int(r.num_steps)} steps (width "
    f"{int(r.features)}, {int(r.heads)} heads, batch {int(r.batch_size)} of "
    f"{int(r.patch_size)}x{int(r.patch_size)}) in {t3 - t2:.0f} s; seed {int(config.seed)}")


def _publish(stage: pathlib.Path, out: pathlib.Path) -> None:
  """Moves every staged file and folder into `out`, replacing same-named ones."""
  out.mkdir(parents=True, exist_ok=True)
  for item in sorted(stage.iterdir()):
    target = out / item.name
    if target.is_dir() and not target.is_symlink():
      shutil.rmtree(target)
    shutil.move(str(item), str(target))


def _rel(path: str | os.PathLike) -> str:
  """`path` relative to the repository when it lies inside it (reports name no machine paths)."""
  p = pathlib.Path(path).resolve()
  try:
    return str(p.relative_to(_REPO))
  except ValueError:
    return str(path)


def _hardware() -> str:
  import jax

  devs = jax.devices()
  kinds = sorted({d.device_kind for d in devs})
  return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU cores visible, "
          f"JAX {jax.__version__} on {devs[0].platform.upper()} ({len(devs)} x {', '.join(kinds)})")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _OUT.value:
    raise ConfigError("--out is required")
  t_start = time.perf_counter()
  args = sys.argv[3:] if sys.argv[1:3] == ["bench", "rd"] else argv[1:]
  command = " ".join(["r2lcm bench rd", *(shlex.quote(a) for a in args)])
  variants_text, crop_text = str(_value(_VARIANTS)), str(_value(_CROP))
  sam_steps = _ints(str(_value(_SAM_STEPS)), "sam_steps")
  drops, gammas = _ints(_DROPS.value, "drop_steps"), _floats(str(_value(_GAMMAS)), "gammas")
  unet_steps, unet_features = int(_value(_UNET_STEPS)), int(_value(_UNET_FEATURES))
  checkpoint = _value(_CKPT)
  cameras = [c.strip() for c in _CAMERAS.value.split(",") if c.strip()]
  crop = _crop(crop_text)
  if _PRIOR_STEPS.value < 0 or (_PRIOR_STEPS.value and not _PRIOR_CONFIG.value):
    raise ConfigError("--prior_steps must be >= 0 and needs --prior_config")
  prior_config = (_prior_config(_PRIOR_CONFIG.value, _PRIOR_STEPS.value)
                  if _PRIOR_CONFIG.value else None)

  # Heavy imports after the flag checks, so a bad flag fails fast.
  from r2lcm_jax.baselines.global_mapping import GlobalMappingBaseline
  from r2lcm_jax.baselines.naive_inverse import (
    NaiveInverseBaseline,
    params_from_manifest,
  )
  from r2lcm_jax.baselines.sam import SamBaseline
  from r2lcm_jax.baselines.unet import UNetBaseline
  from r2lcm_jax.baselines.unet_train import train_unet
  from r2lcm_jax.benchmark import dataset, report, runs, splits
  from r2lcm_jax.codec import codec
  from r2lcm_jax.codec.evaluation import PROTOCOL, RateSetting
  from r2lcm_jax.codec.files import load_runner
  from r2lcm_jax.io import images

  variants = dataset.parse_variants(variants_text)
  plan = [e for e in splits.plan_splits(_DATA.value) if e.camera in cameras]
  if not any(e.split == "test" for e in plan):
    raise ConfigError(f"--cameras={_CAMERAS.value}: no test image among {sorted({e.camera for e in splits.plan_splits(_DATA.value)})}")
  final_out = pathlib.Path(_OUT.value)
  if final_out.exists() and not final_out.is_dir():
    raise ConfigError(f"--out={final_out}: exists and is not a folder")
  work = pathlib.Path(_WORK.value) if _WORK.value else pathlib.Path(
    tempfile.mkdtemp(prefix="r2lcm-bench-rd-"))
  keep_work = bool(_WORK.value)
  out = work / "report"  # staged here; moved into --out only when everything succeeded
  out.mkdir(parents=True, exist_ok=True)
  try:
    logging.info("rendering %d files into %s", len(plan), work)
    roots = dataset.render_variants(plan, work / "data", variants, crop=crop)
    train_variants = [t for t in _TRAIN_VARIANT.value.split(",") if t]
    missing = [t for t in train_variants if t not in roots]
    if missing or not train_variants:
      raise ConfigError(f"--train_variant={_TRAIN_VARIANT.value}: {missing or 'none'} not "
                        f"among --variants ({', '.join(roots)})")
    train_roots = [roots[t] for t in train_variants]
    has_train = any(e.split == "train" for e in plan)

    if checkpoint:
      ckpt_dir, r2lcm_budget = pathlib.Path(str(checkpoint)), f"R2LCM checkpoint given: `{_rel(checkpoint)}` (not trained here)"
    elif has_train:
      ckpt_dir, r2lcm_budget = _train_r2lcm(_R2LCM_CONFIG.value, _R2LCM_STEPS.value, train_roots,
                                            work, out, final_out)
    else:
      raise ConfigError("no train split among --cameras and no --checkpoint: nothing to run R2LCM with")
    ckpt, runner = load_runner(ckpt_dir)
    t_model = ckpt.config.num_steps
    settings = [RateSetting(d, 0.0) for d in drops if 0 <= d < t_model] or [RateSetting()]
    settings += [RateSetting(0, g) for g in gammas if RateSetting(0, g) not in settings]
    settings.sort(key=lambda s: (s.gamma != 0, s.drop_steps, s.gamma))

    unet, unet_budget = None, "U-Net: not run (--unet_steps 0 or no train split)"
    if unet_steps > 0 and has_train:
      train_pairs = [p for r in train_roots for p in dataset.split_pairs(r, "train")]
      t0 = time.perf_counter()
      trained = train_unet(train_pairs, features=unet_features, levels=3, steps=unet_steps,
                           batch_size=_UNET_BATCH.value, patch_size=64, learning_rate=1e-3,
                           seed=_SEED.value, progress=True)
      unet = UNetBaseline(trained.model, trained.params)
      k = min(10, unet_steps)
      unet_budget = (f"U-Net trained here: {unet_steps} steps, width {unet_features}, 3 levels, "
                     f"batch {_UNET_BATCH.value} of 64x64 patches, Adam 1e-3, seed {_SEED.value}, "
                     f"on {len(train_pairs)} train images (`{_TRAIN_VARIANT.value}` variant) in "
                     f"{time.perf_counter() - t0:.0f} s; L1 {trained.losses[:k].mean():.4f} -> "
                     f"{trained.losses[-k:].mean():.4f} (mean of first / last {k} steps)")

    prior_raw, prior_budget = None, "PriorRAW: not run (no --prior_config, or no train split)"
    if prior_config is not None and has_train:
      prior_raw, prior_budget = _train_prior(
        _PRIOR_CONFIG.value, prior_config,
        [p for r in train_roots for p in dataset.split_pairs(r, "train")],
        [p for r in train_roots for p in dataset.split_pairs(r, "val")], work)

    rows: list[runs.Row] = []
    test_names: dict[str, list[str]] = {}
    error_folder = out / "error_maps"
    for vi, v in enumerate(variants):
      root = roots[v.name]
      pairs = dataset.split_pairs(root, "test")
      if _MAX_TEST.value:
        pairs = [p for p in pairs
                 if [q.name for q in pairs if q.camera == p.camera].index(p.name) < _MAX_TEST.value]
      manifest = root / "manifest.json"
      specs = [runs.MethodSpec("SAM", f"step{s}", lambda p, s=s: SamBaseline(step=s))
               for s in sam_steps]
      specs.append(runs.MethodSpec("global map", f"step{_GLOBAL_STEP.value}",
                                   lambda p: GlobalMappingBaseline(step=_GLOBAL_STEP.value)))
      specs.append(runs.MethodSpec(
        "naive inverse", "", lambda p, m=manifest: NaiveInverseBaseline(params_from_manifest(m, p.name))))
      if unet is not None:
        specs.append(runs.MethodSpec("U-Net", "", lambda p: unet))
      if prior_raw is not None:
        specs.append(runs.MethodSpec("PriorRAW", "", lambda p: prior_raw))
      firsts = {}
      for p in pairs:
        firsts.setdefault(p.camera, p.name)
        if vi == 0:
          test_names.setdefault(p.camera, []).append(p.name)
      maps = (runs.ErrorMapRequest(frozenset(firsts.values()), error_folder, _ERROR_MAX.value)
              if vi == 0 else None)
      r2_dir = work / "r2lcm" / v.name
      rows += runs.run_r2lcm(pairs, runner, ckpt.tables, settings, v.name, r2_dir,
                             error_max=_ERROR_MAX.value, manifest=manifest,
                             gate=codec.gate_for(runner, _GATE.value))
      if maps is not None:
        error_folder.mkdir(parents=True, exist_ok=True)
        for cam, name in firsts.items():
          src = r2_dir / "error_maps" / f"{cam}_{name}.png"
          if src.is_file():
            shutil.copyfile(src, error_folder / f"{v.name}_{cam}_{name}_r2lcm_{settings[0].tag}.png")
      rows += runs.run_baselines(pairs, specs, v.name, work / "metadata" / v.name, maps)

    # Reports.
    cams = [c for c in ("imx135", "gopro", "canon") if c in cameras]
    vlist = [(v.name, v.label) for v in variants]
    report.write_rows_csv(out / "results.csv", rows)
    plots = []
    for v in variants:
      path = out / f"rd_{v.name}.png"
      report.rd_figure(path, rows, v.name, v.label, cams)
      plots.append(path)
    bd = report.bd_entries(rows, [v.name for v in variants], cams)
    targets = report.target_check(rows, [v.name for v in variants], reference=variants[0].name)
    n_train = {c: sum(1 for e in plan if e.camera == c and e.split == "train") for c in cams}
    lines = [
      "# Rate-distortion benchmark (`r2lcm bench rd`)", "",
      f"Command: `{command}`", "",
      f"Hardware (as seen by the run): {_hardware()}. Wall time {time.perf_counter() - t_start:.0f} s.", "",
      "## Setup", "",
      f"- Data: `{_DATA.value}`, split by `r2lcm_jax/benchmark/splits.py`; train images per "
      f"camera {n_train}; test images: " + "; ".join(f"{c}: {', '.join(n)}" for c, n in test_names.items()) + ".",
      f"- Crop: {'centre ' + crop_text if crop else 'full frames'}; sRGB variants: "
      + ", ".join(f"`{v.name}` = {v.label}" for v in variants) + ".",
      f"- {r2lcm_budget}; rate settings {', '.join(s.tag for s in settings)} "
      f"(model N={ckpt.config.N}, C={ckpt.config.latent_channels}, T={t_model}).",
      f"- {unet_budget}.",
      f"- {prior_budget}.",
      f"- SAM steps {sam_steps}; global colour mapping at step {_GLOBAL_STEP.value}; naive "
      "inverse ISP with each image's exact ISP parameters (from the render manifest).",
      f"- Protocol: {PROTOCOL} Every metadata blob was written to a file and read back.", "",
      "## Results", "", report.markdown_tables(rows, vlist, cams),
      "## BD-rate of R2LCM against SAM (anchor), metadata bpp", "",
      "R2LCM curve = Pareto front of its (drop_steps, gamma) points; SAM curve = its grid "
      "steps; PCHIP interpolation over the common range only (`r2lcm_jax/benchmark/bd_rate.py`).", "",
      report.bd_markdown(bd) if bd else "(no BD-rate: fewer than 2 points on a curve)", "",
      "## The issue's targets (mean over all test images)", "", targets, "",
      "## Figures", "",
      *[f"- `{p.name}`: PSNR vs metadata bpp, {v.label}" for p, v in zip(plots, variants, strict=True)],
      f"- `error_maps/`: sRGB | RAW | reconstruction | max-over-channels |error| (scale 0..{_ERROR_MAX.value:g}) "
      f"for the first test image of each camera, `{variants[0].name}` variant, every method.", "",
    ]
    images.atomic_write_bytes(out / "report.md", ("\n".join(lines) + "\n").encode())
    _publish(out, final_out)
    print("\n".join(lines))
    print(f"reports in {final_out}")
  finally:
    if not keep_work:
      shutil.rmtree(work, ignore_errors=True)
