"""Where an ISP-base model's refusal threshold comes from (`models.isp_base.MIN_RERENDER_PSNR`).

    .venv/bin/python experiments/rerender_threshold.py [--data ../shared/data/real]

For each frame, the PSNR of 8x8 block means (`isp_base.rerender_psnr`) of an sRGB against
the project ISP's re-render of the RAW, for (a) the project's own render stored as JPEG
q90 / q50 / q10 / q5, which an `isp_inverse` model must accept, and (b) darktable and
RawTherapee renders (`isp.external`, styles `default`, aligned to the raw grid), which it
must refuse. Prints a markdown table.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile

from absl import app, flags

from r2lcm_jax.data.sources import load_source
from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.isp import pipeline
from r2lcm_jax.isp.external import render_external
from r2lcm_jax.models import isp_base

_FRAMES = ("canon/colorchart.dng",
           "inteltau/S_IMX135_BLCCSC_field_005_sensorname_sony_imx135.png",
           "inteltau/S_IMX135_BLCCSC_field_018_sensorname_sony_imx135.png",
           "gopro/HERO7_GOPR9231.DNG")
_QUALITIES = (90, 50, 10, 5)
_TOOLS = ("darktable:default", "rawtherapee:default")


def _crop(x, box):
  return x if box is None else x[box[0]:box[0] + box[2], box[1]:box[1] + box[3]]


def rows(data: pathlib.Path, frames=_FRAMES, tools=_TOOLS) -> list[tuple[str, list[float]]]:
  """(frame, [PSNR per JPEG quality..., per tool...]) for each frame."""
  out = []
  work = pathlib.Path(tempfile.mkdtemp(prefix="rerender-"))
  try:
    for rel in frames:
      src = load_source(data / rel)
      # Large frames: the centre 768x1024 (the project ISP is global, so a crop is fair).
      h, w = src.raw_rgb.shape[:2]
      box = None if h <= 1500 else ((h - 768) // 2, (w - 1024) // 2, 768, 1024)
      raw = _crop(src.raw_rgb, box)
      own = pipeline.render_srgb(raw, src.params)
      vals = [isp_base.rerender_psnr(decode_jpeg(encode_jpeg(own, q)), raw, src.params)
              for q in _QUALITIES]
      for tool in tools:
        if box is not None:  # the tools render whole files; 12 MP is slow: skip
          vals.append(float("nan"))
          continue
        r = render_external(src, tool, work / tool.replace(":", "_"))
        vals.append(isp_base.rerender_psnr(r.srgb, r.cut(src.raw_rgb), src.params))
      out.append((rel, vals))
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return out


_DATA = flags.DEFINE_string("data", "../shared/data/real", "Real-data folder.")


def main(argv):
  del argv
  head = [f"project JPEG q{q}" for q in _QUALITIES] + list(_TOOLS)
  print("| frame | " + " | ".join(head) + " |")
  print("|---" * (len(head) + 1) + "|")
  for rel, vals in rows(pathlib.Path(_DATA.value)):
    print(f"| {rel} | " + " | ".join("-" if v != v else f"{v:.1f}" for v in vals) + " |")
  print(f"\nthreshold MIN_RERENDER_PSNR = {isp_base.MIN_RERENDER_PSNR} dB")


if __name__ == "__main__":
  app.run(main)
