"""Typed errors of the project.

Every failure caused by the user's input (files, flags, bitstreams, checkpoints) is raised
as a subclass of `R2lcmError`. The CLI turns them into one line on stderr and exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
  "R2lcmError",
  "InputError",
  "ImageFormatError",
  "ShapeMismatchError",
  "BitstreamError",
  "CheckpointError",
  "ConfigError",
  "CoderBackendError",
  "TrainingDivergedError",
]


class R2lcmError(Exception):
  """Base class of every error the CLI reports as a user error (exit code 2)."""


class InputError(R2lcmError):
  """A missing, unreadable or empty input (file or folder)."""


class ImageFormatError(InputError):
  """A file that is not a decodable image / RAW of the expected kind."""


class ShapeMismatchError(InputError):
  """Arrays or files that must agree in size do not."""


class BitstreamError(R2lcmError):
  """A `.r2lcm` bitstream that is truncated, corrupted, foreign or of a future version."""


class CheckpointError(R2lcmError):
  """A missing, incompatible or corrupted checkpoint / parameter file."""


class ConfigError(R2lcmError):
  """Invalid configuration or flag values."""


class CoderBackendError(R2lcmError):
  """An entropy-coder backend that is unavailable or failed."""


class TrainingDivergedError(R2lcmError):
  """Training produced a non-finite loss or gradient; the last good checkpoint is kept."""
