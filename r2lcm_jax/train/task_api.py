"""What the training loop trains: a `Task` (initialiser, loss, data).

`train.loop.train_and_evaluate` runs any `Task`; `train.task.create_task` builds the
R2LCM one from a config, and the PriorRAW stages (`prior.contrastive`,
`prior.reconstructor_train`) build theirs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from r2lcm_jax.train import step

__all__ = ["Task"]


@dataclasses.dataclass
class Task:
  """What the loop trains, independent of how it was built.

  Attributes:
    init_params: `key -> params` (float32 pytree).
    loss_fn: `(params, batch, rngs, training) -> (loss, metrics)`.
    train_iter: checkpointable grain iterator of host batches (dicts of
      (B_local, ...) arrays), endless.
    val_batches: fixed host batches of the validation split (not the test split).
    steps_per_epoch: training batches per pass over the data (for
      `num_epochs` and per-epoch evaluation); 0 if unknown.
  """

  init_params: Callable[[jax.Array], Any]
  loss_fn: step.LossFn
  train_iter: Any
  val_batches: Sequence[Mapping[str, np.ndarray]]
  steps_per_epoch: int = 0
