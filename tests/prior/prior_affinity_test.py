"""Chunked (online-softmax) assembly equals the dense softmax(q k^T) v, values and gradients."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.prior.affinity import assemble_chunked, assemble_dense


def _data(m, n, d, c, scale, seed=0):
  r = np.random.default_rng(seed)
  return (r.normal(size=(m, d)).astype(np.float32) * scale,
          r.normal(size=(n, d)).astype(np.float32) * scale,
          r.normal(size=(n, c)).astype(np.float32))


@pytest.mark.parametrize("key_chunk,query_chunk", [(8, 16), (37, 50), (5, 7), (1000, 1000)])
def test_chunked_assembly_equals_dense(key_chunk, query_chunk):
  q, k, v = _data(50, 37, 8, 3, scale=2.0)  # 37 keys: the last chunk is padded
  dense = np.asarray(assemble_dense(q, k, v))
  chunked = np.asarray(assemble_chunked(q, k, v, key_chunk=key_chunk, query_chunk=query_chunk))
  np.testing.assert_allclose(chunked, dense, rtol=1e-5, atol=1e-5)


def test_chunked_assembly_is_stable_for_large_affinities():
  q, k, v = _data(20, 30, 4, 2, scale=40.0)  # logits ~ +-3000: exp overflows without the shift
  chunked = np.asarray(assemble_chunked(q, k, v, key_chunk=7, query_chunk=8))
  assert np.all(np.isfinite(chunked))
  np.testing.assert_allclose(chunked, np.asarray(assemble_dense(q, k, v)), atol=1e-4)


def test_chunked_assembly_gradients_equal_dense():
  q, k, v = _data(12, 19, 4, 3, scale=1.5, seed=1)
  w = np.random.default_rng(2).normal(size=(12, 3)).astype(np.float32)

  def loss(fn, q, k):
    return (fn(q, k) * w).sum()

  dense = jax.grad(lambda q, k: loss(lambda a, b: assemble_dense(a, b, v), q, k), (0, 1))(q, k)
  chunk = jax.grad(lambda q, k: loss(
    lambda a, b: assemble_chunked(a, b, v, key_chunk=4, query_chunk=5), q, k), (0, 1))(q, k)
  for a, b in zip(dense, chunk, strict=True):
    np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-4, atol=1e-5)


def test_chunked_assembly_never_builds_the_full_matrix():
  # 4096 queries x 8192 keys would be a 128 MiB float32 matrix; the compiled program's
  # temporary buffers stay far below it with 256 x 512 blocks.
  q, k, v = _data(4096, 8192, 8, 3, scale=1.0)
  compiled = assemble_chunked.lower(q, k, v, key_chunk=512, query_chunk=256).compile()
  temp = compiled.memory_analysis().temp_size_in_bytes
  assert temp < 16 * 2**20, temp



def _grad_temp_bytes(q, k, v, remat: bool) -> int:
  grad = jax.jit(jax.grad(lambda q, k, v: (assemble_chunked(
    q, k, v, key_chunk=1024, query_chunk=1024, remat=remat) ** 2).sum(), (0, 1, 2)))
  return grad.lower(q, k, v).compile().memory_analysis().temp_size_in_bytes


def test_the_gradient_never_keeps_the_full_matrix_either():
  # Training differentiates the assembly. 4096 queries x 16384 keys: a 256 MiB float32
  # matrix. Keeping every chunk's probabilities for the backward pass (remat=False) holds
  # more than that in temporaries (362 MiB); the rematerialised body keeps the carried
  # (query_chunk, C + 2) state per key chunk (25 MiB).
  q, k, v = _data(4096, 16384, 8, 3, scale=1.0)
  assert _grad_temp_bytes(q, k, v, remat=False) > 256 * 2**20
  assert _grad_temp_bytes(q, k, v, remat=True) < 64 * 2**20


def test_rematerialising_changes_no_gradient():
  q, k, v = _data(40, 70, 4, 3, scale=1.5, seed=3)
  grads = [jax.grad(lambda q, k, v, r=r: (assemble_chunked(
    q, k, v, key_chunk=16, query_chunk=8, remat=r) ** 2).sum(), (0, 1, 2))(q, k, v)
    for r in (True, False)]
  for a, b in zip(*grads, strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
