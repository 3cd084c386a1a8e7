"""`r2lcm prior ACTION`: PriorRAW (metadata-free RAW reconstruction from prior metadata).

    r2lcm prior train --stage encoder --config experiments/configs/prior_small_real.py:root=R --workdir W
    r2lcm prior build --dataset ROOT --encoder W/encoder.msgpack --out PRIOR.npz
        [--camera C] [--split train] [--clusters 5000] [--group_size 200] [--iterations 20] [--seed 0]
    r2lcm prior train --stage reconstructor --config ... --workdir W --prior PRIOR.npz
        [--encoder W/encoder.msgpack]
    r2lcm prior reconstruct --srgb IMG --prior PRIOR.npz --checkpoint W/model.msgpack --out RAW.tiff
        [--tile 512] [--halo 64]

Every input is checked before anything is computed; outputs are written atomically, so
a failure (exit code 2, one line on stderr) leaves no partial file.
"""

from __future__ import annotations

import pathlib

from absl import flags
from ml_collections import config_flags

from r2lcm_jax.cli.flag_checks import require
from r2lcm_jax.errors import ConfigError, InputError

__all__ = ["ACTIONS", "main"]

ACTIONS = ("train", "build", "reconstruct")

_CONFIG = config_flags.DEFINE_config_file("config", None, "PriorRAW config, `path.py[:args]`.")
_STAGE = flags.DEFINE_enum("stage", None, ["encoder", "reconstructor"], "Training stage.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Training output folder.")
_DATASET = flags.DEFINE_string("dataset", None, "NUS-layout dataset root (build).")
_CAMERA = flags.DEFINE_string("camera", None, "Camera folder (needed if the root has several).")
_SPLIT = flags.DEFINE_string("split", "train", "Dataset split the prior is built from.")
_ENCODER = flags.DEFINE_string("encoder", None, "Encoder (or full model) .msgpack file.")
_CLUSTERS = flags.DEFINE_integer("clusters", 5000, "k-means clusters (prior entries).")
_GROUP = flags.DEFINE_integer("group_size", 200, "Nearest members averaged per cluster.")
_ITERS = flags.DEFINE_integer("iterations", 20, "k-means iterations.")
_SEED = flags.DEFINE_integer("seed", 0, "k-means seed.")
_RELIGHT = flags.DEFINE_enum("relight", "", ["", "gains", "colour"],
                             "Re-light the references' raws to their mean gains before building "
                             "(prior.relight modes; as the config's `relight`).")
_PRIOR = flags.DEFINE_string("prior", None, "Prior file (.npz).")
_SRGB = flags.DEFINE_string("srgb", None, "Input sRGB image (PNG/TIFF/JPEG).")
_CKPT = flags.DEFINE_string("checkpoint", None, "Encoder + reconstructor .msgpack file.")
_OUT = flags.DEFINE_string("out", None, "Output file.")
_TILE = flags.DEFINE_integer("tile", 512, "Reconstruction window core in pixels (multiple of 8).")
_HALO = flags.DEFINE_integer("halo", 64, "Reconstruction window context in pixels (multiple of 8).")


def _check_out(path: str) -> None:
  p = pathlib.Path(path)
  if p.is_dir():
    raise InputError(f"{p}: --out is a folder, expected a file path")
  if not p.parent.is_dir():
    raise InputError(f"{p.parent}: output folder does not exist")


def _train() -> None:
  from r2lcm_jax.prior import stages

  if _CONFIG.value is None or not _WORKDIR.value or not _STAGE.value:
    raise ConfigError("--config, --workdir and --stage are required")
  workdir = pathlib.Path(_WORKDIR.value)
  if _STAGE.value == "encoder":
    stages.train_encoder_stage(_CONFIG.value, workdir)
    print(f"encoder    -> {workdir / 'encoder.msgpack'}")
    return
  encoder = _ENCODER.value or str(workdir / "encoder.msgpack")
  prior = _PRIOR.value or str(workdir / "prior.npz")
  stages.train_reconstructor_stage(_CONFIG.value, workdir, encoder, prior)
  print(f"model      -> {workdir / 'model.msgpack'}")


def _build() -> None:
  require(_DATASET, _ENCODER, _OUT)
  _check_out(_OUT.value)
  from r2lcm_jax.prior import stages
  from r2lcm_jax.prior.model_file import load_model
  from r2lcm_jax.prior.prior_file import save_prior

  if _CLUSTERS.value < 1 or _GROUP.value < 1 or _ITERS.value < 0:
    raise ConfigError("--clusters and --group_size must be >= 1, --iterations >= 0")
  pairs = stages.dataset_pairs(_DATASET.value, _SPLIT.value, _CAMERA.value)
  model = load_model(_ENCODER.value)
  prior = stages.build_prior(model, pairs, num_clusters=_CLUSTERS.value,
                             group_size=_GROUP.value, iterations=_ITERS.value, seed=_SEED.value,
                             relight=_RELIGHT.value)
  save_prior(_OUT.value, prior)
  print(f"prior      {len(prior)} entries from {prior.info['reference_pixels']} reference "
        f"pixels of {len(pairs)} images -> {_OUT.value}")


def _reconstruct() -> None:
  require(_SRGB, _PRIOR, _CKPT, _OUT)
  _check_out(_OUT.value)
  if _TILE.value < 8 or _TILE.value % 8 or _HALO.value < 0 or _HALO.value % 8:
    raise ConfigError("--tile must be a positive multiple of 8 and --halo a multiple of 8")
  from r2lcm_jax.data.nus import load_srgb
  from r2lcm_jax.io.images import write_tiff16
  from r2lcm_jax.prior.inference import check_prior_matches, reconstruct_image
  from r2lcm_jax.prior.model_file import load_model
  from r2lcm_jax.prior.prior_file import load_prior

  srgb = load_srgb(_SRGB.value)
  model = load_model(_CKPT.value, need_reconstructor=True)
  prior = load_prior(_PRIOR.value)
  check_prior_matches(model, prior)
  raw = reconstruct_image(model, prior, srgb, tile=_TILE.value, halo=_HALO.value)
  write_tiff16(_OUT.value, raw)
  print(f"reconstructed {raw.shape[1]}x{raw.shape[0]} raw-RGB -> {_OUT.value}")


def main(argv: list[str]) -> None:
  """Runs the action named by the first positional argument."""
  if len(argv) != 2 or argv[1] not in ACTIONS:
    raise ConfigError(f"usage: r2lcm prior {{{','.join(ACTIONS)}}} [flags] "
                      f"(got {' '.join(argv[1:]) or 'no action'})")
  {"train": _train, "build": _build, "reconstruct": _reconstruct}[argv[1]]()


if __name__ == "__main__":  # python -m r2lcm_jax.cli.prior [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("prior", main)
