"""Runs the methods of the benchmark on one split of one rendered variant, through files.

Every metadata blob goes to a real file on disk and is read back before decoding; the
rate is 8 x (file bytes) / (H W) of the image, metadata only and metadata + the stored
sRGB file (PNG or JPEG). R2LCM goes through `app.evaluation.evaluate_pairs` (real
`.r2lcm` bitstreams, the project's evaluation protocol); the baselines through their
`encode` / `reconstruct` and `baselines.metadata_file`. Both are scored by
`metrics.score_pair` (PSNR on [0, 1], reconstruction not clamped; SSIM as
skimage; see `metrics.PROTOCOL`). Rows are `app.results.Row`.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from r2lcm_jax.app import evaluation
from r2lcm_jax.app.figures import error_map_figure
from r2lcm_jax.app.results import Row
from r2lcm_jax.baselines import metadata_file
from r2lcm_jax.baselines.base import Baseline, bits_per_pixel
from r2lcm_jax.codec.residual_gate import GateSpec
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.nus import ImagePair, load_raw_rgb
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.io import images
from r2lcm_jax.metrics import score_pair

__all__ = ["MethodSpec", "ErrorMapRequest", "run_baselines", "run_r2lcm"]



@dataclasses.dataclass(frozen=True)
class MethodSpec:
  """A baseline with its label; `make(pair)` builds it (the naive inverse needs the
  image's ISP parameters)."""

  method: str
  setting: str
  make: Callable[[ImagePair], Baseline]

  @property
  def slug(self) -> str:
    text = "_".join(filter(None, (self.method, self.setting))).lower()
    return re.sub(r"[^a-z0-9_]+", "", text.replace(" ", "_").replace("-", ""))


@dataclasses.dataclass(frozen=True)
class ErrorMapRequest:
  """Which images get error-map figures, where they go, and the colour-scale top."""

  names: frozenset[str]
  folder: pathlib.Path
  vmax: float = 0.02


def run_baselines(pairs: Sequence[ImagePair], specs: Sequence[MethodSpec], variant: str,
                  folder: pathlib.Path, error_maps: ErrorMapRequest | None = None,
                  progress: bool = True, *, isp: str = "project") -> list[Row]:
  """Every spec on every pair; metadata files under `folder`.

  Args:
    pairs: test pairs of one variant (sRGB as stored: PNG or JPEG).
    specs: the methods.
    variant: label written into the rows.
    folder: receives `<camera>_<name>_<method>.meta`.
    error_maps: optional error-map figures for some images.
    progress: tqdm bar over (pair, method).
    isp: who made the variant's sRGB, written into the rows.

  Returns:
    One Row per (pair, spec).
  """
  folder.mkdir(parents=True, exist_ok=True)
  rows: list[Row] = []
  bar = tqdm(total=len(pairs) * len(specs), desc=f"baselines {variant}", unit="run",
             disable=not progress)
  for pair in pairs:
    x = load_raw_rgb(pair.raw_path)
    srgb = images.read_image(pair.srgb_path)  # uint8 (H, W, 3), the decoded file
    h, w = x.shape[:2]
    srgb_bytes = pathlib.Path(pair.srgb_path).stat().st_size
    for spec in specs:
      base = spec.make(pair)
      t0 = time.perf_counter()
      md = base.encode(x, srgb)
      if md:
        path = folder / f"{pair.camera}_{pair.name}_{spec.slug}.meta"
        metadata_file.write_metadata(path, md)
        md = path.read_bytes()
      t1 = time.perf_counter()
      rec = base.reconstruct(srgb, md)
      t2 = time.perf_counter()
      psnr, ssim = score_pair(x, rec)
      rows.append(Row(spec.method, spec.setting, variant, pair.camera, pair.name, psnr, ssim,
                      len(md), bits_per_pixel(md, h, w),
                      8.0 * (len(md) + srgb_bytes) / (h * w), t1 - t0, t2 - t1, isp))
      if error_maps is not None and pair.name in error_maps.names:
        error_maps.folder.mkdir(parents=True, exist_ok=True)
        error_map_figure(
          error_maps.folder / f"{variant}_{pair.camera}_{pair.name}_{spec.slug}.png",
          srgb.astype(np.float32) / 255.0, x, rec, error_maps.vmax)
      bar.set_postfix(method=spec.slug, psnr=f"{psnr:.2f}")
      bar.update(1)
  bar.close()
  return rows


def run_r2lcm(pairs: Sequence[ImagePair], runner: ModelRunner, tables: CodingTables,
              settings: Sequence[evaluation.RateSetting], variant: str, folder: pathlib.Path,
              *, error_max: float = 0.02, manifest: pathlib.Path | None = None,
              gate: GateSpec | None = None, method: str = "R2LCM",
              isp: str = "project") -> list[Row]:
  """R2LCM at every rate setting through real bitstreams (`evaluate_pairs` into `folder`).

  `folder` receives the bitstreams, results.csv, summary.md, rd_curves.png and the
  error maps of the first setting (see `app.evaluation`). `manifest` gives ISP-base
  models the ISP parameters of each image; `gate` is their residual gate. `method` and
  `isp` label the rows (e.g. "R2LCM[fitted]" for one of several checkpoints).
  """
  res = evaluation.evaluate_pairs(pairs, runner, tables, folder, settings=settings,
                                  error_max=error_max, manifest=manifest, gate=gate)
  return [dataclasses.replace(r, method=method, variant=variant, isp=isp) for r in res]
