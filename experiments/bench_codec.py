"""`r2lcm bench codec`: encode/decode time and memory of one large image.

    .venv/bin/r2lcm bench codec --height 2920 --width 4386 [--checkpoint CKPT]
        [--backend auto] [--tile 128] [--out experiments/results/codec_timing.md]

Times `compress_image` and `decompress_image` of one image of the paper's timing size
(2920x4386, 12.8 MP), split into network (compiled model calls) and entropy coding,
after a warm-up on the same size (compilation reported separately), and reports the
process's peak resident memory. Without --checkpoint it uses the default configuration
(N=64, C=8, T=4) with seeded random weights: network time does not depend on training,
and coding time depends on it only through the number of bits.

The input is a synthetic RAW scene rendered through the project's ISP (a real frame of
that size is not available offline: the GoPro HERO7 frames are 3000x4000).

Side by side with the official PyTorch code (needs torch; nothing of it is copied):

    .venv/bin/r2lcm bench codec --height 2920 --width 4386 --repeats 1 \
        --official_repo ../official [--official_threads 2] [--json out.json]

After our compiling pass and an untimed official pass, each repetition runs our
encode, the official encoder-side networks, our decode and the official decoder-side
networks (`official_torch.py`: the same network calls as our codec on the whole padded
image, eval mode, no entropy coding), and reports the network times and their ratio
(official / ours).
"""

from __future__ import annotations

import json
import os
import resource
import time

import jax
import numpy as np
from absl import flags

from r2lcm_jax.app.files import load_runner
from r2lcm_jax.codec import codec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.entropy.tables import build_gaussian_tables
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

_H = flags.DEFINE_integer("height", 2920, "Image height.")
_W = flags.DEFINE_integer("width", 4386, "Image width.")
_CKPT = flags.DEFINE_string("checkpoint", None, "Codec checkpoint (default: random N=64).")
_BACKEND = flags.DEFINE_enum(
  "backend", "auto", ["auto", "native", "jax", "numpy", "tfc"],
  "Entropy coder of the encoder and the decoder (auto: native on a CPU, jax on a GPU).")
_TILE = flags.DEFINE_integer("tile", codec.DEFAULT_TILE, "Tile core in latent pixels.")
_REPEATS = flags.DEFINE_integer(
  "repeats", 1, "Timed repetitions after the first (compiling) pass; 0 reports the first.")
_OUT = flags.DEFINE_string("out", None, "Append a markdown table to this file.")
_OFFICIAL = flags.DEFINE_string(
  "official_repo", "", "Checkout of the official PyTorch R2LCM: time its networks too.")
_OFFICIAL_THREADS = flags.DEFINE_integer(
  "official_threads", 0, "torch threads (0 = the CPUs this process may use, as XLA:CPU).")
_JSON = flags.DEFINE_string("json", "", "Also write the network times as JSON here.")
_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_official():
  """experiments/official_torch.py's `load_official` on the flags (None without)."""
  if not _OFFICIAL.value:
    return None
  import importlib.util

  spec = importlib.util.spec_from_file_location(
    "r2lcm_experiments_official_torch", os.path.join(_HERE, "official_torch.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  threads = _OFFICIAL_THREADS.value or len(os.sched_getaffinity(0))
  return module.load_official(_OFFICIAL.value, threads)


def _peak_rss_gib() -> float:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main(argv: list[str]) -> None:
  del argv
  official = _load_official()  # fail fast (bad path, no torch)
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
  dec = codec.decompress_image(srgb8, enc.data, runner, tables, tile=_TILE.value,
                                backend=_BACKEND.value)
  t_dec = time.perf_counter() - t1
  print(f"first decode (incl. compile): {t_dec:.1f} s {dec.seconds}", flush=True)
  warm = time.perf_counter() - t0
  rows = [(t_enc, enc.seconds, t_dec, dec.seconds)] if _REPEATS.value == 0 else []
  theirs = []
  if official is not None:
    from r2lcm_jax.codec import geometry

    pad = geometry.plan_padding(_H.value, _W.value)
    x_p = geometry.pad(raw, pad)[None]
    s_p = geometry.pad(srgb8.astype(np.float32) / 255.0, pad)[None]
    # Untimed first pass, as ours had its compiling pass (torch allocates and builds
    # its oneDNN primitives on first use).
    official.decode_networks(s_p, official.encode_networks(x_p, s_p)[1])
  for _ in range(max(_REPEATS.value, 1 if official is not None else 0)):
    t0 = time.perf_counter()
    enc = codec.compress_image(raw, srgb8, runner, tables, **opts)
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    dec = codec.decompress_image(srgb8, enc.data, runner, tables, tile=_TILE.value,
                                backend=_BACKEND.value)
    t_dec = time.perf_counter() - t0
    assert np.array_equal(dec.y_hat, enc.y_hat)
    rows.append((t_enc, enc.seconds, t_dec, dec.seconds))
    if official is not None:  # interleaved with ours: same machine load
      o_enc, latents = official.encode_networks(x_p, s_p)
      o_dec = official.decode_networks(s_p, latents)
      theirs.append((o_enc, o_dec))
      print(f"ours network enc {enc.seconds['network']:.1f} s dec "
            f"{dec.seconds['network']:.1f} s | official enc {o_enc:.1f} s dec {o_dec:.1f} s"
            f" | load {os.getloadavg()[0]:.2f}", flush=True)
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
  if official is not None:
    o_enc, o_dec = min(theirs, key=sum)
    n_enc, n_dec = s_enc["network"], s_dec["network"]
    table += [
      "",
      "| networks at " + f"{_H.value}x{_W.value}" + " (padded "
      f"{x_p.shape[1]}x{x_p.shape[2]}) | ours s | official s ({official.threads} torch "
      "threads) | official / ours |",
      "|---|---|---|---|",
      f"| encoder side | {n_enc:.1f} | {o_enc:.1f} | {o_enc / n_enc:.2f}x |",
      f"| decoder side | {n_dec:.1f} | {o_dec:.1f} | {o_dec / n_dec:.2f}x |",
      f"| both | {n_enc + n_dec:.1f} | {o_enc + o_dec:.1f} | "
      f"{(o_enc + o_dec) / (n_enc + n_dec):.2f}x |",
    ]
    if _JSON.value:
      with open(_JSON.value, "w") as f:
        json.dump({
          "height": _H.value, "width": _W.value, "tile": _TILE.value,
          "xla_flags": os.environ.get("XLA_FLAGS", ""), "loadavg": os.getloadavg(),
          "ours_network_s": {"encode": n_enc, "decode": n_dec},
          "official_network_s": {"encode": o_enc, "decode": o_dec},
          "official_threads": official.threads, "official_runs": theirs,
          "speedup": (o_enc + o_dec) / (n_enc + n_dec),
        }, f, indent=2)
  text = "\n".join(table)
  print(text)
  print(f"devices: {jax.devices()}")
  if _OUT.value:
    with open(_OUT.value, "a") as f:
      f.write(text + "\n")
