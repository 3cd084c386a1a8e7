"""Orbax checkpointing of the train state together with the grain iterator state.

Layout: `<workdir>/ckpt/<step>/{state,data}`. Orbax writes each step to a
temporary folder and renames it when complete, so a process killed at any
moment leaves only complete checkpoints; the newest complete one is restored.
"""

from __future__ import annotations

import os
from typing import Any

import grain
import orbax.checkpoint as ocp

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.train.state import TrainState

__all__ = ["create_checkpoint_manager", "save_checkpoint", "restore_checkpoint"]


def create_checkpoint_manager(
  directory: str | os.PathLike, max_to_keep: int = 3, save_interval_steps: int = 1000
) -> ocp.CheckpointManager:
  """A manager for `directory` (created if missing) keeping `max_to_keep` steps.

  Args:
    directory: absolute or relative checkpoint folder (e.g. `workdir/ckpt`).
    max_to_keep: number of most recent checkpoints kept.
    save_interval_steps: `save_checkpoint` writes only at multiples of this
      (unless forced).
  """
  options = ocp.CheckpointManagerOptions(
    max_to_keep=max_to_keep,
    save_interval_steps=save_interval_steps,
    create=True,
    cleanup_tmp_directories=True,
  )
  return ocp.CheckpointManager(os.path.abspath(os.fspath(directory)), options=options)


def save_checkpoint(
  manager: ocp.CheckpointManager, step: int, state: TrainState, data_iter: Any, force: bool = False
) -> bool:
  """Saves `state` and the iterator position after `step` updates (async).

  Args:
    manager: from `create_checkpoint_manager`.
    step: number of updates in `state`.
    state: the train state.
    data_iter: grain `DatasetIterator` positioned at the next training batch.
    force: save even off the save interval (e.g. at the end of training).

  Returns:
    Whether a checkpoint was started.
  """
  args = ocp.args.Composite(
    state=ocp.args.StandardSave(state), data=grain.checkpoint.CheckpointSave(data_iter)
  )
  return manager.save(step, args=args, force=force)


def restore_checkpoint(
  manager: ocp.CheckpointManager, template: TrainState, data_iter: Any, step: int | None = None
) -> TrainState | None:
  """Restores the newest (or the given) checkpoint into `template`'s structure.

  The iterator is repositioned in place.

  Args:
    manager: from `create_checkpoint_manager`.
    template: a train state (concrete or abstract) giving structure, dtypes and
      shardings.
    data_iter: the grain iterator to reposition.
    step: checkpoint to restore; None means the latest.

  Returns:
    The restored state, or None when the folder holds no checkpoint.

  Raises:
    CheckpointError: a checkpoint that cannot be read into `template`.
  """
  step = manager.latest_step() if step is None else step
  if step is None:
    return None
  args = ocp.args.Composite(
    state=ocp.args.StandardRestore(template), data=grain.checkpoint.CheckpointRestore(data_iter)
  )
  try:
    restored = manager.restore(step, args=args)
  except (ValueError, KeyError, FileNotFoundError, TypeError) as err:
    raise CheckpointError(f"cannot restore checkpoint step {step} from {manager.directory}: {err}") from err
  return restored["state"]
