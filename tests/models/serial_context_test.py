"""The serial (PixelCNN, raster-order) baseline: the per-position decode step reproduces
the parallel training forward, the context is causal, the configuration trains, and a real
crop round-trips bit-exactly through the project's rANS coder, one position at a time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.coding.rans_stream import StreamDecoder, encode_stream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.errors import BitstreamError, ConfigError
from r2lcm_jax.isp.pipeline import render_srgb
from r2lcm_jax.models import R2LCM, R2LCMConfig
from r2lcm_jax.models.param_init import init_params
from r2lcm_jax.models.serial_coding import (
  SerialRunner,
  serial_compress,
  serial_decompress,
)
from r2lcm_jax.models.serial_context import RADIUS, mask_a

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4, context="serial")


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def setup():
  params = init_params(CFG, jax.random.key(0))
  yield R2LCM(CFG), params


@pytest.fixture(scope="module")
def tables():
  return build_gaussian_tables()


def _dense(model, params, v, P):
  return model.apply({"params": params}, v, P,
                     method=lambda m, v, P: m.main.dense_params(v, P))


def test_mask_a_keeps_the_twelve_taps_before_the_centre():
  m = mask_a()
  assert m.sum() == 12 and m[2, 2] == 0 and m[2, :2].all() and not m[2, 3:].any()
  assert m[:2].all() and not m[3:].any()


def test_window_step_reproduces_the_training_forward_at_every_position(setup):
  model, params = setup
  rng = np.random.default_rng(1)
  v = rng.normal(size=(1, 6, 7, 4)).astype(np.float32) * 3
  P = rng.normal(size=(1, 6, 7, 8)).astype(np.float32)
  sigma, mu = (np.asarray(a) for a in _dense(model, params, v, P))
  r = RADIUS
  pad = np.pad(v, ((0, 0), (r, r), (r, r), (0, 0)))
  step = jax.jit(lambda w, p: model.apply({"params": params}, w, p,
                                          method=lambda m, w, p: m.main.window_params(w, p)))
  for i in range(6):
    for j in range(7):
      win = pad[:, i : i + 2 * r + 1, j : j + 2 * r + 1].copy()
      win[0, r, r:] = rng.normal(size=win[0, r, r:].shape)  # the future must not matter
      win[0, r + 1 :] = rng.normal(size=win[0, r + 1 :].shape)
      s_ij, mu_ij = step(win, P[:, i : i + 1, j : j + 1])
      np.testing.assert_allclose(np.asarray(s_ij)[0, 0, 0], sigma[0, i, j], rtol=1e-5, atol=1e-6)
      np.testing.assert_allclose(np.asarray(mu_ij)[0, 0, 0], mu[0, i, j], rtol=1e-5, atol=1e-6)


def test_changing_a_later_position_never_changes_an_earlier_prediction(setup):
  model, params = setup
  rng = np.random.default_rng(2)
  v = rng.normal(size=(1, 5, 6, 4)).astype(np.float32)
  P = rng.normal(size=(1, 5, 6, 8)).astype(np.float32)
  base = [np.asarray(a) for a in _dense(model, params, v, P)]
  for pos in (0, 7, 15, 29):
    i, j = divmod(pos, 6)
    v2 = v.copy()
    v2[0, i, j] += 5.0
    new = [np.asarray(a) for a in _dense(model, params, v2, P)]
    for a, b in zip(base, new, strict=True):
      flat_a, flat_b = a.reshape(30, 4), b.reshape(30, 4)
      np.testing.assert_array_equal(flat_a[: pos + 1], flat_b[: pos + 1])
      if pos < 29:
        assert (flat_a[pos + 1 :] != flat_b[pos + 1 :]).any()


def test_serial_configuration_trains_and_refuses_the_parallel_order_map(setup):
  model, params = setup
  rng = np.random.default_rng(4)
  u = jnp.asarray(rng.normal(size=(1, 6, 6, 4)) * 2, jnp.float32)
  P = jnp.asarray(rng.normal(size=(1, 6, 6, 8)), jnp.float32)
  s = jnp.zeros((1, 24, 24, 3))
  masks = model.apply({"params": params}, "main", P, s, False, method=R2LCM._masks)
  assert masks.shape == (4, 1, 6, 6, 1) and float(masks[0].min()) == 1.0
  assert float(masks[1:].max()) == 0.0

  @jax.jit
  def rate(p):
    out = model.apply({"params": p}, "main", u, P, s, masks, training=True,
                      method=R2LCM.level_forward, rngs={"noise": jax.random.key(5)})
    return -jnp.log2(out["likelihoods"]).sum()

  val, grads = jax.value_and_grad(rate)(params)
  assert np.isfinite(float(val)) and float(val) > 0
  g = grads["main"]["context_prediction"]["kernel"]
  # the masked taps get no gradient, the causal ones do
  assert float(jnp.abs(g[2, 2:]).max()) == 0.0 and float(jnp.abs(g[3:]).max()) == 0.0
  assert float(jnp.abs(g[:2]).max()) > 0
  with pytest.raises(ConfigError, match="one position at a time"):
    model.apply({"params": params}, "main", P, s, method=R2LCM.order_map)


def test_stream_decoder_matches_the_batch_decoder_and_handles_escapes(tables):
  rng = np.random.default_rng(3)
  n = 300
  idx = rng.integers(0, tables.scale_table.size, n).astype(np.int32)
  sym = rng.integers(-3, 4, n).astype(np.int32)
  sym[::37] = rng.integers(-5000, 5000, sym[::37].size)  # escapes on both sides
  data = encode_stream(sym, idx, tables)
  dec = StreamDecoder(data, n, tables)
  out = np.concatenate([dec.decode(idx[k : k + 4]) for k in range(0, n, 4)])
  dec.finish()
  np.testing.assert_array_equal(out, sym)
  np.testing.assert_array_equal(rans_numpy.decode(data[4:], idx, tables, lanes=1), sym)
  with pytest.raises(BitstreamError, match="escape region"):
    StreamDecoder(data[:-1], n, tables)  # truncated
  word = 4 + 2 + 4 + 10  # a coder word in the middle of the first symbols
  bad = StreamDecoder(data[:word] + bytes([data[word] ^ 0x40]) + data[word + 1 :], n, tables)
  with pytest.raises(BitstreamError):
    bad.decode(idx)
    bad.finish()


def test_real_crop_round_trips_bit_exactly_one_position_at_a_time(setup, tables, real_data):
  _, params = setup
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[64:96, 96:144]
  srgb = np.round(render_srgb(raw, src.params) * 255) / 255
  runner = SerialRunner(CFG, params, tables.scale_table)
  x, s = raw[None].astype(np.float32), srgb[None].astype(np.float32)
  enc = serial_compress(runner, x, s, tables)
  dec = serial_decompress(runner, s, enc.data, tables)
  assert enc.y_hat.shape == (1, 8, 12, 4) and enc.z_hat.shape == (1, 2, 3, 4)
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_array_equal(dec.x_hat, enc.x_hat)
  assert np.isfinite(dec.x_hat).all() and len(enc.data) > 8
  with pytest.raises(BitstreamError):
    serial_decompress(runner, s, enc.data[:-2], tables)
