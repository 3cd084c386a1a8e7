"""`r2lcm train --config experiments/configs/<name>.py[:args] --workdir DIR`.

Trains, or resumes from the newest checkpoint in `DIR/ckpt` when the same command
is run again. Override config values with `--config.optim.learning_rate=3e-4`.
A non-finite loss stops with exit code 2, keeping the last good checkpoint.
"""

from __future__ import annotations

import jax
from absl import flags, logging
from ml_collections import config_flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.train import loop

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Training config file, `path.py[:args]`.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (checkpoints, events, config.json).")
_PROFILE_STEPS = flags.DEFINE_integer(
  "profile_steps", 0, "Write a jax.profiler trace of this many steps to WORKDIR/plugins/profile."
)


def main(argv: list[str]) -> None:
  """Runs `train_and_evaluate` with the flags."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _CONFIG.value is None or not _WORKDIR.value:
    raise ConfigError("--config and --workdir are required")
  jax.config.update("jax_threefry_partitionable", True)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  state = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value, profile_steps=_PROFILE_STEPS.value)
  print(f"trained to step {int(state.step)}; checkpoints in {_WORKDIR.value}/ckpt")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.train [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("train", main)
