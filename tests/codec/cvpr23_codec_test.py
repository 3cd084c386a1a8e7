"""The CVPR'23 model (arch "cvpr23") through real `.r2lcm` bitstreams on a real crop.

Hyper level: one group through the factorized bottleneck's integer tables (built at
export) plus the saved channel mean; main level: the shared context loop with the
jointly predicted order masks. Decoding is bit-exact.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.checkpoint import load_checkpoint, save_checkpoint
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.entropy import factorized
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.isp.pipeline import render_srgb
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

CFG = R2LCMConfig(N=8, latent_channels=4, num_steps=4, arch="cvpr23", down_num=4,
                  adaptive_quant=False, scale_bound=0.11, channel_mean=True)

pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  params = init_params(CFG, jax.random.key(0))
  # A trained-looking density: the channels differ in width and offset.
  rng = np.random.default_rng(0)
  params["entropy_bottleneck"] = {k: np.asarray(v) + 0.3 * rng.standard_normal(np.shape(v)).astype(np.float32)
                                  for k, v in params["entropy_bottleneck"].items()}
  return save_checkpoint(tmp_path_factory.mktemp("cvpr23"), params, CFG)


@pytest.fixture(scope="module")
def runner(checkpoint):
  return ModelRunner(checkpoint.config, checkpoint.params, checkpoint.tables.scale_table)


@pytest.fixture(scope="module")
def crop(real_data):
  src = load_source(real_data / "inteltau" /
                    "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb[32:132, 64:184]  # 100x120, padded to 128x128: y 8x8, z 2x2
  return raw, np.round(render_srgb(raw, src.params) * 255).astype(np.uint8)


def test_export_builds_the_bottleneck_tables_once(checkpoint):
  t = checkpoint.tables
  gauss = build_gaussian_tables()
  c = CFG.latent_channels
  assert t.num_scales == gauss.num_scales + c
  assert factorized.bottleneck_row_base(t.num_scales, c) == gauss.num_scales
  own = factorized.build_factorized_tables(checkpoint.params["entropy_bottleneck"])
  for k in range(c):
    n = own.cdf_length[k]
    np.testing.assert_array_equal(t.cdf[gauss.num_scales + k, :n], own.cdf[k, :n])
  np.testing.assert_array_equal(t.cdf[: gauss.num_scales, : gauss.cdf.shape[1]], gauss.cdf)
  # Reloading reads the same integers (nothing is rebuilt from floating point).
  again = load_checkpoint(checkpoint.path)
  assert again.tables.fingerprint == t.fingerprint


@pytest.mark.parametrize("order", ["learned", "argmax"])
def test_real_crop_round_trips_bit_exactly(runner, checkpoint, crop, order):
  raw, srgb = crop
  tables = checkpoint.tables
  enc = codec.compress_image(raw, srgb, runner, tables, reconstruct=True, order=order)
  dec = codec.decompress_image(srgb, enc.data, runner, tables)
  np.testing.assert_array_equal(dec.z_hat, enc.z_hat)
  np.testing.assert_array_equal(dec.y_hat, enc.y_hat)
  np.testing.assert_array_equal(dec.raw, enc.x_hat)
  assert dec.raw.shape == raw.shape and np.isfinite(dec.raw).all()
  assert enc.z_hat.shape == (1, 2, 2, 4) and enc.y_hat.shape == (1, 8, 8, 4)
  # Hyper level: one group + the channel mean; z_hat - m is integer.
  assert {"hyper/0", "hyper/mean"} <= set(enc.groups)
  assert not any(g.startswith("hyper/") and g not in ("hyper/0", "hyper/mean") for g in enc.groups)
  assert enc.groups["hyper/0"].symbols == 2 * 2 * 4 and enc.groups["hyper/mean"].symbols == 4
  m = enc.z_hat[0] - np.round(enc.z_hat[0])
  np.testing.assert_allclose(m - m[:1, :1], 0, atol=1e-6)  # the fraction is per channel
  # Every main position is coded (joint masks): 8*8 positions * 4 channels symbols.
  main = sum(r.symbols for g, r in enc.groups.items() if g.startswith("main/"))
  assert main == 8 * 8 * 4


def test_bitstream_size_follows_the_estimate(runner, checkpoint, crop):
  raw, srgb = crop
  enc = codec.compress_image(raw, srgb, runner, checkpoint.tables)
  payload = sum(g.bytes for g in enc.groups.values())
  # Few symbols: each group's substream carries a fixed overhead of a few bytes.
  assert payload * 8 <= enc.estimated_bits + 8 * 16 * len(enc.groups)
  assert payload * 8 >= 0.5 * enc.estimated_bits


def test_the_hyper_level_is_coded_with_the_bottleneck_rows(runner, checkpoint, crop):
  raw, srgb = crop
  enc = codec.compress_image(raw, srgb, runner, checkpoint.tables)
  # Decoding with Gaussian-only tables of the same model is refused (table fingerprint).
  other = build_gaussian_tables()
  with pytest.raises(Exception, match="coding tables"):
    codec.decompress_image(srgb, enc.data, runner, other)
