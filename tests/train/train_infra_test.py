"""Unit tests of the training building blocks on a tiny throwaway Linen model."""

from __future__ import annotations

import functools

import flax.linen as nn
import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r2lcm_jax import parallel
from r2lcm_jax.errors import CheckpointError, ConfigError
from r2lcm_jax.train import checkpoint, metric_writer, optim, schedule, state, step


class _Toy(nn.Module):
  """Conv + noise, enough to exercise params, rngs and a (B,H,W,3) output."""

  @nn.compact
  def __call__(self, x, training: bool):
    h = nn.Conv(4, (3, 3))(x)
    if training:
      h = h + 0.01 * jax.random.normal(self.make_rng("noise"), h.shape)
    return nn.Conv(3, (1, 1))(nn.relu(h))


def _loss_fn(model):
  def loss_fn(params, batch, rngs, training):
    out = model.apply({"params": params}, batch["srgb"], training, rngs=rngs)
    l1 = jnp.mean(jnp.abs(out - batch["raw"]))
    return l1, {"l1": l1}

  return loss_fn


def _setup(lr=1e-2):
  model = _Toy()
  x = jnp.zeros((1, 8, 8, 3))
  params = model.init({"params": jax.random.key(0), "noise": jax.random.key(1)}, x, True)["params"]
  tx = optim.create_optimizer(learning_rate=lr)
  sched = schedule.create_plateau_schedule(patience=1)
  st = state.create_train_state(params, tx, sched)
  fn = step.make_train_step(_loss_fn(model), tx, jax.random.key(0))
  fn = functools.partial(fn, base_lr=jnp.float32(lr))
  return model, tx, sched, st, fn


def _batch(seed, b=4):
  rng = np.random.default_rng(seed)
  srgb = rng.random((b, 8, 8, 3), dtype=np.float32)
  return {"srgb": srgb, "raw": srgb**2.2}


def test_optimizer_clips_the_true_gradient_to_the_global_norm():
  tx = optim.create_optimizer(learning_rate=1.0, grad_clip=1.0)
  params = {"a": jnp.zeros(3), "b": jnp.zeros(4)}
  s = tx.init(params)
  big = {"a": jnp.full(3, 100.0), "b": jnp.full(4, -100.0)}
  clipped = optax.clip_by_global_norm(1.0).update(big, optax.EmptyState())[0]
  assert float(optax.tree.norm(clipped)) == pytest.approx(1.0, rel=1e-6)
  updates, _ = tx.update(big, s, params)
  # First Adam step of magnitude lr in every coordinate, direction -sign(g).
  np.testing.assert_allclose(updates["a"], -1.0, rtol=1e-4)
  np.testing.assert_allclose(updates["b"], 1.0, rtol=1e-4)


def test_learning_rate_can_be_set_in_the_state():
  tx = optim.create_optimizer(learning_rate=1e-4)
  s = tx.init({"w": jnp.ones(2)})
  assert float(optim.get_learning_rate(s)) == pytest.approx(1e-4)
  s = optim.set_learning_rate(s, 1e-5)
  assert float(optim.get_learning_rate(s)) == pytest.approx(1e-5)


def test_plateau_schedule_drops_after_more_than_patience_bad_evaluations():
  sched = schedule.create_plateau_schedule(factor=0.1, patience=2)
  s = sched.init()
  scales = []
  for v in [1.0, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4]:
    s = sched.update(s, v)
    scales.append(float(s.scale))
  # PyTorch ReduceLROnPlateau(patience=2): third non-improving evaluation drops.
  np.testing.assert_allclose(scales, [1, 1, 1, 1, 0.1, 0.1, 0.1], rtol=1e-6)
  assert float(sched.learning_rate(s, 1e-4)) == pytest.approx(1e-5)


def test_train_step_lowers_the_loss_and_is_deterministic():
  _, _, _, st, fn = _setup()
  fn = jax.jit(fn)
  batch = _batch(0)
  losses = []
  s1 = st
  for _ in range(20):
    s1, m = fn(s1, batch)
    losses.append(float(m["loss"]))
  assert losses[-1] < 0.7 * losses[0]
  s2 = st
  for _ in range(20):
    s2, _ = fn(s2, batch)
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), s1.params, s2.params)
  assert int(s1.step) == 20


def test_train_step_skips_the_update_and_flags_a_non_finite_loss():
  _, _, _, st, fn = _setup()
  batch = _batch(0)
  batch["raw"] = batch["raw"].copy()
  batch["raw"][0, 0, 0, 0] = np.nan
  new, m = jax.jit(fn)(st, batch)
  assert int(m["finite"]) == 0
  assert int(new.step) == 0
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), new.params, st.params)


def test_shard_batch_splits_the_batch_axis_and_rejects_uneven_batches():
  mesh = parallel.create_mesh()
  n = len(jax.devices())
  g = parallel.shard_batch({"x": np.arange(2 * n, dtype=np.float32)}, mesh)
  assert g["x"].sharding.spec == jax.sharding.PartitionSpec("data")
  np.testing.assert_array_equal(g["x"], np.arange(2 * n))
  if n > 1:
    with pytest.raises(ConfigError, match="divisible"):
      parallel.shard_batch({"x": np.zeros(n + 1)}, mesh)
  with pytest.raises(ConfigError):
    parallel.create_mesh(n + 1)


def _data_iter():
  ds = grain.MapDataset.range(64).shuffle(seed=3).map(lambda i: {"i": np.int64(i)}).batch(4)
  return iter(ds.to_iter_dataset())


def test_checkpoint_restores_state_and_iterator_position(tmp_path):
  _, _, _, st, fn = _setup()
  st, _ = jax.jit(fn)(st, _batch(1))
  it = _data_iter()
  next(it), next(it)
  mngr = checkpoint.create_checkpoint_manager(tmp_path / "ckpt", save_interval_steps=1)
  assert checkpoint.save_checkpoint(mngr, 1, st, it)
  mngr.wait_until_finished()
  expected_next = next(it)["i"]

  _, _, _, fresh, _ = _setup()
  it2 = _data_iter()
  mngr2 = checkpoint.create_checkpoint_manager(tmp_path / "ckpt")
  restored = checkpoint.restore_checkpoint(mngr2, fresh, it2)
  assert int(restored.step) == 1
  jax.tree.map(lambda a, b: np.testing.assert_array_equal(a, b), restored.params, st.params)
  np.testing.assert_array_equal(next(it2)["i"], expected_next)
  mngr.close()
  mngr2.close()


def test_restore_returns_none_without_checkpoint_and_rejects_a_foreign_one(tmp_path):
  _, _, _, st, _ = _setup()
  mngr = checkpoint.create_checkpoint_manager(tmp_path / "ckpt")
  assert checkpoint.restore_checkpoint(mngr, st, _data_iter()) is None
  checkpoint.save_checkpoint(mngr, 0, st, _data_iter(), force=True)
  mngr.wait_until_finished()
  other = st.replace(params={"unrelated": jnp.zeros((5, 5))})
  with pytest.raises(CheckpointError, match="cannot restore"):
    checkpoint.restore_checkpoint(mngr, other, _data_iter())
  mngr.close()


def test_metric_writer_writes_tensorboard_readable_scalars(tmp_path):
  w = metric_writer.MetricWriter(tmp_path)
  w.write_scalars(1, {"train/loss": 2.5, "train/bpp": 0.25})
  w.write_scalars(2, {"train/loss": 1.5})
  w.close()
  events = metric_writer.read_scalars(tmp_path)
  assert events["train/loss"] == [(1, 2.5), (2, 1.5)]
  assert events["train/bpp"] == [(1, 0.25)]
