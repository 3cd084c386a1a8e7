"""`r2lcm bench gate`: the residual-gate ablation runs on a real file and orders sensibly.

`slow` (a whole INTEL-TAU frame through the codec): the gate itself is covered in the
default run by tests/codec/residual_gate_test.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import pytest

from r2lcm_jax.codec.checkpoint import save_checkpoint
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

INTELTAU = "S_IMX135_BLCCSC_field_004_sensorname_sony_imx135.png"


@pytest.mark.slow
def test_bench_gate_cli_on_a_real_file(real_data, tmp_path):
  cfg = R2LCMConfig(N=8, latent_channels=4, base="isp_inverse", coverage="full")
  ckpt = tmp_path / "ckpt"
  save_checkpoint(ckpt, init_params(cfg, jax.random.key(0)), cfg)
  out = tmp_path / "gate.json"
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  proc = subprocess.run(
    [sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "gate",
     f"--raw={real_data / 'inteltau' / INTELTAU}", f"--checkpoint={ckpt}", "--tiles=32,64",
     f"--json={out}"], env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr
  assert "| per channel | 64 |" in proc.stdout
  rows = {(r["variant"], r["tile"]): r for r in json.loads(out.read_text())}
  naive, plain = rows[("naive inverse", 0)]["psnr"], rows[("no gate", 0)]["psnr"]
  for tile in (32, 64):
    tile_row, chan_row = rows[("per tile", tile)], rows[("per channel", tile)]
    # More freedom never hurts: per channel >= per tile >= max(no gate, naive inverse).
    assert chan_row["psnr"] >= tile_row["psnr"] - 1e-6
    assert tile_row["psnr"] >= max(naive, plain) - 1e-6
    assert chan_row["gate_bpp"] > tile_row["gate_bpp"] > 0
  # A model without an ISP base is refused with a typed error.
  plain_ckpt = tmp_path / "plain"
  save_checkpoint(plain_ckpt, init_params(R2LCMConfig(N=8, latent_channels=4),
                                          jax.random.key(0)), R2LCMConfig(N=8, latent_channels=4))
  proc = subprocess.run(
    [sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "gate",
     f"--raw={real_data / 'inteltau' / INTELTAU}", f"--checkpoint={plain_ckpt}"],
    env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 2 and "isp_inverse" in proc.stderr
  assert "Traceback" not in proc.stderr
