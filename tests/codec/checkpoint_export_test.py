"""Codec checkpoints by name (packaged models) and the export of a training run."""

from __future__ import annotations

import json

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from r2lcm_jax.app.export import export_run
from r2lcm_jax.codec import checkpoint as ckpt_lib
from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io.camera_profile import load_profile
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params
from r2lcm_jax.train import optim, schedule, state


def _fake_run(root, steps=(2, 5)):
  """A training-run folder as `r2lcm train` writes it: config.json + Orbax states."""
  cfg = dict(N=8, latent_channels=4, num_steps=2)
  root.mkdir(parents=True, exist_ok=True)
  (root / "config.json").write_text(json.dumps({"model": cfg, "seed": 0}))
  params = {}
  for s in steps:
    params[s] = init_params(R2LCMConfig(**cfg), jax.random.key(s))
    tx = optim.create_optimizer(learning_rate=1e-4, grad_clip=1.0)
    st = state.create_train_state(params[s], tx, schedule.create_plateau_schedule())
    with ocp.StandardCheckpointer() as c:
      c.save((root / "ckpt" / str(s) / "state").resolve(), st)
  return cfg, params


def test_export_writes_a_loadable_codec_checkpoint_of_the_newest_step(tmp_path, real_data):
  cfg, params = _fake_run(tmp_path / "run")
  out = export_run(tmp_path / "run", tmp_path / "model",
                   profile_from=str(real_data / "gopro" / "Fusion_GPFR7066.DNG"))
  assert out.config == R2LCMConfig(**cfg)
  for a, b in zip(jax.tree_util.tree_leaves(out.params),
                  jax.tree_util.tree_leaves(params[5]), strict=True):
    np.testing.assert_array_equal(a, b)
  assert load_profile(tmp_path / "model" / "camera.json").white_level == 16383
  older = export_run(tmp_path / "run", tmp_path / "model2", step=2)
  assert older.model_fingerprint != out.model_fingerprint
  assert not list(tmp_path.glob(".model*"))  # no temporary folders left


def test_export_refuses_missing_runs_and_steps(tmp_path):
  with pytest.raises(CheckpointError, match="config.json"):
    export_run(tmp_path, tmp_path / "out")
  (tmp_path / "config.json").write_text(json.dumps({"model": {"N": 8}}))
  with pytest.raises(CheckpointError, match="no checkpoint"):
    export_run(tmp_path, tmp_path / "out")
  assert not (tmp_path / "out").exists()


def test_checkpoints_resolve_by_path_or_packaged_name(tmp_path):
  assert ckpt_lib.resolve_checkpoint(tmp_path) == tmp_path
  with pytest.raises(CheckpointError, match="not a packaged model"):
    ckpt_lib.resolve_checkpoint("no-such-model")
  assert ckpt_lib.DEFAULT_MODEL in ckpt_lib.packaged_models()
  default = ckpt_lib.resolve_checkpoint(None)
  assert default == ckpt_lib.resolve_checkpoint("default")
  assert (default / ckpt_lib.TABLES_FILE).is_file() and (default / "MODEL.md").is_file()
  loaded = ckpt_lib.load_checkpoint("default")
  assert loaded.config.N >= 8 and loaded.tables.scale_table.size == 64


def test_rate_json_gives_the_recommended_setting_and_is_checked(tmp_path):
  import json
  import shutil

  import jax

  from r2lcm_jax.models.config import R2LCMConfig
  from r2lcm_jax.models.param_init import init_params

  cfg = R2LCMConfig(N=8, latent_channels=4)
  d = tmp_path / "ckpt"
  assert ckpt_lib.save_checkpoint(d, init_params(cfg, jax.random.key(0)), cfg).rate == (0, 0.0)
  (d / ckpt_lib.RATE_FILE).write_text(json.dumps({"drop_steps": 1, "gamma": 2.5}))
  assert ckpt_lib.load_checkpoint(d).rate == (1, 2.5)
  for bad in ({"drop_steps": 4, "gamma": 0}, {"drop_steps": 0, "gamma": -1},
              {"drop_steps": 0}, {"drop_steps": 0, "gamma": 1, "lanes": 3}, "[1, 2]"):
    (d / ckpt_lib.RATE_FILE).write_text(bad if isinstance(bad, str) else json.dumps(bad))
    with pytest.raises(CheckpointError, match="rate"):
      ckpt_lib.load_checkpoint(d)
  shutil.rmtree(d)
  # The packaged default recommends its evaluated operating point (see its MODEL.md).
  default = ckpt_lib.load_checkpoint("default")
  assert default.rate == (0, 4.0) and default.config.base == "fitted"
  isp_known = ckpt_lib.load_checkpoint("isp_known")
  assert isp_known.rate == (0, 4.0) and isp_known.config.base == "isp_inverse"
