"""The codec end to end: exact encoder/decoder agreement, refusals, backends, tiles."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.codec.step_coders import EncodingStepCoder
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.errors import BitstreamError, CheckpointError, InputError
from r2lcm_jax.isp.pipeline import render_srgb
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4)


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def runner(tables):
  return ModelRunner(CFG, init_params(CFG, jax.random.key(0)), tables.scale_table)


@pytest.fixture(scope="module")
def image():
  raw, srgb = synthetic_pair(3, 70, 100)  # padded to 80x112 inside the codec
  return raw, np.round(srgb * 255).astype(np.uint8)


@pytest.mark.parametrize("drop_steps,gamma", [(0, 0.0), (1, 0.0), (0, 1.5), (2, 1.0)])
def test_decoded_latents_equal_encoder_latents_bit_for_bit(runner, tables, image,
                                                           drop_steps, gamma):
  raw, srgb = image
  enc = codec.compress_image(raw, srgb, runner, tables, drop_steps=drop_steps,
                             gamma=gamma, reconstruct=drop_steps == 0)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  assert dec.raw.shape == raw.shape
  if enc.x_hat is not None:
    np.testing.assert_array_equal(dec.raw, enc.x_hat)
  header, _ = bitstream.unpack(enc.data)
  assert (header.drop_steps, header.gamma_milli) == (drop_steps, round(gamma * 1000))


def test_dropping_steps_and_gamma_lower_the_rate(runner, tables, image):
  raw, srgb = image
  sizes = [len(codec.compress(raw, srgb, runner, tables, d, g))
           for d, g in [(0, 0.0), (0, 3.0), (3, 0.0)]]
  assert sizes[0] > sizes[1] and sizes[0] > sizes[2], sizes


def test_numpy_and_jax_backends_write_identical_bitstreams(runner, tables, image):
  raw, srgb = image
  a = codec.compress(raw, srgb, runner, tables, backend="jax")
  b = codec.compress(raw, srgb, runner, tables, backend="numpy")
  assert a == b
  dec_np = codec.decompress_image(srgb, a, runner, tables, backend="numpy", workers=2)
  dec_jax = codec.decompress_image(srgb, a, runner, tables, backend="jax")
  np.testing.assert_array_equal(dec_np.y_hat, dec_jax.y_hat)


def test_decoding_with_another_srgb_is_refused(runner, tables, image):
  raw, srgb = image
  data = codec.compress(raw, srgb, runner, tables)
  other = srgb.copy()
  other[10, 10, 0] ^= 1
  with pytest.raises(InputError, match="not the one the metadata was encoded with"):
    codec.decompress(other, data, runner, tables)


def test_decoding_with_another_model_is_refused(runner, tables, image):
  raw, srgb = image
  data = codec.compress(raw, srgb, runner, tables)
  other = ModelRunner(CFG, init_params(CFG, jax.random.key(1)), tables.scale_table)
  with pytest.raises(CheckpointError, match="another model"):
    codec.decompress(srgb, data, other, tables)


def test_corrupted_or_truncated_bitstreams_raise_bitstream_error(runner, tables, image):
  raw, srgb = image
  data = codec.compress(raw, srgb, runner, tables)
  rng = np.random.default_rng(0)
  for _ in range(20):
    bad = bytearray(data)
    pos = int(rng.integers(len(bad)))
    bad[pos] ^= 1 << int(rng.integers(8))
    with pytest.raises(BitstreamError):
      codec.decompress(srgb, bytes(bad), runner, tables)
  for cut in (0, 5, len(data) // 2, len(data) - 1):
    with pytest.raises(BitstreamError):
      codec.decompress(srgb, data[:cut], runner, tables)


def test_decoder_whose_numerics_differ_gets_an_error_that_says_so(runner, tables, image,
                                                                 monkeypatch):
  """A decoder that derives other table indexes (as different float numerics of the
  network would) must fail with a message naming that cause, not "corrupt file"."""
  from r2lcm_jax.entropy import indexes as entropy_indexes

  raw, srgb = image
  data = codec.compress(raw, srgb, runner, tables)
  real = entropy_indexes.wide_scale_indexes

  def shifted(*a, **k):
    idx, shift, q_code = real(*a, **k)
    return np.minimum(np.asarray(idx) + 3, 63), shift, q_code

  monkeypatch.setattr(entropy_indexes, "wide_scale_indexes", shifted)
  with pytest.raises(BitstreamError, match="passed their CRC.*other table indexes"):
    codec.decompress(srgb, data, runner, tables)


class _FineSteps:
  """The runner with main-level steps 2^-20 of the model's: sigma / Delta far beyond the
  coding tables, as trained models produce where their likelihood floor hides the cost."""

  def __init__(self, runner):
    self._runner = runner

  def __getattr__(self, name):
    return getattr(self._runner, name)

  def entropy_parameters(self, level, *args):
    sigma, mu, q = self._runner.entropy_parameters(level, *args)
    return (sigma, mu, q - 20.0) if level == "main" else (sigma, mu, q)


def test_scales_beyond_the_tables_code_as_high_part_and_raw_low_bits(runner, tables, image,
                                                                    monkeypatch):
  raw, srgb = image
  fine = _FineSteps(runner)
  enc = codec.compress_image(raw, srgb, fine, tables, reconstruct=True)
  header, groups = bitstream.unpack(enc.data)
  dec = codec.decompress_image(srgb, enc.data, fine, tables)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_array_equal(dec.raw, enc.x_hat)
  # Version 2 clamped such symbols to the top table row (escapes; symbols clipped at 2^15
  # steps): the same image under that rule is larger.
  monkeypatch.setattr(EncodingStepCoder, "wide_scales", property(lambda self: False))
  assert len(enc.data) < len(codec.compress(raw, srgb, fine, tables))
  # The low bits are each main group's last substream: cut one byte off it.
  cut = [bitstream.Group(g.name, g.substreams[:-1] + [g.substreams[-1][:-1]])
         if g.name == "main/3" else g for g in groups]
  with pytest.raises(BitstreamError, match="low-bit block"):
    codec.decompress_image(srgb, bitstream.pack(header, cut), fine, tables)


def test_tiled_synthesis_has_no_seams(runner, tables, image):
  raw, srgb = image
  data = codec.compress(raw, srgb, runner, tables)
  whole = codec.decompress(srgb, data, runner, tables)
  tiled = codec.decompress(srgb, data, runner, tables, tile=8, halo=8)
  np.testing.assert_allclose(tiled, whole, rtol=0, atol=1e-5)


def test_real_image_round_trip_is_exact(runner, tables, real_data):
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[:128, :192]
  srgb = render_srgb(raw, src.params)
  enc = codec.compress_image(raw, srgb, runner, tables)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  assert np.isfinite(dec.raw).all()


def test_a_batch_of_images_gives_one_bitstream_each(runner, tables, image):
  raw, srgb = image
  raw2, srgb2 = raw[::-1].copy(), srgb[::-1].copy()
  batch = codec.compress_batch([raw, raw2], [srgb, srgb2], runner, tables)
  assert batch == [codec.compress(raw, srgb, runner, tables),
                   codec.compress(raw2, srgb2, runner, tables)]
  with pytest.raises(Exception, match="2 RAW images but 1 sRGB"):
    codec.compress_batch([raw, raw2], [srgb], runner, tables)
