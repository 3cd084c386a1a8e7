"""`r2lcm decode`: sRGB/JPEG + `.r2lcm` metadata -> 16-bit raw-RGB TIFF.

    r2lcm decode --srgb STEM.jpg --metadata STEM.r2lcm [--checkpoint CKPT|default] --out RECON.tiff
                 [--workers N] [--profile DIR]
"""

from __future__ import annotations

from absl import flags

from r2lcm_jax.cli.flag_checks import profiler_trace, require
from r2lcm_jax.codec.files import decode_file, load_runner

__all__ = ["main"]

_SRGB = flags.DEFINE_string("srgb", None, "The sRGB/JPEG written by the encoder.")
_META = flags.DEFINE_string("metadata", None, "The .r2lcm metadata file.")
_CKPT = flags.DEFINE_string(
  "checkpoint", "default", "Codec checkpoint folder, or a packaged model's name (default).")
_OUT = flags.DEFINE_string("out", None, "Output 16-bit raw-RGB TIFF.")
_WORKERS = flags.DEFINE_integer("workers", 0, "Threads for substream decoding (0: one call).")
_PROFILE = flags.DEFINE_string("profile", None, "Write a jax.profiler trace to this folder.")


def main(argv: list[str]) -> None:
  del argv
  require(_SRGB, _META, _OUT)
  ckpt, runner = load_runner(_CKPT.value)
  with profiler_trace(_PROFILE.value):
    result = decode_file(_SRGB.value, _META.value, _OUT.value, ckpt, runner,
                         workers=_WORKERS.value)
  h, w = result.raw.shape[:2]
  print(f"decoded    {w}x{h} raw-RGB -> {_OUT.value}")
  print(f"seconds    network {result.seconds['network']:.2f}, "
        f"coding {result.seconds['coding']:.2f}")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.decode [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("decode", main)
