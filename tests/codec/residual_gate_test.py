"""The residual gate (`codec.residual_gate`): tile choice, format, codec round trip."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.isp import pipeline
from r2lcm_jax.metrics import score_pair
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4, base="isp_inverse", coverage="full")
PLAIN = R2LCMConfig(N=8, latent_channels=4, num_steps=4)
SPEC = residual_gate.GateSpec(tile=16, denominator=4)


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def runner(tables):
  return ModelRunner(CFG, init_params(CFG, jax.random.key(1)), tables.scale_table)


@pytest.fixture(scope="module")
def real_crop(real_data):
  """A real INTEL-TAU crop (70x100: partial edge tiles), its JPEG q90 sRGB and ISP."""
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[96:166, 144:244]
  srgb = decode_jpeg(encode_jpeg(pipeline.render_srgb(raw, src.params), 90))
  return raw, srgb, src.params


def _sse(a, b):
  return float(np.sum((np.asarray(a, np.float64) - b) ** 2))


def test_choose_is_the_per_tile_minimum_and_prefers_cheap_symbols():
  rng = np.random.default_rng(0)
  h, w = 37, 50  # partial tiles at the bottom and right
  x = rng.uniform(0, 1, (h, w, 3)).astype(np.float32)
  base = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
  # A residual that is right on the left half and in the green channel everywhere,
  # twice too large in red and blue on the right half.
  delta = (x - base).astype(np.float32)
  delta[:, 25:, 0::2] *= 2.0
  spec = residual_gate.GateSpec(tile=8, denominator=4)
  s = residual_gate.choose(x, base, delta, spec)
  assert s.shape == residual_gate.grid_shape((h, w), spec) == (5, 7, 3)
  # Brute force: every tile's and channel's symbol reaches the minimum of 9 candidates.
  for r in range(5):
    for c in range(7):
      for ch in range(3):
        sl = np.s_[8 * r:8 * r + 8, 8 * c:8 * c + 8, ch]
        errs = {k: _sse(np.clip(base[sl] + (1 + k / 4) * delta[sl], 0, 1), x[sl])
                for k in range(-4, 5)}
        assert errs[int(s[r, c, ch])] == pytest.approx(min(errs.values()), rel=1e-5)
  assert np.all(s[:, :3] == 0) and np.all(s[..., 1] == 0)  # exact residual: keep it
  assert np.all(s[:, 4:, 0::2] == -2)  # doubled residual: halve it (1 - 2/4)
  # The gated image is never worse than the plain decoder or the naive inverse.
  gated = residual_gate.apply(base, delta, s, spec)
  assert _sse(gated, x) <= _sse(np.clip(base + delta, 0, 1), x)
  assert _sse(gated, x) <= _sse(base, x)
  # A zero residual makes every candidate equal: the cheapest symbol (0) wins.
  assert not residual_gate.choose(x, base, np.zeros_like(delta), spec).any()


def test_one_scale_per_tile_is_the_channel_summed_minimum():
  rng = np.random.default_rng(1)
  x = rng.uniform(0, 1, (20, 24, 3)).astype(np.float32)
  base = np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1).astype(np.float32)
  delta = (1.5 * (x - base)).astype(np.float32)
  delta[..., 1] *= -1.0  # green needs another scale than red and blue
  spec = residual_gate.GateSpec(tile=8, denominator=4)
  s = residual_gate.choose(x, base, delta, spec, per_channel=False)
  assert s.shape == (3, 3, 3) and np.all(s == s[..., :1])
  for r in range(3):
    for c in range(3):
      sl = np.s_[8 * r:8 * r + 8, 8 * c:8 * c + 8]
      errs = {k: _sse(np.clip(base[sl] + (1 + k / 4) * delta[sl], 0, 1), x[sl])
              for k in range(-4, 5)}
      assert errs[int(s[r, c, 0])] == pytest.approx(min(errs.values()), rel=1e-5)
  per_channel = residual_gate.choose(x, base, delta, spec)
  assert _sse(residual_gate.apply(base, delta, per_channel, spec), x) < _sse(
    residual_gate.apply(base, delta, s, spec), x)


def test_scale_map_and_symbol_checks():
  spec = residual_gate.GateSpec(tile=8, denominator=2)
  m = residual_gate.scale_map(np.array([[[-2, 0, 2], [1, -1, 0]]], np.int32), (5, 11), spec)
  assert m.shape == (5, 11, 3)
  np.testing.assert_array_equal(m[:, :8], np.broadcast_to([0.0, 1.0, 2.0], (5, 8, 3)))
  np.testing.assert_array_equal(m[:, 8:], np.broadcast_to([1.5, 0.5, 1.0], (5, 3, 3)))
  with pytest.raises(BitstreamError, match="outside"):
    residual_gate.check_symbols(np.array([3]), spec)
  with pytest.raises(InputError, match="gate tile"):
    residual_gate.GateSpec(tile=4)
  with pytest.raises(InputError, match="denominator"):
    residual_gate.GateSpec(denominator=0)
  assert residual_gate.estimate_bits(np.zeros(10)) < residual_gate.estimate_bits(
    np.full(10, 3))
  assert "R/G/B 0.75/1.00/1.25" in residual_gate.summary(
    np.array([[[-1, 0, 1]]]), residual_gate.GateSpec(tile=8, denominator=4))


def test_gated_codec_round_trip_is_exact_and_never_worse(runner, tables, real_crop):
  raw, srgb, isp = real_crop
  plain = codec.compress_image(raw, srgb, runner, tables, isp=isp, reconstruct=True)
  enc = codec.compress_image(raw, srgb, runner, tables, isp=isp, reconstruct=True, gate=SPEC)
  header, groups = bitstream.unpack(enc.data)
  assert header.flags == bitstream.FLAG_ISP | bitstream.FLAG_GATE
  assert (header.gate_tile, header.gate_denominator) == (16, 4)
  assert [g.name for g in groups][-1] == "gate"
  # The gate costs a few bytes (5x7 tiles x 3 channels, <= ~6 bits each, plus the
  # group's entry in the container) on top of the same latents.
  assert enc.gate_symbols.shape == (5, 7, 3)
  assert 0 < len(enc.data) - len(plain.data) < 120
  np.testing.assert_array_equal(enc.y_hat, plain.y_hat)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.raw, enc.x_hat)  # bit-exact: same arrays, same ops
  base = pipeline.invert_render(srgb, isp_base.params_from_header(isp_base.header_values(isp)))
  err = _sse(dec.raw, raw)
  assert err <= _sse(plain.x_hat, raw) + 1e-9
  assert err <= _sse(base, raw) + 1e-9
  # A random-weight network is a poor residual: the gate must have changed something.
  assert err < 0.99 * _sse(plain.x_hat, raw)
  assert score_pair(raw, dec.raw)[0] > score_pair(raw, plain.x_hat)[0]
  # Identical bytes from the NumPy reference coder; and it decodes them identically.
  np_data = codec.compress(raw, srgb, runner, tables, isp=isp, gate=SPEC, backend="numpy")
  assert np_data == enc.data
  np.testing.assert_array_equal(
    codec.decompress(srgb, enc.data, runner, tables, backend="numpy"), dec.raw)


def test_gate_refusals(runner, tables, real_crop):
  raw, srgb, isp = real_crop
  plain = ModelRunner(PLAIN, runner.params, tables.scale_table)
  with pytest.raises(InputError, match="residual gate"):
    codec.compress(raw, srgb, plain, tables, gate=SPEC)
  assert codec.gate_for(plain) is None
  assert codec.gate_for(runner) == residual_gate.GateSpec()
  assert codec.gate_for(runner, 0) is None
  assert codec.gate_for(plain, 32) == residual_gate.GateSpec(tile=32)
  data = codec.compress(raw, srgb, runner, tables, isp=isp, gate=SPEC)
  header, groups = bitstream.unpack(data)
  # Flag without the gate group, and the group without the flag: both refused.
  no_group = bitstream.pack(header, [g for g in groups if g.name != "gate"])
  with pytest.raises(BitstreamError, match="no coding group 'gate'"):
    codec.decompress(srgb, no_group, runner, tables)
  no_flag = bitstream.pack(bitstream.Header(**{
    **header.__dict__, "flags": bitstream.FLAG_ISP, "gate_tile": 0, "gate_denominator": 0}),
    groups)
  with pytest.raises(BitstreamError, match="unexpected coding groups"):
    codec.decompress(srgb, no_flag, runner, tables)
  # Header checks: the gate needs the ISP block and bounded fields.
  with pytest.raises(BitstreamError, match="needs a base block"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "flags": bitstream.FLAG_GATE,
                                       "isp": None}), [])
  with pytest.raises(BitstreamError, match="out of bounds"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "gate_tile": 4}), [])
  with pytest.raises(BitstreamError, match="without the gate flag"):
    bitstream.pack(bitstream.Header(**{**header.__dict__, "flags": bitstream.FLAG_ISP}), [])
  # A forged narrower denominator turns the coded symbols into out-of-range ones.
  enc = codec.compress_image(raw, srgb, runner, tables, isp=isp, gate=SPEC)
  assert np.abs(enc.gate_symbols).max() > 1
  narrow = bitstream.pack(bitstream.Header(**{**header.__dict__, "gate_denominator": 1}),
                          groups)
  with pytest.raises(BitstreamError, match=r"outside \[-1, 1\]"):
    codec.decompress(srgb, narrow, runner, tables)
