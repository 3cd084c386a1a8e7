"""Parameter shapes, counts and fast PyTorch-default initialisation of a configuration.

`R2LCM(cfg).init(...)` works but compiles one random-number program per parameter
(minutes on a small CPU). `init_params` gives the same tree and the same distributions
with a single random draw: every conv kernel and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))
with fan_in = k*k*in_channels (PyTorch's kaiming-uniform a=sqrt(5)), except the
MaskedDeconv (a ConvTranspose2d in PyTorch), whose fan_in is out_channels*k*k; GDN
beta = 1 and gamma = 0.1*I in their stored (reparametrised) form; the factorized
bottleneck of the CVPR'23 model (`_matrix*`, `_bias*`, `_factor*`) as in
`entropy.factorized.init_values`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.entropy.factorized import init_values as bottleneck_init_values
from r2lcm_jax.layers.gdn import PEDESTAL
from r2lcm_jax.models.config import LEVELS, R2LCMConfig
from r2lcm_jax.models.r2lcm import R2LCM

__all__ = ["param_shapes", "param_count", "init_params", "fan_in_bound"]

# Module paths whose kernel is a transposed convolution in the official model.
_TRANSPOSED = tuple(f"{lvl}/context_prediction/layers_0" for lvl in LEVELS)


@functools.lru_cache(maxsize=8)
def _abstract_init(cfg: R2LCMConfig):
  model = R2LCM(cfg)
  m = cfg.size_multiple
  s = jnp.zeros((1, m, m, 3), jnp.float32)

  def touch(mdl: R2LCM, x, s):
    if cfg.arch == "cvpr23":
      return touch_cvpr(mdl, x, s)
    y, z = mdl.analysis(x, s)
    P = mdl.hyper_synthesis(z, s)
    mdl.synthesis(y, s)
    c = cfg.latent_channels
    for level, u, p in (("hyper", z, jnp.zeros(z.shape[:3] + (2 * c,))), ("main", y, P)):
      k = jnp.zeros(u.shape[:3] + (1,))
      mdl.mask_logits(level, p, k, s)
      mdl.entropy_parameters(level, u, u, k, p, s)
    return y

  def touch_cvpr(mdl: R2LCM, x, s):
    y, z = mdl.analysis(x, s)
    z_hat = mdl.hyper_bottleneck(z, mode="dequantize")["u_hat"]
    P = mdl.hyper_synthesis(z_hat, s)
    mdl.synthesis(y, s)
    mdl.joint_mask_logits(P, s)
    mdl.entropy_parameters("main", y, y, jnp.zeros(y.shape[:3] + (1,)), P, s)
    return y

  def init(key):
    return model.init({"params": key}, s, s, method=touch)["params"]

  return jax.eval_shape(init, jax.random.key(0))


def _path(p) -> str:
  return "/".join(str(getattr(k, "key", k)) for k in p)


def param_shapes(cfg: R2LCMConfig) -> dict[str, tuple[int, ...]]:
  """{"a/b/kernel": shape} of every parameter (abstract evaluation only, ~2 s)."""
  tree = _abstract_init(cfg)
  return {_path(p): tuple(v.shape) for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def param_count(cfg: R2LCMConfig) -> int:
  """Total number of parameters of `cfg` (2,376,084 for the default)."""
  return sum(math.prod(s) for s in param_shapes(cfg).values())


def fan_in_bound(path: str, shapes: dict[str, tuple[int, ...]]) -> float:
  """PyTorch-default init bound 1/sqrt(fan_in) of a kernel or bias leaf."""
  module = path.rsplit("/", 1)[0]
  k = shapes[f"{module}/kernel"]
  if module.endswith(_TRANSPOSED):
    fan_in = k[0] * k[1] * k[3]
  else:
    fan_in = k[0] * k[1] * k[2]
  return 1.0 / math.sqrt(fan_in)


def init_params(cfg: R2LCMConfig, key: jax.Array) -> dict:
  """Fresh parameters (nested dict of float32 jax arrays), deterministic in `key`."""
  shapes = param_shapes(cfg)
  names = sorted(shapes)
  sizes = [math.prod(shapes[n]) for n in names]
  u = np.asarray(jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0))
  pdt = cfg.pdtype
  flat = {}
  off = 0
  for name, size in zip(names, sizes, strict=True):
    shape = shapes[name]
    leaf = name.rsplit("/", 1)[1]
    if leaf == "beta":
      v = np.full(shape, math.sqrt(1.0 + PEDESTAL), np.float32)
    elif leaf == "gamma":
      v = np.sqrt(0.1 * np.eye(shape[0]) + PEDESTAL).astype(np.float32)
    elif leaf.startswith(("_matrix", "_bias", "_factor")):
      v = bottleneck_init_values(leaf, shape, u[off : off + size].reshape(shape))
    else:
      v = u[off : off + size].reshape(shape) * np.float32(fan_in_bound(name, shapes))
    flat[name] = v
    off += size
  tree: dict = {}
  for name, v in flat.items():
    node = tree
    *parents, leaf = name.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return jax.tree_util.tree_map(lambda a: jnp.asarray(a, pdt), tree)
