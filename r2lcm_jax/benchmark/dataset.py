"""Renders the split real RAWs into one NUS-layout dataset per sRGB variant.

A variant is (ISP, storage format). The ISP is the project's own (`project`: the
decoder's baselines may know it, "ISP known") or a third-party one, `darktable:STYLE` /
`rawtherapee:STYLE` (`isp.external`: the paper's setting, an ISP the decoder does not
know). The format is lossless 8-bit PNG (`png`) or JPEG at quality NN (`qNN`). Names:

    png, q90                         the project ISP (the names of earlier runs)
    darktable-local_q90              <tool>-<style>_<format> for a third-party ISP

For every `SplitEntry` the RAW is demosaiced and rendered once per ISP:

- project: `isp.pipeline.render_srgb` with the `data.sources.load_source` parameters (as
  `r2lcm render` with its defaults), after an optional centre crop of the raw-RGB (the
  ISP is per-pixel, so cropping before rendering equals cropping the rendered image);
- third-party: `isp.external.render_external` on the whole file, the raw-RGB cut to the
  aligned rectangle (`ExternalRender.cut`), then the optional centre crop of both.

Each format of that ISP is then written as

    <work>/<variant>/<camera>/<split>/raw/<name>.tif    16-bit raw-RGB, round(65535 x)
    <work>/<variant>/<camera>/<split>/sRGB/<name>.png   format "png": lossless 8-bit sRGB
    <work>/<variant>/<camera>/<split>/sRGB/<name>.jpg   format "qNN": JPEG quality NN
    <work>/<variant>/manifest.json                      per image: ISP, crop, bytes, cache key

The raw file is written once per ISP and hard-linked into its other formats (copied
where links are not possible). Manifest entries: `isp` is the project ISP's parameters
(what `data.manifest.params_from_manifest` reads) or the third-party tool's
`ExternalRender.manifest_isp()`; `project_isp` is always the project ISP's parameters of
the RAW (for a third-party variant: what inverting the wrong ISP assumes,
`data.manifest.project_isp_params`); `crop` is the (top, left, h, w) of the pair in the
source's raw-RGB grid; `cache_key` is what made the files (source, split, ISP and style
digest, JPEG quality, requested crop): an entry whose key matches and whose files exist
is reused instead of rendered again, so a `--work` folder serves later runs. Entries of
earlier runs for other images are kept. The manifest is `data.manifest`'s schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import tempfile
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from r2lcm_jax.benchmark.splits import SplitEntry
from r2lcm_jax.data import manifest
from r2lcm_jax.data.manifest import project_isp_params
from r2lcm_jax.data.nus import ImagePair
from r2lcm_jax.data.render import write_pair
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.isp import external, pipeline
from r2lcm_jax.isp.external import darktable, rawtherapee, tools
from r2lcm_jax.isp.source import SourceImage

__all__ = ["PROJECT", "Variant", "parse_formats", "parse_isps", "parse_variants",
           "parse_variant_name", "centre_crop_box", "RenderedPair", "render_pair",
           "render_variants", "split_pairs",
           # defined in data.manifest; named here for experiments/bench_rd.py
           "project_isp_params"]

PROJECT = "project"


@dataclasses.dataclass(frozen=True)
class Variant:
  """Who made the sRGB and how it is stored.

  Attributes:
    jpeg_quality: 0 = lossless PNG, 1..100 = JPEG at that quality.
    isp: "project" (the project's ISP) or a third-party "tool:style" (`isp.external`).
  """

  jpeg_quality: int = 0
  isp: str = PROJECT

  @property
  def isp_known(self) -> bool:
    """True for the project's ISP, whose parameters the naive inverse may use."""
    return self.isp == PROJECT

  @property
  def format_name(self) -> str:
    return f"q{self.jpeg_quality}" if self.jpeg_quality else "png"

  @property
  def name(self) -> str:
    """Folder name: "png" / "q90" (project ISP) or "darktable-local_q90"."""
    if self.isp_known:
      return self.format_name
    return f"{self.isp.replace(':', '-')}_{self.format_name}"

  @property
  def isp_label(self) -> str:
    return "project ISP (ISP known)" if self.isp_known else self.isp

  @property
  def format_label(self) -> str:
    return f"JPEG q{self.jpeg_quality}" if self.jpeg_quality else "uncompressed 8-bit sRGB (PNG)"

  @property
  def label(self) -> str:
    return f"{self.format_label}, {self.isp_label}"


def parse_formats(text: str) -> list[int]:
  """`"png,q90"` -> JPEG qualities [0, 90] (0 = PNG; order kept, duplicates dropped).

  Raises:
    ConfigError: an item that is neither "png" nor "q1".."q100", or none at all.
  """
  out: list[int] = []
  for item in filter(None, (t.strip().lower() for t in text.split(","))):
    if item == "png":
      q = 0
    elif item.startswith("q") and item[1:].isdigit() and 1 <= int(item[1:]) <= 100:
      q = int(item[1:])
    else:
      raise ConfigError(f"variant {item!r}: expected png or q1..q100")
    if q not in out:
      out.append(q)
  if not out:
    raise ConfigError("no sRGB variant given")
  return out


def _canonical_isp(item: str) -> str:
  """"project" or the "tool:style" spec of `item` ("darktable" -> "darktable:default")."""
  if item == PROJECT:
    return PROJECT
  try:
    return external.get_style(item).spec
  except ConfigError as e:
    raise ConfigError(f"ISP {item!r}: unknown; valid: {', '.join(external.style_names())}") from e


def parse_isps(text: str) -> list[str]:
  """`"darktable:local,project"` -> canonical ISP names (order kept, duplicates dropped).

  Raises:
    ConfigError: an unknown ISP or style, or none at all.
  """
  out: list[str] = []
  for item in filter(None, (t.strip().lower() for t in text.split(","))):
    isp = _canonical_isp(item)
    if isp not in out:
      out.append(isp)
  if not out:
    raise ConfigError("no ISP given")
  return out


def parse_variants(formats: str, isps: str = PROJECT) -> list[Variant]:
  """The product of ISPs and formats, ISP-major: ("png,q90", "darktable:local,project")
  -> darktable-local_png, darktable-local_q90, png, q90.

  Raises:
    ConfigError: a bad format or ISP (see `parse_formats`, `parse_isps`).
  """
  qualities = parse_formats(formats)
  return [Variant(q, isp) for isp in parse_isps(isps) for q in qualities]


def parse_variant_name(name: str) -> Variant:
  """Inverse of `Variant.name`: "q90" -> project q90, "darktable-local_q90" -> that.

  Raises:
    ConfigError: not a variant name.
  """
  head, sep, fmt = name.strip().lower().rpartition("_")
  try:
    quality = parse_formats(fmt)[0]
    isp = _canonical_isp(head.replace("-", ":", 1)) if sep else PROJECT
  except ConfigError as e:
    raise ConfigError(f"variant {name!r}: expected png, qNN or TOOL-STYLE_FORMAT "
                      "(e.g. darktable-local_q90)") from e
  return Variant(quality, isp)


def centre_crop_box(height: int, width: int, crop: tuple[int, int] | None) -> tuple[int, int, int, int]:
  """(top, left, h, w) of the centre crop of at most `crop` = (h, w); None: whole image."""
  if crop is None:
    return 0, 0, height, width
  h, w = min(height, crop[0]), min(width, crop[1])
  return (height - h) // 2, (width - w) // 2, h, w


@dataclasses.dataclass(frozen=True, eq=False)
class RenderedPair:
  """One source rendered by one ISP, on its raw-RGB grid and centre-cropped.

  Attributes:
    raw: (h, w, 3) float32 raw-RGB under `srgb`.
    srgb: (h, w, 3) uint8 sRGB.
    crop: (top, left, h, w) of the pair in the source's raw-RGB grid.
    isp: the manifest's `isp` entry (project ISP parameters, or the tool's facts).
    project_isp: the project ISP's parameters of the source (`IspParams.to_dict`).
    seconds: wall-clock time of the render.
  """

  raw: np.ndarray
  srgb: np.ndarray
  crop: tuple[int, int, int, int]
  isp: dict[str, Any]
  project_isp: dict[str, Any]
  seconds: float


def render_pair(src: SourceImage, isp: str, crop: tuple[int, int] | None,
                workdir: str | os.PathLike) -> RenderedPair:
  """Renders `src` with `isp` ("project" or "tool:style") and applies the centre crop.

  Args:
    src: a render input (`data.sources.load_source`).
    isp: who renders.
    crop: (h, w) centre crop of the rendered pair, None: the whole pair.
    workdir: scratch folder of a third-party tool (created; the caller removes it).

  Raises:
    ToolNotFoundError (a ConfigError): the tool is not installed.
    InputError: the tool failed or its render does not align.
  """
  t0 = time.perf_counter()
  params = src.params.to_dict()
  if isp == PROJECT:
    top, left, h, w = centre_crop_box(*src.raw_rgb.shape[:2], crop)
    raw = np.ascontiguousarray(src.raw_rgb[top:top + h, left:left + w])
    return RenderedPair(raw, pipeline.render_srgb(raw, src.params), (top, left, h, w), params,
                        params, time.perf_counter() - t0)
  ext = external.render_external(src, isp, workdir)
  top, left, full_h, full_w = ext.crop
  ct, cl, h, w = centre_crop_box(full_h, full_w, crop)
  raw = np.ascontiguousarray(ext.cut(src.raw_rgb)[ct:ct + h, cl:cl + w])
  srgb = np.ascontiguousarray(ext.srgb[ct:ct + h, cl:cl + w])
  return RenderedPair(raw, srgb, (top + ct, left + cl, h, w), ext.manifest_isp(), params,
                      time.perf_counter() - t0)


def _style_digest(isp: str) -> str:
  """12 hex digits of what a third-party style sets ("" for the project ISP)."""
  if isp == PROJECT:
    return ""
  doc = json.dumps(external.get_style(isp).settings(), sort_keys=True)
  return hashlib.sha256(doc.encode()).hexdigest()[:12]


def _cache_key(entry: SplitEntry, variant: Variant, crop: tuple[int, int] | None) -> dict[str, Any]:
  return {"source": str(entry.path), "camera": entry.camera, "split": entry.split,
          "isp": variant.isp, "style": _style_digest(variant.isp),
          "jpeg_quality": variant.jpeg_quality or None,
          "crop_request": list(crop) if crop else None}


def _key_text(key: Mapping[str, Any]) -> str:
  return json.dumps(key, sort_keys=True)


def _reusable(root: pathlib.Path, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Cache key text -> manifest entry, for the entries whose files still exist."""
  return {_key_text(e["cache_key"]): e for e in entries
          if isinstance(e.get("cache_key"), dict)
          and (root / e.get("raw", "")).is_file() and (root / e.get("srgb", "")).is_file()}


def _write_variant(root: pathlib.Path, entry: SplitEntry, variant: Variant, src: SourceImage,
                   pair: RenderedPair, raw_file: pathlib.Path | None,
                   key: dict[str, Any]) -> tuple[dict[str, Any], pathlib.Path]:
  """Writes one rendered pair in one format; returns (manifest entry, raw file written or
  linked, to link the next format of the same ISP to)."""
  raw_rel, srgb_rel = write_pair(root, entry.camera, entry.split, src.name, pair.raw, pair.srgb,
                                 jpeg_quality=variant.jpeg_quality, raw_from=raw_file)
  h, w = pair.raw.shape[:2]
  doc = manifest.make_entry(
    name=src.name, camera=entry.camera, split=entry.split, raw=raw_rel, srgb=srgb_rel,
    height=h, width=w, crop=pair.crop, full_size=src.raw_rgb.shape[:2],
    jpeg_quality=variant.jpeg_quality, srgb_bytes=(root / srgb_rel).stat().st_size,
    isp=pair.isp, project_isp=pair.project_isp,
    source=str(entry.path), camera_model=src.camera, kind=src.kind, source_facts=src.meta,
    render_seconds=round(pair.seconds, 3), cache_key=key)
  return doc, root / raw_rel


def _check_tools(isps: Collection[str]) -> None:
  """ToolNotFoundError (a ConfigError naming `make isp-tools`) for a missing tool."""
  programs = {"darktable": darktable.PROGRAM, "rawtherapee": rawtherapee.PROGRAM}
  for tool in sorted({isp.split(":")[0] for isp in isps if isp != PROJECT}):
    tools.find_tool(programs[tool])


def render_variants(entries: Sequence[SplitEntry], work: str | os.PathLike,
                    variants: Sequence[Variant], *, crop: tuple[int, int] | None = None,
                    progress: bool = True,
                    splits: Mapping[str, Collection[str]] | None = None) -> dict[str, pathlib.Path]:
  """Writes (or reuses) one NUS-layout dataset per variant (see module doc).

  Args:
    entries: files and their camera / split (`splits.plan_splits`).
    work: folder that receives `<variant>/...`.
    variants: sRGB variants (ISP, format).
    crop: (h, w) centre crop of every image larger than it; None keeps full frames.
    progress: show a tqdm bar.
    splits: variant name -> the splits it needs (default: every entry for every variant).

  Returns:
    variant name -> dataset root.

  Raises:
    ToolNotFoundError (a ConfigError): a third-party tool that must render is missing.
    InputError: a source or a third-party render failed.
  """
  work = pathlib.Path(work)
  roots = {v.name: work / v.name for v in variants}
  cached = {v.name: _reusable(roots[v.name], manifest.read_entries(roots[v.name], strict=False))
            for v in variants}
  done: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
  todo: list[tuple[SplitEntry, list[Variant]]] = []
  for entry in entries:
    need = []
    for v in variants:
      if splits is not None and entry.split not in splits.get(v.name, ()):
        continue
      hit = cached[v.name].get(_key_text(_cache_key(entry, v, crop)))
      if hit is None:
        need.append(v)
      else:
        done[v.name].append(hit)
    if need:
      todo.append((entry, need))
  _check_tools({v.isp for _, need in todo for v in need})
  for entry, need in tqdm(todo, desc="render", unit="img", disable=not progress):
    src = load_source(entry.path)
    for isp in dict.fromkeys(v.isp for v in need):
      with tempfile.TemporaryDirectory(prefix="r2lcm-isp-") as tmp:
        pair = render_pair(src, isp, crop, tmp)
      raw_file = None
      for v in (v for v in need if v.isp == isp):
        doc, raw_file = _write_variant(roots[v.name], entry, v, src, pair, raw_file,
                                       _cache_key(entry, v, crop))
        done[v.name].append(doc)
  for v in variants:
    manifest.merge_manifest(roots[v.name], done[v.name], {
      "variant": v.name, "isp": v.isp, "jpeg_quality": v.jpeg_quality or None})
  return roots


def split_pairs(root: str | os.PathLike, split: str,
                sources: Collection[str] | None = None) -> list[ImagePair]:
  """The pairs of one split of a rendered variant, from its manifest (JPEG sRGBs included,
  which `data.nus.find_pairs` does not list); sorted by camera, then name.

  Args:
    root: the variant's folder.
    split: "train", "val" or "test".
    sources: keep only the entries of these source paths (str(SplitEntry.path)); None: all.

  Raises:
    InputError: no readable manifest.
  """
  root = pathlib.Path(root)
  pairs = [ImagePair(str(root / e["raw"]), str(root / e["srgb"]), e["name"], e["camera"])
           for e in manifest.read_entries(root)
           if e["split"] == split and (sources is None or e.get("source") in sources)]
  return sorted(pairs, key=lambda p: (p.camera, p.name))
