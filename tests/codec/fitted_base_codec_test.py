"""R2LCM over a fitted map (base "fitted") through real bitstreams; the ISP-base refusal."""

from __future__ import annotations

import zlib

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.isp import fitted_map, pipeline, stages
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

FITTED = R2LCMConfig(N=8, latent_channels=4, num_steps=4, base="fitted", coverage="full")
ISP = R2LCMConfig(N=8, latent_channels=4, num_steps=4, base="isp_inverse", coverage="full")


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def params():
  return init_params(FITTED, jax.random.key(3))


@pytest.fixture(scope="module")
def runner(tables, params):
  return ModelRunner(FITTED, params, tables.scale_table)


def _foreign_srgb(raw: np.ndarray) -> np.ndarray:
  """An sRGB the project's ISP did not make: other curve, other matrix, a local boost."""
  x = np.clip(raw * np.array([2.1, 1.0, 1.6], np.float32) * 1.4, 0, 1)
  x = np.clip(np.einsum("ij,hwj->hwi", stages.GENERIC_CCM, x), 0, 1) ** (1 / 2.6)
  blur = (x + np.roll(x, 3, 0) + np.roll(x, -3, 0) + np.roll(x, 3, 1) + np.roll(x, -3, 1)) / 5
  return np.clip(np.rint(255 * np.clip(x + 0.6 * (x - blur), 0, 1)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def crop(real_data):
  """A real INTEL-TAU crop (64x96), a foreign JPEG q90 sRGB of it, and its ISP params."""
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[96:160, 144:240]
  return raw, decode_jpeg(encode_jpeg(_foreign_srgb(raw), 90)), src.params


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_round_trip_through_real_bitstreams(runner, tables, crop, backend):
  raw, srgb, _ = crop
  enc = codec.compress_image(raw, srgb, runner, tables, backend=backend, reconstruct=True)
  header, _ = bitstream.unpack(enc.data)
  assert header.flags & bitstream.FLAG_FITTED and header.isp is None
  fm = fitted_map.FittedMap.from_bytes(header.fitted)
  assert len(header.fitted) == 4 + 18 * FITTED.fitted_knots
  np.testing.assert_array_equal(fm.q, fitted_map.fit(srgb, raw).q)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_allclose(dec.raw, enc.x_hat, atol=1e-6)
  # The decoder's output is the fitted base plus the network's residual.
  plain = ModelRunner(R2LCMConfig(N=8, latent_channels=4, num_steps=4, coverage="full"),
                      runner.params, tables.scale_table)
  r = np.asarray(plain.synthesis(dec.y_hat, (srgb.astype(np.float32) / 255)[None]))[0]
  np.testing.assert_allclose(dec.raw, np.clip(fitted_map.apply(fm, srgb) + r / 16.0, 0, 1),
                             atol=1e-5)


def test_bytes_are_identical_across_coders(runner, tables, crop):
  raw, srgb, _ = crop
  a = codec.compress(raw, srgb, runner, tables, backend="numpy")
  b = codec.compress(raw, srgb, runner, tables, backend="jax")
  assert a == b


def test_gate_over_the_fitted_base_is_never_worse(runner, tables, crop):
  raw, srgb, _ = crop
  gate = residual_gate.GateSpec(tile=32)
  enc = codec.compress_image(raw, srgb, runner, tables, gate=gate)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_allclose(dec.raw, enc.x_hat, atol=1e-6)
  base = fitted_map.apply(fitted_map.fit(srgb, raw), srgb)
  ungated = np.clip(base + enc.delta, 0, 1)
  err = lambda x: float(np.mean((x - raw) ** 2))  # noqa: E731
  assert err(dec.raw) <= min(err(base), err(ungated)) + 1e-9


def test_fitted_base_beats_the_wrong_naive_inverse_on_a_foreign_srgb(crop):
  raw, srgb, isp = crop
  fitted = fitted_map.apply(fitted_map.fit(srgb, raw), srgb)
  wrong = pipeline.invert_render(srgb, isp)
  err = lambda x: float(np.mean((x - raw) ** 2))  # noqa: E731
  assert err(fitted) * 10 < err(wrong)


def test_isp_base_model_refuses_an_srgb_its_isp_did_not_make(tables, params, crop):
  raw, srgb, isp = crop
  isp_runner = ModelRunner(ISP, params, tables.scale_table)
  with pytest.raises(InputError, match="not rendered by the project's ISP"):
    codec.compress(raw, srgb, isp_runner, tables, isp=isp)
  own = decode_jpeg(encode_jpeg(pipeline.render_srgb(raw, isp), 90))
  assert isp_base.check_rendered_by(own, raw, isp) > isp_base.MIN_RERENDER_PSNR
  codec.compress(raw, own, isp_runner, tables, isp=isp)  # its own render is accepted


def test_base_mismatches_and_forged_blocks_are_refused(runner, tables, params, crop):
  raw, srgb, isp = crop
  data = codec.compress(raw, srgb, runner, tables)
  plain = ModelRunner(R2LCMConfig(N=8, latent_channels=4, num_steps=4, coverage="full"),
                      params, tables.scale_table)
  with pytest.raises(BitstreamError, match="disagree on the base"):
    codec.decompress(srgb, data, plain, tables)
  isp_runner = ModelRunner(ISP, params, tables.scale_table)
  own = pipeline.render_srgb(raw, isp)
  with pytest.raises(BitstreamError, match="disagree on the base"):
    codec.decompress(own, codec.compress(raw, own, isp_runner, tables, isp=isp), runner, tables)
  # A fitted block that passes the CRC but is not a fitted map: refused by the codec.
  hlen = int.from_bytes(data[10:12], "little")
  head = bytearray(data[:12 + hlen])
  at = bytes(head).find(b"FM\x01")
  head[at:at + 2] = b"XX"
  forged = bytes(head) + zlib.crc32(bytes(head)).to_bytes(4, "little") + data[12 + hlen + 4:]
  with pytest.raises(BitstreamError, match="fitted-map block has magic"):
    codec.decompress(srgb, forged, runner, tables)
  header, _ = bitstream.unpack(data)
  with pytest.raises(BitstreamError, match="not both"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "flags": header.flags | 1,
                                       "isp": isp_base.header_values(isp)}), [])
