"""Named styles of the third-party ISPs, generated here (no copied binary files).

A style is what `r2lcm render --isp TOOL:STYLE` asks darktable or RawTherapee to do on
top of the tool's own default processing:

- `darktable:default`: darktable 4.2's default scene-referred pipeline exactly as
  darktable-cli auto-applies it with a fresh config folder (rawprepare, demosaic,
  temperature = camera white balance, highlight reconstruction, exposure +0.7 EV,
  filmic rgb, input/output colour profiles), plus `flip` set to "no rotation".
- `darktable:local`: the default plus two local operators:
  `toneequal` (tone equalizer, the values of darktable's built-in preset "compress
  shadows/highlights (eigf): strong": +0.65..+1.08 EV in the shadows, -0.65..-1.08 EV
  in the highlights, eigf guided-filter mask, 5 iterations) and `bilat` (local
  contrast, local-laplacian mode, detail 200 %, highlights/shadows 50 %, midtone 0.2).
- `rawtherapee:default`: rawtherapee-cli's default raw profile (`-d`: "Auto-Matched
  Curve - ISO Low" in 5.9: histogram-matched tone curve, highlight recovery, AMaZE,
  capture sharpening, raw CA correction) with the geometry modules off.
- `rawtherapee:drc`: the default plus Dynamic Range Compression (Fattal et al.,
  amount 60, threshold 30) and Tone Mapping (edge-preserving decomposition,
  strength 0.6, scale 1, edge stopping 1.4).

Geometry: every style turns off what moves pixels. darktable: `flip` "no rotation"
(the auto-applied defaults contain no lens, crop, rotation or perspective module;
`darktable.py` checks the history darktable reports). RawTherapee: lens profile
(distortion) off, crop off, rotation 0, perspective 0, distortion 0, coarse rotation and
flips off, resize off. What is left (RawTherapee's 4-pixel demosaic border, a tool
applying the file's orientation) is undone by `alignment.py`.

darktable module parameters are the little-endian bytes of the module's C params
struct at the version darktable 4.2 expects (read from darktable's sources, checked
against the tool's own built-in presets in the tests); darktable rejects a blob whose
version or size does not match. History items are hex in the XMP sidecar; darktable
prepends its auto-applied defaults because the sidecar says they were not applied yet.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from typing import Any

from r2lcm_jax.errors import ConfigError

__all__ = [
  "TOOLS",
  "DtModule",
  "Style",
  "all_styles",
  "style_names",
  "get_style",
  "dt_flip_params",
  "dt_bilat_params",
  "dt_toneequal_params",
  "darktable_xmp",
  "rawtherapee_pp3",
]

TOOLS = ("darktable", "rawtherapee")

# darktable enums (src/iop/flip.c, bilat.c, toneequal.c, common/luminance_mask.h).
_DT_ORIENTATION_NONE = 0
_DT_BILAT_LOCAL_LAPLACIAN = 1
_DT_TONEEQ_EIGF = 4
_DT_TONEEQ_NORM_2 = 4


@dataclasses.dataclass(frozen=True)
class DtModule:
  """One darktable history item.

  Attributes:
    operation: module name in the pipe ("bilat", "toneequal", "flip", ...).
    version: the module's params version (darktable 4.2).
    params: the params struct as little-endian bytes.
    enabled: whether the item switches the module on.
  """

  operation: str
  version: int
  params: bytes
  enabled: bool = True


@dataclasses.dataclass(frozen=True)
class Style:
  """A named third-party ISP setting.

  Attributes:
    tool: "darktable" or "rawtherapee".
    name: style name ("default", "local", "drc").
    description: one line for the manifest and `--help`.
    dt_modules: darktable history items appended to the tool's defaults.
    pp3: RawTherapee partial profile: ((section, ((key, value), ...)), ...), applied
      on top of the default raw profile.
  """

  tool: str
  name: str
  description: str
  dt_modules: tuple[DtModule, ...] = ()
  pp3: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

  @property
  def spec(self) -> str:
    """"tool:name", the `--isp` value."""
    return f"{self.tool}:{self.name}"

  def settings(self) -> dict[str, Any]:
    """JSON-serialisable description of what the style sets (for the manifest)."""
    if self.tool == "darktable":
      return {"modules": [{"operation": m.operation, "version": m.version,
                           "enabled": m.enabled, "params": m.params.hex()}
                          for m in self.dt_modules]}
    return {"pp3": {section: dict(items) for section, items in self.pp3}}


def dt_flip_params(orientation: int = _DT_ORIENTATION_NONE) -> bytes:
  """`flip` v2: int32 orientation (-1 auto from the file, 0 no rotation)."""
  return struct.pack("<i", orientation)


def dt_bilat_params(*, detail: float, highlights: float = 0.5, shadows: float = 0.5,
                    midtone: float = 0.2, mode: int = _DT_BILAT_LOCAL_LAPLACIAN) -> bytes:
  """`bilat` (local contrast) v3: uint32 mode, float sigma_r, sigma_s, detail, midtone.

  In local-laplacian mode sigma_r is "highlights", sigma_s "shadows" (1 = 100 %), and
  the GUI's detail percentage is 100 * (1 + detail).
  """
  return struct.pack("<I4f", mode, highlights, shadows, detail, midtone)


def dt_toneequal_params(ev: tuple[float, ...], *, smoothing_diameter: float = 5.0,
                        feathering: float = 1.0, exposure_boost: float = 0.0,
                        contrast_boost: float = 0.0, quantization: float = 0.0,
                        details: int = _DT_TONEEQ_EIGF, method: int = _DT_TONEEQ_NORM_2,
                        iterations: int = 1) -> bytes:
  """`toneequal` (tone equalizer) v2: 15 floats then 3 int32.

  Args:
    ev: 9 gains in EV for the exposure bands -8, -7, ..., 0 EV.
    smoothing_diameter: mask blur diameter in % of the image ("blending").
    feathering: edge refinement of the guided filter.
    exposure_boost, contrast_boost: mask exposure/contrast compensation (EV).
    quantization: mask quantization (EV).
    details: mask filter (4 = eigf, 2 = guided filter, 0 = none).
    method: luminance estimator (4 = RGB euclidean norm).
    iterations: filter diffusion.
  """
  if len(ev) != 9:
    raise ValueError(f"tone equalizer needs 9 band gains, got {len(ev)}")
  floats = (*ev, smoothing_diameter, math.sqrt(2.0), feathering, quantization,
            contrast_boost, exposure_boost)
  return struct.pack("<15f3i", *floats, details, method, iterations)


_DT_NO_ROTATION = DtModule("flip", 2, dt_flip_params())
# darktable's built-in "compress shadows/highlights (eigf): strong" tone equalizer preset.
_DT_TONE_EQUALIZER = DtModule("toneequal", 2, dt_toneequal_params(
  (0.65, 1.0833333, 1.0833333, 0.65, 0.0, -0.65, -1.0833333, -1.0833333, -0.65),
  smoothing_diameter=2.0, feathering=20.0, exposure_boost=-1.57, iterations=5))
_DT_LOCAL_CONTRAST = DtModule("bilat", 3, dt_bilat_params(detail=1.0))

_RT_GEOMETRY_OFF = (
  ("LensProfile", (("LcMode", "none"), ("UseDistortion", "false"), ("UseVignette", "false"),
                   ("UseCA", "false"))),
  ("Distortion", (("Amount", "0"),)),
  ("Rotation", (("Degree", "0"),)),
  ("Perspective", (("Horizontal", "0"), ("Vertical", "0"))),
  ("Crop", (("Enabled", "false"),)),
  ("Coarse Transformation", (("Rotate", "0"), ("HorizontalFlip", "false"),
                             ("VerticalFlip", "false"))),
  ("Common Properties for Transformations", (("AutoFill", "false"),)),
  ("Resize", (("Enabled", "false"),)),
)
_RT_DRC = (
  ("FattalToneMapping", (("Enabled", "true"), ("Threshold", "30"), ("Amount", "60"),
                         ("Anchor", "50"))),
  ("EPD", (("Enabled", "true"), ("Strength", "0.6"), ("Gamma", "1"), ("EdgeStopping", "1.4"),
           ("Scale", "1"), ("ReweightingIterates", "0"))),
)


def all_styles() -> tuple[Style, ...]:
  """Every style, darktable first."""
  return (
    Style("darktable", "default",
          "darktable default scene-referred pipeline (filmic rgb), no rotation",
          dt_modules=(_DT_NO_ROTATION,)),
    Style("darktable", "local",
          "darktable default + tone equalizer (compress shadows/highlights, eigf, strong)"
          " + local contrast (local laplacian, detail 200%)",
          dt_modules=(_DT_NO_ROTATION, _DT_TONE_EQUALIZER, _DT_LOCAL_CONTRAST)),
    Style("rawtherapee", "default",
          "RawTherapee default raw profile (-d), geometry off", pp3=_RT_GEOMETRY_OFF),
    Style("rawtherapee", "drc",
          "RawTherapee default + dynamic range compression (Fattal, amount 60) + tone"
          " mapping (EPD, strength 0.6), geometry off", pp3=_RT_GEOMETRY_OFF + _RT_DRC),
  )


def style_names() -> list[str]:
  """Every valid `--isp` value: "project" and "tool:style" (a tool alone = its default)."""
  return ["project"] + [s.spec for s in all_styles()]


def get_style(spec: str) -> Style:
  """The style named by an `--isp` value other than "project".

  Args:
    spec: "darktable", "darktable:local", "rawtherapee:drc", ...

  Raises:
    ConfigError: unknown tool or style, with the valid names.
  """
  tool, _, name = str(spec).strip().partition(":")
  name = name or "default"
  for style in all_styles():
    if style.tool == tool and style.name == name:
      return style
  raise ConfigError(f"--isp={spec!r}: unknown ISP; valid: {', '.join(style_names())}")


def darktable_xmp(style: Style) -> str:
  """An XMP sidecar whose history is the style's modules after darktable's defaults.

  `auto_presets_applied="0"` makes darktable-cli apply its default pipeline first and
  then the items here, in order.
  """
  if style.tool != "darktable":
    raise ValueError(f"{style.spec} is not a darktable style")
  items = "\n".join(
    f'     <rdf:li darktable:num="{i}" darktable:operation="{m.operation}"'
    f' darktable:enabled="{int(m.enabled)}" darktable:modversion="{m.version}"'
    f' darktable:params="{m.params.hex()}" darktable:multi_name=""'
    f' darktable:multi_priority="0"/>'
    for i, m in enumerate(style.dt_modules))
  return f"""<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:darktable="http://darktable.sf.net/"
   darktable:xmp_version="5"
   darktable:raw_params="0"
   darktable:auto_presets_applied="0"
   darktable:history_end="{len(style.dt_modules)}"
   darktable:iop_order_version="2">
   <darktable:history>
    <rdf:Seq>
{items}
    </rdf:Seq>
   </darktable:history>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def rawtherapee_pp3(style: Style) -> str:
  """The style's partial processing profile (INI text) for `rawtherapee-cli -p`."""
  if style.tool != "rawtherapee":
    raise ValueError(f"{style.spec} is not a RawTherapee style")
  blocks = []
  for section, items in style.pp3:
    blocks.append(f"[{section}]\n" + "".join(f"{k}={v}\n" for k, v in items))
  return "\n".join(blocks)
