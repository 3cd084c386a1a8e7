"""Every coding-order option (`models.coding_order`) round-trips a real bitstream bit-exactly
on a real crop; the order travels in the header (the decoder needs no flag), default
bitstreams do not change, and unknown order ids are refused."""

from __future__ import annotations

import struct
import zlib

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, ConfigError, InputError
from r2lcm_jax.isp.pipeline import render_srgb
from r2lcm_jax.models.coding_order import ORDERS
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4)

pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def runner(tables):
  return ModelRunner(CFG, init_params(CFG, jax.random.key(0)), tables.scale_table)


@pytest.fixture(scope="module")
def crop(real_data):
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[32:102, 64:164]  # 70x100: the codec tests' image size (shared compiles)
  return raw, np.round(render_srgb(raw, src.params) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def encoded(runner, tables, crop):
  raw, srgb = crop
  return {o: codec.compress_image(raw, srgb, runner, tables, order=o) for o in ORDERS}


@pytest.mark.parametrize("order", ORDERS)
def test_every_order_round_trips_a_real_crop_bit_exactly(runner, tables, crop, encoded, order):
  _, srgb = crop
  enc = encoded[order]
  dec = codec.decompress_image(srgb, enc.data, runner, tables)  # no order given
  assert dec.header.order == order
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  assert np.isfinite(dec.raw).all()
  steps = {int(name.split("/")[1]) for name in enc.groups if name.startswith("main/")}
  if order == "checkerboard":
    assert steps == {0, 1}  # anchors, then the rest


def test_orders_change_the_bitstream_and_the_default_writes_no_order_block(encoded):
  datas = [encoded[o].data for o in ORDERS]
  assert len(set(datas)) == len(ORDERS)
  learned, _ = bitstream.unpack(encoded["learned"].data)
  assert not learned.flags & bitstream.FLAG_ORDER and learned.order == "learned"
  for o in ORDERS[1:]:
    header, _ = bitstream.unpack(encoded[o].data)
    assert header.flags & bitstream.FLAG_ORDER and header.order == o


def test_unknown_orders_are_refused(runner, tables, crop, encoded):
  raw, srgb = crop
  with pytest.raises(ConfigError, match="coding order"):
    codec.compress_image(raw, srgb, runner, tables, order="zigzag")
  data = bytearray(encoded["checkerboard"].data)
  (hlen,) = struct.unpack_from("<H", data, len(bitstream.MAGIC) + 2)
  head_end = len(bitstream.MAGIC) + 4 + hlen
  assert data[head_end - 1] == bitstream.ORDER_IDS.index("checkerboard")  # the order block
  data[head_end - 1] = 200
  struct.pack_into("<I", data, head_end, zlib.crc32(bytes(data[:head_end])))
  with pytest.raises(BitstreamError, match="unknown coding order id 200"):
    codec.decompress_image(srgb, bytes(data), runner, tables)


def test_the_container_and_the_model_agree_on_the_order_names():
  assert bitstream.ORDER_IDS == ORDERS


def test_checkerboard_needs_two_steps(tables, crop):
  cfg = R2LCMConfig(N=8, latent_channels=4, num_steps=1)
  one = ModelRunner(cfg, init_params(cfg, jax.random.key(0)), tables.scale_table)
  raw, srgb = crop
  with pytest.raises((ConfigError, InputError), match="at least 2"):
    codec.compress_image(raw, srgb, one, tables, order="checkerboard")
