"""Tests of the CAM baseline (content-aware samples, `.cam` files, reconstruction,
decode-time fine-tuning, training) on real INTEL-TAU crops with tiny networks."""

from __future__ import annotations

import struct
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.baselines import cam_file, cam_net, cam_sampler
from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.baselines.cam import (
  CamBaseline,
  choose_samples,
  finetune,
  reconstruct_from_samples,
)
from r2lcm_jax.baselines.cam_net import CamConfig
from r2lcm_jax.baselines.cam_train import create_cam_task
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import (
  BitstreamError,
  CheckpointError,
  InputError,
  ShapeMismatchError,
)
from r2lcm_jax.io import images
from r2lcm_jax.isp import pipeline
from r2lcm_jax.train.optim import create_optimizer
from r2lcm_jax.train.schedule import create_plateau_schedule
from r2lcm_jax.train.state import create_train_state
from r2lcm_jax.train.step import make_train_step

pytestmark = pytest.mark.usefixtures("fast_compilation")

_CFG = CamConfig(features=4, levels=2, grid=8)


@pytest.fixture(scope="module")
def crops(real_data):
  """Three (raw (60, 90, 3) float32, sRGB (60, 90, 3) uint8) real INTEL-TAU crops: sides
  that are not multiples of the 8 px cells."""
  out = []
  for path in sorted((real_data / "inteltau").glob("*.png"))[:3]:
    src = load_source(path)
    raw = np.ascontiguousarray(src.raw_rgb[100:160, 150:240])
    out.append((raw, pipeline.render_srgb(raw, src.params)))
  return out


@pytest.fixture(scope="module")
def params():
  return cam_net.init_params(_CFG, jax.random.key(0))


def test_the_sampler_keeps_exactly_one_pixel_per_cell(crops, params):
  raw, srgb = crops[0]
  s = choose_samples(_CFG, params["sampler"], raw, srgb)
  assert s.offsets.shape == (8, 12)  # ceil(60/8) x ceil(90/8) cells = the budget
  ys, xs = s.positions()
  assert ys.max() < 60 and xs.max() < 90  # padding pixels are never chosen
  assert len({(int(y), int(x)) for y, x in zip(ys.ravel(), xs.ravel(), strict=True)}) == 96
  np.testing.assert_array_equal(ys // 8, np.arange(8)[:, None] + 0 * xs)
  np.testing.assert_array_equal(xs // 8, np.arange(12)[None, :] + 0 * ys)
  np.testing.assert_array_equal(s.values, np.round(np.clip(raw[ys, xs], 0, 1) * 65535))
  # 1.5625 % of the pixels of whole cells
  mask = cam_sampler.ste_mask(jax.random.normal(jax.random.key(1), (2, 64, 96, 9)), 8)
  assert float(mask.sum()) == 2 * 8 * 12 and float(mask.mean()) == 1 / 64


def test_the_straight_through_mask_passes_gradient_to_the_selected_pixels_only():
  logits = jax.random.normal(jax.random.key(2), (1, 16, 16, 9))
  mask, grad = jax.jit(jax.value_and_grad(
    lambda z: jnp.sum(cam_sampler.ste_mask(z, 8) * 3.0)))(logits)
  assert float(mask) == 3.0 * 4  # forward: the hard mask, one pixel in each of 4 cells
  hard = np.asarray(cam_sampler.offsets_to_mask(cam_sampler.select_offsets(logits, 8), 8))
  p = np.asarray(jax.nn.softmax(logits, -1))
  # d/dz of 3 p_4 at the selected pixels: 3 p_4 (delta_k4 - p_k); zero elsewhere
  want = 3.0 * hard * p[..., 4:5] * (np.eye(9)[4] - p)
  np.testing.assert_allclose(np.asarray(grad), want, atol=1e-6)


def test_selection_follows_the_own_cell_odds_when_the_probabilities_saturate():
  bump = jax.random.uniform(jax.random.key(3), (1, 16, 16))
  logits = jnp.zeros((1, 16, 16, 9)).at[..., 4].set(2000.0 + 50.0 * bump)
  assert float(jax.nn.softmax(logits, -1)[..., 4].min()) == 1.0  # every pixel ties in p
  off = np.asarray(cam_sampler.select_offsets(logits, 8))
  cells = np.asarray(cam_sampler.cell_view(bump[..., None], 8))[..., 0]
  np.testing.assert_array_equal(off, cells.argmax(-1))


def test_slic_loss_is_zero_for_constant_features_with_own_cell_assignment():
  prob = jnp.zeros((1, 16, 24, 9)).at[..., 4].set(1.0)
  img = jnp.full((1, 16, 24, 3), 0.5)
  centres = jax.jit(cam_sampler.pool_cells, static_argnums=2)(img, prob, 8)
  np.testing.assert_allclose(np.asarray(centres), 0.5, rtol=1e-6)
  # colour terms vanish; m = 0 drops the spatial term
  loss = float(jax.jit(lambda p, x: cam_sampler.slic_loss(p, x, x, 8, alpha=0.2, m=0.0))(prob, img))
  assert loss == pytest.approx(0.0, abs=1e-8)


def test_cam_files_round_trip_bit_exactly_in_both_position_modes(crops):
  raw, _ = crops[1]
  rng = np.random.default_rng(0)
  modes = []
  for offsets in (np.full((8, 12), 36), rng.integers(0, 64, (8, 12))):
    dy, dx = offsets // 8, offsets % 8
    dy[-1] = np.minimum(dy[-1], 3)  # the last row of cells has 4 rows, the last column 2
    dx[:, -1] = np.minimum(dx[:, -1], 1)
    offsets = dy * 8 + dx
    s = cam_file.CamSamples(60, 90, 8, 16, offsets.astype(np.int32),
                            np.zeros((8, 12, 3), np.uint16))
    ys, xs = s.positions()
    q = np.round(np.clip(raw[ys, xs], 0, 1) * 65535).astype(np.uint16)
    s = cam_file.CamSamples(60, 90, 8, 16, s.offsets, q)
    data = cam_file.encode_cam(s)
    back = cam_file.decode_cam(data)
    np.testing.assert_array_equal(back.offsets, s.offsets)
    np.testing.assert_array_equal(back.values, s.values)
    assert (back.height, back.width, back.grid, back.value_bits) == (60, 90, 8, 16)
    assert cam_file.encode_cam(back) == data
    modes.append(data[7])
  assert modes == [0, 0]  # 96 positions: 72 packed bytes beat the 128-byte histogram
  # 600 cells: near-constant positions are cheaper rANS-coded (mode 1), random ones packed
  for offsets, mode in ((np.full((20, 30), 36), 1), (rng.integers(0, 64, (20, 30)), 0)):
    s = cam_file.CamSamples(160, 240, 8, 12, offsets.astype(np.int32),
                            rng.integers(0, 4096, (20, 30, 3)).astype(np.uint16))
    data = cam_file.encode_cam(s)
    back = cam_file.decode_cam(data)
    assert data[7] == mode
    np.testing.assert_array_equal(back.offsets, s.offsets)
    np.testing.assert_array_equal(back.values, s.values)


def _with_crc(body: bytes) -> bytes:
  return body + struct.pack("<I", zlib.crc32(body))


def test_corrupt_truncated_and_foreign_cam_files_raise_bitstream_error(crops, params, tmp_path):
  raw, srgb = crops[0]
  data = CamBaseline(_CFG, params).encode(raw, srgb)
  body = data[:-4]
  bad = {
    "truncated": [data[:n] for n in (0, 10, 29, len(data) // 2, len(data) - 1)],
    "CRC": [data[:40] + bytes([data[40] ^ 1]) + data[41:]],
    "not CAM": [_with_crc(b"R2SM" + body[4:])],
    "version": [_with_crc(body[:4] + b"\x02" + body[5:])],
    "invalid CAM header": [_with_crc(body[:5] + b"\x00" + body[6:])],
    "low bits": [_with_crc(body + b"\x00")],
  }
  for reason, blobs in bad.items():
    for blob in blobs:
      with pytest.raises(BitstreamError, match=reason):
        cam_file.decode_cam(blob)
  with pytest.raises(BitstreamError):
    CamBaseline(_CFG, params).reconstruct(srgb, data[:-1])
  with pytest.raises(InputError, match="not found"):
    cam_file.read_cam(tmp_path / "missing.cam")
  with pytest.raises(ShapeMismatchError):
    CamBaseline(_CFG, params).reconstruct(srgb[:59], data)


def test_the_decoder_needs_only_the_srgb_the_file_and_the_reconstructor(crops, params, tmp_path):
  raw, srgb = crops[2]
  weights = tmp_path / "cam.msgpack"
  cam_net.save_params(weights, _CFG, params)
  enc = CamBaseline(_CFG, params, finetune_steps=3, finetune_lr=1e-3)
  assert isinstance(enc, Baseline)
  cam_file.write_cam(tmp_path / "img.cam", enc.encode(raw, srgb))
  images.write_png(tmp_path / "img.png", srgb)
  # encoder side: reconstruction from the samples it chose, never through the file
  samples = choose_samples(_CFG, params["sampler"], raw, srgb)
  expected = {ft: reconstruct_from_samples(_CFG, params["reconstructor"], srgb, samples,
                                           finetune_steps=ft, finetune_lr=1e-3) for ft in (0, 3)}

  def decode(srgb_path, cam_path, weights_path, steps):
    config, loaded = cam_net.load_params(weights_path)
    dec = CamBaseline(config, {"reconstructor": loaded["reconstructor"]}, finetune_steps=steps,
                      finetune_lr=1e-3)
    return dec.reconstruct(images.read_image(srgb_path), cam_path.read_bytes())

  for ft in (0, 3):
    got = decode(tmp_path / "img.png", tmp_path / "img.cam", weights, ft)
    assert got.shape == (60, 90, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got, expected[ft])
  rate = bits_per_pixel((tmp_path / "img.cam").read_bytes(), 60, 90)
  assert 0.3 < rate < 1.5  # 96 samples of 3 x 16 bits + positions + ~40 header bytes
  with pytest.raises(CheckpointError):
    cam_net.load_params(tmp_path / "img.cam")


def test_fine_tuning_is_deterministic_and_lowers_the_error_on_the_samples(crops, params):
  raw, srgb = crops[0]
  s = choose_samples(_CFG, params["sampler"], raw, srgb)
  tuned, losses = finetune(_CFG, params["reconstructor"], srgb, s, steps=3, lr=1e-3)
  tuned2, losses2 = finetune(_CFG, params["reconstructor"], srgb, s, steps=3, lr=1e-3)
  np.testing.assert_array_equal(losses, losses2)
  for a, b in zip(jax.tree.leaves(tuned), jax.tree.leaves(tuned2), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  _, after = finetune(_CFG, tuned, srgb, s, steps=3, lr=1e-3)  # after[0]: at the tuned params
  assert np.all(np.diff(losses) < 0) and after[0] < losses[-1] < losses[0]
  plain = reconstruct_from_samples(_CFG, params["reconstructor"], srgb, s)
  ft = reconstruct_from_samples(_CFG, params["reconstructor"], srgb, s, finetune_steps=3,
                                finetune_lr=1e-3)
  assert np.abs(ft - plain).max() > 1e-4
  ys, xs = s.positions()
  np.testing.assert_array_equal(ft[ys, xs], np.clip(s.raw_values(), 0, 1))


def test_a_few_real_training_steps_lower_the_cam_loss(crops):
  task = create_cam_task(_CFG, crops, [], patch_size=32, batch_size=4, seed=0)
  params = task.init_params(jax.random.key(0))
  tx = create_optimizer(3e-3, grad_clip=1.0)
  state = create_train_state(params, tx, create_plateau_schedule())
  step = jax.jit(make_train_step(task.loss_fn, tx, jax.random.key(0)))
  batch = next(task.train_iter)
  first, _ = task.loss_fn(state.params, batch, {}, False)
  for _ in range(8):
    state, metrics = step(state, batch, jnp.float32(3e-3))
    assert int(metrics["finite"])
  last, aux = task.loss_fn(state.params, batch, {}, False)
  assert float(last) < 0.9 * float(first)
  assert set(aux) >= {"l1", "slic"} and float(aux["slic"]) > 0
