"""File-level encode/decode used by the CLI: inputs, checkpoints, atomic outputs.

    encode_file: RAW (DNG, ..., INTEL-TAU PNG, or a 16-bit raw-RGB PNG/TIFF with --srgb)
                 -> STEM.jpg|STEM.png (the sRGB) + STEM.r2lcm (the metadata)
    decode_file: sRGB file + .r2lcm -> a DNG (re-mosaiced to the source's CFA, or
                 LinearRaw; `io.sensor_layout`) or a 16-bit raw-RGB TIFF

Every output is written to a temporary name in its folder and renamed into place, and
nothing is written before the whole computation succeeded.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from r2lcm_jax.codec import codec
from r2lcm_jax.codec.checkpoint import CodecCheckpoint, load_checkpoint
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.coding import bitstream
from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import InputError, ShapeMismatchError
from r2lcm_jax.io import images
from r2lcm_jax.io.dng import split_camera
from r2lcm_jax.io.sensor_layout import SensorLayout
from r2lcm_jax.isp.pipeline import IspParams, render_srgb

__all__ = ["EncodedFiles", "EncoderInputs", "load_runner", "read_encoder_inputs", "encode_file",
           "decode_file", "sensor_layout_for", "OUTPUT_FORMATS"]

OUTPUT_FORMATS = ("auto", "dng", "tiff")

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
  alignment: dict | None = None

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


@dataclasses.dataclass(frozen=True, eq=False)
class EncoderInputs:
  """What the encoder codes.

  Attributes:
    raw: float32 (H, W, 3) raw-RGB on the sRGB's pixel grid.
    srgb: uint8 (H, W, 3), exactly the image the decoder will be given.
    jpeg: the JPEG file's bytes when the sRGB is a JPEG, else None.
    isp: ISP parameters (manifest entry or the RAW's own), None for a raw-RGB TIFF.
    alignment: None when the sRGB already had the RAW's size; else how the RAW was put on
      the sRGB's grid: {"transform", "crop" (top, left, h, w) in the RAW, "peak"}.
    sensor: the sensor layout a DNG of the reconstruction needs (None for a raw-RGB
      TIFF input, which has none).
  """

  raw: np.ndarray
  srgb: np.ndarray
  jpeg: bytes | None
  isp: IspParams | None
  alignment: dict | None = None
  sensor: SensorLayout | None = None


def sensor_layout_for(src, alignment: dict | None, shape: tuple[int, ...]) -> SensorLayout:
  """The sensor layout of a loaded source (`isp.source.SourceImage`) as the encoder codes it.

  A Bayer source (camera RAW, Bayer PNG) whose raw-RGB is coded in sensor orientation
  (no alignment, or an alignment that only cuts it) with even sides keeps its CFA,
  re-phased to the cut's first pixel, and its levels: the decoder re-mosaics. Anything
  else (INTEL-TAU fields, a RAW turned or mirrored to fit a camera JPEG, odd sides) is
  written as LinearRaw with black 0 and white 65535, the normalised values as they are.

  Args:
    src: the source image (its `meta` holds the CFA, levels, white balance, matrix).
    alignment: `EncoderInputs.alignment`.
    shape: (H, W, 3) of the raw-RGB that is coded.
  """
  make, model = split_camera(src.camera)
  if src.kind == "inteltau":
    from r2lcm_jax.isp.external.source_dng import linear_dng_metadata

    meta = linear_dng_metadata(src)
    return SensorLayout("linear", "", (0.0,), 65535.0, meta.xyz_to_cam,
                        tuple(float(v) for v in meta.as_shot_neutral), make=make, model=model)
  wb = np.asarray(src.meta["as_shot_wb"], np.float64)
  matrix = src.meta.get("xyz_to_cam")
  matrix = None if matrix is None else np.asarray(matrix, np.float64)
  neutral = tuple(float(v) for v in wb[1] / wb)
  turned = alignment is not None and alignment["transform"] != "identity"
  if turned or shape[0] % 2 or shape[1] % 2:
    return SensorLayout("linear", "", (0.0,), 65535.0, matrix, neutral, make=make, model=model)
  layout = SensorLayout("bayer", src.meta["cfa"], tuple(float(v) for v in src.meta["black_level"]),
                        float(round(float(src.meta["white_level"]))), matrix, neutral,
                        make=make, model=model)
  if alignment is not None:
    layout = layout.cropped(*alignment["crop"][:2])
  return layout


def _raw_on_srgb_grid(raw: np.ndarray, srgb: np.ndarray, name: str) -> tuple[np.ndarray, dict]:
  """The part of `raw` (H, W, 3) under an sRGB (h, w, 3) of another size, in its frame.

  A camera JPEG (or another converter's output) is usually cropped against the RAW's
  visible area, and may be rotated or mirrored by its orientation: it is aligned to the
  raw grid (`isp.external.alignment`: dihedral transform, offset, high-pass correlation
  check), and the RAW is cut and turned into the sRGB's frame, so the sRGB file itself is
  what the decoder is given.

  Raises:
    InputError: the sRGB does not align, or reaches beyond the RAW (it would need to be
      cut, and the decoder could not be given that file).
  """
  from r2lcm_jax.isp.external import alignment

  try:
    al = alignment.align(srgb, raw)
  except InputError as e:
    raise ShapeMismatchError(
      f"{name}: sRGB {srgb.shape[1]}x{srgb.shape[0]} and RAW {raw.shape[1]}x{raw.shape[0]} "
      f"differ in size and the sRGB could not be placed on the RAW ({e})") from e
  if al.srgb.shape != alignment.apply_transform(srgb, al.transform).shape:
    raise ShapeMismatchError(
      f"{name}: the sRGB reaches beyond the RAW's pixels (it aligns with {al.transform} "
      f"at offset {al.offset}, but only {al.crop[3]}x{al.crop[2]} px overlap): the RAW "
      "cannot describe all of it")
  top, left, h, w = al.crop
  cut = raw[top:top + h, left:left + w]
  on_grid = np.ascontiguousarray(alignment.apply_transform(cut, alignment.inverse_transform(al.transform)))
  return on_grid, {"transform": al.transform, "crop": list(al.crop), "peak": round(al.peak, 4)}


def read_encoder_inputs(
  raw_path: str, srgb_path: str | None, jpeg_quality: int, manifest: str | None = None
) -> EncoderInputs:
  """Reads (and renders, or aligns) what `encode_file` codes.

  A camera RAW (or INTEL-TAU PNG) is demosaiced and, without `srgb_path`, rendered with
  the project's ISP (JPEG at `jpeg_quality` when > 0). A 16-bit raw-RGB TIFF needs
  `srgb_path`. An sRGB of another size than the RAW (a camera JPEG) is aligned to it and
  the RAW is cut to the sRGB's pixels (`_raw_on_srgb_grid`). The ISP parameters are those
  of the render manifest entry named like the RAW file when `manifest` is given, else the
  RAW's own (None for a raw-RGB TIFF).
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
    src = None
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
  aligned = None
  if srgb.shape != raw.shape:
    raw, aligned = _raw_on_srgb_grid(raw, srgb, str(srgb_path or raw_path))
  if manifest is not None:
    params = params_from_manifest(manifest, p.stem)
  sensor = None if src is None else sensor_layout_for(src, aligned, raw.shape)
  return EncoderInputs(raw, srgb, jpeg, params, aligned, sensor)


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
  backend: str = "auto",
  manifest: str | None = None,
  gate_tile: int | None = None,
  order: str = "learned",
) -> EncodedFiles:
  """Encodes one RAW file; writes STEM.{jpg|png} and STEM.r2lcm (see module doc).

  `gate_tile`: the residual gate (`codec.gate_for`: None = the model's default, 0 = off).
  `order`: the context model's coding order (`models.coding_order`; in the header).
  """
  stem = pathlib.Path(out_stem)
  inputs = read_encoder_inputs(raw_path, srgb_path, jpeg_quality, manifest)
  raw, srgb, jpeg, isp = inputs.raw, inputs.srgb, inputs.jpeg, inputs.isp
  srgb_out = stem.with_name(stem.name + (".jpg" if jpeg is not None else ".png"))
  meta_out = stem.with_name(stem.name + ".r2lcm")
  for path in (srgb_out, meta_out):
    _check_writable(path)
  result = codec.compress_image(
    raw, srgb, runner, ckpt.tables, drop_steps=drop_steps, gamma=gamma, backend=backend,
    isp=isp, gate=codec.gate_for(runner, gate_tile), sensor=inputs.sensor, order=order,
  )
  if jpeg is not None:
    images.atomic_write_bytes(srgb_out, jpeg)
    srgb_bytes = len(jpeg)
  else:
    images.write_png(srgb_out, srgb)
    srgb_bytes = srgb_out.stat().st_size
  images.atomic_write_bytes(meta_out, result.data)
  return EncodedFiles(srgb_out, meta_out, srgb_bytes, len(result.data), raw.shape[0],
                      raw.shape[1], result, inputs.alignment)


def decode_file(
  srgb_path: str,
  metadata_path: str,
  out_path: str,
  ckpt: CodecCheckpoint,
  runner: ModelRunner,
  *,
  workers: int = 0,
  output_format: str = "auto",
) -> codec.DecompressResult:
  """Decodes STEM.r2lcm with its sRGB; writes the reconstruction to `out_path`.

  `output_format`: "dng" (a raw editor opens it as a raw: re-mosaiced to the source's
  CFA with its levels, matrix and neutral, or LinearRaw; needs a bitstream with the
  sensor layout), "tiff" (16-bit raw-RGB, normalised), or "auto" (by the extension:
  .dng -> dng, else tiff).

  Raises:
    InputError: unknown format, or "dng" for a bitstream encoded without a sensor
      layout (from a raw-RGB TIFF); BitstreamError: a malformed layout block.
  """
  out = pathlib.Path(out_path)
  if output_format not in OUTPUT_FORMATS:
    raise InputError(f"output format must be one of {OUTPUT_FORMATS}, got {output_format!r}")
  if output_format == "auto":
    output_format = "dng" if out.suffix.lower() == ".dng" else "tiff"
  _check_writable(out)
  srgb = images.read_image(srgb_path)
  if srgb.dtype != np.uint8 or srgb.ndim != 3:
    raise InputError(f"{srgb_path}: the sRGB must be an 8-bit RGB image")
  meta = pathlib.Path(metadata_path)
  if not meta.is_file():
    raise InputError(f"{meta}: no such file")
  data = meta.read_bytes()
  layout = None
  if output_format == "dng":  # refused before any decoding work
    header, _ = bitstream.unpack(data)
    if header.sensor is None:
      raise InputError(f"{meta}: encoded without the sensor layout a DNG needs (the RAW was a "
                       "raw-RGB TIFF); write a TIFF instead (--format tiff)")
    layout = SensorLayout.from_bytes(header.sensor)
  result = codec.decompress_image(srgb, data, runner, ckpt.tables, workers=workers)
  if layout is not None:
    layout.write_dng(out, np.clip(result.raw, 0.0, 1.0))
  else:
    images.write_tiff16(out, np.clip(result.raw, 0.0, 1.0))
  return result
