"""`r2lcm decode`: sRGB/JPEG + `.r2lcm` metadata -> a DNG or a 16-bit raw-RGB TIFF.

    r2lcm decode --srgb STEM.jpg --metadata STEM.r2lcm [--checkpoint CKPT|default] --out RECON.dng
                 [--format auto|dng|tiff] [--workers N] [--profile DIR]

A `.dng` is a raw file that raw editors (darktable, RawTherapee, LibRaw) open: the
reconstruction re-mosaiced to the source's CFA with its black/white levels, colour matrix
and as-shot neutral (stored by the encoder in the bitstream), or LinearRaw for sources
that were not a Bayer mosaic. A `.tif`/`.tiff` is the normalised raw-RGB, 16-bit.
"""

from __future__ import annotations

from absl import flags

from r2lcm_jax.app.files import OUTPUT_FORMATS, decode_file, load_runner
from r2lcm_jax.cli.flag_checks import profiler_trace, require

__all__ = ["main"]

_SRGB = flags.DEFINE_string("srgb", None, "The sRGB/JPEG written by the encoder.")
_META = flags.DEFINE_string("metadata", None, "The .r2lcm metadata file.")
_CKPT = flags.DEFINE_string(
  "checkpoint", "default", "Codec checkpoint folder, or a packaged model's name (default).")
_OUT = flags.DEFINE_string("out", None, "Output: RECON.dng (raw file) or RECON.tif (16-bit raw-RGB).")
_FORMAT = flags.DEFINE_enum("format", "auto", list(OUTPUT_FORMATS),
                            "Output format; auto: by the extension of --out (.dng -> dng, else tiff).")
_WORKERS = flags.DEFINE_integer("workers", 0, "Threads for substream decoding (0: one call).")
_PROFILE = flags.DEFINE_string("profile", None, "Write a jax.profiler trace to this folder.")


def main(argv: list[str]) -> None:
  del argv
  require(_SRGB, _META, _OUT)
  ckpt, runner = load_runner(_CKPT.value)
  with profiler_trace(_PROFILE.value):
    result = decode_file(_SRGB.value, _META.value, _OUT.value, ckpt, runner,
                         workers=_WORKERS.value, output_format=_FORMAT.value)
  h, w = result.raw.shape[:2]
  print(f"decoded    {w}x{h} raw -> {_OUT.value}")
  print(f"seconds    network {result.seconds['network']:.2f}, "
        f"coding {result.seconds['coding']:.2f}")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.decode [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("decode", main)
