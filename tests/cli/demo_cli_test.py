"""`r2lcm demo`: the codec end to end on the packaged default model."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np

from r2lcm_jax.io.images import read_image


def _demo(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "demo", *args],
                        capture_output=True, text=True, env=env, timeout=600)


def test_demo_encodes_decodes_and_reports_real_numbers(tmp_path):
  r = _demo("--output", str(tmp_path), "--height", "128", "--width", "192")
  assert r.returncode == 0, r.stderr
  out = r.stdout
  assert "synthetic scene seed 0 in the camera space of" in out and "192x128" in out
  meta = int(re.search(r"metadata  ([\d,]+) bytes", out).group(1).replace(",", ""))
  jpeg = int(re.search(r"JPEG q90: ([\d,]+) bytes", out).group(1).replace(",", ""))
  assert meta == (tmp_path / "demo.r2lcm").stat().st_size > 0
  assert jpeg == (tmp_path / "demo.jpg").stat().st_size
  assert "decoded latents equal the encoder's" in out
  psnr = float(re.search(r"R2LCM reconstruction: PSNR ([\d.]+) dB", out).group(1))
  naive = float(re.search(r"naive inverse ISP .*?PSNR ([\d.]+) dB", out).group(1))
  # The report is recomputed from the files: check it against them.
  x = read_image(tmp_path / "demo_raw.tiff").astype(np.float64) / 65535
  x_hat = read_image(tmp_path / "demo_recon.tiff").astype(np.float64) / 65535
  assert x.shape == x_hat.shape == (128, 192, 3)
  measured = -10 * np.log10(np.mean((x - x_hat) ** 2))
  assert abs(measured - psnr) < 0.2, (measured, psnr)  # TIFF stores the clipped 16-bit recon
  assert psnr > naive, out
  assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_demo_rejects_odd_sizes_and_missing_files_with_exit_2(tmp_path):
  r = _demo("--output", str(tmp_path), "--height", "127")
  assert r.returncode == 2 and "even" in r.stderr and "Traceback" not in r.stderr
  r = _demo("--output", str(tmp_path), "--raw", str(tmp_path / "absent.dng"))
  assert r.returncode == 2 and "absent.dng" in r.stderr and "Traceback" not in r.stderr
  r = _demo("--output", str(tmp_path), "--checkpoint", "no-such-model")
  assert r.returncode == 2 and "packaged" in r.stderr
