"""Small pieces shared by the codec subcommands: required flags and profiler traces."""

from __future__ import annotations

import contextlib

from absl import flags

from r2lcm_jax.errors import ConfigError

__all__ = ["require", "profiler_trace"]


def require(*holders: flags.FlagHolder) -> None:
  """Raises ConfigError naming the first of `holders` that has no value."""
  for holder in holders:
    if not holder.value:
      raise ConfigError(f"--{holder.name} is required")


def profiler_trace(directory: str | None) -> contextlib.AbstractContextManager:
  """A jax.profiler trace into `directory`, or a no-op context when it is None."""
  if not directory:
    return contextlib.nullcontext()
  import jax

  return jax.profiler.trace(directory)
