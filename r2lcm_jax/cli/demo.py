"""`r2lcm demo`: the codec end to end on the model shipped in the package.

    r2lcm demo [--output DIR] [--raw FILE.dng] [--checkpoint default|DIR]
               [--jpeg_quality 90] [--height 384 --width 512] [--drop_steps D] [--gamma G]
               [--gate_tile PIXELS]

Generates a RAW scene in the default model's camera space (or reads --raw, centre-cropped
to --height x --width unless --nocrop), renders the sRGB/JPEG with the project's ISP,
encodes the metadata, writes the files, decodes them from disk and prints a report
(sizes, bpp, PSNR/SSIM against the original and against the 0-bpp naive inverse ISP,
encode/decode times) and writes a side-by-side figure. See `r2lcm_jax.demo`.
"""

from __future__ import annotations

import tempfile

from absl import flags

from r2lcm_jax.cli.flag_checks import define_gate_tile
from r2lcm_jax.demo import run_demo
from r2lcm_jax.errors import ConfigError

__all__ = ["main"]

_OUTPUT = flags.DEFINE_string("output", None, "Folder for the demo outputs (default: a new temp folder).")
_CKPT = flags.DEFINE_string("checkpoint", "default", "Codec checkpoint folder or packaged model name.")
_RAW = flags.DEFINE_string("raw", None, "A camera RAW (DNG, ...) instead of the synthetic scene.")
_CROP = flags.DEFINE_bool("crop", True, "Centre-crop --raw to --height x --width.")
_SEED = flags.DEFINE_integer("seed", 0, "Synthetic scene seed.")
_HEIGHT = flags.DEFINE_integer("height", 384, "Scene height (even).")
_WIDTH = flags.DEFINE_integer("width", 512, "Scene width (even).")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the stored sRGB.")
_DROP = flags.DEFINE_integer(
  "drop_steps", None, "Main-level context steps not sent (default: the model's rate.json, else 0).")
_GAMMA = flags.DEFINE_float(
  "gamma", None, "Coarser step on the last sent step (default: the model's rate.json, else 0).")
_GATE = define_gate_tile()


def main(argv: list[str]) -> None:
  """Entry point (absl flags already parsed)."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  output = _OUTPUT.value or tempfile.mkdtemp(prefix="r2lcm-demo-")
  report = run_demo(output, checkpoint=_CKPT.value, raw_path=_RAW.value, seed=_SEED.value,
                    height=_HEIGHT.value, width=_WIDTH.value, crop=_CROP.value,
                    jpeg_quality=_JPEG_QUALITY.value, drop_steps=_DROP.value,
                    gamma=_GAMMA.value, gate_tile=_GATE.value)
  for line in report.lines:
    print(line, flush=True)


if __name__ == "__main__":  # python -m r2lcm_jax.cli.demo [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("demo", main)
