"""The dataset manifest: `ROOT/manifest.json` beside a rendered NUS-layout dataset.

Written by `data.render.render_inputs` (`r2lcm render`), `benchmark.dataset.render_variants`
and experiments/make_synthetic_set.py; read wherever the ISP parameters of an image are
needed (the naive inverse ISP as a baseline and as the base of `model.base =
"isp_inverse"` in training, evaluation and encoding) and by the benchmark.

One schema, `FORMAT`:

    {"format": "r2lcm-dataset/1",
     "layout": how files are laid out and scaled (text), "pipeline": the project ISP (text),
     "last_run": what the last writer was asked (inputs, split, ISP, JPEG quality, ...),
     "images": [entry, ...]}

Every entry (`make_entry`) describes one pair, paths relative to ROOT:

    name, camera, split   file stem, `<camera>` folder, `<split>` folder
    raw, srgb             "<camera>/<split>/raw/<name>.{tif,png}", ".../sRGB/<name>.{png,jpg}"
    height, width         size of the pair
    crop                  [top, left, h, w] of the pair in the source's raw-RGB grid
    full_size             [H, W] of the source's raw-RGB grid
    jpeg_quality          1..100, or null for a lossless PNG sRGB
    srgb_bytes            size of the sRGB file
    isp                   who made the sRGB: the project ISP's stage parameters
                          (`IspParams.to_dict`), or a third-party tool's facts
                          {"tool", "version", "style", "alignment", "settings"}
    project_isp           the project ISP's parameters for this pair: those of `isp` when the
                          project made the sRGB, else the source's defaults (what a naive
                          inverse that assumes the project ISP uses)
    source                the input file (str), or a description ("synthetic_scene(7)")
  optional:
    camera_model          camera named by the input file (free text)
    kind                  "raw", "inteltau", "bayer_png", "synthetic"
    source_facts          facts of the input (levels, CFA, illuminant, ...)
    render_seconds, cache_key, seed

Readers accept the earlier formats too (`r2lcm-render/1` of `r2lcm render`,
`r2lcm-bench-rd/1` and `/2` of the benchmark) and upgrade their entries where the old
fields allow; writers write `FORMAT` only. Writes are atomic.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from r2lcm_jax.errors import InputError
from r2lcm_jax.io.atomic import atomic_write_text
from r2lcm_jax.isp import pipeline

__all__ = ["FORMAT", "READABLE_FORMATS", "MANIFEST_FILE", "manifest_path", "make_entry",
           "read_entries", "find_entry", "write_manifest", "merge_manifest",
           "params_from_manifest", "project_isp_params"]

FORMAT = "r2lcm-dataset/1"
READABLE_FORMATS = frozenset({FORMAT, "r2lcm-render/1", "r2lcm-bench-rd/1", "r2lcm-bench-rd/2"})
MANIFEST_FILE = "manifest.json"
_LAYOUT = "<camera>/<split>/{raw,sRGB}/<name>: raw = round(65535 * raw_rgb) 16-bit"
_PIPELINE = ("project ISP: normalise_mosaic, demosaic_bilinear | white_balance, clip_highlights,"
             " apply_ccm, clip_gamut, srgb_encode, tone_curve, quantise_8bit[, jpeg]")


def manifest_path(root_or_file: str | os.PathLike) -> pathlib.Path:
  """`ROOT/manifest.json` for a dataset root; a file (or any "*.json") is returned as is."""
  p = pathlib.Path(root_or_file)
  return p if p.is_file() or p.suffix.lower() == ".json" else p / MANIFEST_FILE


def make_entry(*, name: str, camera: str, split: str, raw: str, srgb: str, height: int,
               width: int, crop: Sequence[int], full_size: Sequence[int],
               jpeg_quality: int | None, srgb_bytes: int, isp: Mapping[str, Any],
               project_isp: Mapping[str, Any], source: str, **optional: Any) -> dict[str, Any]:
  """One manifest entry (see module doc); `optional` takes the optional keys only.

  Raises:
    ValueError: an unknown optional key.
  """
  unknown = set(optional) - {"camera_model", "kind", "source_facts", "render_seconds",
                             "cache_key", "seed"}
  if unknown:
    raise ValueError(f"unknown manifest entry keys {sorted(unknown)}")
  entry = {"name": name, "camera": camera, "split": split, "raw": raw, "srgb": srgb,
           "height": int(height), "width": int(width), "crop": [int(v) for v in crop],
           "full_size": [int(v) for v in full_size], "jpeg_quality": jpeg_quality or None,
           "srgb_bytes": int(srgb_bytes), "isp": dict(isp), "project_isp": dict(project_isp),
           "source": str(source)}
  return entry | {k: v for k, v in optional.items() if v is not None}


def _upgrade(entry: dict[str, Any]) -> dict[str, Any]:
  """An entry of an earlier format in the current schema, as far as its fields allow."""
  e = dict(entry)
  if isinstance(e.get("source"), dict):  # r2lcm-render/1: the input's facts under "source"
    e["source_facts"] = e["source"]
    e["source"] = str(e["source_facts"].get("source", ""))
  parts = str(e.get("raw", "")).split("/")
  if "split" not in e and len(parts) == 4:  # r2lcm-render/1: camera = the file's camera name
    e["camera_model"] = e.get("camera")
    e["camera"], e["split"] = parts[0], parts[1]
  if "srgb_bytes" not in e and e.get("jpeg_bytes") is not None:
    e["srgb_bytes"] = e["jpeg_bytes"]
  e.pop("jpeg_bytes", None)
  isp = e.get("isp")
  if "project_isp" not in e and isinstance(isp, dict) and "tool" not in isp:
    e["project_isp"] = isp
  if "full_size" not in e and "height" in e and "width" in e and e.get("crop") == [
      0, 0, e["height"], e["width"]]:
    e["full_size"] = [e["height"], e["width"]]
  return e


def _read_doc(path: pathlib.Path) -> dict[str, Any]:
  try:
    doc = json.loads(path.read_text())
  except FileNotFoundError as e:
    raise InputError(f"{path}: manifest not found") from e
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise InputError(f"{path}: unreadable manifest ({type(e).__name__}: {e})") from e
  if not isinstance(doc, dict) or doc.get("format") not in READABLE_FORMATS:
    found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
    raise InputError(f"{path}: not a dataset manifest (format {found!r}; readable:"
                     f" {', '.join(sorted(READABLE_FORMATS))})")
  if not isinstance(doc.get("images"), list):
    raise InputError(f"{path}: not a dataset manifest (no 'images' list)")
  return doc


def read_entries(root_or_file: str | os.PathLike, *, strict: bool = True) -> list[dict[str, Any]]:
  """The entries of a manifest, upgraded to the current schema.

  Args:
    root_or_file: the dataset root or its manifest file.
    strict: False returns [] for a missing, unreadable or foreign manifest (one that a
      writer then replaces) instead of raising.

  Raises:
    InputError: (strict) missing, unreadable, or not a dataset manifest.
  """
  try:
    doc = _read_doc(manifest_path(root_or_file))
  except InputError:
    if strict:
      raise
    return []
  return [_upgrade(e) for e in doc["images"] if isinstance(e, dict)]


def find_entry(root_or_file: str | os.PathLike, name: str) -> dict[str, Any]:
  """The one entry of image `name` (file stem).

  Raises:
    InputError: unreadable manifest (see `read_entries`), or not exactly one entry.
  """
  path = manifest_path(root_or_file)
  found = [e for e in read_entries(path) if e.get("name") == name]
  if len(found) != 1:
    raise InputError(f"{path}: {len(found)} entries named {name!r} (need exactly one)")
  return found[0]


def write_manifest(root: str | os.PathLike, entries: Sequence[Mapping[str, Any]],
                   last_run: Mapping[str, Any]) -> pathlib.Path:
  """Writes `ROOT/manifest.json` with exactly `entries` (atomic); returns its path."""
  path = pathlib.Path(root) / MANIFEST_FILE
  doc = {"format": FORMAT, "layout": _LAYOUT, "pipeline": _PIPELINE,
         "last_run": dict(last_run), "images": [dict(e) for e in entries]}
  atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
  return path


def merge_manifest(root: str | os.PathLike, entries: Sequence[Mapping[str, Any]],
                   last_run: Mapping[str, Any]) -> pathlib.Path:
  """Writes `entries` plus the earlier entries of other files (another `raw` path); an
  unreadable or foreign earlier manifest is replaced. Returns the manifest's path."""
  new_raw = {e["raw"] for e in entries}
  kept = [e for e in read_entries(root, strict=False) if e.get("raw") not in new_raw]
  return write_manifest(root, kept + list(entries), last_run)


def params_from_manifest(root_or_file: str | os.PathLike, name: str) -> pipeline.IspParams:
  """ISP parameters that made the sRGB of image `name` (file stem).

  Raises:
    InputError: missing/unreadable manifest, no (unique) entry for `name`, or an entry
      rendered by a third-party ISP (`isp.tool` set: no stage parameters).
  """
  path = manifest_path(root_or_file)
  entry = find_entry(path, name)
  isp = entry.get("isp")
  if isinstance(isp, dict) and "tool" in isp:
    raise InputError(f"{path}: entry {name!r} was rendered by {isp['tool']} {isp.get('version', '')}"
                     f" (style {isp.get('style')}), which has no ISP stage parameters; only"
                     " `r2lcm render --isp project` entries do")
  try:
    return pipeline.IspParams.from_dict(isp)
  except (KeyError, TypeError, ValueError) as e:
    raise InputError(f"{path}: entry {name!r} has no valid 'isp' parameters ({e})") from e


def project_isp_params(root_or_file: str | os.PathLike, name: str) -> pipeline.IspParams:
  """The project ISP's parameters of image `name`: those that made a project-rendered
  sRGB, and for a third-party render the ones a naive inverse (wrongly) assumes.

  Raises:
    InputError: missing/unreadable manifest, or no single entry with parameters for `name`.
  """
  path = manifest_path(root_or_file)
  try:
    return pipeline.IspParams.from_dict(find_entry(path, name)["project_isp"])
  except (KeyError, TypeError, ValueError) as e:
    raise InputError(f"{path}: entry {name!r} has no project ISP parameters ({e})") from e
