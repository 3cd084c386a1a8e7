"""`r2lcm bench gate`: the residual-gate ablation runs on a real file and orders sensibly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import residual_gate
from r2lcm_jax.codec.checkpoint import save_checkpoint
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

INTELTAU = "S_IMX135_BLCCSC_field_004_sensorname_sony_imx135.png"


def test_per_tile_choice_is_the_channel_summed_minimum():
  import importlib.util
  import pathlib
  path = pathlib.Path(__file__).parents[2] / "experiments" / "bench_gate.py"
  spec_ = importlib.util.spec_from_file_location("bench_gate_under_test", path)
  mod = importlib.util.module_from_spec(spec_)
  spec_.loader.exec_module(mod)
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 1, (20, 24, 3)).astype(np.float32)
  base = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
  delta = (1.5 * (x - base)).astype(np.float32)
  spec = residual_gate.GateSpec(tile=8, denominator=4)
  s = mod.per_tile_choice(x, base, delta, spec)
  assert s.shape == (3, 3, 3) and np.all(s == s[..., :1])
  for r in range(3):
    for c in range(3):
      sl = np.s_[8 * r:8 * r + 8, 8 * c:8 * c + 8]
      errs = {k: float(np.sum((np.clip(base[sl] + (1 + k / 4) * delta[sl], 0, 1) - x[sl]) ** 2))
              for k in range(-4, 5)}
      assert errs[int(s[r, c, 0])] == pytest.approx(min(errs.values()), rel=1e-5)


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
