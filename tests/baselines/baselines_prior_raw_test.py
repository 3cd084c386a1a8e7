"""Tests of the PriorRAW baseline adapter (0 bpp) on real INTEL-TAU crops.

The model is tiny and untrained (as in tests/prior): an encoder of width 4 / 8-dim
embeddings and a reconstructor of width 8; the prior is built (Algorithm 2) from two
real crops and the third crop is reconstructed.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.baselines.prior_raw import PriorRawBaseline
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, CheckpointError, ShapeMismatchError
from r2lcm_jax.isp import pipeline
from r2lcm_jax.prior.compression import compress_prior, encode_references
from r2lcm_jax.prior.encoder import PixelSearchEncoder, init_encoder_params
from r2lcm_jax.prior.inference import reconstruct_image
from r2lcm_jax.prior.model_file import PriorModel, init_reconstructor_params, save_model
from r2lcm_jax.prior.prior_file import save_prior
from r2lcm_jax.prior.reconstructor import PriorReconstructor

pytestmark = pytest.mark.usefixtures("fast_compilation")


def _psnr(a, b):
  return float(10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.fixture(scope="module")
def crops(real_data):
  """Three (raw (64, 96, 3) float32, sRGB (64, 96, 3) uint8) real INTEL-TAU crops."""
  out = []
  for path in sorted((real_data / "inteltau").glob("*.png"))[:3]:
    src = load_source(path)
    raw = np.ascontiguousarray(src.raw_rgb[128:192, 192:288])
    out.append((raw, pipeline.render_srgb(raw, src.params)))
  return out


@pytest.fixture(scope="module")
def model():
  """Untrained encoder (features 4, D 8) + reconstructor (features 8, 2 heads) whose head
  gain is set to 1, so the sRGB also reaches the output through the network."""
  enc = PixelSearchEncoder(features=4, embed_dim=8, init_scale=10.0)
  rec = PriorReconstructor(features=8, heads=2, key_chunk=64, query_chunk=256)
  rparams = dict(init_reconstructor_params(rec, 8, jax.random.key(1)))
  rparams["head_gain"] = np.float32(1.0)
  return PriorModel(enc, init_encoder_params(enc, jax.random.key(0)), rec, rparams)


@pytest.fixture(scope="module")
def prior(model, crops):
  """256 entries from the half-resolution pixels of the first two crops."""
  refs = encode_references(model.encoder, model.encoder_params,
                           ((raw, srgb.astype(np.float32) / 255.0) for raw, srgb in crops[:2]))
  return compress_prior(refs, model.encoder_params, num_clusters=256, group_size=8,
                        iterations=5, seed=0)


def test_prior_raw_reconstructs_a_real_srgb_at_zero_bpp(model, prior, crops, tmp_path):
  raw, srgb = crops[2]
  base = PriorRawBaseline(model, prior)
  assert isinstance(base, Baseline) and base.name == "prior_raw"
  metadata = base.encode(raw, srgb)
  assert metadata == b"" and bits_per_pixel(metadata, *raw.shape[:2]) == 0.0
  rec = base.reconstruct(srgb, metadata)
  assert rec.shape == (64, 96, 3) and rec.dtype == np.float32
  assert np.all(np.isfinite(rec)) and 0.0 < rec.min() and rec.max() < 1.0 and rec.std() > 0
  # uint8 sRGB is read as v / 255: the same as the inference on the float image.
  want = reconstruct_image(model, prior, srgb.astype(np.float32) / 255.0)
  np.testing.assert_allclose(rec, want, atol=1e-6)
  np.testing.assert_allclose(base.reconstruct(srgb.astype(np.float32) / 255.0), want, atol=1e-6)
  # The raw assembled from another scene's prior is a real estimate of this scene's raw:
  # far closer than the mid-grey image, whatever the untrained encoder.
  assert _psnr(rec, raw) > _psnr(np.full_like(raw, 0.5), raw) + 5.0
  # Odd sizes are padded and cropped back; the files of the stages load into the same thing.
  assert base.reconstruct(srgb[:45, :61]).shape == (45, 61, 3)
  save_model(tmp_path / "model.msgpack", model)
  save_prior(tmp_path / "prior.npz", prior)
  again = PriorRawBaseline.from_files(tmp_path / "model.msgpack", tmp_path / "prior.npz",
                                      tile=128, halo=0)  # one window: the same computation
  assert (again.tile, again.halo) == (128, 0)
  np.testing.assert_allclose(again.reconstruct(srgb), rec, atol=1e-6)


def test_prior_raw_refuses_metadata_bad_images_and_mismatched_files(model, prior, crops):
  raw, srgb = crops[2]
  base = PriorRawBaseline(model, prior)
  with pytest.raises(BitstreamError, match="no metadata"):
    base.reconstruct(srgb, b"\x00")
  with pytest.raises(ShapeMismatchError):
    base.encode(raw[..., :2], srgb)
  with pytest.raises(ShapeMismatchError):
    base.reconstruct(srgb[..., 0])
  with pytest.raises(CheckpointError, match="reconstructor"):
    PriorRawBaseline(PriorModel(model.encoder, model.encoder_params), prior)
  other = jax.tree.map(lambda a: a + 1.0, model.encoder_params)
  with pytest.raises(CheckpointError, match="different encoder"):
    PriorRawBaseline(PriorModel(model.encoder, other, model.reconstructor,
                                model.reconstructor_params), prior)
