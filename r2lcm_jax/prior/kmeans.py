"""k-means with inner-product similarity, jit-compiled JAX (Algorithm 2's clustering step).

Why JAX and not faiss: the paper uses faiss; here the clustering is ~40 lines of JAX,
so the project gains no new (native, platform-specific) dependency, the same code runs
on CPU and accelerators, and the result is a pure function of (features, seed): the
initial centroids are drawn from `jax.random.key(seed)` and every iteration is a fixed
sequence of XLA ops (chunked matrix products, argmax, `segment_sum`), which XLA:CPU
evaluates in a fixed order, so one seed gives bitwise-identical assignments run after
run. faiss's k-means would need its own seeding and threading controls to be repeatable.

Algorithm ("spherical" k-means, as faiss with `METRIC_INNER_PRODUCT` and normalised
centroids): centroids start as `num_clusters` distinct points drawn at random; each
iteration assigns every point to the centroid of largest inner product (points processed
in chunks of `chunk`, so memory is O(chunk x num_clusters)), then sets every centroid to
the L2-normalised sum of its members (an empty cluster keeps its centroid). With
embeddings of one common norm (`prior.encoder`), the largest inner product is the
largest cosine, and the normalised mean maximises the members' total similarity.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from r2lcm_jax.errors import ConfigError

__all__ = ["assign_clusters", "kmeans_inner_product"]


def _normalise(c: jax.Array) -> jax.Array:
  return c / jnp.sqrt(jnp.sum(c * c, axis=-1, keepdims=True) + 1e-12)


@functools.partial(jax.jit, static_argnames=("chunk",))
def assign_clusters(points: jax.Array, centroids: jax.Array, *, chunk: int = 2048):
  """Largest-inner-product centroid of every point.

  Args:
    points: (N, D) float32.
    centroids: (K, D) float32.
    chunk: points per block.

  Returns:
    assignment (N,) int32 and its inner product (N,) float32.
  """
  n, d = points.shape
  chunk = min(chunk, n)
  pad = -n % chunk
  blocks = jnp.pad(points, ((0, pad), (0, 0))).reshape(-1, chunk, d)

  def one(block):
    s = block @ centroids.T
    return jnp.argmax(s, axis=-1).astype(jnp.int32), jnp.max(s, axis=-1)

  idx, score = jax.lax.map(one, blocks)
  return idx.reshape(-1)[:n], score.reshape(-1)[:n]


@functools.partial(jax.jit, static_argnames=("num_clusters", "iterations", "chunk"))
def _kmeans(points, key, num_clusters: int, iterations: int, chunk: int):
  start = jax.random.choice(key, points.shape[0], (num_clusters,), replace=False)
  centroids = _normalise(points[start])

  def step(_, c):
    idx, _ = assign_clusters(points, c, chunk=chunk)
    sums = jax.ops.segment_sum(points, idx, num_segments=num_clusters)
    counts = jax.ops.segment_sum(jnp.ones_like(idx), idx, num_segments=num_clusters)
    return jnp.where(counts[:, None] > 0, _normalise(sums), c)

  centroids = jax.lax.fori_loop(0, iterations, step, centroids)
  idx, score = assign_clusters(points, centroids, chunk=chunk)
  return centroids, idx, score


def kmeans_inner_product(points: jax.Array, num_clusters: int, *, seed: int = 0,
                         iterations: int = 20, chunk: int = 2048):
  """Spherical k-means of `points` (see module doc).

  Args:
    points: (N, D) float32 embeddings, N >= num_clusters.
    num_clusters: K.
    seed: initial-centroid seed; the result is a deterministic function of it.
    iterations: Lloyd iterations.
    chunk: points per assignment block.

  Returns:
    centroids (K, D) unit-norm float32, assignment (N,) int32, and each point's inner
    product with its centroid (N,) float32.

  Raises:
    ConfigError: K < 1, K > N or iterations < 0.
  """
  points = jnp.asarray(points, jnp.float32)
  if not 1 <= num_clusters <= points.shape[0] or iterations < 0:
    raise ConfigError(f"k-means needs 1 <= clusters <= points ({points.shape[0]}) and "
                      f"iterations >= 0, got {num_clusters} clusters, {iterations} iterations")
  return _kmeans(points, jax.random.key(seed), num_clusters, iterations, chunk)
