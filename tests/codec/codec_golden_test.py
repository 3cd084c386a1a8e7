"""Golden bitstreams: committed files must keep decoding to the committed results.

The files in tests/golden/ were written by tests/golden/regenerate.py. What is exact on
every machine, and checked exactly: the encoder's bytes (the index and symbol paths are
integer; the network's float outputs pass through float16 on both sides). What is not:
the float values of the decoded latents and of the reconstruction. XLA:CPU's kernels
differ by jaxlib version and CPU (a new jaxlib moved z_hat by a float16 ulp while every
byte stayed the same), so those are compared with the committed arrays within a tolerance
that a wrong symbol (a step of 2^q >= 0.25 in a latent) or a wrong decoder cannot pass.

If this test fails after a change, the bitstream format or the decoder's numbers
changed: bump bitstream.FORMAT_VERSION (old files must then be refused clearly or still
read) and regenerate deliberately.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from r2lcm_jax.app.files import load_runner
from r2lcm_jax.codec import codec
from r2lcm_jax.coding import bitstream
from r2lcm_jax.errors import BitstreamError
from r2lcm_jax.io import images

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


@pytest.fixture(scope="module")
def model():
  return load_runner(GOLDEN / "tiny_checkpoint")


@pytest.mark.parametrize("name", sorted(EXPECTED["bitstreams"]))
def test_committed_bitstream_decodes_to_committed_hashes(model, name):
  ckpt, runner = model
  want = EXPECTED["bitstreams"][name]
  srgb = images.read_image(GOLDEN / "image_srgb.png")
  data = (GOLDEN / name).read_bytes()
  assert len(data) == want["bytes"]
  dec = codec.decompress_image(srgb, data, runner, ckpt.tables)
  assert (dec.header.drop_steps, dec.header.gamma_milli) == (
    want["drop_steps"], round(want["gamma"] * 1000))
  with np.load(GOLDEN / f"{name}.decoded.npz") as z:
    want_arrays = {k: z[k] for k in z.files}
  for key in ("z_hat", "y_hat"):  # float16-rounded latents: a few ulps at most
    np.testing.assert_allclose(getattr(dec, key), want_arrays[key], rtol=4e-3, atol=1e-3)
  recon = images.to_uint16(np.clip(dec.raw, 0, 1)).astype(np.int64)
  diff = np.abs(recon - want_arrays["reconstruction_u16"])
  assert diff.max() <= 64 and diff.mean() <= 1.0, (diff.max(), diff.mean())


def test_encoder_still_writes_the_committed_bytes(model):
  ckpt, runner = model
  srgb = images.read_image(GOLDEN / "image_srgb.png")
  raw = images.read_image(GOLDEN / "image_raw.tif").astype(np.float32) / 65535.0
  assert codec.compress(raw, srgb, runner, ckpt.tables) == (GOLDEN / "image.r2lcm").read_bytes()


def test_version_2_file_still_decodes_to_the_committed_results(model):
  """image_v2.r2lcm is image.r2lcm as format version 2 wrote it (no scale of this model
  lies beyond the tables, so only the version differs): it must decode the same."""
  ckpt, runner = model
  srgb = images.read_image(GOLDEN / "image_srgb.png")
  dec = codec.decompress_image(srgb, (GOLDEN / "image_v2.r2lcm").read_bytes(), runner,
                               ckpt.tables)
  assert dec.header.version == 2
  with np.load(GOLDEN / "image.r2lcm.decoded.npz") as z:
    np.testing.assert_allclose(dec.y_hat, z["y_hat"], rtol=4e-3, atol=1e-3)
    np.testing.assert_allclose(dec.z_hat, z["z_hat"], rtol=4e-3, atol=1e-3)


def test_version_1_file_is_refused_with_the_reason():
  with pytest.raises(BitstreamError, match="version 1 .*no longer read"):
    bitstream.unpack((GOLDEN / "image_v1.r2lcm").read_bytes())


def test_other_format_versions_are_refused_clearly():
  data = bytearray((GOLDEN / "image.r2lcm").read_bytes())
  assert EXPECTED["format_version"] == bitstream.FORMAT_VERSION
  data[8:10] = (bitstream.FORMAT_VERSION + 1).to_bytes(2, "little")
  with pytest.raises(BitstreamError, match="version"):
    bitstream.unpack(bytes(data))
