"""Tests of the experiment configs, their arguments, validation batching and CLI errors."""

from __future__ import annotations

import ast
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.train import config as base
from r2lcm_jax.train import task

REPO = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = REPO / "experiments" / "configs"
R2LCM_CONFIGS = ("any_isp", "gopro_default", "gopro_isp", "r2lcm_default", "rd_real", "small_real", "tiny")


def _load(name, arg=""):
  return base.load_file(f"{CONFIGS / name}.py:{arg}")


# Values read from each config file at its defaults before the configs shared one base
# (r2lcm_jax/train/config.py): model N, C, T, base, coverage; data patch_size,
# patch_stride, batch_size, val_split, source; loss lmbda; num_steps; optim lr, eps;
# init_from; eval.every_steps; schedule.patience.
EXPECTED = {
  "any_isp": (16, 4, 4, "fitted", "full", 64, 64, 8, "", "nus", 4.0, 4000, 1e-3, 1e-6,
              "r2lcm_jax/assets/models/isp_known", 250, 40),
  "gopro_default": (16, 4, 4, None, "official", 64, 64, 8, "", "nus", 0.24, 3000, 1e-3, 1e-6, "", 250, 40),
  "gopro_isp": (16, 4, 4, "isp_inverse", "full", 64, 64, 8, "", "nus", 8.0, 3000, 1e-3, 1e-6, "", 250, 40),
  "r2lcm_default": (64, 8, 4, None, "official", 256, 128, 8, "val", "nus", 0.24, 0, 1e-4, 1e-6, "", 0, 40),
  "rd_real": (64, 8, 4, "none", "official", 256, 128, 8, "val", "nus", 0.24, 20000, 1e-4, 1e-6, "", 1000, 5),
  "small_real": (16, 4, 4, None, "official", 64, 32, 8, "val", "nus", 0.24, 1500, 1e-3, 1e-6, "", 250, 3),
  "tiny": (8, 4, 2, None, "official", 32, 32, 4, "val", "synthetic", 0.24, 8, 1e-3, 1e-6, "", 4, 1),
}


def _summary(c):
  m, d = c.model, c.data
  return (m.N, m.latent_channels, m.num_steps, m.get("base"), m.coverage, d.patch_size, d.patch_stride,
          d.batch_size, d.val_split, d.source, c.loss.lmbda, c.num_steps, c.optim.learning_rate,
          c.optim.eps, c.init_from, c.eval.every_steps, c.schedule.patience)


@pytest.mark.parametrize("name", R2LCM_CONFIGS)
def test_each_config_resolves_to_its_recorded_defaults(name):
  c = _load(name)
  assert _summary(c) == EXPECTED[name]
  assert (c.optim.nan_policy, c.optim.amp_loss_scale, c.optim.grad_clip) == ("skip_step", 0.0, 1.0)
  R2LCMConfig(**c.model)  # every model key is a real model field


def test_prior_config_defaults_and_stage_arguments():
  c = _load("prior_small_real")
  assert (c.encoder.num_steps, c.reconstructor.num_steps, c.prior.clusters, c.prior.group_size,
          c.data.camera, c.seed) == (300, 600, 5000, 200, "imx135", 0)
  c = _load("prior_small_real", "root=data/x,encoder_steps=3,reconstructor_steps=4,clusters=300,group_size=50,seed=2")
  assert (c.data.root, c.encoder.num_steps, c.reconstructor.num_steps, c.prior.clusters,
          c.prior.group_size, c.seed) == ("data/x", 3, 4, 300, 50, 2)
  with pytest.raises(ConfigError, match="unknown config argument 'num_steps'"):
    _load("prior_small_real", "num_steps=3")  # no such key: the stages have their own budgets


def test_default_config_is_the_official_readme_setting():
  c = _load("r2lcm_default", "root=data/nus,camera=OlympusEPL6")
  assert (c.model.N, c.model.latent_channels, c.model.num_steps, c.model.down_num) == (64, 8, 4, 2)
  assert (c.loss.lmbda, c.loss.distortion) == (0.24, "l1")
  assert (c.data.batch_size, c.data.patch_size, c.data.patch_stride, c.data.augment) == (8, 256, 128, False)
  assert (c.optim.learning_rate, c.optim.grad_clip, c.optim.eps) == (1e-4, 1.0, 1e-6)
  assert (c.schedule.factor, c.schedule.patience) == (0.1, 40)
  assert c.data.val_split != "test" and (c.data.root, c.data.camera) == ("data/nus", "OlympusEPL6")
  R2LCMConfig(**c.model)


@pytest.mark.parametrize("name", R2LCM_CONFIGS)
def test_one_argument_name_sets_one_key_in_every_config(name):
  c = _load(name, "N=8,latent_channels=2,T=3,lmbda=1.5,lr=0.5,eps=1e-8,batch_size=2,seed=7,"
                  "num_steps=11,num_devices=1,root=r,camera=cam,compute_dtype=bfloat16,coverage=full")
  assert (c.model.N, c.model.latent_channels, c.model.num_steps, c.loss.lmbda, c.optim.learning_rate,
          c.optim.eps, c.data.batch_size, c.seed, c.num_steps, c.num_devices, c.data.root,
          c.data.camera, c.model.compute_dtype, c.model.coverage) == (
    8, 2, 3, 1.5, 0.5, 1e-8, 2, 7, 11, 1, "r", "cam", "bfloat16", "full")
  R2LCMConfig(**c.model)


@pytest.mark.parametrize("name", R2LCM_CONFIGS + ("prior_small_real",))
@pytest.mark.parametrize("old", ["C=4", "patch=32", "batch=2", "devices=1", "gain=2", "bf16", "synthetic"])
def test_the_former_argument_names_are_refused(name, old):
  with pytest.raises(ConfigError, match=r"unknown config argument .*; allowed: \["):
    _load(name, old)


def test_arguments_are_typed():
  c = _load("tiny", "num_steps=5,num_devices=4,lr=0.5,compute_dtype=bfloat16,source=nus")
  assert (c.num_steps, c.num_devices, c.optim.learning_rate, c.model.compute_dtype, c.data.source) == (
    5, 4, 0.5, "bfloat16", "nus")
  assert isinstance(_load("gopro_isp", "lmbda=2,residual_gain=4").loss.lmbda, float)
  with pytest.raises(ConfigError, match="num_steps='many': not of type int"):
    _load("tiny", "num_steps=many")
  with pytest.raises(ConfigError, match="needs a value"):
    _load("tiny", "num_steps")
  with pytest.raises(ConfigError, match="residual_gain"):  # r2lcm_default's model has no such key
    _load("r2lcm_default", "residual_gain=4")
  spec = base.parse_arg("flag=no,x=3", flag=True, x=1.0, s="a")
  assert (spec.flag, spec.x, spec.s) == (False, 3.0, "a")
  with pytest.raises(ConfigError, match="not of type bool"):
    base.parse_arg("flag=maybe", flag=True)


def test_patch_size_keeps_the_configs_patch_overlap():
  assert _load("gopro_default", "patch_size=32").data.patch_stride == 32  # non-overlapping
  assert _load("small_real", "patch_size=32").data.patch_stride == 16
  assert _load("rd_real", "patch_size=48").data.patch_stride == 24


def test_derived_values_follow_the_arguments():
  c = _load("rd_real", "num_steps=8")
  assert (c.eval.every_steps, c.ckpt.every_steps) == (2, 4)
  assert _load("any_isp", "base=none").init_from == ""  # the paper's model starts fresh
  c = _load("any_isp", "init_from=runs/x,residual_gain=8")
  assert (c.init_from, c.model.residual_gain, c.model.base) == ("runs/x", 8.0, "fitted")


def _documented_arguments():
  """(config name, argument text) of every `<config>.py:args` in the docs, docstrings and
  tests, and of every `:args` variant in a config's own docstring."""
  names = "|".join(p.stem for p in CONFIGS.glob("*.py"))
  pattern = re.compile(rf"\b({names})\.py:([^\s`\"'\\]+)")
  files = [REPO / "README.md", *REPO.glob("experiments/**/*.md"), *REPO.glob("experiments/**/*.py"),
           *REPO.glob("r2lcm_jax/**/*.py"), *REPO.glob("r2lcm_jax/assets/models/*/MODEL.md"),
           *REPO.glob("tests/**/*.py"), *REPO.glob("tests/**/*.md")]
  out = [(m[1], m[2]) for f in files for m in pattern.finditer(f.read_text())]
  for path in CONFIGS.glob("*.py"):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    out += [(path.stem, m[1]) for m in re.finditer(r"`:([A-Za-z_][^`]*)`", doc)]
  return out


def test_documented_command_lines_use_the_argument_names_of_their_config():
  documented = _documented_arguments()
  assert len(documented) > 20
  allowed = {}
  for name in {n for n, _ in documented}:
    with pytest.raises(ConfigError) as e:
      _load(name, "?=0")
    allowed[name] = set(ast.literal_eval(re.search(r"allowed: (\[.*\])", str(e.value))[1]))
  bad = [(name, key) for name, arg in documented
         for key in (item.partition("=")[0] for item in arg.rstrip(".,;").split(",") if item)
         if key not in allowed[name]]
  assert not bad, bad


def test_a_missing_config_file_is_a_config_error(tmp_path):
  with pytest.raises(ConfigError, match="not found"):
    base.load_file(f"{tmp_path / 'absent.py'}:seed=1")


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
  c = _load("tiny")
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
