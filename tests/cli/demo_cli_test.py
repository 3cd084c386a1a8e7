"""`r2lcm demo` runs and reports what it did."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np

from r2lcm_jax.io.images import read_image


def test_demo_renders_the_synthetic_scene_and_reports(tmp_path):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "demo", "--output",
                      str(tmp_path), "--height", "128", "--width", "192"],
                     capture_output=True, text=True, env=env, timeout=300)
  assert r.returncode == 0, r.stderr
  assert "scene: synthetic seed 0, 192x128 Bayer RGGB" in r.stdout
  psnr = [float(v) for v in re.findall(r"PSNR ([\d.]+) dB", r.stdout)]
  psnr += [float(v) for v in re.findall(r", ([\d.]+) dB from JPEG", r.stdout)]
  assert len(psnr) == 2 and all(15 < p < 60 for p in psnr), r.stdout
  raw = read_image(tmp_path / "synthetic/test/raw/scene0.tif")
  srgb = read_image(tmp_path / "synthetic/test/sRGB/scene0.png")
  assert raw.shape == srgb.shape == (128, 192, 3)
  assert raw.dtype == np.uint16 and srgb.dtype == np.uint8
  assert (tmp_path / "synthetic/test/sRGB_jpeg/scene0.jpg").stat().st_size > 1000


def test_demo_rejects_odd_sizes_with_exit_2(tmp_path):
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "demo", "--output",
                      str(tmp_path), "--height", "127"], capture_output=True, text=True,
                     env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=300)
  assert r.returncode == 2 and "even" in r.stderr
