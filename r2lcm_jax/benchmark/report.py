"""Reports of the rate-distortion benchmark: tables, RD plots, BD-rates, target check.

Means are over test images (each image weighs the same); "all" is the mean over every
test image of every camera. BD-rates compare mean curves on metadata bpp: the R2LCM
curve is the Pareto front (higher PSNR at higher rate) of all its (drop_steps, gamma)
points, the SAM curve its grid steps; see `bd_rate` for the integral.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from r2lcm_jax.benchmark.bd_rate import BdResult, bd_psnr, bd_rate
from r2lcm_jax.benchmark.runs import ROW_FIELDS, Row

__all__ = ["Mean", "means", "pareto", "write_rows_csv", "read_rows_csv", "markdown_tables",
           "rd_figure",
           "BdEntry", "bd_entries", "bd_markdown", "target_check"]

ALL = "all"
_R2LCM, _SAM = "R2LCM", "SAM"


@dataclasses.dataclass(frozen=True)
class Mean:
  """Means of one (variant, method, setting, camera) group."""

  n: int
  psnr: float
  ssim: float
  bpp_metadata: float
  bpp_with_srgb: float
  decode_s: float


def means(rows: Sequence[Row]) -> dict[tuple[str, str, str, str], Mean]:
  """(variant, method, setting, camera or "all") -> Mean, in first-seen order."""
  groups: dict[tuple[str, str, str, str], list[Row]] = {}
  for r in rows:
    for cam in (r.camera, ALL):
      groups.setdefault((r.variant, r.method, r.setting, cam), []).append(r)
  return {k: Mean(len(v), *(float(np.mean([getattr(r, f) for r in v]))
                            for f in ("psnr", "ssim", "bpp_metadata", "bpp_with_srgb", "decode_s")))
          for k, v in groups.items()}


def pareto(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
  """Points (rate, psnr) not beaten by a cheaper-or-equal point; sorted by rate."""
  out: list[tuple[float, float]] = []
  for rate, psnr in sorted(points, key=lambda p: (p[0], -p[1])):
    if not out or psnr > out[-1][1]:
      if out and rate == out[-1][0]:
        continue
      out.append((rate, psnr))
  return out


def write_rows_csv(path: pathlib.Path, rows: Sequence[Row]) -> None:
  """Every measurement, one row each (atomic)."""
  tmp = path.with_name(f".{path.name}.tmp")
  with open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(ROW_FIELDS)
    w.writerows([[getattr(r, k) for k in ROW_FIELDS] for r in rows])
  os.replace(tmp, path)


def read_rows_csv(path: pathlib.Path) -> list[Row]:
  """Inverse of `write_rows_csv` (to redraw figures from a finished run)."""
  with open(path, newline="") as f:
    return [Row(**{k: (v if k in ("method", "setting", "variant", "camera", "name")
                       else int(v) if k == "bytes" else float(v)) for k, v in r.items()})
            for r in csv.DictReader(f)]


def _keys(m: dict, variant: str) -> list[tuple[str, str]]:
  seen: list[tuple[str, str]] = []
  for v, method, setting, _ in m:
    if v == variant and (method, setting) not in seen:
      seen.append((method, setting))
  return seen


def markdown_tables(rows: Sequence[Row], variants: Sequence[tuple[str, str]],
                    cameras: Sequence[str]) -> str:
  """Per variant: PSNR / SSIM / bpp (metadata, + sRGB file) per camera and over all images.

  Args:
    rows: all measurements.
    variants: (name, label) pairs in display order.
    cameras: camera names in display order.
  """
  m = means(rows)
  cams = [c for c in cameras if any(k[3] == c for k in m)] + [ALL]
  out = []
  for variant, label in variants:
    out += [f"### sRGB stored as {label} (`{variant}`)", "",
            "PSNR (dB) / SSIM / bpp metadata-only / bpp metadata + sRGB file, mean over the "
            "test images of each camera; `all` = mean over every test image.", ""]
    head = "| method | setting | " + " | ".join(cams) + " |"
    out += [head, "|" + "---|" * (len(cams) + 2)]
    for method, setting in _keys(m, variant):
      cells = []
      for cam in cams:
        s = m.get((variant, method, setting, cam))
        cells.append("-" if s is None else
                     f"{s.psnr:.2f} / {s.ssim:.4f} / {s.bpp_metadata:.4f} / {s.bpp_with_srgb:.3f}")
      out.append(f"| {method} | {setting or '-'} | " + " | ".join(cells) + " |")
    out.append("")
  return "\n".join(out)


def rd_figure(path: pathlib.Path, rows: Sequence[Row], variant: str, label: str,
              cameras: Sequence[str]) -> None:
  """PSNR vs metadata bpp (log axis), one panel per camera and one for all images.

  R2LCM: one curve over drop_steps (gamma 0) and one over gamma (drop 0); SAM: a curve
  over grid steps; other methods with metadata: points; 0-bpp methods: dashed lines.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  import matplotlib.ticker

  m = means(rows)
  cams = [c for c in cameras if any(k[0] == variant and k[3] == c for k in m)] + [ALL]
  fig, axes = plt.subplots(1, len(cams), figsize=(4.6 * len(cams), 4.2), squeeze=False)
  keys = _keys(m, variant)
  for ax, cam in zip(axes[0], cams, strict=True):
    groups: dict[str, list[tuple[str, Mean]]] = {}
    for method, setting in keys:
      s = m.get((variant, method, setting, cam))
      if s is not None:
        groups.setdefault(method, []).append((setting, s))
    for method, items in groups.items():
      if method == _R2LCM:
        drop = [(t, s) for t, s in items if t.endswith("_g0")]
        gam = [(t, s) for t, s in items if t.startswith("d0_") and t != "d0_g0"]
        gam = [x for x in items if x[0] == "d0_g0"] + gam
        for pts, lab, mk in ((drop, "R2LCM drop_steps", "o-"), (gam, "R2LCM gamma", "s--")):
          if len(pts) > 0:
            pts = sorted(pts, key=lambda p: p[1].bpp_metadata)
            ax.plot([p[1].bpp_metadata for p in pts], [p[1].psnr for p in pts], mk, label=lab,
                    color="C0" if mk.startswith("o") else "C1")
            for t, s in pts:
              ax.annotate(t, (s.bpp_metadata, s.psnr), fontsize=6)
      elif all(s.bpp_metadata == 0 for _, s in items):
        for _, s in items:
          ax.axhline(s.psnr, ls=":", lw=1.2, label=f"{method} (0 bpp)",
                     color=f"C{2 + list(groups).index(method) % 8}")
      else:
        pts = sorted(items, key=lambda p: p[1].bpp_metadata)
        style = "^-" if len(pts) > 1 else "D"
        ax.plot([p[1].bpp_metadata for p in pts], [p[1].psnr for p in pts], style, label=method,
                color=f"C{2 + list(groups).index(method) % 8}")
        for t, s in pts:
          ax.annotate(t, (s.bpp_metadata, s.psnr), fontsize=6)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel("metadata bpp (file bytes)")
    ax.set_ylabel("PSNR (dB)")
    n = next((s.n for (v, _, _, c), s in m.items() if v == variant and c == cam), 0)
    ax.set_title(f"{cam} ({n} image{'s' if n != 1 else ''})")
    ax.grid(alpha=0.3, which="both")
  axes[0][-1].legend(fontsize=7, loc="best")
  fig.suptitle(f"Rate-distortion, sRGB = {label}")
  fig.tight_layout()
  tmp = path.with_name(f".{path.name}.tmp.png")
  fig.savefig(tmp, dpi=90)
  plt.close(fig)
  os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class BdEntry:
  """BD-rate and BD-PSNR of R2LCM against SAM on one variant and camera (or "all")."""

  variant: str
  camera: str
  rate: BdResult
  psnr: BdResult
  r2lcm: list[tuple[float, float]]
  sam: list[tuple[float, float]]


def bd_entries(rows: Sequence[Row], variants: Sequence[str], cameras: Sequence[str]) -> list[BdEntry]:
  """BD-rate / BD-PSNR of the R2LCM Pareto curve against the SAM curve (metadata bpp)."""
  m = means(rows)
  out = []
  for variant in variants:
    for cam in [*cameras, ALL]:
      pts = {meth: pareto([(s.bpp_metadata, s.psnr) for (v, mm, _, c), s in m.items()
                           if v == variant and c == cam and mm == meth and s.bpp_metadata > 0])
             for meth in (_R2LCM, _SAM)}
      if len(pts[_R2LCM]) < 2 or len(pts[_SAM]) < 2:
        continue
      (ra, da), (rb, db) = (list(zip(*pts[_SAM], strict=True)),
                            list(zip(*pts[_R2LCM], strict=True)))
      out.append(BdEntry(variant, cam, bd_rate(ra, da, rb, db), bd_psnr(ra, da, rb, db),
                         pts[_R2LCM], pts[_SAM]))
  return out


def bd_markdown(entries: Sequence[BdEntry]) -> str:
  """Table of BD-rate (%) and BD-PSNR (dB), R2LCM vs SAM (anchor), with the ranges."""
  lines = ["| variant | camera | BD-rate (%) | PSNR range (dB) | BD-PSNR (dB) | bpp range | "
           "R2LCM points | SAM points |", "|" + "---|" * 8]
  for e in entries:
    rate = f"{e.rate.value:+.1f}" if e.rate.defined else "n/a (no common PSNR range)"
    psnr = f"{e.psnr.value:+.2f}" if e.psnr.defined else "n/a (no common rate range)"
    prange = f"{e.rate.lo:.2f}-{e.rate.hi:.2f}" if e.rate.defined else "-"
    brange = f"{np.exp(e.psnr.lo):.3f}-{np.exp(e.psnr.hi):.3f}" if e.psnr.defined else "-"
    lines.append(f"| {e.variant} | {e.camera} | {rate} | {prange} | {psnr} | {brange} | "
                 f"{len(e.r2lcm)} | {len(e.sam)} |")
  return "\n".join(lines)


def target_check(rows: Sequence[Row], variants: Sequence[str], reference: str,
                 max_bpp: float = 0.4, sam_setting: str = "step8", margin_db: float = 5.0) -> str:
  """The issue's targets, evaluated on the `all` means.

  (1) On `reference` (uncompressed sRGB): the best R2LCM point at <= max_bpp metadata is
  at least margin_db above SAM at `sam_setting`. (2) On every variant: that R2LCM point
  is above every 0-bpp method.
  """
  m = means(rows)
  lines = []
  for variant in variants:
    r2 = [(s.psnr, s.bpp_metadata, st) for (v, mm, st, c), s in m.items()
          if v == variant and c == ALL and mm == _R2LCM and s.bpp_metadata <= max_bpp]
    if not r2:
      lines.append(f"- `{variant}`: no R2LCM point at <= {max_bpp} bpp.")
      continue
    best = max(r2)
    line = (f"- `{variant}`: best R2LCM at <= {max_bpp} bpp: {best[0]:.2f} dB "
            f"({best[2]}, {best[1]:.3f} bpp)")
    sam = m.get((variant, _SAM, sam_setting, ALL))
    if variant == reference and sam is not None:
      gap = best[0] - sam.psnr
      line += (f"; SAM {sam_setting} ({sam.bpp_metadata:.3f} bpp) {sam.psnr:.2f} dB: "
               f"{gap:+.2f} dB (target >= +{margin_db:g}: {'met' if gap >= margin_db else 'NOT met'})")
    zero = [(s.psnr, mm) for (v, mm, _, c), s in m.items()
            if v == variant and c == ALL and s.bpp_metadata == 0]
    if zero:
      top = max(zero)
      line += (f"; best 0-bpp method {top[1]} {top[0]:.2f} dB: {best[0] - top[0]:+.2f} dB "
               f"(target > 0: {'met' if best[0] > top[0] else 'NOT met'})")
    lines.append(line + ".")
  return "\n".join(lines)
