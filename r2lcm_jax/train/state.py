"""Train state: step, parameters, optimizer state and plateau-schedule state.

The PRNG is not stored: per-step keys are derived in-graph from the config seed
and `step` (see `train.step`), so a resumed run draws the same randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from optax.contrib import ReduceLROnPlateauState

from r2lcm_jax.train.schedule import PlateauSchedule

__all__ = ["TrainState", "create_train_state", "abstract_train_state"]

PyTree = Any


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training and is checkpointed.

  Attributes:
    step: () int32, number of optimizer updates applied so far.
    params: float32 parameter pytree of the model.
    opt_state: optax state of `create_optimizer` (holds the current lr).
    plateau: validation-driven `ReduceLROnPlateauState` (scale, best value).
  """

  step: jax.Array
  params: PyTree
  opt_state: optax.OptState
  plateau: ReduceLROnPlateauState


def create_train_state(
  params: PyTree, tx: optax.GradientTransformation, schedule: PlateauSchedule
) -> TrainState:
  """Initial state at step 0 for the given parameters.

  Args:
    params: float32 parameter pytree (e.g. `variables["params"]` from `init`).
    tx: the optimizer.
    schedule: the plateau schedule.

  Returns:
    A `TrainState` at step 0.
  """
  return TrainState(
    step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params), plateau=schedule.init()
  )


def abstract_train_state(make_state: Callable[[], TrainState]) -> TrainState:
  """Shapes/dtypes of the state `make_state()` would build, without allocating."""
  return jax.eval_shape(make_state)
