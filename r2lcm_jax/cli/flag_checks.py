"""Small pieces shared by the codec subcommands: required flags, shared flag definitions and
profiler traces."""

from __future__ import annotations

import contextlib

from absl import flags

from r2lcm_jax.errors import ConfigError

__all__ = ["require", "define_gate_tile", "profiler_trace"]


def require(*holders: flags.FlagHolder) -> None:
  """Raises ConfigError naming the first of `holders` that has no value."""
  for holder in holders:
    if not holder.value:
      raise ConfigError(f"--{holder.name} is required")


def define_gate_tile() -> flags.FlagHolder:
  """Defines `--gate_tile` in the calling module (its value goes to `codec.gate_for`)."""
  return flags.DEFINE_integer(
    "gate_tile", None, "Residual-gate tile side in pixels (ISP-base models only); 0: no "
    "gate; default: 64 for ISP-base models, none otherwise.", lower_bound=0)


def profiler_trace(directory: str | None) -> contextlib.AbstractContextManager:
  """A jax.profiler trace into `directory`, or a no-op context when it is None."""
  if not directory:
    return contextlib.nullcontext()
  import jax

  return jax.profiler.trace(directory)
