"""Shared helpers of the io tests: third-party raw converters run on a file."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
import tifffile


def _render_with(tool: str, dng, tmp_path) -> np.ndarray:
  """Runs darktable-cli or rawtherapee-cli on `dng`; the output TIFF as an array."""
  exe = {"darktable": "darktable-cli", "rawtherapee": "rawtherapee-cli"}[tool]
  if shutil.which(exe) is None:
    pytest.skip(f"{exe} not on PATH")
  work = tmp_path / f"{tool}_{dng.stem}"
  work.mkdir()
  out = work / "out.tif"
  if tool == "darktable":
    cmd = [exe, str(dng), str(out), "--core", "--configdir", str(work / "config"),
           "--cachedir", str(work / "cache"), "--library", ":memory:"]
  else:
    cmd = [exe, "-o", str(out), "-t", "-d", "-Y", "-c", str(dng)]
  env = dict(os.environ, HOME=str(work), XDG_CONFIG_HOME=str(work / "config"),
             XDG_CACHE_HOME=str(work / "cache"))
  proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, f"{exe} failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
  assert out.is_file(), f"{exe} wrote no {out.name}: {proc.stdout[-2000:]}"
  return tifffile.imread(out)




@pytest.fixture
def render_with():
  """`render_with(tool, dng, tmp_path)`: darktable-cli / rawtherapee-cli output as an array
  (skips when the tool is not installed; `make isp-tools` installs both)."""
  return _render_with
