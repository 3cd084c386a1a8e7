"""Host-side parameter initialisation from one random draw (no compiled `init`).

Used by the PriorRAW networks (`prior.encoder`, `prior.model_file`) and the U-Net
baseline (`baselines.unet`). The parameter tree comes from `jax.eval_shape(model.init,
...)` (nothing is computed); every kernel (convolution HWIO or dense (in, out), fan_in the
product of all but its last dimension) is cut from ONE draw, so initialisation runs one
small random program instead of one threefry kernel per shape (about a minute on CPU for
the U-Net with Flax's per-layer initialisers). Kernels follow `kernel_init`:

    "uniform"    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default (the PriorRAW
                 networks, like the project's layers)
    "he_normal"  N(0, 2 / fan_in) (the U-Net)

biases 0; LayerNorm scales 1; named scalars (`log_scale`, `head_gain`) take the value
given in `scalars`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["init_on_host", "KERNEL_INITS"]

KERNEL_INITS = ("uniform", "he_normal")


def init_on_host(init_fn: Callable[[jax.Array], Any], key: jax.Array,
                 scalars: Mapping[str, float] | None = None, *,
                 kernel_init: str = "uniform") -> Any:
  """Parameters with the tree of `init_fn(key)["params"]` (see module doc).

  Args:
    init_fn: `key -> variables` (traced only, by `jax.eval_shape`).
    key: PRNG key of the kernel draw.
    scalars: value of every scalar parameter, by name.
    kernel_init: "uniform" or "he_normal" (see module doc).

  Returns:
    float32 parameter pytree.

  Raises:
    ValueError: an unknown `kernel_init`.
  """
  if kernel_init not in KERNEL_INITS:
    raise ValueError(f"kernel_init must be one of {KERNEL_INITS}, got {kernel_init!r}")
  scalars = scalars or {}
  shapes = jax.eval_shape(init_fn, key)["params"]
  flat, treedef = jax.tree_util.tree_flatten_with_path(shapes)
  kernels = [a for path, a in flat if path[-1].key == "kernel"]
  total = max(sum(int(np.prod(a.shape)) for a in kernels), 1)
  if kernel_init == "uniform":
    noise = np.asarray(jax.random.uniform(key, (total,), jnp.float32, -1.0, 1.0))
  else:
    noise = np.asarray(jax.random.normal(key, (total,), jnp.float32))
  out, offset = [], 0
  for path, a in flat:
    name = path[-1].key
    if name == "kernel":
      n = int(np.prod(a.shape))
      fan_in = int(np.prod(a.shape[:-1]))
      cut = noise[offset:offset + n].reshape(a.shape)
      if kernel_init == "uniform":
        out.append(jnp.asarray(cut * (1.0 / math.sqrt(fan_in)), jnp.float32))
      else:
        out.append(jnp.asarray(cut * np.float32(np.sqrt(2.0 / fan_in)), jnp.float32))
      offset += n
    elif name == "scale":
      out.append(jnp.ones(a.shape, jnp.float32))
    elif name in scalars:
      out.append(jnp.full(a.shape, scalars[name], jnp.float32))
    else:
      out.append(jnp.zeros(a.shape, jnp.float32))
  return jax.tree_util.tree_unflatten(treedef, out)
