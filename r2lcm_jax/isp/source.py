"""A loaded camera image ready for rendering: raw-RGB plus the ISP parameters of its sRGB.

`data.sources.load_source` reads render inputs (RAW files, INTEL-TAU PNGs, Bayer PNGs)
into this; the ISPs (`isp.pipeline`, the third-party tools of `isp.external`) and the
dataset writers (`data.render`, `benchmark.dataset`) take it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from r2lcm_jax.io.raw import RawImage
from r2lcm_jax.isp import pipeline

__all__ = ["SourceImage", "source_from_raw"]


@dataclasses.dataclass(frozen=True, eq=False)
class SourceImage:
  """A render input turned into raw-RGB.

  Attributes:
    name: output file stem.
    camera: camera name (free text).
    kind: "raw", "inteltau" or "bayer_png".
    raw_rgb: (H, W, 3) float32 in [0, 1].
    params: ISP parameters for the sRGB rendering.
    meta: JSON-serialisable facts for the manifest (source path, levels, CFA, ...).
  """

  name: str
  camera: str
  kind: str
  raw_rgb: np.ndarray
  params: pipeline.IspParams
  meta: dict[str, Any]


def source_from_raw(raw: RawImage, name: str, kind: str = "raw",
                    params: pipeline.IspParams | None = None) -> SourceImage:
  """Demosaics a RawImage into a SourceImage (params default: `params_for(raw)`)."""
  params = pipeline.params_for(raw) if params is None else params
  meta = {"source": raw.path, "cfa": raw.cfa, "black_level": raw.black_level.tolist(),
          "white_level": raw.white_level, "as_shot_wb": raw.as_shot_wb.tolist(),
          "mosaic_shape": list(raw.mosaic.shape),
          "xyz_to_cam": None if raw.xyz_to_cam is None else np.asarray(raw.xyz_to_cam).tolist()}
  return SourceImage(name=name, camera=raw.camera, kind=kind,
                     raw_rgb=pipeline.raw_rgb_from_raw(raw), params=params, meta=meta)
