"""Regenerates the golden codec files in this folder (run only on a deliberate format bump).

    JAX_PLATFORMS=cpu .venv/bin/python tests/golden/regenerate.py [--bitstreams_only]

`--bitstreams_only` keeps the committed checkpoint and images and rewrites the
bitstreams and expected.json (a container change that leaves the numbers alone: the
latent and reconstruction hashes must come out unchanged).

Writes:
  tiny_checkpoint/   a fixed tiny model (N=8, C=4, T=4; seeded init) + coding tables
  image_srgb.png     a 96x128 synthetic sRGB image (8-bit)
  image_raw.tif      its 16-bit raw-RGB
  image.r2lcm        the metadata bitstream of the image (drop_steps=0, gamma=0)
  image_d1_g1.r2lcm  the same with drop_steps=1, gamma=1
  expected.json      format version and, per bitstream, its size and rate settings
  <name>.decoded.npz the decoded latents y_hat, z_hat and the 16-bit reconstruction
  image_v1.r2lcm     (kept, not rewritten) a format-version-1 file, which must be refused
  image_v2.r2lcm     (kept, not rewritten) image.r2lcm as format version 2 wrote it, which
                     must still decode to image.r2lcm.decoded.npz

tests/codec/golden_test.py decodes the committed bitstreams and compares the hashes. A
change of the bitstream format must bump bitstream.FORMAT_VERSION; files of older
versions must stay readable or be refused with a clear BitstreamError.
"""

from __future__ import annotations

import json
import pathlib
import sys

import jax
import numpy as np

from r2lcm_jax.app.files import load_runner
from r2lcm_jax.codec import codec
from r2lcm_jax.codec.checkpoint import save_checkpoint
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.io import images
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

HERE = pathlib.Path(__file__).resolve().parent
CASES = {"image.r2lcm": (0, 0.0), "image_d1_g1.r2lcm": (1, 1.0)}


def reconstruction_u16(raw: np.ndarray) -> np.ndarray:
  return images.to_uint16(np.clip(raw, 0.0, 1.0))


def main(bitstreams_only: bool) -> None:
  if not bitstreams_only:
    cfg = R2LCMConfig(N=8, latent_channels=4, num_steps=4)
    save_checkpoint(HERE / "tiny_checkpoint", init_params(cfg, jax.random.key(2024)), cfg)
    raw, srgb = synthetic_pair(7, 96, 128)
    images.write_png(HERE / "image_srgb.png", np.round(srgb * 255).astype(np.uint8))
    images.write_tiff16(HERE / "image_raw.tif", raw)
  ckpt, runner = load_runner(HERE / "tiny_checkpoint")
  srgb8 = images.read_image(HERE / "image_srgb.png")
  raw = images.read_image(HERE / "image_raw.tif").astype(np.float32) / 65535.0
  expected = {"format_version": bitstream.FORMAT_VERSION, "bitstreams": {}}
  for name, (d, g) in CASES.items():
    data = codec.compress(raw, srgb8, runner, ckpt.tables, d, g)
    (HERE / name).write_bytes(data)
    dec = codec.decompress_image(srgb8, data, runner, ckpt.tables)
    np.savez_compressed(HERE / f"{name}.decoded.npz", y_hat=dec.y_hat, z_hat=dec.z_hat,
                        reconstruction_u16=reconstruction_u16(dec.raw))
    expected["bitstreams"][name] = {"drop_steps": d, "gamma": g, "bytes": len(data)}
  (HERE / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
  print(json.dumps(expected, indent=2))


if __name__ == "__main__":
  main(bitstreams_only="--bitstreams_only" in sys.argv[1:])
