"""Camera RAWs -> a dataset in the NUS layout (what `r2lcm render` runs).

`render_inputs` writes `ROOT/<camera>/<split>/raw/<stem>.{tif,png}` (16-bit raw-RGB,
round(65535 x)), `ROOT/<camera>/<split>/sRGB/<stem>.{png,jpg}` (8-bit sRGB; JPEG when
jpeg_quality > 0) and `ROOT/manifest.json` (`data.manifest`: per image camera, sizes, crop,
ISP, JPEG quality and size; entries of earlier runs for other files are kept). Outputs are
staged in a hidden folder under ROOT and moved into place only when every input
succeeded, so a bad input leaves nothing behind.

`isp` picks who makes the sRGB: "project" (default) is the project's own ISP
(`isp.pipeline`, stage parameters in the manifest, tuned by wb / wb_patch / exposure /
tone_strength); "darktable[:STYLE]" and "rawtherapee[:STYLE]" run that tool headless
(`isp.external`; a tool alone means its `default` style) and align its render to the
raw-RGB grid. Then the raw written is the raw-RGB cut to the aligned rectangle, `crop` is
that rectangle in the source's raw grid, and `isp` is the tool's facts (no stage
parameters: such sRGB cannot be inverted from parameters).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from r2lcm_jax.data import manifest
from r2lcm_jax.data.sources import expand_inputs, load_source
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.io.atomic import atomic_path
from r2lcm_jax.io.raw import camera_slug
from r2lcm_jax.isp import external, pipeline
from r2lcm_jax.isp.source import SourceImage

__all__ = ["render_inputs", "params_with_overrides", "write_pair"]


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
  """The source's ISP parameters with the overrides applied.

  Args:
    src: the render input.
    wb: "as_shot", or gains "R,G,B" (normalised to G = 1).
    wb_patch: "TOP,LEFT,H,W" of a neutral region of `src.raw_rgb`: the gains that make it
      grey (wins over `wb`).
    exposure: linear gain before white balance (> 0).
    tone_strength: S-curve strength in [0, 1].

  Raises:
    ConfigError: a malformed or out-of-range override (named by its flag).
  """
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


def write_pair(root: pathlib.Path, camera: str, split: str, name: str, raw_rgb: np.ndarray,
               srgb: np.ndarray, *, jpeg_quality: int = 0, raw_format: str = "tiff",
               raw_from: pathlib.Path | None = None) -> tuple[str, str]:
  """Writes one pair in the NUS layout under `root` (atomic files).

  Args:
    raw_rgb: (h, w, 3) float32 raw-RGB in [0, 1] (written as round(65535 x)).
    srgb: (h, w, 3) uint8 sRGB (PNG, or JPEG at `jpeg_quality` > 0).
    raw_format: "tiff" or "png".
    raw_from: a raw file already written for the same pixels: hard-linked (copied where
      links are not possible) instead of writing the raw again.

  Returns:
    (raw, srgb) paths relative to `root`: "<camera>/<split>/raw/<name>.{tif,png}",
    "<camera>/<split>/sRGB/<name>.{png,jpg}".
  """
  raw_rel = f"{camera}/{split}/raw/{name}.{'tif' if raw_format == 'tiff' else 'png'}"
  srgb_rel = f"{camera}/{split}/sRGB/{name}.{'jpg' if jpeg_quality else 'png'}"
  raw_path = root / raw_rel
  if raw_from is not None:
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw_path.unlink(missing_ok=True)
    try:
      os.link(raw_from, raw_path)
    except OSError:
      with atomic_path(raw_path) as tmp:
        shutil.copyfile(raw_from, tmp)
  elif raw_format == "tiff":
    images.write_tiff16(raw_path, raw_rgb)
  else:
    images.write_png(raw_path, images.to_uint16(raw_rgb))
  if jpeg_quality:
    images.write_jpeg(root / srgb_rel, srgb, jpeg_quality)
  else:
    images.write_png(root / srgb_rel, srgb)
  return raw_rel, srgb_rel


def _render_one(src: SourceImage, isp: str, params: pipeline.IspParams | None,
                stage: pathlib.Path, camera: str, split: str, raw_format: str,
                jpeg_quality: int) -> dict[str, Any]:
  """Renders one source into `stage` (project ISP with `params`, or the tool `isp`);
  returns its manifest entry."""
  t0 = time.perf_counter()
  full_h, full_w = src.raw_rgb.shape[:2]
  if isp == "project":
    raw_rgb, srgb, crop = src.raw_rgb, pipeline.render_srgb(src.raw_rgb, params), (0, 0, full_h, full_w)
    isp_doc = project_doc = params.to_dict()
  else:
    with tempfile.TemporaryDirectory(prefix="r2lcm-isp-") as work:
      ext = external.render_external(src, isp, work)
    raw_rgb, srgb, crop = np.ascontiguousarray(ext.cut(src.raw_rgb)), ext.srgb, ext.crop
    isp_doc, project_doc = ext.manifest_isp(), src.params.to_dict()
  raw_rel, srgb_rel = write_pair(stage, camera, split, src.name, raw_rgb, srgb,
                                 jpeg_quality=jpeg_quality, raw_format=raw_format)
  h, w = raw_rgb.shape[:2]
  return manifest.make_entry(
    name=src.name, camera=camera, split=split, raw=raw_rel, srgb=srgb_rel, height=h, width=w,
    crop=crop, full_size=(full_h, full_w), jpeg_quality=jpeg_quality,
    srgb_bytes=(stage / srgb_rel).stat().st_size, isp=isp_doc, project_isp=project_doc,
    source=src.meta.get("source", ""), camera_model=src.camera, kind=src.kind,
    source_facts=src.meta, render_seconds=round(time.perf_counter() - t0, 3))


def render_inputs(inputs: str | list[str], output: str | os.PathLike, *, camera: str | None = None,
                  split: str = "test", jpeg_quality: int = 0, raw_format: str = "tiff",
                  wb: str = "as_shot", wb_patch: str | None = None, exposure: float = 1.0,
                  tone_strength: float = pipeline.DEFAULT_TONE_STRENGTH,
                  isp: str = "project", progress: bool = True) -> list[dict[str, Any]]:
  """Renders every input into `output` (NUS layout + manifest); all or nothing.

  Args:
    inputs: a file, a folder (recursive), a comma-separated list or a list of paths
      (`data.sources.expand_inputs`).
    output: the dataset root (created).
    camera: the `<camera>` folder (default: from each file's metadata, `camera_slug`).
    split: the `<split>` folder.
    jpeg_quality: 0 writes a PNG sRGB, 1..100 a JPEG at that quality.
    raw_format: "tiff" or "png" (16-bit raw-RGB).
    wb, wb_patch, exposure, tone_strength: see `params_with_overrides` (project ISP only).
    isp: "project" (the project's ISP) or a third-party ISP "darktable[:STYLE]" /
      "rawtherapee[:STYLE]".
    progress: show a tqdm bar.

  Returns:
    The manifest entries written.

  Raises:
    ConfigError: bad settings; InputError / ImageFormatError: a bad input (nothing written).
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
      folder = camera_slug(camera or src.camera)
      key = f"{folder}/{split}/{src.name}"
      if key in seen:
        raise InputError(f"{f}: output name {key} already used by {seen[key]}")
      seen[key] = str(f)
      params = None
      if isp == "project":
        params = params_with_overrides(src, wb=wb, wb_patch=wb_patch, exposure=exposure,
                                       tone_strength=tone_strength)
      entries.append(_render_one(src, isp, params, stage, folder, split, raw_format,
                                 jpeg_quality))
    for e in entries:
      for rel in (e["raw"], e["srgb"]):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / rel, root / rel)
    last_run = {"inputs": [str(f) for f in files], "split": split,
                "jpeg_quality": jpeg_quality or None, "raw_format": raw_format, "isp": isp}
    manifest.merge_manifest(root, entries, last_run)
  except BaseException:
    shutil.rmtree(stage, ignore_errors=True)
    if created_root:
      shutil.rmtree(root, ignore_errors=True)
    raise
  shutil.rmtree(stage, ignore_errors=True)
  return entries
