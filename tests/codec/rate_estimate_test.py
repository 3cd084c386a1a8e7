"""The model's rate estimate (sum of -log2 likelihoods) against real bitstream sizes."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from r2lcm_jax.app.files import load_runner
from r2lcm_jax.codec import codec
from r2lcm_jax.codec.checkpoint import resolve_checkpoint
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.io import images
from r2lcm_jax.isp.pipeline import render_srgb

CKPT = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "tiny_real_checkpoint"
HELD_OUT = [18, 19, 20]  # INTEL-TAU images the fixture model was not trained on


@pytest.fixture(scope="module")
def model():
  return load_runner(CKPT)


def test_estimated_bits_match_real_bytes_on_held_out_real_images(model, real_data):
  ckpt, runner = model
  real, estimated = 0, 0.0
  for i in HELD_OUT:
    src = load_source(real_data / "inteltau" /
                      f"S_IMX135_BLCCSC_field_{i:03d}_sensorname_sony_imx135.png")
    srgb = render_srgb(src.raw_rgb, src.params)
    enc = codec.compress_image(src.raw_rgb, srgb, runner, ckpt.tables)
    dec = codec.decompress_image(srgb, enc.data, runner, ckpt.tables)
    np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
    np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
    real += len(enc.data)
    estimated += enc.estimated_bits / 8
    # Small images (~2-3 KB of metadata) carry ~350 bytes of container overhead, so a
    # single image is allowed 5 %; the set of held-out images must agree within 3 %.
    assert abs(len(enc.data) / (enc.estimated_bits / 8) - 1) < 0.05, (i, len(enc.data))
  assert abs(real / estimated - 1) < 0.03, (real, estimated)


def test_isp_known_model_payload_matches_its_estimate_on_its_held_back_gopro_frame(
    real_data):
  """The packaged `isp_known` model (over the naive inverse ISP; the default until the
  fitted-base model replaced it) on a 768x512 centre crop of its test frame, JPEG q90.

  Half of its hyper-level indexes sit at the smallest scale, so non-zero hyper symbols
  are escapes. With format version 1 (raw int32 escape values) the bitstream was 1.94x
  the estimate on this crop; with varint escapes every group is close to it.
  """
  ckpt, runner = load_runner(resolve_checkpoint("isp_known"))
  src = load_source(real_data / "gopro" / "HERO7_GOPR9231.DNG")
  h, w = src.raw_rgb.shape[:2]
  raw = np.ascontiguousarray(src.raw_rgb[h // 2 - 256 : h // 2 + 256,
                                         w // 2 - 384 : w // 2 + 384])
  srgb = images.decode_jpeg(images.encode_jpeg(render_srgb(raw, src.params), 90))
  # The packaged model reconstructs over the naive inverse ISP: it needs the DNG's ISP.
  enc = codec.compress_image(raw, srgb, runner, ckpt.tables, isp=src.params)
  payload = sum(g.bytes for g in enc.groups.values())
  estimate = sum(g.estimated_bits for g in enc.groups.values()) / 8
  assert abs(payload / estimate - 1) < 0.03, (payload, estimate)
  for name, g in enc.groups.items():
    if g.estimated_bits > 8 * 1000:  # the groups that carry the rate
      assert abs(g.bytes / (g.estimated_bits / 8) - 1) < 0.05, (name, g)
  # The container (header with its 56-byte ISP block, group table, CRCs) is a fixed few
  # hundred bytes.
  assert len(enc.data) - payload < 460, len(enc.data) - payload
