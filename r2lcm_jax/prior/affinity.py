"""Assembly by affinity: `softmax(q . k^T) x v` without materialising the affinity matrix.

PriorRAW assembles a target image from reference (or prior) pixels with
`A = f_target . f_ref^T`, `As = softmax(A)` over the reference pixels and
`assembled = As x values` (paper eq. 2-4). For full images the (M x N) matrix does not
fit in memory (a 12.8 MP image against 26 M reference pixels), so `assemble_chunked`
streams the reference in chunks of `key_chunk` with an online (log-sum-exp) softmax,
keeping per query only the running maximum m, the running normaliser l and the running
weighted sum acc:

    m' = max(m, max_j s_j);  c = exp(m - m');  p_j = exp(s_j - m')
    l' = c l + sum_j p_j;    acc' = c acc + sum_j p_j v_j;     result = acc / l

and processes the queries in blocks of `query_chunk` (`lax.map`). Padding keys (to a whole
number of chunks) are masked out. The running maximum is a numerical shift only, so its
gradient is stopped; gradients flow through `jax.grad` of the scan exactly.

Memory: the forward pass holds O(query_chunk x key_chunk) extra floats, independent of M
and N. The scan body is rematerialised (`jax.checkpoint`): a gradient keeps per key
chunk only the carried state, (query_chunk, C + 2) floats, and recomputes that chunk's
scores and probabilities when it is needed, so training holds O(M (C + 2) N / key_chunk)
floats instead of the M x N probabilities (the encoder's 8 target x 32 reference patches
of 128^2 of the GPU recipe: 17 GiB without it).
`assemble_dense` is the direct formula for tests and tiny inputs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["assemble_dense", "assemble_chunked"]


def assemble_dense(query: jax.Array, keys: jax.Array, values: jax.Array) -> jax.Array:
  """`softmax(query @ keys.T, axis=-1) @ values`.

  Args:
    query: (M, D) float32.
    keys: (N, D) float32.
    values: (N, C) float32.

  Returns:
    (M, C) float32.
  """
  a = jnp.einsum("md,nd->mn", query, keys)
  return jax.nn.softmax(a, axis=-1) @ values


def _pad_rows(x: jax.Array, multiple: int) -> jax.Array:
  pad = -x.shape[0] % multiple
  return jnp.pad(x, ((0, pad), (0, 0))) if pad else x


def _attend_block(q: jax.Array, k: jax.Array, v: jax.Array, valid: jax.Array,
                  remat: bool) -> jax.Array:
  """Online softmax of one query block over all key chunks.

  q: (Qc, D); k: (nk, Kc, D); v: (nk, Kc, C); valid: (nk, Kc) bool -> (Qc, C).
  `remat`: rematerialise the scan body in the backward pass.
  """
  qc, c = q.shape[0], v.shape[-1]

  def body(carry, xs):
    m, norm, acc = carry
    kc, vc, ok = xs
    s = jnp.where(ok[None, :], q @ kc.T, -jnp.inf)  # (Qc, Kc)
    m_new = jax.lax.stop_gradient(jnp.maximum(m, jnp.max(s, axis=-1)))
    corr = jnp.exp(m - m_new)
    p = jnp.exp(s - m_new[:, None])
    return (m_new, norm * corr + jnp.sum(p, axis=-1), acc * corr[:, None] + p @ vc), None

  init = (jnp.full((qc,), -jnp.inf, q.dtype), jnp.zeros((qc,), q.dtype), jnp.zeros((qc, c), q.dtype))
  step = jax.checkpoint(body, prevent_cse=False) if remat else body
  (_, norm, acc), _ = jax.lax.scan(step, init, (k, v, valid))
  return acc / norm[:, None]


@functools.partial(jax.jit, static_argnames=("key_chunk", "query_chunk", "remat"))
def assemble_chunked(query: jax.Array, keys: jax.Array, values: jax.Array, *,
                     key_chunk: int = 1024, query_chunk: int = 4096,
                     remat: bool = True) -> jax.Array:
  """`softmax(query @ keys.T) @ values` with an online softmax over key chunks.

  Args:
    query: (M, D) float32.
    keys: (N, D) float32, N >= 1.
    values: (N, C) float32.
    key_chunk: keys per streamed chunk (clipped to N).
    query_chunk: queries per block (clipped to M).
    remat: rematerialise each key chunk in the backward pass (module doc); False keeps
      every chunk's probabilities for the gradient (the benchmark's reference,
      `r2lcm bench assembly`). The values and gradients are the same either way.

  Returns:
    (M, C) float32, equal to `assemble_dense` up to rounding.
  """
  m, n = query.shape[0], keys.shape[0]
  kc, qc = min(key_chunk, n), min(query_chunk, m)
  valid = _pad_rows(jnp.ones((n, 1), bool), kc)[:, 0]
  k = _pad_rows(keys, kc).reshape(-1, kc, keys.shape[1])
  v = _pad_rows(values, kc).reshape(-1, kc, values.shape[1])
  valid = valid.reshape(-1, kc)
  q = _pad_rows(query, qc).reshape(-1, qc, query.shape[1])
  out = jax.lax.map(lambda qb: _attend_block(qb, k, v, valid, remat), q)
  return out.reshape(-1, values.shape[1])[:m]
