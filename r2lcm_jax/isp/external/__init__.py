"""sRGB from third-party ISPs (darktable, RawTherapee), on the project's raw-RGB grid.

The project's own ISP (`isp.pipeline`) is one global, known tone mapping; real sRGB
comes from ISPs the decoder does not know (tone curves, highlight handling, local tone
mapping). `render_external` runs such a tool headless on a render input and returns its
sRGB lying pixel-exactly on the input's raw-RGB grid:

    source --(raw file, or a DNG written for it: source_dng)--> tool (darktable.py |
    rawtherapee.py, style from styles.py) --16-bit sRGB TIFF--> uint8
    --alignment.align (transform, offset, cut, verify)--> srgb (h, w, 3) + crop

The caller cuts the raw-RGB to `crop` to get the matching pair.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from typing import Any

import numpy as np

from r2lcm_jax.isp.external import alignment, darktable, rawtherapee, source_dng
from r2lcm_jax.isp.external.styles import get_style, style_names
from r2lcm_jax.isp.external.tools import ToolNotFoundError
from r2lcm_jax.isp.source import SourceImage

__all__ = ["ExternalRender", "render_external", "get_style", "style_names", "ToolNotFoundError"]


@dataclasses.dataclass(frozen=True, eq=False)
class ExternalRender:
  """A third-party render aligned to a source's raw-RGB grid.

  Attributes:
    srgb: (h, w, 3) uint8 display sRGB.
    crop: (top, left, h, w) of `srgb` in the source's raw-RGB grid.
    tool: "darktable" or "rawtherapee".
    version: the tool's version, e.g. "4.2.1".
    style: the style name, e.g. "local".
    alignment: `alignment.Alignment.to_dict()` plus the output's orientation tag.
    settings: what the style set (`styles.Style.settings`) and what the tool reported.
    seconds: wall-clock time of the tool run.
  """

  srgb: np.ndarray
  crop: tuple[int, int, int, int]
  tool: str
  version: str
  style: str
  alignment: dict[str, Any]
  settings: dict[str, Any]
  seconds: float

  def manifest_isp(self) -> dict[str, Any]:
    """The manifest's `isp` entry: tool, version, style, alignment, settings."""
    return {"tool": self.tool, "version": self.version, "style": self.style,
            "alignment": self.alignment, "settings": self.settings}

  def cut(self, raw_rgb: np.ndarray) -> np.ndarray:
    """The (h, w, 3) part of a raw-RGB grid under `srgb`."""
    top, left, h, w = self.crop
    return raw_rgb[top:top + h, left:left + w]


def render_external(src: SourceImage, isp: str, workdir: str | os.PathLike, *,
                    timeout_s: float = 600.0) -> ExternalRender:
  """Renders a source with a third-party ISP and aligns the result to its raw-RGB grid.

  Args:
    src: a render input (`data.sources.load_source`).
    isp: "darktable[:STYLE]" or "rawtherapee[:STYLE]" (`styles.style_names`).
    workdir: scratch folder for the tool's settings, the style files, the output TIFF
      and, for non-raw sources, the DNG (created; the caller removes it).
    timeout_s: seconds before the tool is killed.

  Returns:
    ExternalRender (srgb (h, w, 3) uint8, crop in the raw grid, tool facts).

  Raises:
    ConfigError: unknown ISP or style.
    ToolNotFoundError: the tool is not installed (`make isp-tools`).
    InputError: the tool failed or its render does not align.
  """
  style = get_style(isp)
  work = pathlib.Path(workdir)
  work.mkdir(parents=True, exist_ok=True)
  raw_file = source_dng.raw_file_for(src, work / "input")
  if style.tool == "darktable":
    version = darktable.version()
    out = darktable.render(raw_file, style, work, timeout_s=timeout_s)
  else:
    version = rawtherapee.version(work)
    out = rawtherapee.render(raw_file, style, work, timeout_s=timeout_s)
  t0 = time.perf_counter()
  aligned = alignment.align(out.srgb, src.raw_rgb)
  info = aligned.to_dict()
  info["orientation_tag"] = out.orientation
  info["seconds"] = round(time.perf_counter() - t0, 3)
  settings = {"description": style.description, **style.settings(), **out.details}
  if src.kind != "raw":
    settings["input"] = f"DNG written by the project ({raw_file.name})"
  return ExternalRender(srgb=aligned.srgb, crop=aligned.crop, tool=style.tool, version=version,
                        style=style.name, alignment=info, settings=settings,
                        seconds=round(out.seconds, 3))

