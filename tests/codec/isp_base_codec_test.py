"""R2LCM over the naive inverse ISP (base "isp_inverse"): header, codec, refusals."""

from __future__ import annotations

import zlib

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, ConfigError, InputError
from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.isp import pipeline
from r2lcm_jax.metrics import score_pair
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4, base="isp_inverse", coverage="full")
PLAIN = R2LCMConfig(N=8, latent_channels=4, num_steps=4)


pytestmark = pytest.mark.usefixtures("fast_compilation")


def _params(cfg, zero_output: bool):
  params = init_params(cfg, jax.random.key(1))
  if zero_output:  # g_s's last conv -> the network's residual is exactly 0
    last = params["g_s"]["layers_9"]
    params["g_s"]["layers_9"] = jax.tree_util.tree_map(np.zeros_like, last)
  return params


@pytest.fixture(scope="module")
def runner(tables):
  return ModelRunner(CFG, _params(CFG, False), tables.scale_table)


@pytest.fixture(scope="module")
def real_crop(real_data):
  """A real INTEL-TAU crop, its JPEG q90 sRGB and its ISP parameters."""
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[96:160, 144:240]  # 64x96: no padding
  srgb = decode_jpeg(encode_jpeg(pipeline.render_srgb(raw, src.params), 90))
  return raw, srgb, src.params


def test_config_refuses_unknown_base():
  with pytest.raises(ConfigError, match="base must be one of"):
    R2LCMConfig(base="oracle")
  with pytest.raises(ConfigError, match="residual_gain"):
    R2LCMConfig(base="isp_inverse", residual_gain=0.0)


def test_residual_domain_round_trips_and_plain_models_are_untouched():
  rng = np.random.default_rng(0)
  raw = rng.uniform(0, 1, (8, 8, 3)).astype(np.float32)
  base = rng.uniform(0, 1, (8, 8, 3)).astype(np.float32)
  r = isp_base.to_residual(CFG, raw, base)
  np.testing.assert_allclose(r, 16.0 * (raw - base), rtol=1e-6)
  np.testing.assert_allclose(isp_base.from_residual(CFG, r, base), raw, atol=1e-6)
  # The decoder's output is raw-RGB: clipped to [0, 1].
  assert isp_base.from_residual(CFG, np.full_like(r, 40.0), base).max() == 1.0
  srgb = (rng.uniform(0, 1, (8, 8, 3)) * 255).astype(np.uint8)
  assert isp_base.base_image(PLAIN, srgb, None) is None
  assert isp_base.to_residual(PLAIN, raw, None) is raw


def test_header_values_are_float32_exact(real_crop):
  _, _, isp = real_crop
  vals = isp_base.header_values(isp)
  assert len(vals) == bitstream.ISP_VALUES
  again = isp_base.header_values(isp_base.params_from_header(vals))
  assert again == vals


def test_isp_header_round_trips_and_is_checked(runner, tables, real_crop):
  raw, srgb, isp = real_crop
  data = codec.compress(raw, srgb, runner, tables, isp=isp)
  header, _ = bitstream.unpack(data)
  assert header.flags == bitstream.FLAG_ISP
  assert header.isp == isp_base.header_values(isp)
  # The block costs its 56 bytes and nothing else.
  plain = bitstream.pack(
    bitstream.Header(**{**header.__dict__, "flags": 0, "isp": None}), [])
  full = bitstream.pack(header, [])
  assert len(full) - len(plain) == 4 * bitstream.ISP_VALUES
  with pytest.raises(BitstreamError, match="ISP flag and ISP block disagree"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "isp": None}), [])
  with pytest.raises(BitstreamError, match="unknown flags 0x20"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "flags": 1 | 0x20}), [])
  bad = list(header.isp)
  bad[0] = -1.0
  with pytest.raises(BitstreamError, match="white balance and exposure must be positive"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "isp": tuple(bad)}), [])
  # Clearing the flag (with a valid CRC) leaves 56 unexplained bytes: refused by length.
  hlen = int.from_bytes(data[10:12], "little")
  head = bytearray(data[:12 + hlen])
  head[13] = 0
  forged = bytes(head) + zlib.crc32(bytes(head)).to_bytes(4, "little") + data[12 + hlen + 4:]
  with pytest.raises(BitstreamError, match="does not match 2 levels"):
    bitstream.unpack(forged)


def test_decoder_returns_base_plus_residual_and_equals_the_encoder(runner, tables, real_crop):
  raw, srgb, isp = real_crop
  enc = codec.compress_image(raw, srgb, runner, tables, isp=isp, reconstruct=True)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  np.testing.assert_allclose(dec.raw, enc.x_hat, atol=1e-5)
  # Residual domain: the plain network output of the same latents, over the base.
  plain = ModelRunner(PLAIN, runner.params, tables.scale_table)
  base = pipeline.invert_render(srgb, isp_base.params_from_header(isp_base.header_values(isp)))
  y = np.asarray(plain.synthesis(dec.y_hat, (srgb.astype(np.float32) / 255)[None]))[0]
  np.testing.assert_allclose(dec.raw, np.clip(base + y / 16.0, 0, 1), atol=1e-5)


def test_zero_residual_decodes_to_exactly_the_naive_inverse(tables, real_crop):
  raw, srgb, isp = real_crop
  zero = ModelRunner(CFG, _params(CFG, True), tables.scale_table)
  data = codec.compress(raw, srgb, zero, tables, isp=isp)
  rec = codec.decompress(srgb, data, zero, tables)
  naive = pipeline.invert_render(srgb, isp_base.params_from_header(isp_base.header_values(isp)))
  np.testing.assert_array_equal(rec, naive)
  assert score_pair(raw, rec)[0] == pytest.approx(
    score_pair(raw, pipeline.invert_render(srgb, isp))[0], abs=1e-3)


def test_refusals(runner, tables, real_crop):
  raw, srgb, isp = real_crop
  with pytest.raises(InputError, match="naive inverse ISP"):
    codec.compress(raw, srgb, runner, tables)
  data = codec.compress(raw, srgb, runner, tables, isp=isp)
  plain = ModelRunner(PLAIN, runner.params, tables.scale_table)
  # Same parameters (same fingerprint), other base: refused by name, both ways.
  assert plain.model_fingerprint == runner.model_fingerprint
  with pytest.raises(BitstreamError, match="disagree on the base"):
    codec.decompress(srgb, data, plain, tables)
  plain_data = codec.compress(raw, srgb, plain, tables, isp=isp)
  assert bitstream.unpack(plain_data)[0].isp is None  # plain models do not store it
  with pytest.raises(BitstreamError, match="disagree on the base"):
    codec.decompress(srgb, plain_data, runner, tables)
