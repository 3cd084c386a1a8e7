"""File-level encode/decode used by the CLI: inputs, checkpoints, atomic outputs.

    encode_file: RAW (DNG, ..., INTEL-TAU PNG, or a 16-bit raw-RGB PNG/TIFF with --srgb)
                 -> STEM.jpg|STEM.png (the sRGB) + STEM.r2lcm (the metadata)
    decode_file: sRGB file + .r2lcm -> 16-bit raw-RGB TIFF

Every output is written to a temporary name in its folder and renamed into place, and
nothing is written before the whole computation succeeded.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from r2lcm_jax.baselines.naive_inverse import params_from_manifest
from r2lcm_jax.codec import codec
from r2lcm_jax.codec.checkpoint import CodecCheckpoint, load_checkpoint
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import InputError, ShapeMismatchError
from r2lcm_jax.io import images
from r2lcm_jax.isp.pipeline import IspParams, render_srgb

__all__ = ["EncodedFiles", "load_runner", "read_encoder_inputs", "encode_file", "decode_file"]

_RAW_RGB_SUFFIXES = (".tif", ".tiff")


@dataclasses.dataclass
class EncodedFiles:
  """What `encode_file` wrote and measured."""

  srgb_path: pathlib.Path
  metadata_path: pathlib.Path
  srgb_bytes: int
  metadata_bytes: int
  height: int
  width: int
  result: codec.CompressResult

  @property
  def bpp_metadata(self) -> float:
    return 8.0 * self.metadata_bytes / (self.height * self.width)

  @property
  def bpp_total(self) -> float:
    return 8.0 * (self.metadata_bytes + self.srgb_bytes) / (self.height * self.width)


def load_runner(checkpoint: str | os.PathLike) -> tuple[CodecCheckpoint, ModelRunner]:
  """Loads a codec checkpoint and compiles its model lazily."""
  ckpt = load_checkpoint(checkpoint)
  return ckpt, ModelRunner(ckpt.config, ckpt.params, ckpt.tables.scale_table)


def _check_writable(path: pathlib.Path) -> None:
  folder = path.parent if str(path.parent) else pathlib.Path(".")
  if not folder.is_dir():
    raise InputError(f"{path}: output folder {folder} does not exist")
  if not os.access(folder, os.W_OK):
    raise InputError(f"{path}: output folder {folder} is not writable")


def read_encoder_inputs(
  raw_path: str, srgb_path: str | None, jpeg_quality: int, manifest: str | None = None
) -> tuple[np.ndarray, np.ndarray, bytes | None, IspParams | None]:
  """(raw float32 (H,W,3), sRGB uint8 (H,W,3), JPEG bytes or None, ISP parameters or None).

  A camera RAW (or INTEL-TAU PNG) is demosaiced and, without `srgb_path`, rendered with
  the project's ISP (JPEG at `jpeg_quality` when > 0). A 16-bit raw-RGB TIFF needs
  `srgb_path`. The ISP parameters are those of the render manifest entry named like the
  RAW file when `manifest` is given, else the RAW's own (None for a raw-RGB TIFF).
  """
  p = pathlib.Path(raw_path)
  if not p.is_file():
    raise InputError(f"{p}: no such file")
  if p.suffix.lower() in _RAW_RGB_SUFFIXES:
    arr = images.read_image(p)
    if arr.ndim != 3 or arr.dtype != np.uint16:
      raise InputError(f"{p}: a raw-RGB TIFF must be 16-bit (H, W, 3), got {arr.dtype} {arr.shape}")
    raw = arr.astype(np.float32) / np.float32(65535.0)
    if srgb_path is None:
      raise InputError(f"{p}: a raw-RGB TIFF has no ISP parameters; give --srgb")
    params = None
  else:
    src = load_source(p)
    raw, params = src.raw_rgb, src.params
  jpeg = None
  if srgb_path is not None:
    srgb = images.read_image(srgb_path)
    if srgb.dtype != np.uint8 or srgb.ndim != 3:
      raise InputError(f"{srgb_path}: the sRGB must be an 8-bit RGB image")
    if pathlib.Path(srgb_path).suffix.lower() in (".jpg", ".jpeg"):
      jpeg = pathlib.Path(srgb_path).read_bytes()
  else:
    srgb = render_srgb(raw, params)
    if jpeg_quality:
      jpeg = images.encode_jpeg(srgb, int(jpeg_quality))
      srgb = images.decode_jpeg(jpeg)
  if srgb.shape != raw.shape:
    raise ShapeMismatchError(
      f"{srgb_path or raw_path}: sRGB {srgb.shape[:2]} and RAW {raw.shape[:2]} differ in size"
    )
  if manifest is not None:
    params = params_from_manifest(manifest, p.stem)
  return raw, srgb, jpeg, params


def encode_file(
  raw_path: str,
  out_stem: str,
  ckpt: CodecCheckpoint,
  runner: ModelRunner,
  *,
  srgb_path: str | None = None,
  jpeg_quality: int = 0,
  drop_steps: int = 0,
  gamma: float = 0.0,
  backend: str = "jax",
  manifest: str | None = None,
  gate_tile: int | None = None,
) -> EncodedFiles:
  """Encodes one RAW file; writes STEM.{jpg|png} and STEM.r2lcm (see module doc).

  `gate_tile`: the residual gate (`codec.gate_for`: None = the model's default, 0 = off).
  """
  stem = pathlib.Path(out_stem)
  raw, srgb, jpeg, isp = read_encoder_inputs(raw_path, srgb_path, jpeg_quality, manifest)
  srgb_out = stem.with_name(stem.name + (".jpg" if jpeg is not None else ".png"))
  meta_out = stem.with_name(stem.name + ".r2lcm")
  for path in (srgb_out, meta_out):
    _check_writable(path)
  result = codec.compress_image(
    raw, srgb, runner, ckpt.tables, drop_steps=drop_steps, gamma=gamma, backend=backend,
    isp=isp, gate=codec.gate_for(runner, gate_tile),
  )
  if jpeg is not None:
    images.atomic_write_bytes(srgb_out, jpeg)
    srgb_bytes = len(jpeg)
  else:
    images.write_png(srgb_out, srgb)
    srgb_bytes = srgb_out.stat().st_size
  images.atomic_write_bytes(meta_out, result.data)
  return EncodedFiles(srgb_out, meta_out, srgb_bytes, len(result.data), raw.shape[0],
                      raw.shape[1], result)


def decode_file(
  srgb_path: str,
  metadata_path: str,
  out_path: str,
  ckpt: CodecCheckpoint,
  runner: ModelRunner,
  *,
  workers: int = 0,
) -> codec.DecompressResult:
  """Decodes STEM.r2lcm with its sRGB; writes a 16-bit raw-RGB TIFF to `out_path`."""
  out = pathlib.Path(out_path)
  _check_writable(out)
  srgb = images.read_image(srgb_path)
  if srgb.dtype != np.uint8 or srgb.ndim != 3:
    raise InputError(f"{srgb_path}: the sRGB must be an 8-bit RGB image")
  meta = pathlib.Path(metadata_path)
  if not meta.is_file():
    raise InputError(f"{meta}: no such file")
  result = codec.decompress_image(srgb, meta.read_bytes(), runner, ckpt.tables, workers=workers)
  images.write_tiff16(out, np.clip(result.raw, 0.0, 1.0))
  return result
