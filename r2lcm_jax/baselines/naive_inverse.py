"""Naive inverse ISP (0 bpp): undo tone curve, sRGB transfer, colour matrix and white balance.

Wraps `isp.pipeline.invert_render` with the camera's known ISP parameters, given directly
(`IspParams`) or read from the `manifest.json` that `r2lcm render` writes next to a
rendered dataset. Clipped highlights / gamut and the 8-bit quantisation are not undone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib

import numpy as np

from r2lcm_jax.baselines.base import check_image
from r2lcm_jax.errors import BitstreamError, InputError
from r2lcm_jax.isp import pipeline

__all__ = ["NaiveInverseBaseline", "params_from_manifest"]


def params_from_manifest(manifest: str | os.PathLike, name: str) -> pipeline.IspParams:
  """ISP parameters of image `name` (file stem) from an `r2lcm render` manifest.

  Raises:
    InputError: missing/unreadable manifest, no (unique) entry for `name`, or an entry
      rendered by a third-party ISP (`isp.tool` set: no stage parameters).
  """
  path = pathlib.Path(manifest)
  try:
    doc = json.loads(path.read_text())
  except FileNotFoundError as e:
    raise InputError(f"{path}: manifest not found") from e
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise InputError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from e
  entries = doc.get("images") if isinstance(doc, dict) else None
  if not isinstance(entries, list):
    raise InputError(f"{path}: not an r2lcm render manifest (no 'images' list)")
  found = [e for e in entries if isinstance(e, dict) and e.get("name") == name]
  if len(found) != 1:
    raise InputError(f"{path}: {len(found)} entries named {name!r} (need exactly one)")
  isp = found[0].get("isp")
  if isinstance(isp, dict) and "tool" in isp:
    raise InputError(f"{path}: entry {name!r} was rendered by {isp['tool']} {isp.get('version', '')}"
                     f" (style {isp.get('style')}), which has no ISP stage parameters; only"
                     " `r2lcm render --isp project` entries do")
  try:
    return pipeline.IspParams.from_dict(found[0]["isp"])
  except (KeyError, TypeError, ValueError) as e:
    raise InputError(f"{path}: entry {name!r} has no valid 'isp' parameters ({e})") from e


@dataclasses.dataclass(frozen=True)
class NaiveInverseBaseline:
  """The ISP inverted stage by stage with known parameters; no metadata.

  Attributes:
    params: the ISP parameters the sRGB was rendered with.
  """

  params: pipeline.IspParams
  name: str = "naive_inverse"

  def encode(self, raw_rgb: np.ndarray, srgb: np.ndarray) -> bytes:
    """No metadata: b""."""
    check_image(raw_rgb, "raw-RGB")
    check_image(srgb, "sRGB")
    return b""

  def reconstruct(self, srgb: np.ndarray, metadata: bytes = b"") -> np.ndarray:
    """(H, W, 3) float32 raw-RGB = `invert_render(srgb, params)`."""
    if metadata:
      raise BitstreamError(f"naive inverse takes no metadata, got {len(metadata)} bytes")
    return pipeline.invert_render(check_image(srgb, "sRGB"), self.params)
