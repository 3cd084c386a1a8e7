"""Encoder and decoder under different XLA:CPU convolution flags.

`import r2lcm_jax` adds `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`
(`r2lcm_jax.xla_setup`), which changes the last bits of XLA:CPU's convolutions; a user may
keep XLA's default instead (R2LCM_KEEP_XLA_FLAGS=1 or their own XLA_FLAGS), and files
written before the package set the flag used the default. For each packaged model, on a
whole real INTEL-TAU frame (256x384, a test image of the models' split), three
subprocesses (`cross_flags_worker.py`) encode with the flag ON, encode with it OFF, and
decode each bitstream under the other setting. Checked, both ways:

1. the decode of the other setting's bitstream equals, bit for bit (raw, y_hat, z_hat),
   the decode of this setting's own bitstream;
2. on identical inputs (each side's recorded model calls re-run under the other
   setting), every scale index of every coded position, at every step, is the same;
3. the decoder's y_hat and z_hat equal the encoder's (what `codec.latent_coding` relies
   on: "encoder and decoder feed identical arrays to the next step");
4. on identical inputs, the float16-rounded μ, σ, q of every coded position and the order
   maps are the same (what `entropy.indexes` assumes).

Measured with jaxlib 0.10.2 on a 2-core x86-64 CPU (AVX-512); the counts move with any
change of the networks' code. 1 and 2 hold on these frames; 3 and 4 fail: the hyper
synthesis differs in ~85 % of its float32 values (max |diff| 2.6e-6), so of the float16 μ
/ σ / q of the 24576 coded main-level values 68-77 / 5-6 / 1-3 differ (default model;
isp_known: 4-6 / 2-4 / 3-4, and 3 σ, 5 q of its 1524 coded hyper-level values), and the
decoder's y_hat differs from the encoder's in 67 (default) resp. 2 values. On the whole
3000x4000 HERO7 frame (default model) the same cause makes 20-23 main-level and 2
hyper-level scale indexes of 3.2M differ, and decoding under the other setting fails
("group 'hyper/3' does not decode") both ways: 1 and 2 fail at full size. The failure
messages list every differing model call.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax import xla_setup

pytestmark = pytest.mark.slow  # six codec processes, ~3 minutes on a 2-core CPU

WORKER = pathlib.Path(__file__).with_name("cross_flags_worker.py")
IMAGES = {  # model -> INTEL-TAU test frame
  "default": 18,
  "isp_known": 19,
}
DIRECTIONS = [("on", "off"), ("off", "on")]  # (encoder's flag, decoder's flag)


def _worker_module():
  spec = importlib.util.spec_from_file_location("cross_flags_worker", WORKER)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _env(flag_on: bool) -> dict[str, str]:
  env = dict(os.environ)
  flags = [f for f in env.get("XLA_FLAGS", "").split() if xla_setup.FLAG_NAME not in f]
  if flag_on:
    flags.append(xla_setup.CPU_CONV_FLAG)  # a user setting: kept by `import r2lcm_jax`
  else:
    env[xla_setup.OPT_OUT_ENV] = "1"
  env["XLA_FLAGS"] = " ".join(flags)
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _run(flag_on: bool, *args: str) -> None:
  proc = subprocess.run([sys.executable, str(WORKER), *args], env=_env(flag_on),
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]


def _load(path: pathlib.Path) -> dict[str, np.ndarray]:
  with np.load(path) as z:
    return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, real_data):
  """model -> OUTDIR with on.*, off.* written by the worker processes."""
  if not xla_setup.flag_is_known():
    pytest.skip(f"this jaxlib does not know --{xla_setup.FLAG_NAME}")
  out = {}
  for model, index in IMAGES.items():
    d = tmp_path_factory.mktemp(model)
    image = str(real_data / "inteltau" /
                f"S_IMX135_BLCCSC_field_{index:03d}_sensorname_sony_imx135.png")
    base = [model, image, str(d)]
    _run(True, *base, "on", "--encode")
    _run(False, *base, "off", "--encode", "--decode", str(d / "on.r2lcm"),
         "--replay", str(d / "on.record.npz"))
    _run(True, *base, "on", "--decode", str(d / "off.r2lcm"),
         "--replay", str(d / "off.record.npz"))
    out[model] = d
  return out


def _compare(d: pathlib.Path, encoder: str, decoder: str):
  """(record, replayed, report): the encoder's model calls, the same calls under the
  decoder's setting, and a description of every call that differs."""
  worker = _worker_module()
  record, replayed = _load(d / f"{encoder}.record.npz"), _load(d / f"{decoder}.replay.npz")
  lines = worker.differences(record, replayed) or ["no differences"]
  report = (f"flag {encoder} -> {decoder}: on the encoder's inputs the decoder's networks "
            "give\n  " + "\n  ".join(lines))
  return worker, record, replayed, report


def _cross_decode(d: pathlib.Path, decoder: str, report: str) -> dict[str, np.ndarray]:
  cross = _load(d / f"{decoder}.cross.npz")
  if "error" in cross:
    pytest.fail(f"decoding failed: {cross['error']}\n{report}")
  return cross


@pytest.mark.parametrize("model", sorted(IMAGES))
@pytest.mark.parametrize("encoder,decoder", DIRECTIONS)
def test_decoder_output_does_not_depend_on_the_encoders_flag(runs, model, encoder, decoder):
  d = runs[model]
  *_, report = _compare(d, encoder, decoder)
  cross = _cross_decode(d, decoder, report)  # encoded under `encoder`
  same = _load(d / f"{decoder}.self.npz")  # encoded and decoded under `decoder`
  for name in ("z_hat", "y_hat", "raw"):
    n = int(np.sum(cross[name] != same[name]))
    assert n == 0, f"{model} {name}: {n} of {same[name].size} values differ\n{report}"


@pytest.mark.parametrize("model", sorted(IMAGES))
@pytest.mark.parametrize("encoder,decoder", DIRECTIONS)
def test_every_coded_scale_index_agrees_on_identical_inputs(runs, model, encoder, decoder):
  worker, record, replayed, report = _compare(runs[model], encoder, decoder)
  n = worker.coded_index_differences(record, replayed)
  assert n == 0, f"{model}: {n} scale indexes differ\n{report}"


@pytest.mark.parametrize("model", sorted(IMAGES))
@pytest.mark.parametrize("encoder,decoder", DIRECTIONS)
def test_decoded_latents_equal_the_encoders(runs, model, encoder, decoder):
  d = runs[model]
  *_, report = _compare(d, encoder, decoder)
  cross = _cross_decode(d, decoder, report)
  enc = _load(d / f"{encoder}.enc.npz")
  for name in ("z_hat", "y_hat"):
    n = int(np.sum(cross[name] != enc[name]))
    assert n == 0, f"{model} {name}: {n} of {enc[name].size} values differ\n{report}"


@pytest.mark.parametrize("model", sorted(IMAGES))
@pytest.mark.parametrize("encoder,decoder", DIRECTIONS)
def test_float16_entropy_parameters_agree_on_identical_inputs(runs, model, encoder,
                                                             decoder):
  worker, record, replayed, report = _compare(runs[model], encoder, decoder)
  n = worker.coded_parameter_differences(record, replayed)
  assert n == 0, f"{model}: {n} coded parameters or order positions differ\n{report}"
