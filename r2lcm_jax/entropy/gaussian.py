"""Gaussian conditional with adaptive quantisation step (differentiable part).

Per element the quantisation step is `delta = 2**q` (q = log2 step predicted by the
entropy-parameter network), mean `mu`, scale `sigma`:

* `quantize(u, mu, q, "noise", noise)`: `u + delta * eps`, eps ~ U(-1/2, 1/2) given.
* `quantize(u, mu, q, "ste")`: `mu + delta * (o + sg(round(o) - o))`, o = (u - mu) / delta.
* `quantize(u, mu, q, "dequantize")`: `mu + delta * round((u - mu) * 2**-q)`.
  `round` is half-to-even everywhere (as torch.round).
* `likelihood(u_tilde, mu, sigma, q)`: `Phi((delta/2 - v)/s) - Phi((-delta/2 - v)/s)`,
  v = |u_tilde - mu|, s = LB(sigma, scale_bound) in absolute units, Phi via erfc; then
  `LB(p, likelihood_bound)`. LB = `lower_bound` (custom gradient).

All arrays share one shape (e.g. (B, h, w, C)) and are computed in float32.

q is clipped to [Q_MIN, Q_MAX] = [-64, 64] first, the range the codec's step sizes use
(`entropy.indexes`). Unclipped, a diverging network's q beyond +-128 makes 2**q or
2**-q overflow float32. Then the context model's dense quantisation of positions its
step does not select gives inf or NaN, and `u_t * mask` turns that into NaN for every
position. This was the cause of the non-finite losses seen in training (reproduced at lr
1e-2: q reached -210 / +133 at unselected positions of the hyper level). Inside the
range the clip is the identity, with gradient 1.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.entropy.indexes import Q_MAX, Q_MIN
from r2lcm_jax.entropy.lower_bound import lower_bound

__all__ = ["quantize", "likelihood", "code_length_bits", "std_normal_cdf", "QUANT_MODES"]

QUANT_MODES = ("noise", "ste", "dequantize")


def std_normal_cdf(t: jax.Array) -> jax.Array:
  """Phi(t) = erfc(-t / sqrt(2)) / 2 (accurate in the lower tail)."""
  return 0.5 * jax.scipy.special.erfc(-t * (2.0**-0.5))


def quantize(
  u: jax.Array,
  mu: jax.Array,
  q: jax.Array,
  mode: str,
  noise: jax.Array | None = None,
) -> jax.Array:
  """Quantises u with step 2**q around mu (see module doc); same shape as u."""
  q = jnp.clip(q, Q_MIN, Q_MAX)
  if mode == "noise":
    if noise is None:
      raise ValueError("mode 'noise' needs the uniform noise array")
    return u + jnp.exp2(q) * noise
  if mode == "ste":
    o = (u - mu) * jnp.exp2(-q)
    return mu + jnp.exp2(q) * (o + jax.lax.stop_gradient(jnp.round(o) - o))
  if mode == "dequantize":
    return jnp.round((u - mu) * jnp.exp2(-q)) * jnp.exp2(q) + mu
  raise ValueError(f"unknown quantisation mode {mode!r}; expected one of {QUANT_MODES}")


def likelihood(
  u_tilde: jax.Array,
  mu: jax.Array,
  sigma: jax.Array,
  q: jax.Array,
  *,
  scale_bound: float = 0.01,
  likelihood_bound: float = 1e-7,
) -> jax.Array:
  """Probability mass of the bin of width 2**q around u_tilde (see module doc)."""
  q = jnp.clip(q, Q_MIN, Q_MAX)
  half = 0.5 * jnp.exp2(q)
  v = jnp.abs(u_tilde - mu)
  s = lower_bound(sigma, scale_bound)
  p = std_normal_cdf((half - v) / s) - std_normal_cdf((-half - v) / s)
  return lower_bound(p, likelihood_bound)


_MIN_BUCKET = 256


@functools.partial(jax.jit, static_argnames=("scale_bound", "likelihood_bound"))
def _likelihood_jit(values, mu, sigma, q, scale_bound, likelihood_bound):
  return likelihood(values, mu, sigma, q, scale_bound=scale_bound,
                    likelihood_bound=likelihood_bound)


def code_length_bits(
  values: np.ndarray,
  mu: np.ndarray,
  sigma: np.ndarray,
  q: np.ndarray,
  *,
  scale_bound: float = 0.01,
  likelihood_bound: float = 1e-7,
) -> float:
  """The model's code length of n dequantised values, sum(-log2 likelihood), in bits.

  Args:
    values, mu, sigma, q: float32 (n,) each (the arguments of `likelihood`).

  Returns:
    The sum over the n values, accumulated in float64.

  One compiled program per power-of-two bucket of n (at least 256): the arrays are
  padded (sigma and q with 1, the padding dropped before the sum), so a codec that
  estimates groups of every size compiles a handful of programs instead of
  dispatching the likelihood's operations one by one for each new size.
  """
  n = int(np.size(values))
  if n == 0:
    return 0.0
  size = max(_MIN_BUCKET, 1 << (n - 1).bit_length())

  def pad(a, fill):
    out = np.full((size,), fill, np.float32)
    out[:n] = np.ravel(a)
    return out

  p = _likelihood_jit(pad(values, 0.0), pad(mu, 0.0), pad(sigma, 1.0), pad(q, 0.0),
                      scale_bound=float(scale_bound), likelihood_bound=float(likelihood_bound))
  return float(-np.log2(np.asarray(p, np.float64)[:n]).sum())
