"""Coding-order options: coverage, determinism, the argmax / learned relation, the
checkerboard parity and the balanced random partition."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models import R2LCM, R2LCMConfig
from r2lcm_jax.models.coding_order import (
  ORDERS,
  check_order,
  checkerboard_order,
  coding_order,
  random_order,
)
from r2lcm_jax.models.order_masks import codec_gumbel
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4, coverage="full")


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def model():
  """(module, params, jitted order map, conditioning P (2, 12, 20, 2C), sRGB)."""
  m = R2LCM(CFG)
  params = init_params(CFG, jax.random.key(3))
  P = jax.random.normal(jax.random.key(4), (2, 12, 20, 2 * CFG.latent_channels))
  s = jax.random.uniform(jax.random.key(5), (2, 48, 80, 3))
  fn = jax.jit(lambda lvl, o, P, s: m.apply({"params": params}, lvl, P, s, o,
                                             method=R2LCM.order_map), static_argnums=(0, 1))
  yield m, params, fn, P, s


def _manual_order(m, params, level, P, s, gumbel):
  """Sequential masks written out: step i selects unknown positions with
  logit0 + g0 >= logit1 + g1, the last step takes the rest (coverage "full")."""
  t = CFG.num_steps
  known = jnp.zeros(P.shape[:3] + (1,))
  order = np.full(P.shape[:3], t)
  for i in range(t):
    lg = m.apply({"params": params}, level, P, known, s, method=R2LCM.mask_logits)
    y = np.asarray(lg + gumbel[i])
    b = (y[..., 0] >= y[..., 1]) | (i == t - 1)
    new = b & (np.asarray(known[..., 0]) == 0)
    order[new] = i
    known = known + new[..., None]
  return order


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("level", ["hyper", "main"])
def test_every_option_codes_every_position_exactly_once_and_is_deterministic(model, order, level):
  _, _, fn, P, s = model
  o = np.asarray(fn(level, order, P, s))
  assert o.shape == (2, 12, 20) and o.dtype == np.int32
  assert o.min() >= 0 and o.max() < CFG.num_steps  # nothing left at T (never coded)
  np.testing.assert_array_equal(o, np.asarray(fn(level, order, P, s)))


def test_argmax_differs_from_learned_only_by_the_gumbel_noise(model):
  m, params, fn, P, s = model
  t = CFG.num_steps
  zeros = np.zeros((t, 1, 12, 20, 2), np.float32)
  g = np.asarray(codec_gumbel("main", t, 12, 20, CFG.codec_seed))
  argmax = np.asarray(fn("main", "argmax", P, s))
  learned = np.asarray(fn("main", "learned", P, s))
  np.testing.assert_array_equal(argmax, _manual_order(m, params, "main", P, s, zeros))
  np.testing.assert_array_equal(learned, _manual_order(m, params, "main", P, s, g))
  assert (argmax != learned).any()


def test_argmax_and_learned_depend_on_the_conditioning_random_and_checkerboard_do_not(model):
  _, _, fn, P, s = model
  P2 = P + 3.0 * jax.random.normal(jax.random.key(9), P.shape)
  for order, depends in (("argmax", True), ("learned", True), ("random", False),
                         ("checkerboard", False)):
    a, b = np.asarray(fn("main", order, P, s)), np.asarray(fn("main", order, P2, s))
    assert (a != b).any() == depends, order


def test_checkerboard_codes_anchors_first_as_the_official_code():
  o = np.asarray(checkerboard_order(4, 1, 6, 7))[0]
  r, c = np.mgrid[:6, :7]
  # anchors: y[0::2, 1::2] and y[1::2, 0::2] (raw_checkboard.ckbd_anchor_sequeeze)
  np.testing.assert_array_equal(o == 0, (r + c) % 2 == 1)
  np.testing.assert_array_equal(o == 1, (r + c) % 2 == 0)
  assert o[0, 1] == 0 and o[1, 0] == 0 and o[0, 0] == 1
  with pytest.raises(ConfigError, match="at least 2"):
    checkerboard_order(1, 1, 4, 4)


def test_random_partition_is_balanced_seeded_and_shared_by_the_batch():
  o = np.asarray(random_order("main", 4, 3, 9, 11))
  counts = np.bincount(o[0].ravel(), minlength=4)
  assert counts.sum() == 99 and counts.max() - counts.min() <= 1
  assert (o == o[:1]).all()
  np.testing.assert_array_equal(o, np.asarray(random_order("main", 4, 3, 9, 11)))
  assert (o[0] != np.asarray(random_order("hyper", 4, 1, 9, 11))[0]).any()
  assert (o[0] != np.asarray(random_order("main", 4, 1, 9, 11, seed=1))[0]).any()
  # neighbours are not coded in blocks: the steps of a row are mixed
  assert len(set(o[0, 0].tolist())) > 1


def test_unknown_orders_are_refused():
  with pytest.raises(ConfigError, match="coding order must be one of"):
    check_order("zigzag")
  with pytest.raises(ConfigError):
    coding_order("zigzag", "main", 4, (1, 4, 4), lambda g: None)
