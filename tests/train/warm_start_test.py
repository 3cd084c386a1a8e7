"""`init_from` (train.task.warm_start): a run starts from saved parameters of the same shapes."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError, ConfigError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params
from r2lcm_jax.models.params_io import save_params
from r2lcm_jax.train.task import warm_start


def test_warm_start_returns_the_saved_parameters_and_checks_shapes(tmp_path):
  saved_cfg = R2LCMConfig(N=8, latent_channels=4, base="isp_inverse", coverage="full")
  saved = init_params(saved_cfg, jax.random.key(7))
  save_params(tmp_path / "p", saved, saved_cfg)
  # Another base, same shapes: the saved values replace the fresh initialisation.
  fitted = R2LCMConfig(N=8, latent_channels=4, base="fitted", coverage="full")
  init = warm_start(lambda key: init_params(fitted, key), str(tmp_path / "p"))
  got = init(jax.random.key(0))
  for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(saved), strict=True):
    np.testing.assert_array_equal(a, b)
  fresh = init_params(fitted, jax.random.key(0))
  assert any(not np.array_equal(a, b) for a, b in zip(
    jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(fresh), strict=True))
  # Other widths: refused with the reason.
  wider = R2LCMConfig(N=16, latent_channels=4)
  with pytest.raises(ConfigError, match="other shapes"):
    warm_start(lambda key: init_params(wider, key), str(tmp_path / "p"))(jax.random.key(0))
  with pytest.raises(CheckpointError, match="missing"):
    warm_start(lambda key: init_params(wider, key), str(tmp_path / "none"))
