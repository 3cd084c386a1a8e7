"""`r2lcm render`: camera RAWs -> a dataset in the NUS layout.

    r2lcm render --input FILE|FOLDER|A,B,... --output ROOT [--camera NAME] [--split test]
                 [--jpeg_quality 0] [--raw_format tiff|png] [--wb as_shot|R,G,B]
                 [--wb_patch TOP,LEFT,H,W] [--exposure 1] [--tone_strength 0.5]
                 [--isp project|darktable[:STYLE]|rawtherapee[:STYLE]]

Writes `ROOT/<camera>/<split>/raw/<stem>.{tif,png}` (16-bit raw-RGB, round(65535 x)),
`ROOT/<camera>/<split>/sRGB/<stem>.{png,jpg}` (8-bit sRGB; JPEG when --jpeg_quality > 0)
and `ROOT/manifest.json` (per image: camera, sizes, crop, ISP stage parameters, JPEG
quality and size; entries of earlier runs for other files are kept). Outputs are staged
in a hidden folder under ROOT and moved into place only when every input succeeded, so a
bad input leaves nothing behind.

`--isp` picks who makes the sRGB: `project` (default) is the project's own ISP
(`isp.pipeline`, stage parameters in the manifest); `darktable[:STYLE]` and
`rawtherapee[:STYLE]` run that tool headless (`isp.external`; a tool alone means its
`default` style) and align its render to the raw-RGB grid. Then the raw written is the
raw-RGB cut to the aligned rectangle, `crop` is that rectangle in the source's raw grid,
and `isp` is `{"tool", "version", "style", "alignment", "settings"}` (no stage
parameters: such sRGB cannot be inverted from parameters). The project-ISP flags
(--wb, --wb_patch, --exposure, --tone_strength) apply to `--isp project` only.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tempfile
import time
from typing import Any

import numpy as np
from absl import flags
from tqdm import tqdm

from r2lcm_jax.data.sources import SourceImage, expand_inputs, load_source
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.io.raw import camera_slug
from r2lcm_jax.isp import external, pipeline

__all__ = ["main", "render_inputs", "params_with_overrides"]

_INPUT = flags.DEFINE_string("input", None, "RAW file, folder (recursive) or comma-separated list.")
_OUTPUT = flags.DEFINE_string("output", None, "Dataset root to write.")
_CAMERA = flags.DEFINE_string("camera", None, "Camera folder name (default: from file metadata).")
_SPLIT = flags.DEFINE_string("split", "test", "Split folder: train, val or test.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 0, "0: PNG sRGB; 1..100: JPEG at that quality.")
_RAW_FORMAT = flags.DEFINE_enum("raw_format", "tiff", ["tiff", "png"], "16-bit raw-RGB file format.")
_WB = flags.DEFINE_string("wb", "as_shot", "White balance: as_shot, or gains R,G,B.")
_WB_PATCH = flags.DEFINE_string(
  "wb_patch", None, "TOP,LEFT,H,W of a neutral region: white balance that makes it grey.")
_EXPOSURE = flags.DEFINE_float("exposure", 1.0, "Linear gain before white balance.")
_TONE = flags.DEFINE_float("tone_strength", pipeline.DEFAULT_TONE_STRENGTH,
                           "Global S-curve strength in [0, 1].")
_ISP = flags.DEFINE_string(
  "isp", "project", "Who renders the sRGB: " + ", ".join(external.style_names())
  + " (a tool alone = TOOL:default).")


def _parse_floats(text: str, n: int, flag: str) -> list[float]:
  try:
    vals = [float(v) for v in text.split(",")]
  except ValueError as e:
    raise ConfigError(f"--{flag}={text!r}: expected {n} comma-separated numbers") from e
  if len(vals) != n:
    raise ConfigError(f"--{flag}={text!r}: expected {n} comma-separated numbers")
  return vals


def params_with_overrides(src: SourceImage, *, wb: str = "as_shot", wb_patch: str | None = None,
                          exposure: float = 1.0,
                          tone_strength: float = pipeline.DEFAULT_TONE_STRENGTH) -> pipeline.IspParams:
  """The source's ISP parameters with the command-line overrides applied."""
  p = src.params
  gains, wb_source = np.asarray(p.wb, np.float32), p.wb_source
  if wb_patch:
    top, left, h, w = (int(v) for v in _parse_floats(wb_patch, 4, "wb_patch"))
    region = src.raw_rgb[top:top + h, left:left + w]
    if region.size == 0:
      raise ConfigError(f"--wb_patch={wb_patch} is outside the {src.raw_rgb.shape[:2]} image")
    mean = region.reshape(-1, 3).mean(0)
    if np.any(mean <= 0):
      raise ConfigError(f"--wb_patch={wb_patch}: region has a zero channel")
    gains, wb_source = (mean[1] / mean).astype(np.float32), f"patch {wb_patch}"
  elif wb != "as_shot":
    vals = np.asarray(_parse_floats(wb, 3, "wb"), np.float32)
    if np.any(vals <= 0):
      raise ConfigError(f"--wb={wb}: gains must be positive")
    gains, wb_source = vals / vals[1], "given"
  if not 0.0 <= tone_strength <= 1.0 or exposure <= 0:
    raise ConfigError("--tone_strength must be in [0, 1] and --exposure positive")
  return pipeline.IspParams(wb=gains, ccm=p.ccm, exposure=exposure, tone_strength=tone_strength,
                            ccm_source=p.ccm_source, wb_source=wb_source)


def _render_one(src: SourceImage, params: pipeline.IspParams, stage: pathlib.Path, rel_dir: str,
                raw_format: str, jpeg_quality: int) -> dict[str, Any]:
  t0 = time.perf_counter()
  srgb = pipeline.render_srgb(src.raw_rgb, params)
  raw_rel = f"{rel_dir}/raw/{src.name}.{'tif' if raw_format == 'tiff' else 'png'}"
  srgb_rel = f"{rel_dir}/sRGB/{src.name}.{'jpg' if jpeg_quality else 'png'}"
  if raw_format == "tiff":
    images.write_tiff16(stage / raw_rel, src.raw_rgb)
  else:
    images.write_png(stage / raw_rel, images.to_uint16(src.raw_rgb))
  jpeg_size = None
  if jpeg_quality:
    jpeg_size = len(images.write_jpeg(stage / srgb_rel, srgb, jpeg_quality))
  else:
    images.write_png(stage / srgb_rel, srgb)
  h, w = src.raw_rgb.shape[:2]
  return {"camera": src.camera, "name": src.name, "kind": src.kind, "raw": raw_rel,
          "srgb": srgb_rel, "height": h, "width": w, "crop": [0, 0, h, w],
          "jpeg_quality": jpeg_quality or None, "jpeg_bytes": jpeg_size, "isp": params.to_dict(),
          "source": src.meta, "render_seconds": round(time.perf_counter() - t0, 3)}


def _render_one_external(src: SourceImage, isp: str, stage: pathlib.Path, rel_dir: str,
                         raw_format: str, jpeg_quality: int) -> dict[str, Any]:
  t0 = time.perf_counter()
  with tempfile.TemporaryDirectory(prefix="r2lcm-isp-") as work:
    ext = external.render_external(src, isp, work)
  raw_rgb = np.ascontiguousarray(ext.cut(src.raw_rgb))
  raw_rel = f"{rel_dir}/raw/{src.name}.{'tif' if raw_format == 'tiff' else 'png'}"
  srgb_rel = f"{rel_dir}/sRGB/{src.name}.{'jpg' if jpeg_quality else 'png'}"
  if raw_format == "tiff":
    images.write_tiff16(stage / raw_rel, raw_rgb)
  else:
    images.write_png(stage / raw_rel, images.to_uint16(raw_rgb))
  jpeg_size = None
  if jpeg_quality:
    jpeg_size = len(images.write_jpeg(stage / srgb_rel, ext.srgb, jpeg_quality))
  else:
    images.write_png(stage / srgb_rel, ext.srgb)
  h, w = raw_rgb.shape[:2]
  return {"camera": src.camera, "name": src.name, "kind": src.kind, "raw": raw_rel,
          "srgb": srgb_rel, "height": h, "width": w, "crop": list(ext.crop),
          "jpeg_quality": jpeg_quality or None, "jpeg_bytes": jpeg_size,
          "isp": ext.manifest_isp(), "source": src.meta,
          "render_seconds": round(time.perf_counter() - t0, 3)}


def _merge_manifest(root: pathlib.Path, entries: list[dict[str, Any]], settings: dict[str, Any]) -> None:
  path = root / "manifest.json"
  old: list[dict[str, Any]] = []
  if path.is_file():
    try:
      old = json.loads(path.read_text()).get("images", [])
    except (json.JSONDecodeError, AttributeError):
      old = []  # an unreadable manifest is replaced
  new_keys = {e["raw"] for e in entries}
  kept = [e for e in old if isinstance(e, dict) and e.get("raw") not in new_keys]
  manifest = {"format": "r2lcm-render/1",
              "layout": "<camera>/<split>/{raw,sRGB}/<stem>: raw = round(65535 * raw_rgb) 16-bit",
              "pipeline": "normalise_mosaic, demosaic_bilinear | white_balance, clip_highlights, "
                          "apply_ccm, clip_gamut, srgb_encode, tone_curve, quantise_8bit[, jpeg]",
              "last_run": settings, "images": kept + entries}
  images.atomic_write_bytes(path, (json.dumps(manifest, indent=1) + "\n").encode())


def render_inputs(inputs: str | list[str], output: str | os.PathLike, *, camera: str | None = None,
                  split: str = "test", jpeg_quality: int = 0, raw_format: str = "tiff",
                  wb: str = "as_shot", wb_patch: str | None = None, exposure: float = 1.0,
                  tone_strength: float = pipeline.DEFAULT_TONE_STRENGTH,
                  isp: str = "project", progress: bool = True) -> list[dict[str, Any]]:
  """Renders every input into `output` (NUS layout + manifest); all or nothing.

  Args:
    isp: "project" (the project's ISP, tuned by wb/wb_patch/exposure/tone_strength) or
      a third-party ISP "darktable[:STYLE]" / "rawtherapee[:STYLE]".

  Returns:
    The manifest entries written.
  """
  if not 0 <= jpeg_quality <= 100:
    raise ConfigError(f"--jpeg_quality must be in 0..100, got {jpeg_quality}")
  if raw_format not in ("tiff", "png"):
    raise ConfigError(f"--raw_format must be tiff or png, got {raw_format!r}")
  if not split or "/" in split:
    raise ConfigError(f"--split must be a folder name, got {split!r}")
  isp = (isp or "project").strip()
  if isp != "project":
    external.get_style(isp)  # ConfigError listing the valid names
    if (wb != "as_shot" or wb_patch or exposure != 1.0
        or tone_strength != pipeline.DEFAULT_TONE_STRENGTH):
      raise ConfigError("--wb, --wb_patch, --exposure and --tone_strength apply to --isp"
                        f" project only, not to --isp {isp}")
  files = expand_inputs(inputs)
  root = pathlib.Path(output)
  created_root = not root.exists()
  if root.exists() and not root.is_dir():
    raise InputError(f"{root}: output exists and is not a folder")
  root.mkdir(parents=True, exist_ok=True)
  stage = pathlib.Path(tempfile.mkdtemp(prefix=".render-staging-", dir=root))
  entries: list[dict[str, Any]] = []
  try:
    seen: dict[str, str] = {}
    for f in tqdm(files, desc="render", unit="img", disable=not progress):
      src = load_source(f)
      rel_dir = f"{camera_slug(camera or src.camera)}/{split}"
      key = f"{rel_dir}/{src.name}"
      if key in seen:
        raise InputError(f"{f}: output name {key} already used by {seen[key]}")
      seen[key] = str(f)
      if isp == "project":
        params = params_with_overrides(src, wb=wb, wb_patch=wb_patch, exposure=exposure,
                                       tone_strength=tone_strength)
        entries.append(_render_one(src, params, stage, rel_dir, raw_format, jpeg_quality))
      else:
        entries.append(_render_one_external(src, isp, stage, rel_dir, raw_format,
                                            jpeg_quality))
    for e in entries:
      for rel in (e["raw"], e["srgb"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, root / rel)
    settings = {"inputs": [str(f) for f in files], "split": split,
                "jpeg_quality": jpeg_quality or None, "raw_format": raw_format}
    if isp != "project":
      settings["isp"] = isp
    _merge_manifest(root, entries, settings)
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    if created_root:
      shutil.rmtree(root, ignore_errors=True)
    raise
  shutil.rmtree(stage, ignore_errors=True)
  return entries


def main(argv: list[str]) -> None:
  """Entry point (absl flags already parsed)."""
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _INPUT.value or not _OUTPUT.value:
    raise ConfigError("--input and --output are required")
  t0 = time.perf_counter()
  entries = render_inputs(_INPUT.value, _OUTPUT.value, camera=_CAMERA.value, split=_SPLIT.value,
                          jpeg_quality=_JPEG_QUALITY.value, raw_format=_RAW_FORMAT.value,
                          wb=_WB.value, wb_patch=_WB_PATCH.value, exposure=_EXPOSURE.value,
                          tone_strength=_TONE.value, isp=_ISP.value)
  for e in entries:
    isp = e["isp"]
    if "tool" in isp:
      a = isp["alignment"]
      print(f"{e['raw']}  {e['width']}x{e['height']}  sRGB {e['srgb']}  {isp['tool']}"
            f" {isp['version']} style {isp['style']}  crop {e['crop']}  {a['transform']}"
            f"  peak {a['peak']}")
    else:
      print(f"{e['raw']}  {e['width']}x{e['height']}  sRGB {e['srgb']}  wb {isp['wb_source']}"
            f" {[round(v, 3) for v in isp['wb']]}  ccm {isp['ccm_source']}")
  print(f"rendered {len(entries)} image(s) into {_OUTPUT.value} in {time.perf_counter() - t0:.1f} s"
        f" (manifest: {pathlib.Path(_OUTPUT.value) / 'manifest.json'})")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.render [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("render", main)
