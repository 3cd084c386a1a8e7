"""Exports a training run as a codec checkpoint: params + config + coding tables.

    python -m r2lcm_jax.app.export --workdir RUN --out DIR [--step S]
        [--profile_from FILE.dng]

Reads `RUN/config.json` (the model fields) and the parameters of the newest (or the
given) Orbax checkpoint `RUN/ckpt/<step>/state`, and writes `DIR/{params.msgpack,
config.json, tables.npz}` (`codec.checkpoint.save_checkpoint`; the default Gaussian
tables) plus, with `--profile_from`, `DIR/camera.json`: the sensor of that RAW file
(`io.camera_profile`), which `r2lcm demo` synthesises its scene in. The folder is built
under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

import numpy as np

from r2lcm_jax.codec.checkpoint import CodecCheckpoint, save_checkpoint
from r2lcm_jax.errors import CheckpointError, R2lcmError
from r2lcm_jax.io.atomic import atomic_dir
from r2lcm_jax.models.config import R2LCMConfig

__all__ = ["export_run", "read_run_params"]

PROFILE_FILE = "camera.json"


def read_run_params(workdir: str | os.PathLike, step: int | None = None
                    ) -> tuple[dict, R2LCMConfig, int]:
  """(params pytree of numpy arrays, model config, step) of a training run.

  Raises:
    CheckpointError: no config, no checkpoint, or an unreadable one.
  """
  import orbax.checkpoint as ocp

  run = pathlib.Path(workdir)
  cfg_path = run / "config.json"
  if not cfg_path.is_file():
    raise CheckpointError(f"{cfg_path}: not a training run folder (no config.json)")
  try:
    model_fields = json.loads(cfg_path.read_text())["model"]
    config = R2LCMConfig(**model_fields)
  except (ValueError, KeyError, TypeError) as e:
    raise CheckpointError(f"{cfg_path}: cannot read the model config ({e})") from None
  ckpt_root = run / "ckpt"
  steps = sorted(int(p.name) for p in ckpt_root.iterdir() if p.name.isdigit()) if (
    ckpt_root.is_dir()) else []
  if not steps:
    raise CheckpointError(f"{ckpt_root}: no checkpoint")
  step = steps[-1] if step is None else int(step)
  if step not in steps:
    raise CheckpointError(f"{ckpt_root}: no checkpoint of step {step} (have {steps})")
  try:
    state = ocp.StandardCheckpointer().restore((ckpt_root / str(step) / "state").resolve())
  except (ValueError, KeyError, FileNotFoundError, TypeError) as e:
    raise CheckpointError(f"{ckpt_root / str(step)}: cannot restore ({e})") from None
  import jax

  params = jax.tree_util.tree_map(np.asarray, state["params"])
  return params, config, step


def export_run(workdir: str | os.PathLike, out: str | os.PathLike, *, step: int | None = None,
               profile_from: str | None = None) -> CodecCheckpoint:
  """Writes the codec checkpoint folder `out` from a training run (see module doc)."""
  from r2lcm_jax.codec.checkpoint import load_checkpoint
  from r2lcm_jax.io.camera_profile import from_raw, save_profile
  from r2lcm_jax.io.raw import read_raw

  params, config, _ = read_run_params(workdir, step)
  profile = from_raw(read_raw(profile_from)) if profile_from else None
  with atomic_dir(out) as tmp:
    save_checkpoint(tmp, params, config)
    if profile is not None:
      save_profile(tmp / PROFILE_FILE, profile)
  return load_checkpoint(out)


def main(argv: list[str]) -> None:
  from absl import flags

  del argv
  f = flags.FLAGS
  ckpt = export_run(f.workdir, f.out, step=f.step, profile_from=f.profile_from)
  print(f"wrote {ckpt.path} (model fingerprint {ckpt.model_fingerprint.hex()[:16]})")


if __name__ == "__main__":
  from absl import app, flags

  flags.DEFINE_string("workdir", None, "Training run folder.", required=True)
  flags.DEFINE_string("out", None, "Codec checkpoint folder to write.", required=True)
  flags.DEFINE_integer("step", None, "Checkpoint step (default: newest).")
  flags.DEFINE_string("profile_from", None, "RAW file whose sensor profile to store.")

  def _main(argv):
    try:
      main(argv)
    except R2lcmError as e:
      print(f"error: {e}", file=sys.stderr)
      sys.exit(2)

  app.run(_main)
