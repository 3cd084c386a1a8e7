"""The PriorRAW training recipes of `experiments/configs/prior_any_isp.py`.

`recipe=gpu` sizes the stages for an accelerator and trains data-parallel over every
device (`num_devices=0`). The default run checks the config and that the stages pass
`num_devices` to the loop; the `slow` test trains both stages of the GPU recipe, at its
full patch and batch sizes, for two steps on a 2-device CPU platform
(XLA_FLAGS=--xla_force_host_platform_device_count=2) and checks that the 2-device encoder
trains as the 1-device one (data parallelism does not change the loss).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.stages import loop_config
from r2lcm_jax.train import config as base

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIG = REPO / "experiments" / "configs" / "prior_any_isp.py"


def _load(arg=""):
  return base.load_file(f"{CONFIG}:{arg}")


def test_the_cpu_recipe_is_the_default_and_runs_on_one_device():
  c = _load()
  assert (c.recipe, c.num_devices, c.encoder.features, c.encoder.patch_size,
          c.encoder.num_steps, c.prior.clusters, c.reconstructor.batch_size,
          c.reconstructor.num_steps) == ("cpu", 1, 16, 64, 500, 1000, 8, 400)
  assert loop_config(c, c.encoder).num_devices == 1


def test_the_gpu_recipe_sets_the_sizes_and_the_arguments_still_win():
  c = _load("recipe=gpu")
  assert (c.num_devices, c.encoder.features, c.encoder.embed_dim, c.encoder.patch_size,
          c.encoder.batch_size, c.encoder.reference_batch_size, c.encoder.num_steps) == (
    0, 32, 64, 128, 8, 32, 20000)
  assert (c.prior.clusters, c.prior.group_size, c.prior.references) == (5000, 1000, 0)
  assert (c.reconstructor.features, c.reconstructor.heads, c.reconstructor.patch_size,
          c.reconstructor.batch_size, c.reconstructor.num_steps) == (32, 4, 128, 16, 30000)
  r = loop_config(c, c.reconstructor)
  assert (r.num_devices, r.num_steps, r.ckpt.every_steps, r.optim.learning_rate) == (
    0, 30000, 1000, 5e-4)
  c = _load("encoder_steps=7,recipe=gpu,num_devices=2,clusters=300")
  assert (c.encoder.num_steps, c.num_devices, c.prior.clusters, c.encoder.features) == (7, 2, 300, 32)


def test_an_unknown_recipe_or_relight_mode_is_refused():
  with pytest.raises(ConfigError, match=r"recipe='tpu': choose from \['cpu', 'gpu'\]"):
    _load("recipe=tpu")
  with pytest.raises(ConfigError, match=r"relight='1': choose from"):
    _load("relight=1")
  assert _load("relight=gains").relight == "gains" and _load().relight == ""


def _write_dataset(root: pathlib.Path) -> None:
  from r2lcm_jax.data.synthetic import synthetic_pair
  from r2lcm_jax.io.images import to_uint8, to_uint16, write_png

  for s in range(4):  # 128x128 patches of 4 images (2 targets, 2 references)
    raw, srgb = synthetic_pair(s, 160, 192)
    write_png(root / "cam" / "train" / "raw" / f"{s:03d}.png", to_uint16(raw))
    write_png(root / "cam" / "train" / "sRGB" / f"{s:03d}.png", to_uint8(srgb))


def _prior(*args, cwd, devices: int):
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "prior", *map(str, args)],
                        capture_output=True, text=True, env=env, timeout=900, cwd=cwd)


@pytest.mark.slow
def test_the_gpu_recipe_trains_both_stages_data_parallel(tmp_path):
  from r2lcm_jax.prior.model_file import load_model
  from r2lcm_jax.train.metric_writer import read_scalars

  _write_dataset(tmp_path / "data")
  cfg = (f"{CONFIG}:recipe=gpu,root={tmp_path / 'data'},camera=cam,match=,test_root=,"
         "encoder_steps=2,reconstructor_steps=2")
  l2 = {}
  for devices, work in ((2, tmp_path / "dp"), (1, tmp_path / "one")):
    r = _prior("train", "--stage=encoder", f"--config={cfg},num_devices={devices}",
               f"--workdir={work}", cwd=REPO, devices=devices)
    assert r.returncode == 0, r.stderr[-3000:]
    l2[devices] = read_scalars(work / "encoder")["train/l2"]
    assert [s for s, _ in l2[devices]] == [1, 2]
  # Step 1 sees the same parameters and batch: the same loss. Step 2 follows one Adam
  # update from gradients summed in another order (near-zero gradients may change sign,
  # a +-lr step each), so it agrees to 1e-3.
  (_, a1), (_, a2) = l2[2]
  (_, b1), (_, b2) = l2[1]
  assert abs(a1 - b1) <= 1e-6 * b1 and abs(a2 - b2) <= 1e-3 * b2, (l2[2], l2[1])
  work = tmp_path / "dp"
  r = _prior("build", f"--dataset={tmp_path / 'data'}", "--camera=cam",
             f"--encoder={work / 'encoder.msgpack'}", f"--out={work / 'prior.npz'}",
             "--clusters=5000", "--group_size=1000", cwd=REPO, devices=2)
  assert r.returncode == 0, r.stderr[-3000:]
  r = _prior("train", "--stage=reconstructor", f"--config={cfg}", f"--workdir={work}",
             cwd=REPO, devices=2)
  assert r.returncode == 0, r.stderr[-3000:]
  loss = read_scalars(work / "reconstructor")["train/loss"]
  assert loss[-1][0] == 2 and np.isfinite(loss[-1][1])
  model = load_model(work / "model.msgpack", need_reconstructor=True)
  assert (model.reconstructor.features, model.reconstructor.heads) == (32, 4)
