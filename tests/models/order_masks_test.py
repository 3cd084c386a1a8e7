"""Hard Gumbel-softmax masks: exact {0, 1} values, straight-through softmax gradients, and
the maximum's 0.5 / 0.5 gradient split at ties (what the official masks do)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.models.order_masks import hard_gumbel_select, next_mask, order_from_masks


def test_hard_select_is_exactly_binary_with_the_softmax_gradient():
  rng = np.random.default_rng(0)
  logits = jnp.asarray(rng.normal(size=(2, 5, 7, 2)), jnp.float32)
  g = jnp.asarray(rng.gumbel(size=(2, 5, 7, 2)), jnp.float32)
  b = hard_gumbel_select(logits, g)
  y = logits + g
  np.testing.assert_array_equal(np.asarray(b)[..., 0], np.asarray(y[..., 0] >= y[..., 1], np.float32))
  assert set(np.unique(np.asarray(b))) <= {0.0, 1.0}
  w = jnp.asarray(rng.normal(size=b.shape), jnp.float32)
  grad = jax.grad(lambda lg: jnp.sum(hard_gumbel_select(lg, g) * w))(logits)
  soft_grad = jax.grad(lambda lg: jnp.sum(jax.nn.softmax(lg + g, axis=-1)[..., :1] * w))(logits)
  np.testing.assert_allclose(np.asarray(grad), np.asarray(soft_grad), rtol=1e-5, atol=1e-7)
  assert float(jnp.max(jnp.abs(grad))) > 0


def test_next_mask_splits_the_gradient_at_ties_and_orders_positions():
  known = jnp.asarray([0.0, 0.0, 1.0, 1.0]).reshape(1, 1, 4, 1)
  b = jnp.asarray([0.0, 1.0, 0.0, 1.0]).reshape(1, 1, 4, 1)
  m = next_mask(known, b, False)
  np.testing.assert_array_equal(np.asarray(m).ravel(), [0, 1, 0, 0])
  gb = jax.grad(lambda bb: jnp.sum(next_mask(known, bb, False)))(b)
  # d max(K, b)/db: 0.5 at ties (K == b), 1 where b > K, 0 where b < K
  np.testing.assert_array_equal(np.asarray(gb).ravel(), [0.5, 1.0, 0.0, 0.5])
  masks = jnp.stack([m, next_mask(known + m, jnp.ones_like(b), True)])
  np.testing.assert_array_equal(np.asarray(order_from_masks(masks)).ravel(), [1, 0, 2, 2])
