"""`r2lcm bench rd`: rate-distortion benchmark of R2LCM and the baselines on real RAWs,
with sRGB from ISPs the decoder does not know (the paper's setting) and from the
project's own ISP ("ISP known").

    .venv/bin/r2lcm bench rd --out DIR [--quick] [--data ../shared/data/real] [--work DIR]
        [--isps darktable:default,darktable:local,rawtherapee:default,rawtherapee:drc,project]
        [--variants png,q90,q50,q10] [--crop HxW] [--cameras imx135,gopro,canon]
        [--checkpoint CKPT] [--checkpoints NAME=DIR,NAME=DIR]
        [--r2lcm_config experiments/configs/rd_real.py[:args]] [--r2lcm_steps N]
        [--drop_steps 0,1,2,3] [--gammas 0.5,1,2] [--sam_steps 4,8,16,32] [--global_step 8]
        [--unet_steps N] [--unet_features F] [--max_test N] [--error_max 0.02] [--seed 0]
        [--train_variant png] [--prior_config experiments/configs/prior_small_real.py[:args]]
        [--prior_steps N] [--cam_config experiments/configs/cam_small_real.py[:args]]
        [--cam_finetune_steps 10]

    # the paper's setting: a model over the fitted map against the paper's model
    .venv/bin/r2lcm bench rd --out experiments/results/rd_any_isp --work WORK \
        --checkpoints fitted=ckpt/any_isp,paper=ckpt/none --variants png,q90 --crop 512x768

Variants are the product of --isps and --variants (formats): `png` / `qNN` with the
project ISP keep their names; a third-party ISP `TOOL:STYLE` gives `TOOL-STYLE_png` /
`TOOL-STYLE_qNN`, e.g. `darktable-local_q90` (`benchmark/dataset.py`).

Steps (one command, seeded):
1. Split the real RAWs by the fixed rule of `r2lcm_jax/benchmark/splits.py` (INTEL-TAU
   001-014 / 015-017 / 018-020; GoPro Fusion front+back train, HERO7 test; Canon test only);
   --max_test keeps the first N test images of each camera.
2. Render them into one NUS-layout dataset per variant in --work (default: a temporary
   folder, removed): the project ISP, or darktable / RawTherapee headless
   (`isp.external.render_external`, the raw-RGB cut to the aligned rectangle), then the
   optional centre crop (`r2lcm_jax/benchmark/dataset.py`). Only what is needed: the test
   split of every variant, the train and val splits of --train_variant when something is
   trained. Renders already in --work with the same settings (the manifest's cache key)
   are reused.
3. Train what needs training on the train split of --train_variant (default `png`;
   several: their union; third-party names allowed, e.g. `darktable-local_q90`): R2LCM
   with the project's train loop and --r2lcm_config / --r2lcm_steps (only without
   --checkpoint / --checkpoints), the U-Net de-rendering baseline with
   `baselines.unet_train` (--unet_steps), and, only when --prior_config is given,
   PriorRAW on the same train pairs as the U-Net (validation: the val split of the same
   variants) with the stages of `prior.stages`: contrastive encoder, prior compression,
   reconstructor (--prior_steps overrides the steps of both training stages); its files
   (encoder.msgpack, prior.npz, model.msgpack and the training folders) go to <work>/prior/.
   Only when --cam_config is given: the CAM baseline (`baselines.cam_train`, the project's
   loop, resumable from <work>/cam/train/; networks in <work>/cam/cam.msgpack) on the same
   pairs, evaluated as `CAM` and `CAM + fine-tune` (--cam_finetune_steps decode-time steps).
4. Evaluate on the test split of every variant, through real files: each R2LCM model
   (`R2LCM` for --checkpoint or a model trained here, `R2LCM[NAME]` for --checkpoints)
   over drop_steps (gamma 0) and gamma (drop 0) with real `.r2lcm` bitstreams; a model
   with base `isp_inverse` only on the project-ISP variants (it refuses sRGB other ISPs
   made); SAM at every --sam_steps; the global colour mapping at --global_step; the
   fitted global map (`baselines.fitted_map`, ~310 bytes); the naive inverse ISP (on
   third-party variants `naive inverse (wrong ISP)`: the project ISP inverted with the
   RAW's own parameters), the U-Net and PriorRAW (`baselines.prior_raw`), all three 0 bpp.
5. Write into --out: report.md (the headline table of the third-party variants and their
   target "R2LCM at <= 0.4 bpp at least 3 dB above SAM at 0.75 bpp (step 8), and above
   the fitted map alone" per variant and model, means per ISP, BD-rate and BD-PSNR of
   each R2LCM model vs SAM, the ISP-known targets, per-camera and per-image tables,
   budget, command, hardware), results.csv (every measurement, with its `isp`),
   rd_<variant>.png (PSNR vs metadata bpp per camera and for all test images),
   error_maps/*.png (first variant, first test image of each camera, every method),
   r2lcm_checkpoint/ when R2LCM was trained.

--quick: a CPU smoke run of a few minutes on 2 cores: cameras canon,imx135, one test
image each, 256x384 centre crops, the JPEG q90 format of every --isps ISP, the committed
tiny checkpoint tests/fixtures/tiny_real_checkpoint (unless --checkpoint or --checkpoints
is given; no R2LCM training), drop_steps 0..3 and gamma 1, SAM steps 8/16/32, no U-Net
(unless --unet_steps is given; then width 8) and no PriorRAW (unless --prior_config is
given). Flags given explicitly override the quick values (e.g. `--isps
rawtherapee:default,project` for a shorter run). The full run (no --quick) is meant for
a GPU.
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
from typing import TYPE_CHECKING, NamedTuple

from absl import flags, logging

from r2lcm_jax.cli.flag_checks import define_gate_tile
from r2lcm_jax.errors import ConfigError

if TYPE_CHECKING:
  from r2lcm_jax.app.evaluation import RateSetting
  from r2lcm_jax.benchmark.dataset import Variant
  from r2lcm_jax.codec.checkpoint import CodecCheckpoint
  from r2lcm_jax.codec.runner import ModelRunner

_REPO = pathlib.Path(__file__).resolve().parents[1]
_FIXTURE = _REPO / "tests" / "fixtures" / "tiny_real_checkpoint"

_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder (inteltau/, gopro/, canon/).")
_OUT = flags.DEFINE_string("out", None, "Output folder for the report, plots and error maps.")
_WORK = flags.DEFINE_string("work", None, "Folder for renders, bitstreams and training runs "
                            "(kept); default: a temporary folder, removed at the end.")
_QUICK = flags.DEFINE_bool("quick", False, "CPU smoke run (see the module doc).")
_CKPT = flags.DEFINE_string("checkpoint", None, "Existing codec checkpoint, method `R2LCM`: "
                            "skip R2LCM training.")
_CKPTS = flags.DEFINE_string(
  "checkpoints", "", "More codec checkpoints, NAME=DIR,NAME=DIR (methods `R2LCM[NAME]`, e.g. "
  "fitted=ckpt/any_isp,paper=ckpt/none): skip R2LCM training.")
_ISPS = flags.DEFINE_string(
  "isps", "darktable:default,darktable:local,rawtherapee:default,rawtherapee:drc,project",
  "Who renders the sRGB: `project` (the project's ISP, 'ISP known') and/or third-party "
  "TOOL:STYLE (`r2lcm render --isp` styles).")
_VARIANTS = flags.DEFINE_string("variants", "png,q90,q50,q10", "sRGB storage formats: png and/or "
                                "qNN, each rendered by every --isps ISP.")
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
  "train_variant", "png", "sRGB variant(s), comma-separated, whose train splits R2LCM, the "
  "U-Net and PriorRAW learn from (several: their union, as the paper samples the JPEG "
  "quality); project names (png, q90) or third-party ones (darktable-local_q90).")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the U-Net (R2LCM: the config's seed).")
_PRIOR_CONFIG = flags.DEFINE_string(
  "prior_config", "", "PriorRAW config path[:args] (e.g. experiments/configs/"
  "prior_small_real.py:clusters=2000; its data group is ignored: PriorRAW trains on the "
  "U-Net's train pairs); '' = PriorRAW not run.")
_PRIOR_STEPS = flags.DEFINE_integer("prior_steps", 0, "Steps of each PriorRAW training stage "
                                    "(encoder and reconstructor; 0: the config's).")
_CAM_CONFIG = flags.DEFINE_string(
  "cam_config", "", "CAM config path[:args] (experiments/configs/cam_small_real.py); trained "
  "on the U-Net's train pairs; '' = CAM not run.")
_CAM_FT = flags.DEFINE_integer("cam_finetune_steps", 10, "Decode-time fine-tuning steps of "
                               "the `CAM + fine-tune` row (0: only plain CAM).")
_GATE = define_gate_tile()

# Values --quick uses for flags not given on the command line (the tiny checkpoint:
# `_checkpoint_specs`).
_QUICK_VALUES = {"crop": "256x384", "gammas": "1", "variants": "q90", "cameras": "canon,imx135",
                 "max_test": 1, "sam_steps": "8,16,32", "unet_steps": 0, "unet_features": 8}


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
  relight = str(config.get("relight", ""))  # the prior re-lit as the encoder was trained
  prior = stages.build_prior(encoder, train, num_clusters=int(p.clusters),
                             group_size=int(p.group_size), iterations=int(p.iterations),
                             seed=int(config.seed), relight=relight)
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
    f"{int(r.patch_size)}x{int(r.patch_size)}) in {t3 - t2:.0f} s; seed {int(config.seed)}"
    f"{f'; re-lit ({relight})' if relight else ''}")


def _train_cam(spec: str, train: list, val: list, work: pathlib.Path):
  """CAM trained (or resumed) on `train` in `work`/cam: (method specs, budget sentence)."""
  from r2lcm_jax.baselines.cam import CamBaseline
  from r2lcm_jax.baselines.cam_train import train_cam_stage
  from r2lcm_jax.benchmark import runs

  config = _config_file(spec, "cam_config")
  if "cam" not in config:
    raise ConfigError(f"--cam_config={spec}: not a CAM config (needs a cam group, as "
                      "experiments/configs/cam_small_real.py)")
  t0 = time.perf_counter()
  net, params = train_cam_stage(config, work / "cam", train=train, val=val)
  c, ft = config.cam, _CAM_FT.value
  specs = [runs.MethodSpec("CAM", f"g{net.grid}", lambda p: CamBaseline(net, params))]
  if ft > 0:
    specs.append(runs.MethodSpec("CAM + fine-tune", f"g{net.grid}_ft{ft}",
                                 lambda p: CamBaseline(net, params, finetune_steps=ft)))
  return specs, (
    f"CAM trained here: config `{spec}`, {int(c.num_steps)} steps (sampler and reconstructor "
    f"U-Nets of width {net.features}, {net.levels} levels, cells of {net.grid} px, batch "
    f"{int(c.batch_size)} of {int(c.patch_size)}x{int(c.patch_size)}, Adam "
    f"{float(c.learning_rate):g}, SLIC weight {float(c.lambda_slic):g}) on {len(train)} train "
    f"images (`{_TRAIN_VARIANT.value}`), {time.perf_counter() - t0:.0f} s in this run (0 when "
    f"resumed at its last step); decode-time fine-tuning {ft} Adam steps at lr 1e-4")


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


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _checkpoint_specs(plain: str | None, named: str, quick: bool) -> list[tuple[str, str]]:
  """(method, folder) of every R2LCM checkpoint: --checkpoint as `R2LCM`, each NAME=DIR of
  --checkpoints as `R2LCM[NAME]`; --quick without either: the tiny fixture. [] = train."""
  out: list[tuple[str, str]] = []
  for item in filter(None, (t.strip() for t in named.split(","))):
    name, sep, folder = item.partition("=")
    name, folder = name.strip(), folder.strip()
    if not sep or not name or not folder or not set(name) <= _NAME_CHARS:
      raise ConfigError(f"--checkpoints={named!r}: expected NAME=DIR,NAME=DIR with names of "
                        "letters, digits, _ . - (e.g. fitted=ckpt/any_isp,paper=ckpt/none)")
    if any(m == f"R2LCM[{name}]" for m, _ in out):
      raise ConfigError(f"--checkpoints={named!r}: name {name!r} given twice")
    out.append((f"R2LCM[{name}]", folder))
  if plain or (quick and not out):
    out.insert(0, ("R2LCM", plain or str(_FIXTURE)))
  return out


class _Model(NamedTuple):
  """One R2LCM checkpoint to evaluate (a NamedTuple: this file is loaded without a
  sys.modules entry, which dataclasses need).

  Attributes:
    method: its label in the rows ("R2LCM" or "R2LCM[NAME]").
    ckpt: the loaded checkpoint.
    runner: its model runner.
    settings: the rate settings it is evaluated at.
    budget: the report's sentence on where it comes from.
  """

  method: str
  ckpt: CodecCheckpoint
  runner: ModelRunner
  settings: tuple[RateSetting, ...]
  budget: str

  @property
  def base(self) -> str:
    return self.ckpt.config.base

  def runs_on(self, variant: Variant) -> bool:
    """A model over the naive inverse ISP only takes the project ISP's sRGB."""
    return variant.isp_known or self.base != "isp_inverse"

  @property
  def slug(self) -> str:
    return self.method.lower().replace("[", "_").replace("]", "")


def _load_model(method: str, folder: str | os.PathLike, drops: list[int], gammas: list[float],
                budget: str) -> _Model:
  """Loads a checkpoint and picks its rate settings (drop_steps >= its T are skipped)."""
  from r2lcm_jax.app.evaluation import RateSetting
  from r2lcm_jax.app.files import load_runner

  ckpt, runner = load_runner(folder)
  t_model = ckpt.config.num_steps
  settings = [RateSetting(d, 0.0) for d in drops if 0 <= d < t_model] or [RateSetting()]
  settings += [RateSetting(0, g) for g in gammas if RateSetting(0, g) not in settings]
  settings.sort(key=lambda s: (s.gamma != 0, s.drop_steps, s.gamma))
  return _Model(method, ckpt, runner, tuple(settings), budget)


def _model_sentence(model: _Model) -> str:
  c = model.ckpt.config
  line = (f"`{model.method}`: {model.budget}; base `{c.base}`, N={c.N}, C={c.latent_channels}, "
          f"T={c.num_steps}; rate settings {', '.join(s.tag for s in model.settings)}")
  if model.base == "isp_inverse":
    line += ("; run on the ISP-known (project ISP) variants only: a model over the naive "
             "inverse ISP refuses sRGB that the project's ISP did not make")
  return line


def _test_entries(plan: list, max_test: int) -> list:
  """The test entries of `plan`, at most `max_test` per camera (0: all; first by name)."""
  tests = sorted((e for e in plan if e.split == "test"), key=lambda e: (e.camera, e.path.stem))
  if not max_test:
    return tests
  return [e for e in tests if [t for t in tests if t.camera == e.camera].index(e) < max_test]


def _variants(formats: str, isps: str) -> list[Variant]:
  """The product of --isps and --variants (formats), ISP-major."""
  from r2lcm_jax.benchmark import dataset

  for text, flag, parse in ((formats, "variants", dataset.parse_formats),
                            (isps, "isps", dataset.parse_isps)):
    try:
      parse(text)
    except ConfigError as e:
      raise ConfigError(f"--{flag}={text!r}: {e}") from e
  return dataset.parse_variants(formats, isps)


def _train_variants(text: str) -> list[Variant]:
  """--train_variant -> Variants (project or third-party names)."""
  from r2lcm_jax.benchmark import dataset

  try:
    out = [dataset.parse_variant_name(t) for t in text.split(",") if t.strip()]
  except ConfigError as e:
    raise ConfigError(f"--train_variant={text!r}: {e}") from e
  if not out:
    raise ConfigError("--train_variant: no variant given")
  return list(dict.fromkeys(out))


def _needed_splits(variants: list[Variant], train_variants: list[Variant],
                   training: bool) -> dict[str, set[str]]:
  """variant name -> the splits to render: test for the evaluated variants; train and val
  for the train variants when something is trained."""
  out: dict[str, set[str]] = {v.name: {"test"} for v in variants}
  if training:
    for v in train_variants:
      out.setdefault(v.name, set()).update({"train", "val"})
  return out


def _baseline_specs(variant: Variant, root: pathlib.Path, sam_steps: list[int],
                    global_step: int, unet, prior_raw, extra: tuple = ()) -> list:
  """The baselines on one variant (the naive inverse labelled by whether its ISP is the
  one that made the sRGB)."""
  from r2lcm_jax.baselines.fitted_map import FittedMapBaseline
  from r2lcm_jax.baselines.global_mapping import GlobalMappingBaseline
  from r2lcm_jax.baselines.naive_inverse import NaiveInverseBaseline
  from r2lcm_jax.baselines.sam import SamBaseline
  from r2lcm_jax.benchmark import dataset, runs

  fitted = FittedMapBaseline()
  naive = "naive inverse" if variant.isp_known else "naive inverse (wrong ISP)"
  specs = [runs.MethodSpec("SAM", f"step{s}", lambda p, s=s: SamBaseline(step=s))
           for s in sam_steps]
  specs += [
    runs.MethodSpec("global map", f"step{global_step}",
                    lambda p: GlobalMappingBaseline(step=global_step)),
    runs.MethodSpec("fitted map", f"K{fitted.knots}", lambda p: fitted),
    runs.MethodSpec(naive, "", lambda p: NaiveInverseBaseline(
      dataset.project_isp_params(root, p.name))),
  ]
  if unet is not None:
    specs.append(runs.MethodSpec("U-Net", "", lambda p: unet))
  if prior_raw is not None:
    specs.append(runs.MethodSpec("PriorRAW", "", lambda p: prior_raw))
  return specs + list(extra)


def _evaluate_variant(variant: Variant, root: pathlib.Path, pairs: list, models: list[_Model],
                      specs: list, work: pathlib.Path, maps) -> list:
  """Rows of every R2LCM model that takes this variant and of every baseline; with
  `maps`, the R2LCM error maps of its first setting are copied next to the baselines'."""
  from r2lcm_jax.benchmark import runs
  from r2lcm_jax.codec import codec

  rows = []
  for model in (m for m in models if m.runs_on(variant)):
    folder = work / "r2lcm" / model.slug / variant.name
    rows += runs.run_r2lcm(pairs, model.runner, model.ckpt.tables, model.settings, variant.name,
                           folder, error_max=_ERROR_MAX.value, manifest=root / "manifest.json",
                           gate=codec.gate_for(model.runner, _GATE.value), method=model.method,
                           isp=variant.isp)
    if maps is not None:
      maps.folder.mkdir(parents=True, exist_ok=True)
      for p in (p for p in pairs if p.name in maps.names):
        src = folder / "error_maps" / f"{p.camera}_{p.name}.png"
        if src.is_file():
          shutil.copyfile(src, maps.folder / f"{variant.name}_{p.camera}_{p.name}_{model.slug}_"
                          f"{model.settings[0].tag}.png")
  return rows + runs.run_baselines(pairs, specs, variant.name, work / "metadata" / variant.name,
                                   maps, isp=variant.isp)


def _tool_versions(roots: dict[str, pathlib.Path], variants: list[Variant]) -> str:
  """"darktable 4.2.1, rawtherapee 5.9" from the third-party variants' manifests."""
  import json

  seen: dict[str, str] = {}
  for v in (v for v in variants if not v.isp_known):
    for e in json.loads((roots[v.name] / "manifest.json").read_text())["images"]:
      isp = e.get("isp", {})
      if "tool" in isp:
        seen.setdefault(isp["tool"], isp.get("version", "?"))
  return ", ".join(f"{t} {ver}" for t, ver in sorted(seen.items())) or "none"


def _train_unet(train_pairs: list, steps: int, features: int):
  """(UNetBaseline, budget sentence) trained on `train_pairs`."""
  from r2lcm_jax.baselines.unet import UNetBaseline
  from r2lcm_jax.baselines.unet_train import train_unet

  t0 = time.perf_counter()
  trained = train_unet(train_pairs, features=features, levels=3, steps=steps,
                       batch_size=_UNET_BATCH.value, patch_size=64, learning_rate=1e-3,
                       seed=_SEED.value, progress=True)
  k = min(10, steps)
  return UNetBaseline(trained.model, trained.params), (
    f"U-Net trained here: {steps} steps, width {features}, 3 levels, batch "
    f"{_UNET_BATCH.value} of 64x64 patches, Adam 1e-3, seed {_SEED.value}, on "
    f"{len(train_pairs)} train images (`{_TRAIN_VARIANT.value}` variant) in "
    f"{time.perf_counter() - t0:.0f} s; L1 {trained.losses[:k].mean():.4f} -> "
    f"{trained.losses[-k:].mean():.4f} (mean of first / last {k} steps)")


def _error_maps(pairs: list, folder: pathlib.Path):
  """The error-map request for the first test image of each camera among `pairs`."""
  from r2lcm_jax.benchmark import runs

  firsts = {}
  for p in pairs:
    firsts.setdefault(p.camera, p.name)
  return runs.ErrorMapRequest(frozenset(firsts.values()), folder, _ERROR_MAX.value)


def _setup_lines(plan: list, tests: list, cams: list[str], crop_text: str,
                 variants: list[Variant], roots: dict[str, pathlib.Path], models: list[_Model],
                 budgets: list[str], sam_steps: list[int], rows: list) -> list[str]:
  """The report's setup bullets: data, crop and variants, ISPs, models, baselines."""
  n_train = {c: sum(1 for e in plan if e.camera == c and e.split == "train") for c in cams}
  fitted_bytes = next((r.bytes for r in rows if r.method == "fitted map"), 0)
  return [
    f"- Data: `{_DATA.value}`, split by `r2lcm_jax/benchmark/splits.py`; train images per "
    f"camera {n_train}; test images: "
    + "; ".join(f"{c}: {', '.join(e.path.stem for e in tests if e.camera == c)}" for c in cams) + ".",
    f"- Crop: {'centre ' + crop_text if crop_text else 'full frames'} (of the rectangle a "
    "third-party render aligns to); sRGB variants: "
    + ", ".join(f"`{v.name}` = {v.label}" for v in variants) + ".",
    f"- Third-party ISPs: {_tool_versions(roots, variants)} (`isp/external`, styles in "
    "`isp/external/styles.py`), aligned to the raw-RGB grid; the decoder and every "
    "baseline see only the sRGB (and its metadata). \"ISP known\" = the project's ISP, "
    "whose parameters the naive inverse (and a model with base isp_inverse) uses.",
    *[f"- {_model_sentence(m)}." for m in models],
    *[f"- {b}." for b in budgets],
    f"- SAM steps {sam_steps}; global colour mapping at step {_GLOBAL_STEP.value}; fitted "
    f"map = the global sRGB -> raw map fitted per image (`baselines/fitted_map.py`, "
    f"{fitted_bytes} bytes); naive inverse ISP with each image's exact ISP parameters "
    "on the ISP-known variants; on third-party variants `naive inverse (wrong ISP)`: the "
    "project ISP's naive inverse with the RAW's own parameters (what inverting the wrong "
    "ISP gives)."]


def _report(rows: list, variants: list[Variant], cams: list[str], setup: list[str]) -> list[str]:
  """The report's result sections (after the setup lines)."""
  from r2lcm_jax.benchmark import report

  third = [v for v in variants if not v.isp_known]
  known = [v for v in variants if v.isp_known]
  isps = list(dict.fromkeys(v.isp for v in variants))
  bd = report.bd_entries(rows, [v.name for v in variants], cams)
  lines = list(setup)
  if third:
    lines += [
      "## Headline: sRGB from ISPs the decoder does not know", "",
      "PSNR (dB) / metadata bpp, mean over every test image.", "",
      report.variant_table(rows, [v.name for v in third]), "",
      "### Target: R2LCM at <= 0.4 bpp at least 3 dB above SAM at 0.75 bpp (step 8), "
      "and above the fitted map alone", "",
      report.unknown_isp_target_check(rows, [v.name for v in third]), ""]
  lines += [
    "## Mean per ISP / style", "",
    "PSNR (dB) / metadata bpp, mean over every test image of every format of the ISP.", "",
    report.isp_table(rows, [(i, "project (ISP known)" if i == "project" else f"`{i}`")
                            for i in isps]), "",
    "## BD-rate of R2LCM against SAM (anchor), metadata bpp", "",
    "R2LCM curve = Pareto front of its (drop_steps, gamma) points; SAM curve = its grid "
    "steps; PCHIP interpolation over the common range only (`r2lcm_jax/benchmark/bd_rate.py`).", "",
    report.bd_markdown(bd) if bd else "(no BD-rate: fewer than 2 points on a curve)", ""]
  if known:
    names = [v.name for v in known]
    ref = "png" if "png" in names else names[0]
    lines += [
      "## ISP known: sRGB from the project's ISP", "",
      "PSNR (dB) / metadata bpp, mean over every test image.", "",
      report.variant_table(rows, names), "",
      "### The issue's targets for a known ISP (mean over all test images)", "",
      report.target_check([r for r in rows if r.isp == "project"], names, reference=ref), ""]
  lines += ["## Results per variant and camera", "",
            report.markdown_tables(rows, [(v.name, v.label) for v in variants], cams),
            "## Results per image", "",
            report.per_image_tables(rows, [(v.name, v.label) for v in variants])]
  return lines


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _OUT.value:
    raise ConfigError("--out is required")
  t_start = time.perf_counter()
  args = sys.argv[3:] if sys.argv[1:3] == ["bench", "rd"] else argv[1:]
  command = " ".join(["r2lcm bench rd", *(shlex.quote(a) for a in args)])
  crop_text = str(_value(_CROP))
  sam_steps = _ints(str(_value(_SAM_STEPS)), "sam_steps")
  drops, gammas = _ints(_DROPS.value, "drop_steps"), _floats(str(_value(_GAMMAS)), "gammas")
  unet_steps, unet_features = int(_value(_UNET_STEPS)), int(_value(_UNET_FEATURES))
  max_test = int(_value(_MAX_TEST))
  cameras = [c.strip() for c in str(_value(_CAMERAS)).split(",") if c.strip()]
  crop = _crop(crop_text)
  ckpt_specs = _checkpoint_specs(_CKPT.value, _CKPTS.value, _QUICK.value)
  if _PRIOR_STEPS.value < 0 or (_PRIOR_STEPS.value and not _PRIOR_CONFIG.value):
    raise ConfigError("--prior_steps must be >= 0 and needs --prior_config")
  prior_config = (_prior_config(_PRIOR_CONFIG.value, _PRIOR_STEPS.value)
                  if _PRIOR_CONFIG.value else None)
  variants = _variants(str(_value(_VARIANTS)), _ISPS.value)
  train_variants = _train_variants(_TRAIN_VARIANT.value)

  # Heavy imports after the flag checks, so a bad flag fails fast.
  from r2lcm_jax.app import results
  from r2lcm_jax.benchmark import dataset, report, splits
  from r2lcm_jax.io import images
  from r2lcm_jax.metrics import PROTOCOL

  plan = [e for e in splits.plan_splits(_DATA.value) if e.camera in cameras]
  if not any(e.split == "test" for e in plan):
    raise ConfigError(f"--cameras={','.join(cameras)}: no test image among {sorted({e.camera for e in splits.plan_splits(_DATA.value)})}")
  has_train = any(e.split == "train" for e in plan)
  if not ckpt_specs and not has_train:
    raise ConfigError("no train split among --cameras and no --checkpoint: nothing to run R2LCM with")
  models = [_load_model(m, d, drops, gammas, f"checkpoint `{_rel(d)}` (not trained here)")
            for m, d in ckpt_specs]
  tests = _test_entries(plan, max_test)
  training = has_train and (not ckpt_specs or unet_steps > 0 or prior_config is not None
                            or bool(_CAM_CONFIG.value))
  final_out = pathlib.Path(_OUT.value)
  if final_out.exists() and not final_out.is_dir():
    raise ConfigError(f"--out={final_out}: exists and is not a folder")
  work = pathlib.Path(_WORK.value) if _WORK.value else pathlib.Path(
    tempfile.mkdtemp(prefix="r2lcm-bench-rd-"))
  keep_work = bool(_WORK.value)
  out = work / "report"  # staged here; moved into --out only when everything succeeded
  out.mkdir(parents=True, exist_ok=True)
  try:
    entries = [e for e in plan if e.split != "test"] + tests
    logging.info("rendering into %s", work)
    all_variants = list(dict.fromkeys([*variants, *(train_variants if training else [])]))
    roots = dataset.render_variants(entries, work / "data", all_variants, crop=crop,
                                    splits=_needed_splits(variants, train_variants, training))
    train_roots = [roots[t.name] for t in train_variants if t.name in roots]

    if not models:
      ckpt_dir, budget = _train_r2lcm(_R2LCM_CONFIG.value, _R2LCM_STEPS.value, train_roots,
                                      work, out, final_out)
      models = [_load_model("R2LCM", ckpt_dir, drops, gammas, budget)]

    planned = {str(e.path) for e in plan}
    train_pairs, val_pairs = ([p for r in train_roots for p in dataset.split_pairs(r, split, planned)]
                              for split in ("train", "val"))
    unet, unet_budget = None, "U-Net: not run (--unet_steps 0 or no train split)"
    if unet_steps > 0 and has_train:
      unet, unet_budget = _train_unet(train_pairs, unet_steps, unet_features)

    prior_raw, prior_budget = None, "PriorRAW: not run (no --prior_config, or no train split)"
    if prior_config is not None and has_train:
      prior_raw, prior_budget = _train_prior(_PRIOR_CONFIG.value, prior_config, train_pairs,
                                             val_pairs, work)

    cam_specs, cam_budget = (), "CAM: not run (no --cam_config, or no train split)"
    if _CAM_CONFIG.value and has_train:
      cam_specs, cam_budget = _train_cam(_CAM_CONFIG.value, train_pairs, val_pairs, work)

    rows = []
    for vi, v in enumerate(variants):
      pairs = dataset.split_pairs(roots[v.name], "test", {str(e.path) for e in tests})
      specs = _baseline_specs(v, roots[v.name], sam_steps, _GLOBAL_STEP.value, unet, prior_raw,
                              cam_specs)
      rows += _evaluate_variant(v, roots[v.name], pairs, models, specs, work,
                                _error_maps(pairs, out / "error_maps") if vi == 0 else None)

    cams = [c for c in ("imx135", "gopro", "canon") if c in cameras]
    results.write_rows_csv(out / "results.csv", rows)
    plots = []
    for v in variants:
      path = out / f"rd_{v.name}.png"
      report.rd_figure(path, rows, v.name, v.label, cams)
      plots.append(path)
    setup = [
      "# Rate-distortion benchmark (`r2lcm bench rd`)", "",
      f"Command: `{command}`", "",
      f"Hardware (as seen by the run): {_hardware()}. Wall time {time.perf_counter() - t_start:.0f} s.", "",
      "## Setup", "",
      *_setup_lines(plan, tests, cams, crop_text if crop else "", variants, roots, models,
                    [unet_budget, prior_budget, cam_budget], sam_steps, rows),
      f"- Protocol: {PROTOCOL} Every metadata blob was written to a file and read back.", ""]
    lines = _report(rows, variants, cams, setup) + [
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
