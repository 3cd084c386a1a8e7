"""k-means with inner-product similarity and the nearest-member grouping of Algorithm 2."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.compression import group_nearest
from r2lcm_jax.prior.kmeans import kmeans_inner_product


def _points(n=3000, d=8, seed=0):
  x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_kmeans_assignment_is_deterministic_for_a_seed():
  x = _points()
  c1, a1, s1 = kmeans_inner_product(x, 40, seed=3, iterations=10)
  c2, a2, s2 = kmeans_inner_product(x, 40, seed=3, iterations=10)
  np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))
  np.testing.assert_array_equal(np.asarray(c1), np.asarray(c2))
  _, a3, _ = kmeans_inner_product(x, 40, seed=4, iterations=10)
  assert np.mean(np.asarray(a1) != np.asarray(a3)) > 0.5  # another seed, another labelling


def test_kmeans_assigns_to_the_most_similar_centroid_and_never_lowers_the_objective():
  r = np.random.default_rng(1)
  centres = np.eye(6, 16, dtype=np.float32)
  labels = r.integers(0, 6, 1200)
  x = centres[labels] + 0.05 * r.normal(size=(1200, 16)).astype(np.float32)
  c, a, s = (np.asarray(v) for v in kmeans_inner_product(x, 6, seed=0, iterations=15))
  np.testing.assert_array_equal(a, np.argmax(x @ c.T, axis=1))
  np.testing.assert_allclose(s, np.max(x @ c.T, axis=1), rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-5)
  # Lloyd steps of spherical k-means never lower the total similarity.
  totals = [float(np.sum(kmeans_inner_product(x, 6, seed=0, iterations=i)[2]))
            for i in (0, 1, 3, 15)]
  assert all(b >= a - 1e-3 for a, b in zip(totals, totals[1:], strict=False)), totals
  assert totals[-1] > totals[0]


def test_kmeans_rejects_more_clusters_than_points():
  with pytest.raises(ConfigError):
    kmeans_inner_product(_points(10), 11)


def test_group_nearest_averages_the_most_similar_members_only():
  assign = np.array([0, 0, 0, 2, 2, 0])
  score = np.array([0.9, 0.1, 0.5, 0.3, 0.8, 0.7])
  values = np.arange(6, dtype=np.float32)[:, None] * 10.0
  (means,) = group_nearest(assign, score, 3, 2, values)
  # cluster 0: the two best are indices 0 (0.9) and 5 (0.7); cluster 1 empty (dropped);
  # cluster 2: both members 3 and 4.
  np.testing.assert_allclose(means[:, 0], [(0 + 50) / 2, (30 + 40) / 2])
