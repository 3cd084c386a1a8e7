"""Parameter folders: round trip, fingerprint, and typed errors on bad input."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.models import R2LCMConfig
from r2lcm_jax.models.param_init import init_params
from r2lcm_jax.models.params_io import (
  CONFIG_FILE,
  PARAMS_FILE,
  load_params,
  model_fingerprint,
  save_params,
)

CFG = R2LCMConfig(N=8, latent_channels=4, coverage="full")


@pytest.fixture(scope="module")
def params():
  return init_params(CFG, jax.random.key(3))


def test_save_then_load_round_trips_params_config_and_fingerprint(params, tmp_path):
  fp = save_params(tmp_path / "m", params, CFG)
  loaded, cfg = load_params(tmp_path / "m")
  assert cfg == CFG
  assert len(fp) == 32 and model_fingerprint(loaded) == fp
  for a, b in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(loaded), strict=True):
    np.testing.assert_array_equal(np.asarray(a), b)
  assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [CONFIG_FILE, PARAMS_FILE]


def test_fingerprint_changes_with_any_value_and_ignores_key_order(params):
  fp = model_fingerprint(params)
  flipped = {k: params[k] for k in reversed(list(params))}
  assert model_fingerprint(flipped) == fp
  changed = jax.tree_util.tree_map(lambda a: a, params)
  changed["g_s"]["layers_9"]["bias"] = changed["g_s"]["layers_9"]["bias"].at[0].add(1e-6)
  assert model_fingerprint(changed) != fp


def test_missing_corrupt_or_edited_folders_raise_checkpoint_error(params, tmp_path):
  with pytest.raises(CheckpointError, match="missing"):
    load_params(tmp_path / "absent")
  save_params(tmp_path / "m", params, CFG)
  raw = (tmp_path / "m" / PARAMS_FILE).read_bytes()
  (tmp_path / "m" / PARAMS_FILE).write_bytes(raw[: len(raw) // 3])
  with pytest.raises(CheckpointError, match=PARAMS_FILE):
    load_params(tmp_path / "m")
  save_params(tmp_path / "m", params, CFG)
  meta = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
  meta["fingerprint"] = "00" * 32
  (tmp_path / "m" / CONFIG_FILE).write_text(json.dumps(meta))
  with pytest.raises(CheckpointError, match="fingerprint"):
    load_params(tmp_path / "m")
  (tmp_path / "m" / CONFIG_FILE).write_text("{not json")
  with pytest.raises(CheckpointError, match=CONFIG_FILE):
    load_params(tmp_path / "m")
