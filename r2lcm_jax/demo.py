"""The end-to-end demonstration behind `r2lcm demo` (and the Colab quick start).

    scene: a crop of a real GoPro DNG shipped in the package (default), --raw FILE,
           or --synthetic (a RAW scene in the model's camera space)
      -> an ISP -> sRGB -> JPEG q                writes demo.jpg           (what people keep)
         (default: darktable, an ISP the decoder does not know, when darktable-cli is
         installed; else the project's ISP)
      -> encode the metadata with the model      writes demo.r2lcm         (what R2LCM adds)
      -> decode demo.jpg + demo.r2lcm from disk  writes demo_recon.tiff    (16-bit raw-RGB)
      -> score against the RAW's raw-RGB, beside methods that work for any ISP: the
         fitted global map alone (~310 bytes) and SAM (raw samples every 8 px), and the
         naive inverse of the project's ISP (0 bpp; the wrong ISP unless it made the sRGB)
      -> figure sRGB | RAW | reconstruction | error map          demo.png

Every source is handed to the renderer as a DNG (`io.dng.dng_from_raw`): the shipped
crop as it is, a camera RAW as a DNG of its centre crop, the synthetic scene as a DNG of
its mosaic. A third-party render is put back on the raw-RGB grid (`isp.external`) and the
raw-RGB is cut to the rectangle it covers.

Models with base "isp_inverse" decode only sRGB that the project's ISP made (they invert
it), so with such a model the demo renders with the project's ISP and says why. Every
number of the report is recomputed on each run. Timings of the first run include XLA
compilation.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import pathlib
import tempfile
import time
from collections.abc import Callable

import numpy as np

from r2lcm_jax.app.figures import error_map_figure
from r2lcm_jax.app.files import decode_file, load_runner
from r2lcm_jax.baselines.fitted_map import FittedMapBaseline
from r2lcm_jax.baselines.sam import SamBaseline
from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.checkpoint import resolve_checkpoint
from r2lcm_jax.data.sources import RAW_SUFFIXES, load_source
from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.io.atomic import atomic_write_bytes
from r2lcm_jax.io.camera_profile import load_profile
from r2lcm_jax.io.dng import dng_from_raw
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp import external, pipeline
from r2lcm_jax.isp.external import darktable, tools
from r2lcm_jax.isp.source import SourceImage, source_from_raw
from r2lcm_jax.metrics import score_pair

__all__ = ["DemoReport", "Comparison", "run_demo", "demo_dng", "PROFILE_FILE", "DEMO_DNG",
           "DEFAULT_ISP", "SYNTHETIC_SIZE"]

PROFILE_FILE = "camera.json"
DEMO_DNG = "HERO7_GOPR9231_crop.dng"
DEMO_DNG_FACTS = ("rows 768-1279, columns 1536-2303 of GoPro's HERO7 Black sample "
                  "GOPR9231 (github.com/gopro/gpr, Apache-2.0 OR MIT), a frame the "
                  "packaged model did not train on")
DEFAULT_ISP = "darktable:default"  # the renderer of `--isp` unset, when it is installed
SYNTHETIC_SIZE = (384, 512)  # (H, W) of the synthetic scene and of the --raw centre crop
SAM_STEP = 8


@dataclasses.dataclass(frozen=True)
class Comparison:
  """One method scored against the RAW: metadata bytes, PSNR (dB), SSIM."""

  name: str
  nbytes: int
  psnr: float
  ssim: float


@dataclasses.dataclass
class DemoReport:
  """What the demo measured (all recomputed per run) and the report lines.

  Attributes:
    height, width: size of the scored raw-RGB / sRGB pair.
    jpeg_bytes, metadata_bytes: sizes of demo.jpg and demo.r2lcm.
    psnr, ssim: R2LCM's reconstruction (decoded from the files) against the raw-RGB.
    naive_psnr, naive_ssim: the naive inverse of the project's ISP.
    exact: the decoder's latents and reconstruction equal the encoder's.
    renderer: who rendered the sRGB (the text after "sRGB rendered by: ").
    third_party: True if a third-party ISP rendered the sRGB.
    comparisons: the rows beside R2LCM (fitted map, SAM, naive inverse) by name.
    seconds: render, encode, decode and total wall-clock times.
    files: demo.jpg, .r2lcm, _raw.tiff, _recon.tiff, .png by role.
    lines: the printed report.
  """

  height: int
  width: int
  jpeg_bytes: int
  metadata_bytes: int
  psnr: float
  ssim: float
  naive_psnr: float
  naive_ssim: float
  exact: bool
  renderer: str
  third_party: bool
  comparisons: dict[str, Comparison]
  seconds: dict[str, float]
  files: dict[str, pathlib.Path]
  lines: list[str]

  @property
  def bpp_metadata(self) -> float:
    return 8.0 * self.metadata_bytes / (self.height * self.width)


def demo_dng() -> pathlib.Path:
  """The real DNG shipped in the package (`DEMO_DNG_FACTS`; licence: its NOTICE.md)."""
  return pathlib.Path(str(importlib.resources.files("r2lcm_jax").joinpath(
    "assets", "demo", DEMO_DNG)))


def _centre(shape: tuple[int, ...], height: int, width: int) -> tuple[int, int, int, int]:
  """(top, left, h, w) of the centre crop of (H, W, ...) to at most height x width, on
  even coordinates (the Bayer phase is kept)."""
  h, w = shape[:2]
  ch, cw = min(h, height), min(w, width)
  return ((h - ch) // 2) & ~1, ((w - cw) // 2) & ~1, ch, cw


def _cut(x: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
  """The (h, w, ...) rectangle box = (top, left, h, w) of x (H, W, ...), contiguous."""
  top, left, h, w = box
  return np.ascontiguousarray(x[top:top + h, left:left + w])


def _camera_raw(path: pathlib.Path, size: tuple[int, int] | None,
                work: pathlib.Path) -> tuple[SourceImage, str]:
  """A camera RAW file, or a DNG of its centre crop to size = (H, W) written into `work`.

  Returns:
    (SourceImage, "WxH" of the file plus ", centre crop WxH" when cropped).
  """
  raw = read_raw(path)
  h, w = raw.mosaic.shape
  box = None if size is None else _centre((h, w), *size)
  if box is None or box[2:] == (h, w):
    return source_from_raw(raw, path.stem), f"{w}x{h}"
  crop_path = work / f"{path.stem}_crop.dng"
  dng_from_raw(crop_path, raw, crop=box)
  return load_source(crop_path), f"{w}x{h}, centre crop {box[3]}x{box[2]}"


def _source(raw_path, synthetic: bool, ckpt_dir: pathlib.Path, seed: int,
            size: tuple[int, int] | None, work: pathlib.Path):
  """The render input.

  Returns:
    (SourceImage whose file a raw converter can open, its description, the centre crop
    (top, left, h, w) still to cut from the render and the raw-RGB, or None).
  """
  if synthetic:
    profile_path = ckpt_dir / PROFILE_FILE
    profile = load_profile(profile_path) if profile_path.is_file() else None
    path = work / f"synthetic_seed{seed}.dng"
    dng_from_raw(path, synthetic_scene(seed, *size, profile=profile))
    what = (f"synthetic scene seed {seed} in the camera space of "
            f"{profile.camera if profile else 'the built-in synthetic sensor'}")
    return load_source(path), what, None
  if raw_path is None:
    path = demo_dng()
    if not path.is_file():
      raise InputError(f"{path}: the demo DNG is missing from the installation")
    src, dims = _camera_raw(path, size, work)
    crop = "; centre crop" if "crop" in dims else ""
    return src, f"{path.name} (in the package): {DEMO_DNG_FACTS}{crop}", None
  p = pathlib.Path(raw_path)
  if not p.is_file():
    raise InputError(f"{p}: no such file")
  if p.suffix.lower() in RAW_SUFFIXES:
    src, dims = _camera_raw(p, size, work)
    return src, f"{p.name} ({dims})", None
  src = load_source(p)  # INTEL-TAU / Bayer PNG: cropped after rendering
  box = None if size is None else _centre(src.raw_rgb.shape, *size)
  full = f"{src.raw_rgb.shape[1]}x{src.raw_rgb.shape[0]}"
  return src, f"{p.name} ({full}" + (f", centre crop {box[3]}x{box[2]})" if box else ")"), box


def _installed(program: str) -> bool:
  try:
    tools.find_tool(program)
  except tools.ToolNotFoundError:
    return False
  return True


def _choose_isp(isp: str | None, base: str, checkpoint: str) -> tuple[str, str]:
  """(the ISP to render with: "project" or a style spec, why the project's ISP if so).

  isp None: automatic (`DEFAULT_ISP` if darktable-cli is installed).
  """
  spec = isp
  if spec == "project":
    return "project", "--isp project"
  if spec is not None:
    external.get_style(spec)  # ConfigError listing the valid names
  elif _installed(darktable.PROGRAM):
    spec = DEFAULT_ISP
  else:
    return "project", f"{darktable.PROGRAM.removesuffix('-cli')} not installed; `make isp-tools`"
  if base == "isp_inverse":
    tool = spec.partition(":")[0]
    return "project", (f"model {checkpoint} has base 'isp_inverse', which decodes only the "
                       f"project's ISP; {tool}'s sRGB needs a model with base 'fitted'")
  return spec, ""


def run_demo(output: str | pathlib.Path, *, checkpoint: str | None = "default",
             raw_path: str | None = None, synthetic: bool = False, isp: str | None = None,
             seed: int = 0, height: int | None = None, width: int | None = None,
             crop: bool = True, jpeg_quality: int = 90, drop_steps: int | None = None,
             gamma: float | None = None, gate_tile: int | None = None, sam: bool = True,
             echo: Callable[[str], None] | None = None) -> DemoReport:
  """Runs the demo into the folder `output` (created if needed).

  Args:
    output: folder for demo.jpg, demo.r2lcm, demo_raw.tiff, demo_recon.tiff, demo.png.
    checkpoint: codec checkpoint folder or packaged model name.
    raw_path: a camera RAW / INTEL-TAU PNG instead of the shipped DNG.
    synthetic: a synthetic RAW scene in the model's camera space instead (seed `seed`).
    isp: who renders the sRGB: "project", "darktable[:STYLE]", "rawtherapee[:STYLE]";
      None: `DEFAULT_ISP` when darktable-cli is installed, else "project". Models with
      base "isp_inverse" always get the project's ISP (the report says so).
    seed: synthetic scene seed.
    height, width: both or neither (even, >= 32). The synthetic scene's size (default
      `SYNTHETIC_SIZE`); the centre crop of --raw (default `SYNTHETIC_SIZE`) and of the
      shipped DNG (default: all of it, 768x512).
    crop: centre-crop --raw (False: the whole frame).
    jpeg_quality: quality of the stored sRGB (1..100).
    drop_steps, gamma: the rate settings (see `codec.compress`); None: the checkpoint's
      recommended setting (its rate.json), else 0.
    gate_tile: the residual gate (`codec.gate_for`: None = the model's default, 0 = off).
    sam: also score SAM at step 8 (0.75 bpp; a few seconds per megapixel).
    echo: called with each report line as soon as it is known (progress).

  Returns:
    DemoReport.

  Raises:
    ConfigError (ToolNotFoundError for an --isp tool that is not installed), InputError,
    CheckpointError, BitstreamError (typed, for the CLI).
  """
  if (height is None) != (width is None):
    raise ConfigError("--height and --width go together (both or neither)")
  if height is not None and (height % 2 or width % 2 or height < 32 or width < 32):
    raise ConfigError(f"--height/--width must be even and >= 32, got {height}x{width}")
  if synthetic and raw_path is not None:
    raise ConfigError("--synthetic and --raw exclude each other")
  if not 1 <= jpeg_quality <= 100:
    raise ConfigError(f"--jpeg_quality must be in 1..100, got {jpeg_quality}")
  isp = None if isp is None or str(isp).strip() in ("", "auto") else str(isp).strip()
  if isp not in (None, "project"):
    external.get_style(isp)  # ConfigError listing the valid names
  size = None if height is None else (height, width)
  if size is None and (synthetic or (raw_path is not None and crop)):
    size = SYNTHETIC_SIZE
  if raw_path is not None and not crop:
    size = None
  lines: list[str] = []

  def say(line: str) -> None:
    lines.append(line)
    if echo is not None:
      echo(line)

  out = pathlib.Path(output)
  out.mkdir(parents=True, exist_ok=True)
  t_start = time.perf_counter()
  ckpt_dir = resolve_checkpoint(checkpoint)
  ckpt, runner = load_runner(ckpt_dir)
  cfg = ckpt.config
  drop_steps = ckpt.rate[0] if drop_steps is None else drop_steps
  gamma = ckpt.rate[1] if gamma is None else gamma
  spec, why = _choose_isp(isp, cfg.base, str(checkpoint))
  n_params = sum(int(np.asarray(a).size) for a in _leaves(ckpt.params))
  say(f"model     {checkpoint} ({ckpt_dir.name}): N={cfg.N}, C={cfg.latent_channels}, "
      f"T={cfg.num_steps}, {n_params:,} parameters, base {cfg.base}; rate setting "
      f"drop_steps {drop_steps}, gamma {gamma:g}")

  t0 = time.perf_counter()
  with tempfile.TemporaryDirectory(prefix="r2lcm-demo-") as tmp:
    work = pathlib.Path(tmp)
    src, what, box = _source(raw_path, synthetic, ckpt_dir, seed, size, work)
    raw_rgb, srgb_full, params, renderer = _render(src, spec, why, work / "isp",
                                                   auto=isp is None)
  if box is not None:
    raw_rgb, srgb_full = _cut(raw_rgb, box), _cut(srgb_full, box)
  t_render = time.perf_counter() - t0
  third_party = params is None
  h, w = raw_rgb.shape[:2]
  jpeg = images.encode_jpeg(srgb_full, jpeg_quality)
  srgb = images.decode_jpeg(jpeg)
  files = {name: out / f"demo{suffix}" for name, suffix in [
    ("jpeg", ".jpg"), ("metadata", ".r2lcm"), ("raw", "_raw.tiff"), ("recon", "_recon.tiff"),
    ("figure", ".png")]}
  images.write_tiff16(files["raw"], raw_rgb)
  atomic_write_bytes(files["jpeg"], jpeg)
  say(f"scene     {what}, {w}x{h}")
  say(f"sRGB rendered by: {renderer}")
  say(f"sRGB      JPEG q{jpeg_quality}: {len(jpeg):,} bytes ({8 * len(jpeg) / (h * w):.3f} bpp)")

  t0 = time.perf_counter()
  enc = codec.compress_image(raw_rgb, srgb, runner, ckpt.tables, drop_steps=drop_steps,
                             gamma=gamma, isp=params, reconstruct=True,
                             gate=codec.gate_for(runner, gate_tile))
  t_enc = time.perf_counter() - t0
  atomic_write_bytes(files["metadata"], enc.data)
  bpp = 8 * len(enc.data) / (h * w)
  say(f"metadata  {len(enc.data):,} bytes = {bpp:.4f} bpp (estimated from the "
      f"likelihoods: {enc.estimated_bits / (h * w):.4f} bpp); JPEG + metadata "
      f"{8 * (len(jpeg) + len(enc.data)) / (h * w):.3f} bpp")
  if enc.gate is not None:
    say(f"gate      {residual_gate.summary(enc.gate_symbols, enc.gate)}; "
        f"{enc.groups[residual_gate.GROUP].bytes} bytes of the metadata")

  t0 = time.perf_counter()
  dec = decode_file(str(files["jpeg"]), str(files["metadata"]), str(files["recon"]), ckpt,
                    runner)
  t_dec = time.perf_counter() - t0
  exact = (np.array_equal(dec.y_hat, enc.y_hat) and np.array_equal(dec.z_hat, enc.z_hat)
           and np.array_equal(dec.raw, enc.x_hat))
  recon = dec.raw
  psnr, ssim = score_pair(raw_rgb, recon)
  say(f"RAW       R2LCM reconstruction: PSNR {psnr:.2f} dB, SSIM {ssim:.4f} (decoded from "
      f"the files: latents and reconstruction {'equal' if exact else 'DIFFER FROM'} the "
      "encoder's)")
  t0 = time.perf_counter()
  rows = _comparisons(raw_rgb, srgb, src.params, third_party, sam)
  t_base = time.perf_counter() - t0
  for label, row in rows.items():
    rate = f"{row.nbytes:,} bytes = {8 * row.nbytes / (h * w):.4f} bpp" if row.nbytes else "0 bpp"
    say(f"          {label} ({rate}): PSNR {row.psnr:.2f} dB, SSIM {row.ssim:.4f}  ->  "
        f"R2LCM {psnr - row.psnr:+.2f} dB")
  naive = rows[_NAIVE_THIRD if third_party else _NAIVE_PROJECT]
  say(f"time      render {t_render:.1f} s; encode {t_enc:.1f} s (network "
      f"{enc.seconds['network']:.1f}, coding {enc.seconds['coding']:.2f}); decode "
      f"{t_dec:.1f} s (network {dec.seconds['network']:.1f}, coding "
      f"{dec.seconds['coding']:.2f}); comparisons {t_base:.1f} s; first run includes XLA "
      "compilation")
  vmax = float(max(np.quantile(np.abs(raw_rgb - recon).max(-1), 0.999), 1e-3))
  error_map_figure(files["figure"], srgb.astype(np.float32) / 255.0, raw_rgb, recon, vmax)
  seconds = {"render": t_render, "encode": t_enc, "decode": t_dec, "comparisons": t_base,
             "total": time.perf_counter() - t_start}
  say(f"files     {out}: " + ", ".join(p.name for p in files.values()))
  say(f"done in {seconds['total']:.1f} s")
  return DemoReport(h, w, len(jpeg), len(enc.data), psnr, ssim, naive.psnr, naive.ssim,
                    exact, renderer, third_party, {r.name: r for r in rows.values()},
                    seconds, files, lines)


def _render(src: SourceImage, spec: str, why: str, work: pathlib.Path, *, auto: bool):
  """(raw-RGB (h, w, 3) float32, sRGB (h, w, 3) uint8, ISP parameters or None for a
  third-party render, the report's renderer text).

  A third-party ISP that fails (InputError) falls back to the project's ISP when it was
  chosen automatically (`auto`), and is an error when it was asked for.
  """
  if spec != "project":
    try:
      ext = external.render_external(src, spec, work)
    except InputError as e:
      if not auto:
        raise
      spec, why = "project", f"{spec} failed: {e}"
  if spec == "project":
    srgb = pipeline.render_srgb(src.raw_rgb, src.params)
    return np.ascontiguousarray(src.raw_rgb), srgb, src.params, f"the project's ISP ({why})"
  return (np.ascontiguousarray(ext.cut(src.raw_rgb)), ext.srgb, None,
          f"{ext.tool} {ext.version} (style {ext.style}), an ISP the decoder does not know")


_FITTED = "fitted map alone"
_SAM = f"SAM, raw samples every {SAM_STEP} px"
_NAIVE_PROJECT = "naive inverse of the project's ISP, its parameters known"
_NAIVE_THIRD = "naive inverse of the project's ISP, the wrong ISP for this sRGB"


def _comparisons(raw_rgb: np.ndarray, srgb: np.ndarray, params: pipeline.IspParams,
                 third_party: bool, sam: bool) -> dict[str, Comparison]:
  """The rows beside R2LCM for an (H, W, 3) raw-RGB / uint8 sRGB pair, by report label."""
  rows = {}
  methods = [(_FITTED, FittedMapBaseline())] + ([(_SAM, SamBaseline(step=SAM_STEP))] if sam else [])
  for label, method in methods:
    data = method.encode(raw_rgb, srgb)
    rows[label] = Comparison(method.name, len(data),
                             *score_pair(raw_rgb, method.reconstruct(srgb, data)))
  label = _NAIVE_THIRD if third_party else _NAIVE_PROJECT
  rows[label] = Comparison("naive_inverse", 0,
                           *score_pair(raw_rgb, pipeline.invert_render(srgb, params)))
  return rows


def _leaves(tree) -> list:
  import jax

  return jax.tree_util.tree_leaves(tree)
