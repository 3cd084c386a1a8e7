"""LowerBound with the CompressAI gradient rule.

Forward: `max(x, bound)`. Backward: the incoming gradient passes where `x >= bound` **or**
where it is negative (so that an optimiser minimising the loss may push a clamped value
up). Used for GDN parameters, Gaussian scales and likelihoods; with a plain
`jnp.maximum` the rate gradient would never reach never-selected positions.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["lower_bound"]


@jax.custom_vjp
def _lower_bound(x: jax.Array, bound: jax.Array) -> jax.Array:
  return jnp.maximum(x, bound)


def _fwd(x, bound):
  return jnp.maximum(x, bound), (x, bound)


def _bwd(res, g):
  x, bound = res
  pass_through = (x >= bound) | (g < 0)
  return jnp.where(pass_through, g, jnp.zeros_like(g)), jnp.zeros_like(bound)


_lower_bound.defvjp(_fwd, _bwd)


def lower_bound(x: jax.Array, bound: float) -> jax.Array:
  """Element-wise `max(x, bound)` with the pass-through-if-decreasing gradient.

  Args:
    x: any shape, floating dtype.
    bound: scalar lower bound (not differentiated).

  Returns:
    Array of `x`'s shape and dtype.
  """
  return _lower_bound(x, jnp.asarray(bound, x.dtype))
