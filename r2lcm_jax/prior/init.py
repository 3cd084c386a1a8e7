"""Host-side parameter initialisation of the PriorRAW networks (no compiled `init`).

The parameter tree comes from `jax.eval_shape(model.init, ...)` (nothing is computed);
values follow PyTorch's defaults as the project's layers do: every kernel (convolution
HWIO or dense (in, out)) ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in the product of
all but its last dimension, cut from ONE uniform draw (one small program instead of one
threefry kernel per shape); biases 0; LayerNorm scales 1; named scalars (`log_scale`,
`head_gain`) take the value given in `scalars`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["init_on_host"]


def init_on_host(init_fn: Callable[[jax.Array], Any], key: jax.Array,
                 scalars: Mapping[str, float]) -> Any:
  """Parameters with the tree of `init_fn(key)["params"]` (see module doc).

  Args:
    init_fn: `key -> variables` (traced only, by `jax.eval_shape`).
    key: PRNG key of the kernel draw.
    scalars: value of every scalar parameter, by name.

  Returns:
    float32 parameter pytree.
  """
  shapes = jax.eval_shape(init_fn, key)["params"]
  flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  kernels = [a for path, a in flat if path[-1].key == "kernel"]
  total = sum(int(np.prod(a.shape)) for a in kernels)
  noise = np.asarray(jax.random.uniform(key, (max(total, 1),), jnp.float32, -1.0, 1.0))
  out, offset = [], 0
  for path, a in flat:
    name = path[-1].key
    if name == "kernel":
      n = int(np.prod(a.shape))
      bound = 1.0 / math.sqrt(int(np.prod(a.shape[:-1])))
      out.append(jnp.asarray(noise[offset:offset + n].reshape(a.shape) * bound, jnp.float32))
      offset += n
    elif name == "scale":
      out.append(jnp.ones(a.shape, jnp.float32))
    elif name in scalars:
      out.append(jnp.full(a.shape, scalars[name], jnp.float32))
    else:
      out.append(jnp.zeros(a.shape, jnp.float32))
  return jax.tree_util.tree_unflatten(treedef, out)
