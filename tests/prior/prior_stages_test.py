"""The whole PriorRAW pipeline through `r2lcm prior` on a tiny synthetic NUS-layout dataset."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.io.images import read_image, to_uint8, to_uint16, write_png
from r2lcm_jax.prior.model_file import load_model
from r2lcm_jax.prior.prior_file import load_prior
from r2lcm_jax.train.metric_writer import read_scalars


def _r2lcm(*args, cwd):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "prior", *map(str, args)],
                        capture_output=True, text=True, env=env, timeout=600, cwd=cwd)


@pytest.mark.slow
def test_train_build_train_reconstruct_through_the_cli(tmp_path, repo_root):
  for split, seeds in (("train", range(4)), ("val", (10,)), ("test", (20,))):
    for s in seeds:
      raw, srgb = synthetic_pair(s, 64, 96)
      write_png(tmp_path / "data" / "cam" / split / "raw" / f"{s:03d}.png", to_uint16(raw))
      write_png(tmp_path / "data" / "cam" / split / "sRGB" / f"{s:03d}.png", to_uint8(srgb))
  cfg = (f"{repo_root}/experiments/configs/prior_small_real.py:root={tmp_path / 'data'},"
         "camera=cam,encoder_steps=3,reconstructor_steps=3")
  work = tmp_path / "run"
  r = _r2lcm("train", "--stage=encoder", f"--config={cfg}", f"--workdir={work}", cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  assert load_model(work / "encoder.msgpack").reconstructor is None
  assert read_scalars(work / "encoder")["train/l2"][-1][0] == 3
  r = _r2lcm("build", f"--dataset={tmp_path / 'data'}", f"--encoder={work / 'encoder.msgpack'}",
             f"--out={work / 'prior.npz'}", "--clusters=300", "--group_size=200", cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  prior = load_prior(work / "prior.npz")
  assert 0 < len(prior) <= 300 and prior.info["reference_pixels"] == 4 * 32 * 48
  r = _r2lcm("train", "--stage=reconstructor", f"--config={cfg}", f"--workdir={work}",
             cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  assert np.isfinite(read_scalars(work / "reconstructor")["train/loss"][-1][1])
  r = _r2lcm("reconstruct", f"--srgb={tmp_path / 'data/cam/test/sRGB/020.png'}",
             f"--prior={work / 'prior.npz'}", f"--checkpoint={work / 'model.msgpack'}",
             f"--out={tmp_path / 'r.tiff'}", cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  assert read_image(tmp_path / "r.tiff").shape == (64, 96, 3)
