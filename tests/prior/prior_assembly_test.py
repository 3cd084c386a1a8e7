"""Algorithm 2 + assembly: a prior built on the target itself reproduces its raw.

The embedding here identifies every pixel (a scaled one-hot code, what a perfectly
discriminative encoder would give), so the test isolates clustering, grouping and the
chunked assembly from the quality of a trained encoder.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax import metrics
from r2lcm_jax.prior.compression import compress_prior
from r2lcm_jax.prior.encoder import half_resolution
from r2lcm_jax.prior.reconstructor import assemble_from_prior


def _psnr(a, b):
  return float(metrics.psnr(np.asarray(a)[None], np.asarray(b)[None])[0])


def test_prior_built_on_the_target_itself_assembles_it_nearly_exactly(synthetic_pairs):
  raw, srgb = synthetic_pairs[0]
  want = np.asarray(half_resolution(raw[None]))[0]  # (24, 32, 3)
  h, w, _ = want.shape
  n = h * w
  feats = (np.eye(n, dtype=np.float32) * 30.0).reshape(1, h, w, n)
  refs = (feats.reshape(n, n), np.asarray(half_resolution(srgb[None])).reshape(n, 3),
          want.reshape(n, 3))
  prior = compress_prior(refs, {"w": np.zeros(1)}, num_clusters=n, group_size=1,
                         iterations=2, seed=0)
  assert len(prior) == n and prior.info["reference_pixels"] == n
  got = np.asarray(assemble_from_prior(feats, prior.features, prior.raw, key_chunk=100,
                                       query_chunk=128))[0]
  assert _psnr(got, want) > 70.0
  # A clustered prior (K = N / 4, 200-member groups) averages pixels: coarser, still close.
  small = compress_prior(refs, {"w": np.zeros(1)}, num_clusters=n // 4, group_size=200,
                         iterations=5, seed=0)
  assert len(small) <= n // 4
  coarse = np.asarray(assemble_from_prior(feats, small.features, small.raw))[0]
  assert _psnr(coarse, want) < _psnr(got, want) - 20.0
