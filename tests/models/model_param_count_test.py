"""Parameter count and tree structure of the default (README) configuration."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models import R2LCMConfig
from r2lcm_jax.models.param_init import (
  fan_in_bound,
  init_params,
  param_count,
  param_shapes,
)


def test_default_config_has_the_official_used_parameter_count():
  assert param_count(R2LCMConfig()) == 2_376_084


def test_per_network_counts_match_the_official_modules(reference_data):
  meta = json.loads((reference_data / "state_dict_keys.json").read_text())
  counts = meta["param_counts"]
  ours = {}
  for path, shape in param_shapes(R2LCMConfig()).items():
    top = path.split("/")[0] if path.split("/")[0] not in ("hyper", "main") else "/".join(
      path.split("/")[:2])
    ours[top] = ours.get(top, 0) + int(np.prod(shape))
  mapping = {
    "g_a": "g_a_list.0", "h_a": "g_a_list.1", "g_s": "g_s_list.0", "h_s": "g_s_list.1",
    "main/g_mask": "g_mask_list.0", "hyper/g_mask": "g_mask_list.1",
    "main/entropy_parameters": "entropy_parameters_list.0",
    "hyper/entropy_parameters": "entropy_parameters_list.1",
    "main/context_prediction": "context_prediction_list.0",
    "hyper/context_prediction": "context_prediction_list.1",
  }
  assert {k: ours[k] for k in mapping} == {k: counts[v] for k, v in mapping.items()}


def test_init_params_follows_pytorch_default_bounds_and_is_deterministic():
  cfg = R2LCMConfig()
  a = init_params(cfg, jax.random.key(0))
  b = init_params(cfg, jax.random.key(0))
  shapes = param_shapes(cfg)
  flat_a = {"/".join(str(k.key) for k in p): np.asarray(v)
            for p, v in jax.tree_util.tree_leaves_with_path(a)}
  flat_b = {"/".join(str(k.key) for k in p): np.asarray(v)
            for p, v in jax.tree_util.tree_leaves_with_path(b)}
  assert set(flat_a) == set(shapes)
  for name, v in flat_a.items():
    np.testing.assert_array_equal(v, flat_b[name])
    assert v.shape == shapes[name] and v.dtype == np.float32
    leaf = name.rsplit("/", 1)[1]
    if leaf in ("kernel", "bias"):
      bound = fan_in_bound(name, shapes)
      assert np.abs(v).max() <= bound
      if v.size >= 500:  # a uniform sample of this size reaches the bound closely
        assert np.abs(v).max() > 0.9 * bound
  # MaskedDeconv (ConvTranspose2d): PyTorch's fan_in = out_channels * k * k.
  k = "main/context_prediction/layers_0/kernel"
  assert fan_in_bound(k, shapes) == pytest.approx(1 / np.sqrt(64 * 25))
  # GDN at init: beta = 1, gamma = 0.1 I (stored reparametrised).
  beta = flat_a["g_a/layers_0/act/beta"]
  gamma = flat_a["g_a/layers_0/act/gamma"]
  np.testing.assert_allclose(beta**2 - 2.0**-36, 1.0, rtol=1e-6)
  np.testing.assert_allclose(gamma**2 - 2.0**-36, 0.1 * np.eye(64), atol=1e-7)


def test_invalid_configuration_raises_config_error():
  with pytest.raises(ConfigError):
    R2LCMConfig(coverage="most")
  with pytest.raises(ConfigError):
    R2LCMConfig(compute_dtype="int8")
  with pytest.raises(ConfigError):
    R2LCMConfig.from_dict({"N": 64, "colour": 3})
  cfg = R2LCMConfig(N=32, coverage="full")
  assert R2LCMConfig.from_dict(cfg.to_dict()) == cfg
