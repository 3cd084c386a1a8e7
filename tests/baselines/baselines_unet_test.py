"""Tests of the U-Net de-rendering baseline: training, determinism, parameter files."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.baselines.base import Baseline
from r2lcm_jax.baselines.unet import (
  UNet,
  UNetBaseline,
  init_params,
  load_params,
  save_params,
)
from r2lcm_jax.baselines.unet_train import train_unet
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.errors import CheckpointError

_TINY = dict(features=4, levels=2, batch_size=4, patch_size=32, learning_rate=1e-2)


@pytest.fixture(scope="module")
def pairs():
  return [synthetic_pair(i, 64, 64) for i in range(3)]


@pytest.fixture(scope="module")
def trained(pairs):
  return train_unet(pairs, steps=40, seed=0, **_TINY)


def test_unet_training_reduces_the_l1_loss(trained):
  assert trained.losses.shape == (40,) and np.all(np.isfinite(trained.losses))
  assert trained.losses[-5:].mean() < 0.7 * trained.losses[:5].mean()


def test_unet_training_is_deterministic_for_a_seed(pairs, trained):
  again = train_unet(pairs, steps=3, seed=0, **_TINY)
  np.testing.assert_array_equal(again.losses, trained.losses[:3])


def test_unet_parameters_round_trip_through_msgpack(trained, tmp_path):
  path = tmp_path / "unet.msgpack"
  save_params(path, trained.model, trained.params)
  model, params = load_params(path)
  assert model == trained.model
  srgb = np.random.default_rng(0).integers(0, 256, (30, 21, 3), dtype=np.uint8)  # not /4
  a = UNetBaseline(trained.model, trained.params)
  b = UNetBaseline(model, params)
  assert isinstance(a, Baseline) and a.encode(np.zeros((30, 21, 3), np.float32), srgb) == b""
  out = b.reconstruct(srgb, b"")
  assert out.shape == (30, 21, 3) and out.dtype == np.float32
  np.testing.assert_array_equal(out, a.reconstruct(srgb, b""))
  assert 0.0 <= out.min() and out.max() <= 1.0 and out.std() > 0


def test_missing_corrupt_or_mismatched_parameter_files_raise_checkpoint_error(tmp_path):
  with pytest.raises(CheckpointError, match="not found"):
    load_params(tmp_path / "absent.msgpack")
  garbage = tmp_path / "garbage.msgpack"
  garbage.write_bytes(b"\xc1\xff not msgpack")
  with pytest.raises(CheckpointError):
    load_params(garbage)
  model = UNet(features=2, levels=1)
  good = tmp_path / "good.msgpack"
  save_params(good, model, init_params(model, jax.random.key(0)))
  truncated = tmp_path / "truncated.msgpack"
  truncated.write_bytes(good.read_bytes()[:-50])
  with pytest.raises(CheckpointError):
    load_params(truncated)
  other = tmp_path / "other.msgpack"
  save_params(other, model, init_params(UNet(features=3, levels=1), jax.random.key(0)))
  with pytest.raises(CheckpointError, match="match"):
    load_params(other)
