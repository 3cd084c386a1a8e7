"""Joining a multi-process JAX run (`jax.distributed`): one process per host.

    r2lcm train ... --coordinator_address HOST:PORT --num_processes N --process_id I
    r2lcm train ... --distributed auto     # Cloud TPU, SLURM, ...: JAX detects the cluster

After `initialize`, `jax.devices()` lists the devices of every process; the training
mesh spans all of them (`parallel.create_mesh`), each process feeds its own shard of the
global batch (`data.pipeline` `shard=`), Orbax writes one checkpoint from all processes
and metrics are written by process 0 only (`train.loop`).

On CPU hosts the cross-process collectives use gloo
(`jax_cpu_collectives_implementation`); accelerators use their own (NCCL, ICI).
"""

from __future__ import annotations

import dataclasses

import jax

from r2lcm_jax.errors import ConfigError

__all__ = ["DistributedSpec", "MODES", "initialize"]

MODES = ("off", "auto", "explicit")


@dataclasses.dataclass(frozen=True)
class DistributedSpec:
  """How to join a multi-process run.

  Attributes:
    mode: "off" (single process), "auto" (`jax.distributed.initialize()` detects the
      cluster: Cloud TPU, SLURM, Open MPI, Kubernetes job sets), "explicit" (the fields
      below).
    coordinator_address: "host:port" of process 0's coordination service.
    num_processes: processes in the run.
    process_id: this process, 0..num_processes-1.
  """

  mode: str = "off"
  coordinator_address: str = ""
  num_processes: int = 0
  process_id: int = -1

  def __post_init__(self):
    if self.mode not in MODES:
      raise ConfigError(f"distributed mode must be one of {MODES}, got {self.mode!r}")
    if self.mode == "explicit":
      host, _, port = self.coordinator_address.rpartition(":")
      if not host or not port.isdigit():
        raise ConfigError(f"--coordinator_address must be HOST:PORT, got {self.coordinator_address!r}")
      if self.num_processes < 1 or not 0 <= self.process_id < self.num_processes:
        raise ConfigError(f"--process_id {self.process_id} not in [0, --num_processes "
                          f"{self.num_processes})")


def initialize(spec: DistributedSpec) -> tuple[int, int]:
  """Joins the run described by `spec` (before any other JAX call); no-op for "off".

  Returns:
    (process_index, process_count).

  Raises:
    ConfigError: JAX's backend already started (too late to join), or the cluster
      could not be joined (the coordinator's message is kept).
  """
  if spec.mode == "off":
    return jax.process_index(), jax.process_count()
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  kwargs = {}
  if spec.mode == "explicit":
    kwargs = dict(coordinator_address=spec.coordinator_address,
                  num_processes=spec.num_processes, process_id=spec.process_id)
  try:
    jax.distributed.initialize(**kwargs)
  except (RuntimeError, ValueError) as err:
    raise ConfigError(f"could not join the multi-process run ({spec.mode}): {err}") from err
  return jax.process_index(), jax.process_count()
