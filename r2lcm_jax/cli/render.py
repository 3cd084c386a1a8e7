"""`r2lcm render`: camera RAWs -> a dataset in the NUS layout.

    r2lcm render --input FILE|FOLDER|A,B,... --output ROOT [--camera NAME] [--split test]
                 [--jpeg_quality 0] [--raw_format tiff|png] [--wb as_shot|R,G,B]
                 [--wb_patch TOP,LEFT,H,W] [--exposure 1] [--tone_strength 0.5]
                 [--isp project|darktable[:STYLE]|rawtherapee[:STYLE]]

Writes `ROOT/<camera>/<split>/raw/<stem>.{tif,png}` (16-bit raw-RGB, round(65535 x)),
`ROOT/<camera>/<split>/sRGB/<stem>.{png,jpg}` (8-bit sRGB; JPEG when --jpeg_quality > 0)
and `ROOT/manifest.json` (`data.manifest`: per image camera, sizes, crop, ISP, JPEG
quality and size; entries of earlier runs for other files are kept). A bad input leaves
nothing behind. This module parses the flags; `data.render.render_inputs` does the work.

`--isp` picks who makes the sRGB: `project` (default) is the project's own ISP
(`isp.pipeline`, stage parameters in the manifest); `darktable[:STYLE]` and
`rawtherapee[:STYLE]` run that tool headless (`isp.external`; a tool alone means its
`default` style) and align its render to the raw-RGB grid. Then the raw written is the
raw-RGB cut to the aligned rectangle, `crop` is that rectangle in the source's raw grid,
and the manifest's `isp` is `{"tool", "version", "style", "alignment", "settings"}` (no
stage parameters: such sRGB cannot be inverted from parameters). The project-ISP flags
(--wb, --wb_patch, --exposure, --tone_strength) apply to `--isp project` only.
"""

from __future__ import annotations

import pathlib
import time

from absl import flags

from r2lcm_jax.data.render import render_inputs
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.isp import external, pipeline

__all__ = ["main"]

_INPUT = flags.DEFINE_string("input", None, "RAW file, folder (recursive) or comma-separated list.")
_OUTPUT = flags.DEFINE_string("output", None, "Dataset root to write.")
_CAMERA = flags.DEFINE_string("camera", None, "Camera folder name (default: from file metadata).")
_SPLIT = flags.DEFINE_string("split", "test", "Split folder: train, val or test.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 0, "0: PNG sRGB; 1..100: JPEG at that quality.")
_RAW_FORMAT = flags.DEFINE_enum("raw_format", "tiff", ["tiff", "png"], "16-bit raw-RGB file format.")
_WB = flags.DEFINE_string("wb", "as_shot", "White balance: as_shot, or gains R,G,B.")
_WB_PATCH = flags.DEFINE_string(
  "wb_patch", None, "TOP,LEFT,H,W of a neutral region: white balance that makes it grey.")
_EXPOSURE = flags.DEFINE_float("exposure", 1.0, "Linear gain before white balance.")
_TONE = flags.DEFINE_float("tone_strength", pipeline.DEFAULT_TONE_STRENGTH,
                           "Global S-curve strength in [0, 1].")
_ISP = flags.DEFINE_string(
  "isp", "project", "Who renders the sRGB: " + ", ".join(external.style_names())
  + " (a tool alone = TOOL:default).")


def main(argv: list[str]) -> None:
  """Entry point (absl flags already parsed)."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _INPUT.value or not _OUTPUT.value:
    raise ConfigError("--input and --output are required")
  t0 = time.perf_counter()
  entries = render_inputs(_INPUT.value, _OUTPUT.value, camera=_CAMERA.value, split=_SPLIT.value,
                          jpeg_quality=_JPEG_QUALITY.value, raw_format=_RAW_FORMAT.value,
                          wb=_WB.value, wb_patch=_WB_PATCH.value, exposure=_EXPOSURE.value,
                          tone_strength=_TONE.value, isp=_ISP.value)
  for e in entries:
    isp = e["isp"]
    if "tool" in isp:
      a = isp["alignment"]
      print(f"{e['raw']}  {e['width']}x{e['height']}  sRGB {e['srgb']}  {isp['tool']}"
            f" {isp['version']} style {isp['style']}  crop {e['crop']}  {a['transform']}"
            f"  peak {a['peak']}")
    else:
      print(f"{e['raw']}  {e['width']}x{e['height']}  sRGB {e['srgb']}  wb {isp['wb_source']}"
            f" {[round(v, 3) for v in isp['wb']]}  ccm {isp['ccm_source']}")
  print(f"rendered {len(entries)} image(s) into {_OUTPUT.value} in {time.perf_counter() - t0:.1f} s"
        f" (manifest: {pathlib.Path(_OUTPUT.value) / 'manifest.json'})")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.render [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("render", main)
