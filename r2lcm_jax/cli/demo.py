"""`r2lcm demo`: renders the built-in synthetic RAW scene and reports every step.

Until the learned codec lands, the demo shows the data side of the project end to end:
a deterministic synthetic Bayer RAW (seeded scene with shapes, textures, clipped
highlights and a coloured illuminant) goes through the ISP to raw-RGB and sRGB (PNG and
JPEG), the outputs are written in the NUS layout, read back, and the naive inverse ISP
(the 0-bpp baseline) reconstructs raw-RGB from the sRGB, whose PSNR is reported.
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import numpy as np
from absl import flags

from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io import images
from r2lcm_jax.isp import pipeline

__all__ = ["main", "run_demo"]

_OUTPUT = flags.DEFINE_string("output", None, "Folder for the demo outputs (default: a new temp folder).")
_SEED = flags.DEFINE_integer("seed", 0, "Synthetic scene seed.")
_HEIGHT = flags.DEFINE_integer("height", 256, "Scene height (even).")
_WIDTH = flags.DEFINE_integer("width", 384, "Scene width (even).")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the sRGB copy.")


def _psnr(x: np.ndarray, y: np.ndarray) -> float:
  mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
  return float("inf") if mse == 0 else -10.0 * np.log10(mse)


def run_demo(output: str | pathlib.Path, *, seed: int = 0, height: int = 256, width: int = 384,
             jpeg_quality: int = 90) -> list[str]:
  """Runs the demo into `output`; returns the report lines."""
  if height % 2 or width % 2 or height < 16 or width < 16:
    raise ConfigError(f"--height/--width must be even and >= 16, got {height}x{width}")
  if not 1 <= jpeg_quality <= 100:
    raise ConfigError(f"--jpeg_quality must be in 1..100, got {jpeg_quality}")
  out = pathlib.Path(output)
  lines = []
  t0 = time.perf_counter()
  raw = synthetic_scene(seed, height, width)
  lines.append(f"scene: synthetic seed {seed}, {width}x{height} Bayer {raw.cfa}, black "
               f"{raw.black_level.tolist()}, white {raw.white_level:.0f}, clipped "
               f"{100 * np.mean(raw.mosaic >= raw.white_level):.2f}% of sites")
  res = pipeline.render(raw)
  jpeg = pipeline.render(raw, jpeg_quality=jpeg_quality)
  t_isp = time.perf_counter() - t0
  p = res.params
  wb = [round(float(v), 3) for v in p.wb]
  rows = [round(float(v), 3) for v in p.ccm.sum(1)]
  lines.append(f"isp: as-shot WB {wb}, CCM ({p.ccm_source}) row sums {rows}, tone strength "
               f"{p.tone_strength}, "
               f"{t_isp * 1000:.0f} ms")
  base = out / "synthetic" / "test"
  images.write_tiff16(base / "raw" / f"scene{seed}.tif", res.raw_rgb)
  images.write_png(base / "sRGB" / f"scene{seed}.png", res.srgb)
  images.atomic_write_bytes(base / "sRGB_jpeg" / f"scene{seed}.jpg", jpeg.jpeg_bytes)
  raw_back = images.read_image(base / "raw" / f"scene{seed}.tif").astype(np.float32) / 65535
  srgb_back = images.read_image(base / "sRGB" / f"scene{seed}.png")
  lines.append(f"wrote {base}/raw/scene{seed}.tif (16-bit, max |err| "
               f"{np.abs(raw_back - res.raw_rgb).max() * 65535:.2f}/65535), sRGB PNG "
               f"(mean {srgb_back.mean():.1f}/255) and JPEG q{jpeg_quality} "
               f"({len(jpeg.jpeg_bytes)} bytes, {8 * len(jpeg.jpeg_bytes) / (height * width):.2f} bpp)")
  naive = pipeline.invert_render(srgb_back, p)
  naive_jpeg = pipeline.invert_render(jpeg.srgb, p)
  lines.append(f"naive inverse ISP (0 bpp metadata): raw-RGB PSNR {_psnr(naive, res.raw_rgb):.2f} dB"
               f" from PNG sRGB, {_psnr(naive_jpeg, res.raw_rgb):.2f} dB from JPEG sRGB")
  lines.append(f"done in {time.perf_counter() - t0:.2f} s; outputs in {out}")
  return lines


def main(argv: list[str]) -> None:
  """Entry point (absl flags already parsed)."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  output = _OUTPUT.value or tempfile.mkdtemp(prefix="r2lcm-demo-")
  for line in run_demo(output, seed=_SEED.value, height=_HEIGHT.value, width=_WIDTH.value,
                       jpeg_quality=_JPEG_QUALITY.value):
    print(line)
