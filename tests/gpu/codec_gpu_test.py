"""Bitstreams move between CPU and GPU: encoded on one, decoded bit-exactly on the other.

Marked `gpu`: deselected by default, run by `pytest -m gpu` (`experiments/gpu_check.sh`,
`make gpu-check`), skipped where JAX has no GPU. Needs both backends in one process, so
run with JAX_PLATFORMS=cuda,cpu (the tests' conftest otherwise pins JAX to the CPU).

With the packaged default model on the real 512x768 DNG crop shipped in the package, one
process encodes and decodes on each device (`jax.default_device`; the "jax" rANS coder
runs there too) and decodes the other device's bitstream. Checked, both ways:

* the decode of the other device's bitstream equals, bit for bit (raw, y_hat, z_hat), the
  decode of this device's own bitstream;
* on identical inputs (the encoder's recorded model calls re-run on the other device),
  every scale index of every coded position agrees;
* the decoder's y_hat and z_hat equal the encoder's, and on identical inputs the
  float16-rounded μ, σ, q of every coded position and the order maps agree (what
  `codec.latent_coding` and `entropy.indexes` assume; on the CPU alone, two XLA
  convolution paths already break these: `tests/codec/cross_flags_test.py`).

Failures list every model call whose results differ between the devices
(`tests/codec/cross_flags_worker.py`, `differences`).
"""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import numpy as np
import pytest

from r2lcm_jax.codec import codec, geometry
from r2lcm_jax.codec.checkpoint import load_checkpoint, resolve_checkpoint
from r2lcm_jax.codec.latent_coding import RateSettings
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.demo import demo_dng
from r2lcm_jax.errors import R2lcmError
from r2lcm_jax.io import images
from r2lcm_jax.isp.pipeline import render_srgb

pytestmark = pytest.mark.gpu

WORKER = pathlib.Path(__file__).resolve().parents[1] / "codec" / "cross_flags_worker.py"
DEVICES = ("cpu", "gpu")


def _worker_module():
  spec = importlib.util.spec_from_file_location("cross_flags_worker", WORKER)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.fixture(scope="module")
def devices():
  try:
    gpu = jax.devices("gpu")[0]
    cpu = jax.devices("cpu")[0]
  except RuntimeError as err:
    pytest.skip(f"needs a GPU and the CPU backend (JAX_PLATFORMS=cuda,cpu): {err}")
  return {"cpu": cpu, "gpu": gpu}


@pytest.fixture(scope="module")
def runs(devices):
  """device -> {"data": its bitstream, "record": its model calls, "latents": its encoder's
  (y_hat, z_hat), "decoded": {encoder device: (raw, y_hat, z_hat) or the decoder's error
  message}, "replayed": {other device: the other's record re-run here}}."""
  worker = _worker_module()
  ckpt = load_checkpoint(resolve_checkpoint("default"))
  src = load_source(demo_dng())
  raw, srgb = src.raw_rgb, render_srgb(src.raw_rgb, src.params)
  s = images.srgb_to_float(srgb)
  s_p = geometry.pad(s, geometry.plan_padding(*s.shape[:2]))[None]
  drop_steps, gamma = ckpt.rate
  rate = RateSettings(drop_steps, int(round(gamma * 1000)))
  out, runners = {}, {}
  for name in DEVICES:
    with jax.default_device(devices[name]):
      runner = ModelRunner(ckpt.config, ckpt.params, ckpt.tables.scale_table)
      (leaf,) = {tuple(x.devices()) for x in jax.tree_util.tree_leaves(runner.params)}
      assert leaf == (devices[name],)
      rec = worker.Recorder(runner, rate)
      enc = codec.compress_image(raw, srgb, rec, ckpt.tables, drop_steps=drop_steps,
                                 gamma=gamma)
    runners[name] = runner
    out[name] = {"data": enc.data, "record": rec.calls, "latents": (enc.y_hat, enc.z_hat),
                 "decoded": {}, "replayed": {}}
  for name in DEVICES:
    with jax.default_device(devices[name]):
      for other in DEVICES:
        try:
          dec = codec.decompress_image(srgb, out[other]["data"], runners[name], ckpt.tables)
          out[name]["decoded"][other] = (dec.raw, dec.y_hat, dec.z_hat)
        except R2lcmError as err:  # e.g. other table indexes: reported by the test
          out[name]["decoded"][other] = f"{type(err).__name__}: {err}"
        if other != name:
          out[name]["replayed"][other] = worker.replay(runners[name], rate,
                                                       out[other]["record"], s_p)
  return out


def _report(runs, encoder: str, decoder: str) -> tuple[int, str]:
  worker = _worker_module()
  record, replayed = runs[encoder]["record"], runs[decoder]["replayed"][encoder]
  lines = worker.differences(record, replayed) or ["no differences"]
  return (worker.coded_index_differences(record, replayed),
          f"{encoder} -> {decoder}: on the encoder's inputs the decoder's networks give\n  "
          + "\n  ".join(lines))


@pytest.mark.parametrize("encoder,decoder", [("cpu", "gpu"), ("gpu", "cpu")])
def test_bitstream_decodes_bit_exactly_on_the_other_device(runs, encoder, decoder):
  cross = runs[decoder]["decoded"][encoder]
  same = runs[decoder]["decoded"][decoder]
  _, report = _report(runs, encoder, decoder)
  if isinstance(cross, str):
    pytest.fail(f"decoding failed: {cross}\n{report}")
  for name, a, b in zip(("raw", "y_hat", "z_hat"), cross, same, strict=True):
    n = int(np.sum(a != b))
    assert n == 0, f"{name}: {n} of {b.size} values differ\n{report}"


@pytest.mark.parametrize("encoder,decoder", [("cpu", "gpu"), ("gpu", "cpu")])
def test_every_coded_scale_index_agrees_across_devices(runs, encoder, decoder):
  n, report = _report(runs, encoder, decoder)
  assert n == 0, f"{n} scale indexes differ\n{report}"


@pytest.mark.parametrize("encoder,decoder", [("cpu", "gpu"), ("gpu", "cpu")])
def test_decoded_latents_equal_the_encoders(runs, encoder, decoder):
  cross = runs[decoder]["decoded"][encoder]
  _, report = _report(runs, encoder, decoder)
  if isinstance(cross, str):
    pytest.fail(f"decoding failed: {cross}\n{report}")
  for name, a, b in zip(("y_hat", "z_hat"), cross[1:], runs[encoder]["latents"], strict=True):
    n = int(np.sum(a != b))
    assert n == 0, f"{name}: {n} of {b.size} values differ\n{report}"


@pytest.mark.parametrize("encoder,decoder", [("cpu", "gpu"), ("gpu", "cpu")])
def test_float16_entropy_parameters_agree_across_devices(runs, encoder, decoder):
  worker = _worker_module()
  record, replayed = runs[encoder]["record"], runs[decoder]["replayed"][encoder]
  n = worker.coded_parameter_differences(record, replayed)
  _, report = _report(runs, encoder, decoder)
  assert n == 0, f"{n} coded parameters or order positions differ\n{report}"
