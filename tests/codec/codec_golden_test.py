"""Golden bitstreams: committed files must keep decoding to the committed results.

The files in tests/golden/ were written by tests/golden/regenerate.py. If this test
fails after a change, the bitstream format or the decoder's numbers changed: bump
bitstream.FORMAT_VERSION (old files must then be refused clearly or still read) and
regenerate deliberately.
"""

from __future__ import annotations

import hashlib
import json
import pathlib

import numpy as np
import pytest

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.files import load_runner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.errors import BitstreamError
from r2lcm_jax.io import images

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


def _sha(a) -> str:
  return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


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
  assert _sha(dec.z_hat) == want["z_hat_sha256"]
  assert _sha(dec.y_hat) == want["y_hat_sha256"]
  assert _sha(images.to_uint16(np.clip(dec.raw, 0, 1))) == want["reconstruction_u16_sha256"]


def test_encoder_still_writes_the_committed_bytes(model):
  ckpt, runner = model
  srgb = images.read_image(GOLDEN / "image_srgb.png")
  raw = images.read_image(GOLDEN / "image_raw.tif").astype(np.float32) / 65535.0
  assert codec.compress(raw, srgb, runner, ckpt.tables) == (GOLDEN / "image.r2lcm").read_bytes()


def test_other_format_versions_are_refused_clearly():
  data = bytearray((GOLDEN / "image.r2lcm").read_bytes())
  assert EXPECTED["format_version"] == bitstream.FORMAT_VERSION
  data[8:10] = (bitstream.FORMAT_VERSION + 1).to_bytes(2, "little")
  with pytest.raises(BitstreamError, match="version"):
    bitstream.unpack(bytes(data))
