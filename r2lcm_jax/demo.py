"""The end-to-end demonstration behind `r2lcm demo` (and the Colab quick start).

    scene (synthetic RAW in the model's camera space, or --raw FILE)
      -> project ISP -> sRGB -> JPEG q           writes demo.jpg           (what people keep)
      -> encode the metadata with the model      writes demo.r2lcm         (what R2LCM adds)
      -> decode demo.jpg + demo.r2lcm from disk  writes demo_recon.tiff    (16-bit raw-RGB)
      -> score against the original raw-RGB, and the 0-bpp naive inverse ISP beside it
      -> figure sRGB | RAW | reconstruction | error map          demo.png

Every number of the report is recomputed on each run. The model defaults to the one
shipped in the package (`--checkpoint default`); its `camera.json` says which sensor the
synthetic scene is generated in. Timings of the first run include XLA compilation.
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.checkpoint import resolve_checkpoint
from r2lcm_jax.codec.evaluation import error_map_figure, score_pair
from r2lcm_jax.codec.files import decode_file, load_runner
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.io.camera_profile import load_profile
from r2lcm_jax.isp import pipeline

__all__ = ["DemoReport", "run_demo", "PROFILE_FILE"]

PROFILE_FILE = "camera.json"


@dataclasses.dataclass
class DemoReport:
  """What the demo measured (all recomputed per run) and the report lines."""

  height: int
  width: int
  jpeg_bytes: int
  metadata_bytes: int
  psnr: float
  ssim: float
  naive_psnr: float
  naive_ssim: float
  exact: bool
  seconds: dict[str, float]
  files: dict[str, pathlib.Path]
  lines: list[str]

  @property
  def bpp_metadata(self) -> float:
    return 8.0 * self.metadata_bytes / (self.height * self.width)


def _centre_crop(x: np.ndarray, height: int, width: int) -> np.ndarray:
  """Centre crop of (H, W, ...) to at most (height, width), kept on even coordinates."""
  h, w = x.shape[:2]
  ch, cw = min(h, height), min(w, width)
  y0, x0 = ((h - ch) // 2) & ~1, ((w - cw) // 2) & ~1
  return x[y0 : y0 + ch, x0 : x0 + cw]


def _scene(raw_path, checkpoint_dir: pathlib.Path, seed: int, height: int, width: int,
           crop: bool):
  """(raw-RGB float32 (H, W, 3), ISP params, description)."""
  if raw_path is None:
    profile_path = checkpoint_dir / PROFILE_FILE
    profile = load_profile(profile_path) if profile_path.is_file() else None
    raw = synthetic_scene(seed, height, width, profile=profile)
    res = pipeline.render(raw)
    return res.raw_rgb, res.params, (
      f"synthetic scene seed {seed} in the camera space of "
      f"{profile.camera if profile else 'the built-in synthetic sensor'}")
  p = pathlib.Path(raw_path)
  if not p.is_file():
    raise InputError(f"{p}: no such file")
  src = load_source(p)
  raw_rgb = _centre_crop(src.raw_rgb, height, width) if crop else src.raw_rgb
  what = f"{p.name} ({src.raw_rgb.shape[1]}x{src.raw_rgb.shape[0]}"
  what += f", centre crop {raw_rgb.shape[1]}x{raw_rgb.shape[0]})" if crop else ")"
  return np.ascontiguousarray(raw_rgb), src.params, what


def run_demo(output: str | pathlib.Path, *, checkpoint: str | None = "default",
             raw_path: str | None = None, seed: int = 0, height: int = 384,
             width: int = 512, crop: bool = True, jpeg_quality: int = 90,
             drop_steps: int | None = None, gamma: float | None = None,
             gate_tile: int | None = None) -> DemoReport:
  """Runs the demo into the folder `output` (created if needed).

  Args:
    output: folder for demo.jpg, demo.r2lcm, demo_raw.tiff, demo_recon.tiff, demo.png.
    checkpoint: codec checkpoint folder or packaged model name.
    raw_path: a camera RAW / INTEL-TAU PNG instead of the synthetic scene.
    seed, height, width: synthetic scene (and the centre crop of a real file).
    crop: centre-crop a real file to height x width (False: the whole frame).
    jpeg_quality: quality of the stored sRGB (1..100).
    drop_steps, gamma: the rate settings (see `codec.compress`); None: the checkpoint's
      recommended setting (its rate.json), else 0.
    gate_tile: the residual gate (`codec.gate_for`: None = the model's default, 0 = off).

  Returns:
    DemoReport.

  Raises:
    ConfigError, InputError, CheckpointError, BitstreamError (typed, for the CLI).
  """
  if height % 2 or width % 2 or height < 32 or width < 32:
    raise ConfigError(f"--height/--width must be even and >= 32, got {height}x{width}")
  if not 1 <= jpeg_quality <= 100:
    raise ConfigError(f"--jpeg_quality must be in 1..100, got {jpeg_quality}")
  out = pathlib.Path(output)
  out.mkdir(parents=True, exist_ok=True)
  t_start = time.perf_counter()
  ckpt_dir = resolve_checkpoint(checkpoint)
  ckpt, runner = load_runner(ckpt_dir)
  cfg = ckpt.config
  drop_steps = ckpt.rate[0] if drop_steps is None else drop_steps
  gamma = ckpt.rate[1] if gamma is None else gamma
  n_params = sum(int(np.asarray(a).size) for a in _leaves(ckpt.params))
  lines = [f"model     {checkpoint} ({ckpt_dir.name}): N={cfg.N}, C={cfg.latent_channels}, "
           f"T={cfg.num_steps}, {n_params:,} parameters, base {cfg.base}; rate setting "
           f"drop_steps {drop_steps}, gamma {gamma:g}"]

  raw_rgb, params, what = _scene(raw_path, ckpt_dir, seed, height, width, crop)
  h, w = raw_rgb.shape[:2]
  srgb_png = pipeline.render_srgb(raw_rgb, params)
  jpeg = images.encode_jpeg(srgb_png, jpeg_quality)
  srgb = images.decode_jpeg(jpeg)
  files = {name: out / f"demo{suffix}" for name, suffix in [
    ("jpeg", ".jpg"), ("metadata", ".r2lcm"), ("raw", "_raw.tiff"), ("recon", "_recon.tiff"),
    ("figure", ".png")]}
  images.write_tiff16(files["raw"], raw_rgb)
  images.atomic_write_bytes(files["jpeg"], jpeg)
  lines.append(f"scene     {what}, {w}x{h}")
  lines.append(f"sRGB      JPEG q{jpeg_quality}: {len(jpeg):,} bytes "
               f"({8 * len(jpeg) / (h * w):.3f} bpp)")

  t0 = time.perf_counter()
  enc = codec.compress_image(raw_rgb, srgb, runner, ckpt.tables, drop_steps=drop_steps,
                             gamma=gamma, isp=params, gate=codec.gate_for(runner, gate_tile))
  t_enc = time.perf_counter() - t0
  images.atomic_write_bytes(files["metadata"], enc.data)
  bpp = 8 * len(enc.data) / (h * w)
  lines.append(f"metadata  {len(enc.data):,} bytes = {bpp:.4f} bpp (estimated from the "
               f"likelihoods: {enc.estimated_bits / (h * w):.4f} bpp); JPEG + metadata "
               f"{8 * (len(jpeg) + len(enc.data)) / (h * w):.3f} bpp")
  if enc.gate is not None:
    lines.append(f"gate      {residual_gate.summary(enc.gate_symbols, enc.gate)}; "
                 f"{enc.groups[residual_gate.GROUP].bytes} bytes of the metadata")

  t0 = time.perf_counter()
  dec = decode_file(str(files["jpeg"]), str(files["metadata"]), str(files["recon"]), ckpt,
                    runner)
  t_dec = time.perf_counter() - t0
  exact = np.array_equal(dec.y_hat, enc.y_hat) and np.array_equal(dec.z_hat, enc.z_hat)
  recon = dec.raw
  naive = pipeline.invert_render(srgb, params)
  psnr, ssim = score_pair(raw_rgb, recon)
  naive_psnr, naive_ssim = score_pair(raw_rgb, naive)
  lines.append(f"RAW       R2LCM reconstruction: PSNR {psnr:.2f} dB, SSIM {ssim:.4f} "
               f"(decoded latents {'equal' if exact else 'DIFFER FROM'} the encoder's)")
  lines.append(f"          naive inverse ISP (0 bpp, camera's ISP parameters known): PSNR "
               f"{naive_psnr:.2f} dB, SSIM {naive_ssim:.4f}  ->  "
               f"{psnr - naive_psnr:+.2f} dB for {bpp:.4f} bpp")
  lines.append(f"time      encode {t_enc:.1f} s (network {enc.seconds['network']:.1f}, coding "
               f"{enc.seconds['coding']:.2f}); decode {t_dec:.1f} s (network "
               f"{dec.seconds['network']:.1f}, coding {dec.seconds['coding']:.2f}); first "
               "run includes XLA compilation")
  vmax = float(max(np.quantile(np.abs(raw_rgb - recon).max(-1), 0.999), 1e-3))
  error_map_figure(files["figure"], srgb.astype(np.float32) / 255.0, raw_rgb, recon, vmax)
  seconds = {"encode": t_enc, "decode": t_dec, "total": time.perf_counter() - t_start}
  lines.append(f"files     {out}: " + ", ".join(p.name for p in files.values()))
  lines.append(f"done in {seconds['total']:.1f} s")
  return DemoReport(h, w, len(jpeg), len(enc.data), psnr, ssim, naive_psnr, naive_ssim,
                    exact, seconds, files, lines)


def _leaves(tree) -> list:
  import jax

  return jax.tree_util.tree_leaves(tree)
