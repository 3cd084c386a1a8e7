"""Tests of the experiment configs, config arguments, validation batching and CLI errors."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.train import task

REPO = pathlib.Path(__file__).resolve().parents[2]


def _load(name):
  spec = importlib.util.spec_from_file_location(f"cfg_{name}", REPO / "experiments" / "configs" / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_default_config_is_the_official_readme_setting():
  c = _load("r2lcm_default").get_config("root=data/nus,camera=OlympusEPL6")
  assert (c.model.N, c.model.latent_channels, c.model.num_steps, c.model.down_num) == (64, 8, 4, 2)
  assert (c.loss.lmbda, c.loss.distortion) == (0.24, "l1")
  assert (c.data.batch_size, c.data.patch_size, c.data.patch_stride, c.data.augment) == (8, 256, 128, False)
  assert (c.optim.learning_rate, c.optim.grad_clip) == (1e-4, 1.0)
  assert (c.schedule.factor, c.schedule.patience) == (0.1, 40)
  assert c.data.val_split != "test" and c.data.camera == "OlympusEPL6"
  R2LCMConfig(**c.model)  # every model key is a real model field


def test_config_arguments_are_typed_and_unknown_ones_are_refused():
  tiny = _load("tiny")
  c = tiny.get_config("num_steps=5,devices=4,lr=0.5,bf16")
  assert (c.num_steps, c.num_devices, c.optim.learning_rate, c.model.compute_dtype) == (5, 4, 0.5, "bfloat16")
  R2LCMConfig(**c.model)
  with pytest.raises(ValueError, match="unknown config argument"):
    tiny.get_config("nonsense=1")
  with pytest.raises(ValueError):
    tiny.get_config("num_steps=many")


def test_validation_batches_are_non_overlapping_crops_of_one_shape():
  rng = np.random.default_rng(0)
  pairs = [(rng.random((40, 70, 3), dtype=np.float32), rng.random((40, 70, 3), dtype=np.float32)) for _ in range(3)]
  batches = task.create_validation_batches(pairs, crop=16, batch_size=4)
  # 2 x 4 crops per image, 24 crops, 6 batches of 4.
  assert len(batches) == 6
  assert all(b["raw"].shape == (4, 16, 16, 3) and b["srgb"].shape == (4, 16, 16, 3) for b in batches)
  np.testing.assert_array_equal(batches[0]["raw"][1], pairs[0][0][0:16, 16:32])
  with pytest.raises(ConfigError, match="fewer than"):
    task.create_validation_batches(pairs[:1], crop=64, batch_size=1)


def test_the_test_split_cannot_drive_the_schedule():
  c = _load("tiny").get_config()
  c.data.val_split = "test"
  with pytest.raises(ConfigError, match="test split"):
    task.create_task(c)


def test_train_cli_reports_missing_flags_with_exit_code_2():
  r = subprocess.run(
    [sys.executable, "-m", "r2lcm_jax.cli.main", "train", "--config=experiments/configs/tiny.py"],
    cwd=REPO, capture_output=True, text=True, timeout=120, env=dict(os.environ, JAX_PLATFORMS="cpu"),
  )
  assert r.returncode == 2
  assert "--workdir" in r.stderr
