"""`r2lcm demo`: the codec end to end on the model shipped in the package.

    r2lcm demo [--output DIR] [--raw FILE.dng | --synthetic [--seed S]]
               [--isp project|darktable[:STYLE]|rawtherapee[:STYLE]]
               [--checkpoint default|DIR] [--jpeg_quality 90] [--height H --width W]
               [--nocrop] [--drop_steps D] [--gamma G] [--gate_tile PIXELS] [--nosam]

Without --raw or --synthetic the scene is a crop of a real GoPro DNG shipped in the
package (a frame the packaged model never trained on). The sRGB/JPEG is rendered by
darktable (`darktable:default`, an ISP the decoder does not know) when darktable-cli is
installed, else by the project's ISP; --isp picks the renderer. The demo encodes the
metadata, writes the files, decodes them from disk, prints a report (sizes, bpp,
PSNR/SSIM against the RAW beside the fitted map alone, SAM and the naive inverse of the
project's ISP, times) line by line, and writes a side-by-side figure. --raw is
centre-cropped to --height x --width (default 384x512) unless --nocrop. See
`r2lcm_jax.demo`.
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
_RAW = flags.DEFINE_string("raw", None, "A camera RAW (DNG, ...) instead of the shipped DNG.")
_SYNTHETIC = flags.DEFINE_bool(
  "synthetic", False, "A synthetic RAW scene in the model's camera space instead of the shipped DNG.")
_ISP = flags.DEFINE_string(
  "isp", None, "Who renders the sRGB: project, darktable[:STYLE] or rawtherapee[:STYLE] "
  "(default: darktable:default when darktable-cli is installed, else project).")
_CROP = flags.DEFINE_bool("crop", True, "Centre-crop --raw to --height x --width.")
_SEED = flags.DEFINE_integer("seed", 0, "Synthetic scene seed.")
_HEIGHT = flags.DEFINE_integer(
  "height", None, "Scene height (even; default: 384 for --synthetic and --raw, all of the shipped DNG).")
_WIDTH = flags.DEFINE_integer(
  "width", None, "Scene width (even; default: 512 for --synthetic and --raw, all of the shipped DNG).")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the stored sRGB.")
_DROP = flags.DEFINE_integer(
  "drop_steps", None, "Main-level context steps not sent (default: the model's rate.json, else 0).")
_GAMMA = flags.DEFINE_float(
  "gamma", None, "Coarser step on the last sent step (default: the model's rate.json, else 0).")
_GATE = define_gate_tile()
_SAM = flags.DEFINE_bool("sam", True, "Also score SAM (raw samples every 8 px) beside R2LCM.")


def main(argv: list[str]) -> None:
  """Entry point (absl flags already parsed)."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  output = _OUTPUT.value or tempfile.mkdtemp(prefix="r2lcm-demo-")
  run_demo(output, checkpoint=_CKPT.value, raw_path=_RAW.value, synthetic=_SYNTHETIC.value,
           isp=_ISP.value, seed=_SEED.value, height=_HEIGHT.value, width=_WIDTH.value,
           crop=_CROP.value, jpeg_quality=_JPEG_QUALITY.value, drop_steps=_DROP.value,
           gamma=_GAMMA.value, gate_tile=_GATE.value, sam=_SAM.value,
           echo=lambda line: print(line, flush=True))


if __name__ == "__main__":  # python -m r2lcm_jax.cli.demo [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("demo", main)
