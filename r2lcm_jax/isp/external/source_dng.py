"""A raw file a third-party converter can open, for any render input.

Camera RAW inputs are handed to the tool as they are. Inputs that are not raw files
become DNGs in the work folder:

- INTEL-TAU PNGs (demosaiced raw-RGB): a LinearRaw DNG of `raw_rgb` (black 0, white
  65535, so the DNG holds exactly the PNG's values), AsShotNeutral = 1 / the source's
  white-balance gains (the ground-truth illuminant), and a colour matrix that makes a
  converter's colour match the project ISP's: `xyz_to_cam = diag(1 / wb) @ inv(ccm) @
  SRGB_FROM_XYZ`, so the neutral maps to D65 and white-balanced camera RGB to linear
  sRGB through the source's `ccm` (the generic matrix for INTEL-TAU);
- Halide's Bayer PNG: its mosaic re-read and written as a Bayer DNG (`dng_from_raw`).

Both keep the project's grid (same size, no crop, orientation 1), so alignment only has
the converter's own crops to undo.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from r2lcm_jax.errors import InputError
from r2lcm_jax.io import dng
from r2lcm_jax.io.halide import read_bayer_png
from r2lcm_jax.io.raw import SRGB_FROM_XYZ, camera_slug
from r2lcm_jax.isp.source import SourceImage

__all__ = ["raw_file_for", "linear_dng_metadata"]


def linear_dng_metadata(src: SourceImage) -> dng.DngMetadata:
  """DNG metadata for a demosaiced source from its ISP parameters (see module doc)."""
  wb = np.asarray(src.params.wb, np.float64)
  ccm = np.asarray(src.params.ccm, np.float64)
  xyz_to_cam = np.diag(1.0 / wb) @ np.linalg.inv(ccm) @ SRGB_FROM_XYZ
  return dng.DngMetadata(black_level=(0.0,), white_level=65535.0, xyz_to_cam=xyz_to_cam,
                         as_shot_neutral=wb[1] / wb, make="r2lcm_jax",
                         model=camera_slug(src.camera))


def raw_file_for(src: SourceImage, workdir: str | os.PathLike) -> pathlib.Path:
  """The file to hand to a raw converter for `src` (writes a DNG for non-raw sources).

  Args:
    src: a render input from `data.sources.load_source`.
    workdir: where a DNG is written when one is needed.

  Returns:
    Path of the camera RAW file, or of the DNG written.

  Raises:
    InputError: the source file is gone, or the source kind has no raw form.
  """
  source = src.meta.get("source")
  if src.kind == "raw":
    if not source or not pathlib.Path(source).is_file():
      raise InputError(f"{src.name}: source raw file {source!r} not found")
    return pathlib.Path(source)
  out = pathlib.Path(workdir) / f"{src.name}.dng"
  out.parent.mkdir(parents=True, exist_ok=True)
  if src.kind == "inteltau":
    dng.write_linear_dng(out, src.raw_rgb, linear_dng_metadata(src))
  elif src.kind == "bayer_png":
    dng.dng_from_raw(out, read_bayer_png(source))
  else:
    raise InputError(f"{src.name}: a {src.kind!r} source cannot be handed to a raw converter")
  return out
