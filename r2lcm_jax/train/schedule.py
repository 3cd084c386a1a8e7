"""ReduceLROnPlateau driven by a validation loss, with checkpointable state.

Wraps `optax.contrib.reduce_on_plateau` as a standalone state machine: each
validation result updates a `ReduceLROnPlateauState`, and the learning rate used
by the optimizer is `base_lr * state.scale`. `patience` follows PyTorch's
`ReduceLROnPlateau` meaning: the rate drops once more than `patience`
consecutive evaluations fail to improve the best value by the relative
threshold `rtol` (optax counts differently, hence the +1 below).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax.contrib import ReduceLROnPlateauState

__all__ = ["PlateauSchedule", "create_plateau_schedule"]

# Any array works as the "params" the optax transformation is initialised with;
# it only fixes the dtypes of the stored best value and scale. A NumPy value: creating a
# jax array at import would start JAX's backend, too early for `jax.distributed`.
_DTYPE_PROBE = np.zeros((), np.float32)


class PlateauSchedule:
  """Pure functions over `ReduceLROnPlateauState` (no hidden state)."""

  def __init__(self, factor: float = 0.1, patience: int = 40, rtol: float = 1e-4, min_scale: float = 0.0):
    """Creates the schedule.

    Args:
      factor: multiplicative drop of the learning rate, in (0, 1).
      patience: evaluations without improvement tolerated (PyTorch meaning).
      rtol: relative improvement threshold (PyTorch `threshold`, mode "rel").
      min_scale: floor of the scale.
    """
    self._tx = optax.contrib.reduce_on_plateau(
      factor=factor, patience=patience + 1, rtol=rtol, accumulation_size=1, min_scale=min_scale
    )

  def init(self) -> ReduceLROnPlateauState:
    """Initial state: scale 1, best value +inf."""
    return self._tx.init(_DTYPE_PROBE)

  def update(self, state: ReduceLROnPlateauState, value: float | jax.Array) -> ReduceLROnPlateauState:
    """Feeds one validation loss; returns the new state."""
    _, new_state = self._tx.update(_DTYPE_PROBE, state, value=jnp.asarray(value, jnp.float32))
    return new_state

  @staticmethod
  def learning_rate(state: ReduceLROnPlateauState, base_lr: float) -> jax.Array:
    """`base_lr * scale` for the given state."""
    return base_lr * state.scale


def create_plateau_schedule(factor: float = 0.1, patience: int = 40, rtol: float = 1e-4) -> PlateauSchedule:
  """Factory of the validation-driven plateau schedule (see `PlateauSchedule`)."""
  return PlateauSchedule(factor=factor, patience=patience, rtol=rtol)
