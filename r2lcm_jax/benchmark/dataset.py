"""Renders the split real RAWs into one NUS-layout dataset per sRGB variant.

For every `SplitEntry` the RAW is demosaiced and rendered once with the project's ISP
(`data.sources.load_source` parameters, as `r2lcm render` with its defaults), optionally
centre-cropped (the ISP is per-pixel, so cropping the raw-RGB before rendering equals
cropping the rendered image), and written for each variant as

    <work>/<variant>/<camera>/<split>/raw/<name>.tif    16-bit raw-RGB, round(65535 x)
    <work>/<variant>/<camera>/<split>/sRGB/<name>.png   variant "png": lossless 8-bit sRGB
    <work>/<variant>/<camera>/<split>/sRGB/<name>.jpg   variant "qNN": JPEG quality NN
    <work>/<variant>/manifest.json                      per image: ISP parameters, crop, bytes

The raw file is written once and hard-linked into the other variants (copied where links
are not possible). The manifest has the `images[].{name, isp}` entries that
`baselines.naive_inverse.params_from_manifest` reads.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from r2lcm_jax.benchmark.splits import SplitEntry
from r2lcm_jax.data.nus import ImagePair
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.isp import pipeline

__all__ = ["Variant", "parse_variants", "centre_crop_box", "render_variants", "split_pairs"]


@dataclasses.dataclass(frozen=True)
class Variant:
  """How the sRGB is stored: lossless PNG (quality 0) or JPEG at `jpeg_quality`."""

  jpeg_quality: int = 0

  @property
  def name(self) -> str:
    return f"q{self.jpeg_quality}" if self.jpeg_quality else "png"

  @property
  def label(self) -> str:
    return f"JPEG q{self.jpeg_quality}" if self.jpeg_quality else "uncompressed 8-bit sRGB (PNG)"


def parse_variants(text: str) -> list[Variant]:
  """`"png,q90,q50,q10"` -> variants (order kept, duplicates dropped).

  Raises:
    ConfigError: an item that is neither "png" nor "q1".."q100".
  """
  out: list[Variant] = []
  for item in filter(None, (t.strip().lower() for t in text.split(","))):
    if item == "png":
      v = Variant(0)
    elif item.startswith("q") and item[1:].isdigit() and 1 <= int(item[1:]) <= 100:
      v = Variant(int(item[1:]))
    else:
      raise ConfigError(f"variant {item!r}: expected png or q1..q100")
    if v not in out:
      out.append(v)
  if not out:
    raise ConfigError("no sRGB variant given")
  return out


def centre_crop_box(height: int, width: int, crop: tuple[int, int] | None) -> tuple[int, int, int, int]:
  """(top, left, h, w) of the centre crop of at most `crop` = (h, w); None: whole image."""
  if crop is None:
    return 0, 0, height, width
  h, w = min(height, crop[0]), min(width, crop[1])
  return (height - h) // 2, (width - w) // 2, h, w


def _link_or_copy(src: pathlib.Path, dst: pathlib.Path) -> None:
  dst.parent.mkdir(parents=True, exist_ok=True)
  if dst.exists():
    dst.unlink()
  try:
    os.link(src, dst)
  except OSError:
    shutil.copyfile(src, dst)


def render_variants(entries: Sequence[SplitEntry], work: str | os.PathLike,
                    variants: Sequence[Variant], *, crop: tuple[int, int] | None = None,
                    progress: bool = True) -> dict[str, pathlib.Path]:
  """Writes one NUS-layout dataset per variant (see module doc).

  Args:
    entries: files and their camera / split (`splits.plan_splits`).
    work: folder that receives `<variant>/...`.
    variants: sRGB storage variants.
    crop: (h, w) centre crop of every image larger than it; None keeps full frames.
    progress: show a tqdm bar.

  Returns:
    variant name -> dataset root.
  """
  work = pathlib.Path(work)
  roots = {v.name: work / v.name for v in variants}
  manifests: dict[str, list[dict[str, Any]]] = {v.name: [] for v in variants}
  for entry in tqdm(entries, desc="render", unit="img", disable=not progress):
    src = load_source(entry.path)
    top, left, h, w = centre_crop_box(*src.raw_rgb.shape[:2], crop)
    raw = np.ascontiguousarray(src.raw_rgb[top:top + h, left:left + w])
    srgb = pipeline.render_srgb(raw, src.params)
    rel = pathlib.Path(entry.camera) / entry.split
    first_raw: pathlib.Path | None = None
    for v in variants:
      base = roots[v.name] / rel
      raw_path = base / "raw" / f"{src.name}.tif"
      if first_raw is None:
        raw_path.parent.mkdir(parents=True, exist_ok=True)
        images.write_tiff16(raw_path, raw)
        first_raw = raw_path
      else:
        _link_or_copy(first_raw, raw_path)
      (base / "sRGB").mkdir(parents=True, exist_ok=True)
      if v.jpeg_quality:
        srgb_path = base / "sRGB" / f"{src.name}.jpg"
        images.write_jpeg(srgb_path, srgb, v.jpeg_quality)
      else:
        srgb_path = base / "sRGB" / f"{src.name}.png"
        images.write_png(srgb_path, srgb)
      manifests[v.name].append({
        "name": src.name, "camera": entry.camera, "split": entry.split,
        "source": str(entry.path), "raw": str(raw_path.relative_to(roots[v.name])),
        "srgb": str(srgb_path.relative_to(roots[v.name])), "height": h, "width": w,
        "crop": [top, left, h, w], "full_size": list(src.raw_rgb.shape[:2]),
        "jpeg_quality": v.jpeg_quality or None, "srgb_bytes": srgb_path.stat().st_size,
        "isp": src.params.to_dict()})
  for v in variants:
    doc = {"format": "r2lcm-bench-rd/1", "variant": v.name, "images": manifests[v.name]}
    images.atomic_write_bytes(roots[v.name] / "manifest.json",
                              (json.dumps(doc, indent=1) + "\n").encode())
  return roots


def split_pairs(root: str | os.PathLike, split: str) -> list[ImagePair]:
  """The pairs of one split of a rendered variant, from its manifest (JPEG sRGBs included,
  which `data.nus.find_pairs` does not list); sorted by camera, then name.

  Raises:
    InputError: no readable manifest.
  """
  root = pathlib.Path(root)
  try:
    doc = json.loads((root / "manifest.json").read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise InputError(f"{root}: no readable benchmark manifest ({e})") from e
  pairs = [ImagePair(str(root / e["raw"]), str(root / e["srgb"]), e["name"], e["camera"])
           for e in doc["images"] if e["split"] == split]
  return sorted(pairs, key=lambda p: (p.camera, p.name))
