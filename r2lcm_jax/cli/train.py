"""`r2lcm train --config experiments/configs/<name>.py[:args] --workdir DIR`.

Trains, or resumes from the newest checkpoint in `DIR/ckpt` when the same command
is run again. Override config values with `--config.optim.learning_rate=3e-4`.
A non-finite loss stops with exit code 2, keeping the last good checkpoint.

Multi-host (one process per host, `train.distributed`): add
`--coordinator_address HOST:PORT --num_processes N --process_id I` on every host (same
config and workdir, on a shared file system), or `--distributed auto` where JAX detects
the cluster (Cloud TPU VMs, SLURM). The global batch `data.batch_size` spans the devices
of all processes.
"""

from __future__ import annotations

import jax
from absl import flags, logging
from ml_collections import config_flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.train import distributed, loop

__all__ = ["main"]

_CONFIG = config_flags.DEFINE_config_file(
  "config", None, "Training config file, `path.py[:args]`.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output folder (checkpoints, events, config.json).")
_DISTRIBUTED = flags.DEFINE_enum(
  "distributed", "off", ["off", "auto"],
  "auto: join a multi-process run that JAX detects (Cloud TPU, SLURM); off: single "
  "process unless --coordinator_address is given.")
_COORDINATOR = flags.DEFINE_string(
  "coordinator_address", "", "HOST:PORT of process 0 for a multi-process run (with "
  "--num_processes and --process_id).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", 0, "Processes in the multi-process run.")
_PROCESS_ID = flags.DEFINE_integer("process_id", -1, "This process's index, 0..num_processes-1.")
_PROFILE_STEPS = flags.DEFINE_integer(
  "profile_steps", 0, "Write a jax.profiler trace of this many steps to WORKDIR/plugins/profile."
)


def main(argv: list[str]) -> None:
  """Runs `train_and_evaluate` with the flags."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if _CONFIG.value is None or not _WORKDIR.value:
    raise ConfigError("--config and --workdir are required")
  if _COORDINATOR.value:
    spec = distributed.DistributedSpec("explicit", _COORDINATOR.value, _NUM_PROCESSES.value,
                                       _PROCESS_ID.value)
  else:
    spec = distributed.DistributedSpec(_DISTRIBUTED.value)
  distributed.initialize(spec)
  jax.config.update("jax_threefry_partitionable", True)
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO.
  state = loop.train_and_evaluate(_CONFIG.value, _WORKDIR.value, profile_steps=_PROFILE_STEPS.value)
  print(f"trained to step {int(state.step)}; checkpoints in {_WORKDIR.value}/ckpt")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.train [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("train", main)
