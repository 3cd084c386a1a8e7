"""Inputs of `r2lcm render`: which files to render and how to turn each into raw-RGB
(an `isp.source.SourceImage`).

Recognised inputs:
- camera RAW files (DNG and the formats LibRaw reads, by extension), via `read_raw`;
- INTEL-TAU PNGs (a `<stem>_metadata.json` beside them): raw-RGB + illuminant, rendered
  with the illuminant as white balance and the generic colour matrix;
- Bayer-mosaic 16-bit grayscale PNGs with Halide's `matrix_*.mat` beside them (GRBG,
  black 25, white 1023).
An explicitly named file of any other kind is still tried as a RAW, so a non-image file
fails with a typed error naming it. Folders are searched recursively.
"""

from __future__ import annotations

import os
import pathlib

from r2lcm_jax.data.inteltau import metadata_path, read_inteltau
from r2lcm_jax.errors import ImageFormatError, InputError
from r2lcm_jax.io.halide import read_bayer_png
from r2lcm_jax.io.images import read_image
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp import pipeline
from r2lcm_jax.isp.source import SourceImage, source_from_raw

__all__ = ["RAW_SUFFIXES", "expand_inputs", "load_source"]

RAW_SUFFIXES = frozenset(
  ".dng .cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .orf .rw2 .raf .pef .srw .3fr .iiq .erf "
  ".kdc .dcr .mos .mrw .x3f .rwl .raw".split())


def _is_halide_png(path: pathlib.Path) -> bool:
  return any(path.parent.glob("matrix_*.mat"))


def _recognised(path: pathlib.Path) -> bool:
  suffix = path.suffix.lower()
  if suffix in RAW_SUFFIXES:
    return True
  if suffix == ".png":
    return metadata_path(path).is_file() or _is_halide_png(path)
  return False


def expand_inputs(spec: str | os.PathLike | list[str]) -> list[pathlib.Path]:
  """Files named by `spec`: a file, a folder (recursive), or a comma-separated list.

  Raises:
    InputError: a named path does not exist, or no renderable file was found.
  """
  items = spec if isinstance(spec, list) else [s for s in str(spec).split(",") if s.strip()]
  files: list[pathlib.Path] = []
  for item in items:
    p = pathlib.Path(str(item).strip())
    if p.is_dir():
      found = sorted(f for f in p.rglob("*") if f.is_file() and _recognised(f))
      if not found:
        raise InputError(f"{p}: no RAW, INTEL-TAU or Bayer PNG files found (empty folder)")
      files += found
    elif p.is_file():
      files.append(p)
    else:
      raise InputError(f"{p}: no such file or folder")
  if not files:
    raise InputError(f"{spec!r}: no input files")
  seen, unique = set(), []
  for f in files:
    key = f.resolve()
    if key not in seen:
      seen.add(key)
      unique.append(f)
  return unique


def load_source(path: str | os.PathLike) -> SourceImage:
  """Reads one render input (see module doc) and prepares its raw-RGB and ISP parameters.

  Raises:
    InputError / ImageFormatError: with the file name and the reason.
  """
  path = pathlib.Path(path)
  if path.suffix.lower() == ".png":
    if metadata_path(path).is_file():
      img = read_inteltau(path)
      params = pipeline.params_for_illuminant(img.illuminant)
      meta = {"source": str(path), "illuminant": img.illuminant.tolist()}
      return SourceImage(name=img.name, camera=img.camera, kind="inteltau",
                         raw_rgb=img.raw_rgb, params=params, meta=meta)
    if _is_halide_png(path):
      return source_from_raw(read_bayer_png(path), path.stem, kind="bayer_png")
    arr = read_image(path)  # raises for broken files; otherwise explain why it is not usable
    raise ImageFormatError(
      f"{path}: a {arr.dtype} {arr.shape} PNG is not a render input (need a RAW, an INTEL-TAU"
      " PNG with _metadata.json, or a Bayer PNG with matrix_*.mat beside it)")
  if not path.is_file():
    raise InputError(f"{path}: no such file")
  return source_from_raw(read_raw(path), path.stem)
