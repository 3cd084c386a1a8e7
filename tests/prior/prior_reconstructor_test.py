"""Algorithm 3: the reconstructor's start point, tiled whole-image inference, model files."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.prior.compression import compress_prior, encode_references
from r2lcm_jax.prior.inference import assemble_image, reconstruct_image
from r2lcm_jax.prior.model_file import PriorModel, load_model, save_model
from r2lcm_jax.prior.reconstructor_train import reconstructor_loss_fn
from r2lcm_jax.train.optim import create_optimizer
from r2lcm_jax.train.schedule import create_plateau_schedule
from r2lcm_jax.train.state import create_train_state
from r2lcm_jax.train.step import make_train_step

pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def prior(tiny_model, synthetic_pairs):
  refs = encode_references(tiny_model.encoder, tiny_model.encoder_params, synthetic_pairs[1:])
  return compress_prior(refs, tiny_model.encoder_params, num_clusters=64, group_size=20,
                        iterations=5)


def test_untrained_reconstructor_outputs_the_assembled_raw_and_tiles_seamlessly(
    tiny_model, prior, synthetic_pairs):
  _, srgb = synthetic_pairs[0]
  m = tiny_model
  whole = reconstruct_image(m, prior, srgb, tile=512, halo=0)
  fraw = assemble_image(m, srgb, prior.features, prior.raw, key_chunk=64, query_chunk=256)
  assert whole.shape == (48, 64, 3) and fraw.shape == (48, 64, 3)
  # The head gain starts at 0: the output is the assembled raw (clipped to [1e-4, 1-1e-4]).
  np.testing.assert_allclose(whole, np.clip(fraw, 1e-4, 1 - 1e-4), atol=1e-5)
  # 16-px windows with a 16-px halo (> the encoder's receptive field): no seams.
  tiled = reconstruct_image(m, prior, srgb, tile=16, halo=16)
  np.testing.assert_allclose(tiled, whole, atol=1e-5)
  odd = reconstruct_image(m, prior, srgb[:45, :61], tile=512, halo=0)  # padded, cropped back
  assert odd.shape == (45, 61, 3) and np.all((odd > 0) & (odd < 1))


def test_model_file_round_trips_and_rejects_bad_files(tiny_model, tmp_path):
  path = tmp_path / "m.msgpack"
  save_model(path, tiny_model)
  back = load_model(path, need_reconstructor=True)
  assert back.encoder == tiny_model.encoder
  r, t = back.reconstructor, tiny_model.reconstructor
  assert (r.features, r.heads) == (t.features, t.heads)  # block sizes are run-time choices
  for a, b in zip(jax.tree.leaves(back.reconstructor_params),
                  jax.tree.leaves(tiny_model.reconstructor_params), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  enc_only = tmp_path / "e.msgpack"
  save_model(enc_only, PriorModel(tiny_model.encoder, tiny_model.encoder_params))
  assert load_model(enc_only).reconstructor is None
  with pytest.raises(CheckpointError, match="only an encoder"):
    load_model(enc_only, need_reconstructor=True)
  path.write_bytes(path.read_bytes()[:200])
  with pytest.raises(CheckpointError):
    load_model(path)
  with pytest.raises(CheckpointError):
    load_model(tmp_path / "missing.msgpack")


@pytest.mark.slow
def test_reconstructor_steps_reduce_the_l1_ssim_loss(tiny_model, prior, synthetic_pairs):
  m = tiny_model
  batch = {"srgb": np.stack([p[1][:32, :32] for p in synthetic_pairs]),
           "raw": np.stack([p[0][:32, :32] for p in synthetic_pairs])}
  loss_fn = reconstructor_loss_fn(m.reconstructor, m.encoder, m.encoder_params, prior)
  tx = create_optimizer(3e-3)
  state = create_train_state(m.reconstructor_params, tx, create_plateau_schedule())
  step = jax.jit(make_train_step(loss_fn, tx, jax.random.key(0)))
  first, _ = loss_fn(state.params, batch, None, False)
  for _ in range(30):
    state, metrics = step(state, batch, jnp.float32(3e-3))
    assert int(metrics["finite"]) == 1
  last, _ = loss_fn(state.params, batch, None, False)
  assert float(last) < 0.9 * float(first)
