"""Running a third-party raw converter headless, and reading back what it wrote.

darktable-cli and rawtherapee-cli are external programs (Debian packages `darktable`
and `rawtherapee`, installed by `make isp-tools`). This module finds them, runs them as
subprocesses with a timeout and isolated settings folders, and turns every failure into
a typed error: a missing program is a `ToolNotFoundError` (a `ConfigError`) naming
`make isp-tools`; a program that fails, times out or writes nothing is an `InputError`
carrying the program's last stderr line.

Output pixels: both tools are asked for 16-bit display sRGB TIFF (finer than 8 bits, so
the project, not the tool, decides the rounding); `read_tiff_srgb` converts it to uint8
as round(x / 257), which maps 0..65535 onto 0..255 exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re
import shutil
import subprocess
import time
from typing import Any

import numpy as np

from r2lcm_jax.errors import ConfigError, ImageFormatError, InputError

__all__ = [
  "ToolNotFoundError",
  "ToolRun",
  "ToolRender",
  "find_tool",
  "run_tool",
  "tool_version",
  "read_tiff_srgb",
  "DEFAULT_TIMEOUT_S",
]

DEFAULT_TIMEOUT_S = 600.0


class ToolNotFoundError(ConfigError):
  """A third-party raw converter is not installed (run `make isp-tools`)."""


@dataclasses.dataclass(frozen=True)
class ToolRun:
  """One finished tool invocation.

  Attributes:
    argv: the command line.
    stdout: its standard output (text).
    stderr: its standard error (text).
    seconds: wall-clock time.
  """

  argv: tuple[str, ...]
  stdout: str
  stderr: str
  seconds: float


@dataclasses.dataclass(frozen=True, eq=False)
class ToolRender:
  """What a tool rendered, before alignment.

  Attributes:
    srgb: (H, W, 3) uint8 display sRGB as the tool wrote it.
    orientation: the output TIFF's Orientation tag (1 if absent).
    seconds: wall-clock time of the tool run.
    details: JSON-serialisable facts about the run for the manifest.
  """

  srgb: np.ndarray
  orientation: int
  seconds: float
  details: dict[str, Any]


def find_tool(program: str) -> str:
  """Absolute path of `program` on PATH.

  Raises:
    ToolNotFoundError: it is not installed.
  """
  path = shutil.which(program)
  if path is None:
    raise ToolNotFoundError(
      f"{program} not found on PATH: install the third-party ISPs with `make isp-tools`")
  return path


def _last_line(text: str) -> str:
  lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
  return lines[-1] if lines else "(no output)"


def run_tool(argv: list[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
             env: dict[str, str] | None = None, cwd: str | os.PathLike | None = None) -> ToolRun:
  """Runs a tool to completion.

  Args:
    argv: program (found with `find_tool`) and arguments.
    timeout_s: seconds before the process is killed.
    env: extra environment variables (added to the current environment).
    cwd: working folder.

  Returns:
    ToolRun with its output.

  Raises:
    InputError: non-zero exit status or timeout, with the tool's last stderr line.
  """
  name = pathlib.Path(argv[0]).name
  full_env = dict(os.environ, **(env or {}))
  t0 = time.perf_counter()
  try:
    proc = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                          timeout=timeout_s, env=full_env, cwd=cwd, stdin=subprocess.DEVNULL)
  except subprocess.TimeoutExpired as e:
    err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
    raise InputError(f"{name} timed out after {timeout_s:g} s: {_last_line(err)}") from e
  except OSError as e:
    raise InputError(f"{name} could not be started: {e}") from e
  seconds = time.perf_counter() - t0
  if proc.returncode != 0:
    raise InputError(f"{name} failed (exit status {proc.returncode}): "
                     f"{_last_line(proc.stderr or proc.stdout)}")
  return ToolRun(argv=tuple(argv), stdout=proc.stdout, stderr=proc.stderr, seconds=seconds)


def tool_version(text: str, program: str) -> str:
  """The first dotted version number in a tool's banner, e.g. "4.2.1".

  Raises:
    InputError: no version number in `text`.
  """
  m = re.search(r"\b(\d+\.\d+(?:\.\d+)*)\b", text)
  if m is None:
    raise InputError(f"{program}: cannot read its version from {_last_line(text)!r}")
  return m.group(1)


def read_tiff_srgb(path: str | os.PathLike, program: str) -> tuple[np.ndarray, int, str]:
  """Reads a tool's output TIFF.

  Args:
    path: the TIFF the tool wrote.
    program: tool name, for error messages.

  Returns:
    (srgb, orientation, xmp): (H, W, 3) uint8 display sRGB (16-bit input becomes
    round(x / 257), 8-bit is kept), the TIFF Orientation tag (1 if absent), and the
    embedded XMP packet ("" if none).

  Raises:
    InputError: the tool wrote no file, or not an RGB TIFF of 8 or 16 bits.
  """
  import tifffile

  path = pathlib.Path(path)
  if not path.is_file() or path.stat().st_size == 0:
    raise InputError(f"{program} wrote no output image ({path.name})")
  logging.getLogger("tifffile").disabled = True
  try:
    with tifffile.TiffFile(path) as tif:
      page = tif.pages[0]
      arr = page.asarray()
      tags = page.tags
      orientation = int(tags["Orientation"].value) if "Orientation" in tags else 1
      xmp = tags["XMP"].value if "XMP" in tags else b""
  except (tifffile.TiffFileError, ValueError, OSError) as e:
    raise ImageFormatError(f"{program} output {path.name} is not a readable TIFF ({e})") from e
  finally:
    logging.getLogger("tifffile").disabled = False
  if arr.ndim != 3 or arr.shape[2] not in (3, 4):
    raise ImageFormatError(f"{program} output {path.name}: not RGB, shape {arr.shape}")
  arr = arr[..., :3]
  if arr.dtype == np.uint16:
    srgb = np.round(arr.astype(np.float32) / np.float32(257.0)).astype(np.uint8)
  elif arr.dtype == np.uint8:
    srgb = arr
  else:
    raise ImageFormatError(f"{program} output {path.name}: {arr.dtype}, expected 8 or 16 bit")
  if isinstance(xmp, bytes):
    xmp = xmp.decode("utf-8", errors="replace")
  return np.ascontiguousarray(srgb), orientation, str(xmp)
