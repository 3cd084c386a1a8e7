"""`r2lcm bench codec`: encode/decode time and memory of one large image.

    .venv/bin/r2lcm bench codec --height 2920 --width 4386 [--checkpoint CKPT]
        [--backend jax] [--tile 128] [--out experiments/results/codec_timing.md]

Times `compress_image` and `decompress_image` of one image of the paper's timing size
(2920x4386, 12.8 MP), split into network (compiled model calls) and entropy coding,
after a warm-up on the same size (compilation reported separately), and reports the
process's peak resident memory. Without --checkpoint it uses the default configuration
(N=64, C=8, T=4) with seeded random weights: network time does not depend on training,
and coding time depends on it only through the number of bits.

The input is a synthetic RAW scene rendered through the project's ISP (a real frame of
that size is not available offline: the GoPro HERO7 frames are 3000x4000).
"""

from __future__ import annotations

import resource
import time

import jax
import numpy as np
from absl import flags

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.files import load_runner
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

_H = flags.DEFINE_integer("height", 2920, "Image height.")
_W = flags.DEFINE_integer("width", 4386, "Image width.")
_CKPT = flags.DEFINE_string("checkpoint", None, "Codec checkpoint (default: random N=64).")
_BACKEND = flags.DEFINE_enum("backend", "jax", ["jax", "numpy", "tfc"], "Entropy coder.")
_TILE = flags.DEFINE_integer("tile", codec.DEFAULT_TILE, "Tile core in latent pixels.")
_REPEATS = flags.DEFINE_integer(
  "repeats", 1, "Timed repetitions after the first (compiling) pass; 0 reports the first.")
_OUT = flags.DEFINE_string("out", None, "Append a markdown table to this file.")


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str]) -> None:
  del argv
  if _CKPT.value:
    ckpt, runner = load_runner(_CKPT.value)
    tables, label = ckpt.tables, _CKPT.value
  else:
    cfg = R2LCMConfig()
    tables = build_gaussian_tables()
    runner = ModelRunner(cfg, init_params(cfg, jax.random.key(0)), tables.scale_table)
    label = "default config, seeded random weights"
  raw, srgb = synthetic_pair(0, _H.value, _W.value)
  srgb8 = np.round(srgb * 255).astype(np.uint8)
  opts = dict(backend=_BACKEND.value, tile=_TILE.value)
  t0 = time.perf_counter()
  enc = codec.compress_image(raw, srgb8, runner, tables, **opts)
  t_enc = time.perf_counter() - t0
  print(f"first encode (incl. compile): {t_enc:.1f} s {enc.seconds}", flush=True)
  t1 = time.perf_counter()
  dec = codec.decompress_image(srgb8, enc.data, runner, tables, tile=_TILE.value)
  t_dec = time.perf_counter() - t1
  print(f"first decode (incl. compile): {t_dec:.1f} s {dec.seconds}", flush=True)
  warm = time.perf_counter() - t0
  rows = [(t_enc, enc.seconds, t_dec, dec.seconds)] if _REPEATS.value == 0 else []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    enc = codec.compress_image(raw, srgb8, runner, tables, **opts)
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = codec.decompress_image(srgb8, enc.data, runner, tables, tile=_TILE.value)
    t_dec = time.perf_counter() - t0
    assert np.array_equal(dec.y_hat, enc.y_hat)
    rows.append((t_enc, enc.seconds, t_dec, dec.seconds))
  t_enc, s_enc, t_dec, s_dec = min(rows, key=lambda r: r[0] + r[2])
  bpp = 8 * len(enc.data) / (_H.value * _W.value)
  table = [
    "| image | model | backend | encode total (network / coding) s | decode total "
    "(network / coding) s | first run incl. compile s | metadata bpp | peak RSS GiB |"
    + (" (first, compiling pass)" if _REPEATS.value == 0 else ""),
    "|---|---|---|---|---|---|---|---|",
    f"| {_H.value}x{_W.value} | {label} | {_BACKEND.value} | {t_enc:.1f} "
    f"({s_enc['network']:.1f} / {s_enc['coding']:.2f}) | {t_dec:.1f} "
    f"({s_dec['network']:.1f} / {s_dec['coding']:.2f}) | {warm:.1f} | {bpp:.4f} | "
    f"{_peak_rss_gib():.2f} |",
  ]
  text = "\n".join(table)
  print(text)
  print(f"devices: {jax.devices()}")
  if _OUT.value:
    with open(_OUT.value, "a") as f:
      f.write(text + "\n")
