"""Re-lighting training raws to a common illuminant (`prior.relight`) and its use in the
encoder's contrastive task and the prior build."""

from __future__ import annotations

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.isp.stages import srgb_encode
from r2lcm_jax.prior import stages
from r2lcm_jax.prior.contrastive import contrastive_loss_fn, create_contrastive_task
from r2lcm_jax.prior.relight import MODES, relight_pairs, srgb_gains

from .prior_references_test import _inteltau


def _lit_twice(real_data):
  """One real INTEL-TAU scene rendered white-balanced (one sRGB) and its raw under its
  own illuminant and under image 9's: two pairs that differ only by the illuminant."""
  raw, ill = _inteltau(real_data, 4)
  _, other = _inteltau(real_data, 9)
  srgb = srgb_encode(np.clip(raw / ill * 1.5, 0, 1))
  relit = np.clip(raw * other / ill, 0, 1).astype(np.float32)
  return [(raw, srgb), (relit, srgb)], ill, other


def test_gains_recover_the_illuminant_of_a_real_raw(real_data):
  pairs, ill, other = _lit_twice(real_data)
  g = [srgb_gains(r, s) for r, s in pairs]
  np.testing.assert_allclose(g[0] / g[0][1], ill, rtol=0.02)
  np.testing.assert_allclose(g[1] / g[1][1], other, rtol=0.02)


def test_relit_pairs_agree_on_one_scene_lit_twice(real_data):
  pairs, _, _ = _lit_twice(real_data)
  before = np.abs(pairs[0][0] - pairs[1][0]).mean()
  out, mean = relight_pairs(pairs, "colour")
  after = np.abs(out[0][0] - out[1][0]).mean()
  assert after < before / 20, (before, after)
  assert mean.shape == (3,) and mean[1] == 1 and out[0][1] is pairs[0][1]  # sRGB untouched
  for (r, _), (r0, _) in zip(out, pairs, strict=True):  # the colour only: green (exposure) kept
    np.testing.assert_array_equal(r[..., 1], r0[..., 1])
  fixed, same = relight_pairs(pairs, "colour", mean_gains=mean)
  np.testing.assert_array_equal(same, mean)
  np.testing.assert_array_equal(fixed[1][0], out[1][0])


def test_gains_mode_also_equalises_the_exposure(real_data):
  raw, srgb = _lit_twice(real_data)[0][0]
  darker = [(raw, srgb), ((raw * 0.5).astype(np.float32), srgb)]
  same, _ = relight_pairs(darker, "colour")
  np.testing.assert_array_equal(same[1][0][..., 1], darker[1][0][..., 1])
  out, mean = relight_pairs(darker, "gains")
  assert mean[1] != 1
  np.testing.assert_allclose(out[0][0], out[1][0], atol=2e-6)


def test_a_raw_with_an_empty_channel_cannot_be_relit(synthetic_pairs):
  raw, srgb = synthetic_pairs[0]
  dark = raw.copy()
  dark[..., 2] = 0
  with pytest.raises(ConfigError, match="non-positive"):
    relight_pairs([(dark, srgb)])
  with pytest.raises(ConfigError, match="no images"):
    relight_pairs([])
  with pytest.raises(ConfigError, match="relight mode 'white'"):
    relight_pairs([(raw, srgb)], "white")


def test_the_contrastive_task_assembles_relit_raws(real_data, tiny_model):
  # Target (even position) and reference (odd) are the same scene under two illuminants:
  # re-lit, the assembly's loss is only the untrained embedding's; as captured, it also
  # pays for the illuminant.
  pairs, _, _ = _lit_twice(real_data)
  loss_fn = contrastive_loss_fn(tiny_model.encoder)
  losses = {}
  for relight in ("", "gains"):
    task = create_contrastive_task(tiny_model.encoder, pairs, [], patch_size=64, batch_size=2,
                                   reference_batch_size=4, seed=0, relight=relight)
    batch = jax.tree.map(np.asarray, next(task.train_iter))
    losses[relight] = float(loss_fn(tiny_model.encoder_params, batch, None, True)[0])
  assert losses["gains"] < losses[""] / 2, losses


def test_the_prior_build_records_the_gains_and_stores_relit_raws(real_data, tiny_model):
  pairs, _, _ = _lit_twice(real_data)
  plain = stages.build_prior_from_arrays(tiny_model, pairs, num_clusters=50, group_size=20)
  relit = stages.build_prior_from_arrays(tiny_model, pairs, num_clusters=50, group_size=20,
                                         relight="gains")
  _, mean = relight_pairs(pairs, "gains")
  np.testing.assert_allclose(relit.info["relight_gains"], mean)
  assert relit.info["relight"] == "gains"
  assert "relight_gains" not in plain.info
  np.testing.assert_array_equal(relit.features, plain.features)  # same sRGB, same keys
  assert not np.allclose(relit.raw, plain.raw)



def test_the_build_cli_offers_every_relight_mode():
  # The CLI spells the modes out (importing prior.relight at start-up would load scipy);
  # its refusal of an unknown mode lists the ones it accepts.
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "prior", "build", "--relight=x"],
                     capture_output=True, text=True, timeout=120,
                     env=dict(os.environ, JAX_PLATFORMS="cpu"))
  assert r.returncode == 2 and f"<{'|'.join(['', *MODES])}>" in r.stderr, r.stderr
