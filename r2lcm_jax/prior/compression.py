"""Algorithm 2 (prior information compression): reference set -> K prior entries.

1. Every reference image (sRGB, raw) is encoded by the pixel searching encoder; each
   half-resolution pixel gives one (feature, sRGB, raw) triple, its sRGB / raw the 2x2
   mean of the pixels it covers (`encoder.half_resolution`). Odd image sides lose their
   last row / column.
2. The features are clustered by `kmeans.kmeans_inner_product` (default 5,000 clusters).
3. For every cluster, the `group_size` members (default 200) with the largest inner
   product with the centroid are averaged into one entry (feature, sRGB, raw); a cluster
   with fewer members averages all of them; empty clusters give no entry.

The grouping is a stable sort on (cluster, -similarity) in NumPy, so it is as
deterministic as the clustering.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.encoder import PixelSearchEncoder, half_resolution
from r2lcm_jax.prior.kmeans import kmeans_inner_product
from r2lcm_jax.prior.prior_file import Prior

__all__ = ["ReferenceSet", "encode_references", "group_nearest", "compress_prior",
           "encoder_fingerprint"]

ReferenceSet = tuple[np.ndarray, np.ndarray, np.ndarray]  # features (N, D), srgb, raw (N, 3)


def encoder_fingerprint(params: Any) -> str:
  """Hex SHA-256 of encoder parameters (recorded in priors and model files)."""
  return sha256_fingerprint(jax.tree.map(np.asarray, jax.device_get(params))).hex()


@functools.partial(jax.jit, static_argnums=0)
def _encode(encoder: PixelSearchEncoder, params, srgb, raw):
  f = encoder.apply({"params": params}, srgb)
  return f, half_resolution(srgb), half_resolution(raw)


def encode_references(encoder: PixelSearchEncoder, params: Any,
                      pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> ReferenceSet:
  """Every half-resolution pixel of the reference images as (feature, sRGB, raw).

  Args:
    encoder, params: the trained pixel searching encoder.
    pairs: (raw (H, W, 3), srgb (H, W, 3)) float32 [0, 1] images.

  Returns:
    features (N, D), srgb (N, 3), raw (N, 3) float32, N = sum of (H//2) (W//2).
  """
  feats, srgbs, raws = [], [], []
  for raw, srgb in pairs:
    h, w = (raw.shape[0] // 2) * 2, (raw.shape[1] // 2) * 2
    f, s, r = _encode(encoder, params, jnp.asarray(srgb[None, :h, :w], jnp.float32),
                      jnp.asarray(raw[None, :h, :w], jnp.float32))
    feats.append(np.asarray(f).reshape(-1, f.shape[-1]))
    srgbs.append(np.asarray(s).reshape(-1, 3))
    raws.append(np.asarray(r).reshape(-1, 3))
  if not feats:
    raise ConfigError("the reference set is empty")
  return np.concatenate(feats), np.concatenate(srgbs), np.concatenate(raws)


def group_nearest(assignment: np.ndarray, score: np.ndarray, num_clusters: int,
                  group_size: int, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
  """Per cluster, the mean of each array over its `group_size` most similar members.

  Args:
    assignment: (N,) cluster of every point.
    score: (N,) similarity of every point to its centroid.
    num_clusters: K.
    group_size: members averaged per cluster (all when fewer).
    *arrays: (N, C_i) arrays to average.

  Returns:
    One (K', C_i) float32 array per input, K' = number of non-empty clusters, in
    cluster order.
  """
  assignment = np.asarray(assignment, np.int64)
  order = np.lexsort((-np.asarray(score, np.float64), assignment))
  sorted_cluster = assignment[order]
  first = np.searchsorted(sorted_cluster, np.arange(num_clusters))
  rank = np.arange(len(order)) - first[sorted_cluster]
  keep = order[rank < group_size]
  cluster = assignment[keep]
  counts = np.bincount(cluster, minlength=num_clusters).astype(np.float64)
  nonempty = counts > 0
  out = []
  for a in arrays:
    a = np.asarray(a, np.float64)
    sums = np.zeros((num_clusters, a.shape[1]))
    np.add.at(sums, cluster, a[keep])
    out.append((sums[nonempty] / counts[nonempty, None]).astype(np.float32))
  return tuple(out)


def compress_prior(references: ReferenceSet, encoder_params: Any, *, num_clusters: int = 5000,
                   group_size: int = 200, iterations: int = 20, seed: int = 0) -> Prior:
  """Algorithm 2 on an encoded reference set.

  Args:
    references: `encode_references` output (N >= num_clusters points).
    encoder_params: the encoder's parameters (fingerprinted into the prior).
    num_clusters, group_size, iterations, seed: k-means and grouping settings.

  Returns:
    The `Prior` (K' <= num_clusters entries).
  """
  feats, srgb, raw = references
  if group_size < 1:
    raise ConfigError(f"group_size must be >= 1, got {group_size}")
  _, assign, score = kmeans_inner_product(feats, num_clusters, seed=seed, iterations=iterations)
  f, s, r = group_nearest(np.asarray(assign), np.asarray(score), num_clusters, group_size,
                          feats, srgb, raw)
  info = {"clusters": num_clusters, "group_size": group_size, "iterations": iterations,
          "seed": seed, "reference_pixels": int(feats.shape[0]), "nonempty_clusters": len(f)}
  return Prior(features=f, srgb=s, raw=r, encoder_fingerprint=encoder_fingerprint(encoder_params),
               info=info)
