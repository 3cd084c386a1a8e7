"""Table 1's reconstructor rows as switches: structure, what each row depends on, files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.prior.model_file import (
  PriorModel,
  init_reconstructor_params,
  load_model,
  save_model,
)
from r2lcm_jax.prior.param_doc import read_param_doc, write_param_doc
from r2lcm_jax.prior.prior_file import Prior
from r2lcm_jax.prior.reconstructor import PriorReconstructor
from r2lcm_jax.prior.reconstructor_train import reconstructor_loss_fn

pytestmark = pytest.mark.usefixtures("fast_compilation")

ROWS = {"unet": dict(use_prior=False, reliable=False, nonlocal_fusion=False),
        "prior": dict(reliable=False, nonlocal_fusion=False),
        "reliable": dict(nonlocal_fusion=False), "full": {}}


def _inputs(seed=0, k=12, d=8):
  ks = jax.random.split(jax.random.key(seed), 5)
  return (jax.random.uniform(ks[0], (1, 16, 16, 3)), jax.random.normal(ks[1], (1, 8, 8, d)),
          jax.random.normal(ks[2], (k, d)), jax.random.uniform(ks[3], (k, 3)),
          jax.random.uniform(ks[4], (k, 3)))


def _model(**kw):
  return PriorReconstructor(features=4, heads=2, key_chunk=8, query_chunk=64, **kw)


def _perturbed(model, seed=1):
  """Initial parameters with the head gain at 0.5 and non-zero biases: every branch matters."""
  p = init_reconstructor_params(model, 8, jax.random.key(seed))
  p = jax.tree_util.tree_map_with_path(
    lambda path, x: x + 0.01 if path[-1].key == "bias" else x, p)
  return {**p, "head_gain": jnp.float32(0.5)} if "head_gain" in p else p


def test_rows_have_the_modules_of_their_table_row():
  names = {row: set(init_reconstructor_params(_model(**kw), 8, jax.random.key(0)))
           for row, kw in ROWS.items()}
  assert not names["unet"] & {"conv_fuse", "conv_conf", "mha", "head_gain", "fuse1"}
  assert names["prior"] - names["unet"] == {"conv_fuse", "head_gain"}
  assert names["reliable"] - names["prior"] == {"conv_conf"}
  assert names["full"] - names["reliable"] == {"to_query", "mha", "norm_q", "norm_ffn", "ffn_in",
                                               "ffn_out", "fuse1"}


def test_only_rows_with_the_prior_depend_on_it():
  srgb, feats, pf, ps, pr = _inputs()
  _, feats2, pf2, ps2, pr2 = _inputs(seed=5)
  for row, kw in ROWS.items():
    m = _model(**kw)
    p = _perturbed(m)
    fn = jax.jit(lambda *args, m=m, p=p: m.apply({"params": p}, *args))
    a = fn(srgb, feats, pf, ps, pr)
    b = fn(srgb, feats2, pf2, ps2, pr2)
    assert a.shape == (1, 16, 16, 3) and bool(jnp.all(jnp.isfinite(a)))
    if row == "unet":
      np.testing.assert_array_equal(a, b)
    else:
      assert float(jnp.max(jnp.abs(a - b))) > 1e-4, row


def test_nonlocal_branch_attends_to_the_prior_raw():
  # The full row reads the prior raw through its attention values, not only through the
  # assembled raw: the loss has a gradient on the attention's value projection.
  srgb, feats, pf, ps, pr = _inputs()
  full = _model()
  g = jax.jit(jax.grad(lambda p: jnp.sum(full.apply({"params": p}, srgb, feats, pf, ps, pr))))(
    _perturbed(full))
  assert float(jnp.abs(g["mha"]["value"]["kernel"]).sum()) > 0


def test_unet_row_loss_ignores_the_encoder(tiny_model, synthetic_pairs):
  m = _model(**ROWS["unet"])
  prior = Prior(np.zeros((4, 8), np.float32), np.zeros((4, 3), np.float32),
                np.zeros((4, 3), np.float32), "x" * 64)
  raw, srgb = synthetic_pairs[0]
  batch = {"srgb": jnp.asarray(srgb[None, :16, :16]), "raw": jnp.asarray(raw[None, :16, :16])}
  p = _perturbed(m)
  loss_a, _ = reconstructor_loss_fn(m, tiny_model.encoder, tiny_model.encoder_params, prior)(
    p, batch, None, True)
  nan_params = jax.tree.map(lambda x: jnp.full_like(x, jnp.nan), tiny_model.encoder_params)
  loss_b, _ = reconstructor_loss_fn(m, tiny_model.encoder, nan_params, prior)(p, batch, None, True)
  assert np.isfinite(float(loss_a)) and float(loss_a) == float(loss_b)


@pytest.mark.parametrize("row", ["unet", "reliable"])
def test_model_file_keeps_the_switches(tmp_path, tiny_model, row):
  m = _model(**ROWS[row])
  model = PriorModel(tiny_model.encoder, tiny_model.encoder_params, m, _perturbed(m))
  save_model(tmp_path / "m.msgpack", model)
  back = load_model(tmp_path / "m.msgpack", need_reconstructor=True)
  for k, v in {"use_prior": True, "reliable": True, "nonlocal_fusion": True, **ROWS[row]}.items():
    assert getattr(back.reconstructor, k) == v
  srgb, feats, pf, ps, pr = _inputs()
  # (The file keeps the architecture, not the affinity block sizes: equal up to rounding.)
  np.testing.assert_allclose(
    back.reconstructor.apply({"params": back.reconstructor_params}, srgb, feats, pf, ps, pr),
    m.apply({"params": model.reconstructor_params}, srgb, feats, pf, ps, pr), atol=1e-5)


def test_files_without_switches_are_full_models_and_bad_switches_are_refused(tmp_path,
                                                                              tiny_model):
  save_model(tmp_path / "m.msgpack", tiny_model)
  doc = read_param_doc(tmp_path / "m.msgpack", "r2lcm-prior-model", 1, "PriorRAW model")
  for k in ("use_prior", "reliable", "nonlocal_fusion"):
    del doc["reconstructor"]["config"][k]
  write_param_doc(tmp_path / "old.msgpack", doc)
  old = load_model(tmp_path / "old.msgpack", need_reconstructor=True)
  assert old.reconstructor.use_prior and old.reconstructor.nonlocal_fusion
  doc["reconstructor"]["config"]["use_prior"] = "no"
  write_param_doc(tmp_path / "bad.msgpack", doc)
  with pytest.raises(CheckpointError, match="booleans"):
    load_model(tmp_path / "bad.msgpack")
  # A file of one row does not load as another (parameter trees differ).
  doc["reconstructor"]["config"]["use_prior"] = False
  write_param_doc(tmp_path / "mixed.msgpack", doc)
  with pytest.raises(CheckpointError):
    load_model(tmp_path / "mixed.msgpack")
