"""The model's rate estimate (sum of -log2 likelihoods) against real bitstream sizes."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.files import load_runner
from r2lcm_jax.data.sources import load_source
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
