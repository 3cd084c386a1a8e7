"""Data-parallel mesh, shardings, and host batch -> global array.

One 1-D mesh with axis "data": the global batch is split over its devices
(`P("data")`), parameters and optimizer state are replicated (`P()`). The train
step is one `jax.jit` over that mesh; XLA inserts the gradient all-reduce.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from r2lcm_jax.errors import ConfigError

__all__ = [
  "DATA_AXIS",
  "create_mesh",
  "batch_sharding",
  "replicated_sharding",
  "shard_batch",
  "replicate",
  "process_slice",
]

DATA_AXIS = "data"


def create_mesh(num_devices: int | None = None, devices: Sequence[jax.Device] | None = None) -> Mesh:
  """A 1-D data-parallel mesh over the first `num_devices` devices.

  Args:
    num_devices: devices to use; None or 0 means all of `jax.devices()`.
    devices: explicit device list (overrides `num_devices`).

  Returns:
    A `Mesh` with one axis, `"data"`, of automatic (GSPMD) sharding type.
  """
  if devices is None:
    available = jax.devices()
    n = num_devices or len(available)
    if n > len(available):
      raise ConfigError(f"asked for {n} devices, only {len(available)} available")
    devices = available[:n]
  return jax.make_mesh(
    (len(devices),), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
  )


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch array: leading (batch) axis split over "data"."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of parameters / optimizer state: a full copy on every device."""
  return NamedSharding(mesh, P())


def shard_batch(batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Turns this process's host batch into global arrays split over "data".

  Args:
    batch: dict of host arrays, each (B_local, ...) with B_local divisible by
      the number of this process's devices in `mesh`.
    mesh: the data-parallel mesh.

  Returns:
    dict of `jax.Array`s of global batch size B_local * process_count, sharded
    along the batch axis.

  Raises:
    ConfigError: a batch size that does not split evenly over the devices.
  """
  sharding = batch_sharding(mesh)
  local = len(mesh.local_devices)
  out = {}
  for name, value in batch.items():
    value = np.asarray(value)
    if value.shape[0] % local:
      raise ConfigError(
        f"batch '{name}' of size {value.shape[0]} does not split over {local} devices;"
        " choose a batch size divisible by the device count"
      )
    out[name] = jax.make_array_from_process_local_data(sharding, value)
  return out


def replicate(tree, mesh: Mesh):
  """Places every leaf of `tree` on all devices of `mesh` (replicated).

  Leaves go through the host first, so a value computed on one local device can be
  placed on a mesh that spans other processes' devices (each process gives the same
  value; multi-process runs).
  """
  host = jax.tree.map(np.asarray, jax.device_get(tree))
  return jax.device_put(host, replicated_sharding(mesh))


def process_slice(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """This process's contiguous part of a batch that every process holds whole.

  Args:
    batch: dict of host arrays (B, ...), the same on every process.

  Returns:
    dict of (B / process_count, ...) arrays: rows [i * b, (i + 1) * b) for process i,
    so `shard_batch` of the slices rebuilds the whole batch in order.

  Raises:
    ConfigError: B not divisible by the number of processes.
  """
  n, i = jax.process_count(), jax.process_index()
  if n == 1:
    return dict(batch)
  out = {}
  for name, value in batch.items():
    value = np.asarray(value)
    if value.shape[0] % n:
      raise ConfigError(f"batch '{name}' of size {value.shape[0]} does not split over {n} processes")
    b = value.shape[0] // n
    out[name] = value[i * b:(i + 1) * b]
  return out
