"""Reports of the rate-distortion benchmark: tables, RD plots, BD-rates, target checks.

Means are over test images (each image weighs the same); "all" is the mean over every
test image of every camera. BD-rates compare mean curves on metadata bpp: an R2LCM
curve is the Pareto front (higher PSNR at higher rate) of all its (drop_steps, gamma)
points, the SAM curve its grid steps; see `bd_rate` for the integral. Every method named
"R2LCM" or "R2LCM[NAME]" (one per checkpoint) is an R2LCM curve.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Sequence

import numpy as np

from r2lcm_jax.app.figures import figure
from r2lcm_jax.app.results import Row
from r2lcm_jax.benchmark.bd_rate import BdResult, bd_psnr, bd_rate

__all__ = ["Mean", "means", "pareto", "is_r2lcm", "r2lcm_methods",
           "markdown_tables", "per_image_tables", "variant_table",
           "isp_table", "rd_figure", "BdEntry", "bd_entries", "bd_markdown", "target_check",
           "unknown_isp_target_check"]

ALL = "all"
_R2LCM, _SAM = "R2LCM", "SAM"


def is_r2lcm(method: str) -> bool:
  """True for "R2LCM" and "R2LCM[NAME]" (a named checkpoint)."""
  return method == _R2LCM or (method.startswith(_R2LCM + "[") and method.endswith("]"))


def r2lcm_methods(rows: Sequence[Row]) -> list[str]:
  """The R2LCM method names of `rows`, in first-seen order."""
  return list(dict.fromkeys(r.method for r in rows if is_r2lcm(r.method)))


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


def _method_settings(rows: Sequence[Row]) -> list[tuple[str, str]]:
  """(method, setting) pairs of `rows`, R2LCM methods first, else in first-seen order."""
  seen = list(dict.fromkeys((r.method, r.setting) for r in rows))
  return [k for k in seen if is_r2lcm(k[0])] + [k for k in seen if not is_r2lcm(k[0])]


def _cell(psnrs: Sequence[float], bpps: Sequence[float]) -> str:
  return f"{np.mean(psnrs):.2f} / {np.mean(bpps):.4f}" if len(psnrs) else "-"


def _grid(rows: Sequence[Row], columns: Sequence[tuple[str, str]],
          column_of: Callable[[Row], str]) -> list[str]:
  """Markdown table: one line per (method, setting), one column per (key, header); cells
  = mean PSNR / mean metadata bpp of the rows whose `column_of(row)` is the key."""
  groups: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
  for r in rows:
    g = groups.setdefault((r.method, r.setting, column_of(r)), ([], []))
    g[0].append(r.psnr)
    g[1].append(r.bpp_metadata)
  lines = ["| method | setting | " + " | ".join(h for _, h in columns) + " |",
           "|" + "---|" * (len(columns) + 2)]
  for method, setting in _method_settings(rows):
    cells = [_cell(*groups.get((method, setting, key), ([], []))) for key, _ in columns]
    lines.append(f"| {method} | {setting or '-'} | " + " | ".join(cells) + " |")
  return lines


def per_image_tables(rows: Sequence[Row], variants: Sequence[tuple[str, str]]) -> str:
  """Per variant: PSNR (dB) / metadata bpp of every test image.

  Args:
    rows: all measurements.
    variants: (name, label) pairs in display order.
  """
  out = []
  for variant, label in variants:
    vrows = [r for r in rows if r.variant == variant]
    if not vrows:
      continue
    names = sorted({(r.camera, r.name) for r in vrows})
    out += [f"### `{variant}`: {label}", "", "PSNR (dB) / metadata bpp per test image.", ""]
    out += _grid(vrows, [(f"{c}/{n}", f"{c} {n}") for c, n in names],
                 lambda r: f"{r.camera}/{r.name}")
    out.append("")
  return "\n".join(out)


def variant_table(rows: Sequence[Row], variants: Sequence[str]) -> str:
  """PSNR (dB) / metadata bpp, mean over every test image, one column per variant."""
  keep = [r for r in rows if r.variant in variants]
  return "\n".join(_grid(keep, [(v, f"`{v}`") for v in variants], lambda r: r.variant))


def isp_table(rows: Sequence[Row], isps: Sequence[tuple[str, str]]) -> str:
  """PSNR (dB) / metadata bpp per ISP: mean over every test image of all its variants.

  Args:
    rows: all measurements.
    isps: (isp, header) pairs in display order (`Row.isp` values).
  """
  return "\n".join(_grid(rows, isps, lambda r: r.isp))


def _colours(methods: Sequence[str]) -> dict[str, tuple[str, ...]]:
  """Matplotlib colours per method: two for an R2LCM method (drop_steps, gamma curves),
  one for the others, all distinct (cycling after 10)."""
  out, k = {}, 0
  for method in methods:
    n = 2 if is_r2lcm(method) else 1
    out[method] = tuple(f"C{(k + i) % 10}" for i in range(n))
    k += n
  return out


def _plot_r2lcm(ax, method: str, items: Sequence[tuple[str, Mean]], colours: tuple[str, ...]) -> None:
  """One R2LCM method: a curve over drop_steps (gamma 0) and one over gamma (drop 0)."""
  drop = [(t, s) for t, s in items if t.endswith("_g0")]
  gam = [x for x in items if x[0] == "d0_g0"] + [
    (t, s) for t, s in items if t.startswith("d0_") and t != "d0_g0"]
  for pts, lab, mk, col in ((drop, "drop_steps", "o-", colours[0]),
                            (gam, "gamma", "s--", colours[1])):
    if pts:
      pts = sorted(pts, key=lambda p: p[1].bpp_metadata)
      ax.plot([p[1].bpp_metadata for p in pts], [p[1].psnr for p in pts], mk,
              label=f"{method} {lab}", color=col)
      for t, s in pts:
        ax.annotate(t, (s.bpp_metadata, s.psnr), fontsize=6)


def rd_figure(path: pathlib.Path, rows: Sequence[Row], variant: str, label: str,
              cameras: Sequence[str]) -> None:
  """PSNR vs metadata bpp (log axis), one panel per camera and one for all images.

  Each R2LCM method: one curve over drop_steps (gamma 0) and one over gamma (drop 0);
  SAM: a curve over grid steps; other methods with metadata: points; 0-bpp methods:
  dotted lines.
  """
  m = means(rows)
  cams = [c for c in cameras if any(k[0] == variant and k[3] == c for k in m)] + [ALL]
  with figure(path, dpi=90, nrows=1, ncols=len(cams), figsize=(4.6 * len(cams), 4.2),
              squeeze=False) as (fig, axes):
    _draw_rd(fig, axes, m, variant, label, cams)


def _draw_rd(fig, axes, m: dict, variant: str, label: str, cams: Sequence[str]) -> None:
  import matplotlib.ticker

  keys = _keys(m, variant)
  for ax, cam in zip(axes[0], cams, strict=True):
    groups: dict[str, list[tuple[str, Mean]]] = {}
    for method, setting in keys:
      s = m.get((variant, method, setting, cam))
      if s is not None:
        groups.setdefault(method, []).append((setting, s))
    colour = _colours(list(groups))
    for method, items in groups.items():
      if is_r2lcm(method):
        _plot_r2lcm(ax, method, items, colour[method])
      elif all(s.bpp_metadata == 0 for _, s in items):
        for _, s in items:
          ax.axhline(s.psnr, ls=":", lw=1.2, label=f"{method} (0 bpp)", color=colour[method][0])
      else:
        pts = sorted(items, key=lambda p: p[1].bpp_metadata)
        style = "^-" if len(pts) > 1 else "D"
        ax.plot([p[1].bpp_metadata for p in pts], [p[1].psnr for p in pts], style, label=method,
                color=colour[method][0])
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


@dataclasses.dataclass(frozen=True)
class BdEntry:
  """BD-rate and BD-PSNR of one R2LCM method against SAM on one variant and camera (or
  "all")."""

  variant: str
  camera: str
  rate: BdResult
  psnr: BdResult
  r2lcm: list[tuple[float, float]]
  sam: list[tuple[float, float]]
  method: str = _R2LCM


def _curve(m: dict, variant: str, camera: str, method: str) -> list[tuple[float, float]]:
  """Pareto front (bpp, PSNR) of one method's means with metadata on one variant/camera."""
  return pareto([(s.bpp_metadata, s.psnr) for (v, mm, _, c), s in m.items()
                 if v == variant and c == camera and mm == method and s.bpp_metadata > 0])


def bd_entries(rows: Sequence[Row], variants: Sequence[str], cameras: Sequence[str]) -> list[BdEntry]:
  """BD-rate / BD-PSNR of each R2LCM method's Pareto curve against the SAM curve
  (metadata bpp); entries where a curve has fewer than 2 points are left out."""
  m = means(rows)
  out = []
  for method in r2lcm_methods(rows):
    for variant in variants:
      for cam in [*cameras, ALL]:
        r2, sam = _curve(m, variant, cam, method), _curve(m, variant, cam, _SAM)
        if len(r2) < 2 or len(sam) < 2:
          continue
        (ra, da), (rb, db) = list(zip(*sam, strict=True)), list(zip(*r2, strict=True))
        out.append(BdEntry(variant, cam, bd_rate(ra, da, rb, db), bd_psnr(ra, da, rb, db),
                           r2, sam, method))
  return out


def bd_markdown(entries: Sequence[BdEntry]) -> str:
  """Table of BD-rate (%) and BD-PSNR (dB), R2LCM vs SAM (anchor), with the ranges."""
  lines = ["| method | variant | camera | BD-rate (%) | PSNR range (dB) | BD-PSNR (dB) | "
           "bpp range | R2LCM points | SAM points |", "|" + "---|" * 9]
  for e in entries:
    rate = f"{e.rate.value:+.1f}" if e.rate.defined else "n/a (no common PSNR range)"
    psnr = f"{e.psnr.value:+.2f}" if e.psnr.defined else "n/a (no common rate range)"
    prange = f"{e.rate.lo:.2f}-{e.rate.hi:.2f}" if e.rate.defined else "-"
    brange = f"{np.exp(e.psnr.lo):.3f}-{np.exp(e.psnr.hi):.3f}" if e.psnr.defined else "-"
    lines.append(f"| {e.method} | {e.variant} | {e.camera} | {rate} | {prange} | {psnr} | "
                 f"{brange} | {len(e.r2lcm)} | {len(e.sam)} |")
  return "\n".join(lines)


def _best_r2lcm(m: dict, variant: str, method: str, max_bpp: float) -> tuple[float, float, str] | None:
  """(PSNR, bpp, setting) of the method's best all-image mean at <= max_bpp, or None."""
  pts = [(s.psnr, s.bpp_metadata, st) for (v, mm, st, c), s in m.items()
         if v == variant and c == ALL and mm == method and s.bpp_metadata <= max_bpp]
  return max(pts) if pts else None


def target_check(rows: Sequence[Row], variants: Sequence[str], reference: str,
                 max_bpp: float = 0.4, sam_setting: str = "step8", margin_db: float = 5.0) -> str:
  """The issue's targets for sRGB of a known ISP, evaluated on the `all` means.

  For each R2LCM method: (1) on `reference` (uncompressed sRGB), the best point at <=
  max_bpp metadata is at least margin_db above SAM at `sam_setting`; (2) on every
  variant, that point is above every 0-bpp method.
  """
  m = means(rows)
  lines = []
  for method in r2lcm_methods(rows):
    for variant in variants:
      best = _best_r2lcm(m, variant, method, max_bpp)
      if best is None:
        lines.append(f"- `{variant}`: no {method} point at <= {max_bpp} bpp.")
        continue
      line = (f"- `{variant}`: best {method} at <= {max_bpp} bpp: {best[0]:.2f} dB "
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


def _mean_of(m: dict, variant: str, method: str, setting: str | None) -> tuple[str, Mean] | None:
  """(setting, all-image Mean) of a method on a variant; setting None: its first one."""
  return next(((st, s) for (v, mm, st, c), s in m.items() if v == variant and c == ALL
               and mm == method and setting in (None, st)), None)


def _margin(best: float, method: str, ref: tuple[str, Mean] | None, margin_db: float,
            strict: bool, wanted: str = "") -> tuple[bool, str]:
  """(met, text) of "best is `margin_db` above the reference" (> if strict, else >=);
  `wanted` names the reference's setting when it is missing."""
  if ref is None:
    return False, f"{' '.join(filter(None, (method, wanted)))} not run"
  setting, s = ref
  gap = best - s.psnr
  need = f"{'>' if strict else '>='} +{margin_db:g}"
  return (gap > margin_db if strict else gap >= margin_db), (
    f"{' '.join(filter(None, (method, setting)))} ({s.bpp_metadata:.3f} bpp) {s.psnr:.2f} dB: "
    f"{gap:+.2f} dB (need {need})")


def unknown_isp_target_check(rows: Sequence[Row], variants: Sequence[str], max_bpp: float = 0.4,
                             sam_setting: str = "step8", margin_db: float = 3.0,
                             fitted: str = "fitted map") -> str:
  """The target for sRGB from an ISP the decoder does not know, per variant and R2LCM
  method, on the `all` means: the best R2LCM point at <= max_bpp metadata is at least
  margin_db above SAM at `sam_setting` (0.75 bpp at step 8) and above the `fitted`
  method (the fitted global map alone). One line each: met / NOT met with the numbers.
  """
  m = means(rows)
  lines = []
  for method in r2lcm_methods(rows):
    for variant in variants:
      head = f"- `{variant}`, {method}:"
      if _mean_of(m, variant, method, None) is None:
        lines.append(f"{head} not run on this variant.")
        continue
      best = _best_r2lcm(m, variant, method, max_bpp)
      if best is None:
        lines.append(f"{head} **NOT met**: no point at <= {max_bpp} bpp.")
        continue
      sam_ok, sam_text = _margin(best[0], _SAM, _mean_of(m, variant, _SAM, sam_setting),
                                 margin_db, strict=False, wanted=sam_setting)
      fit_ok, fit_text = _margin(best[0], fitted, _mean_of(m, variant, fitted, None), 0.0,
                                 strict=True)
      lines.append(f"{head} **{'met' if sam_ok and fit_ok else 'NOT met'}**: best at <= "
                   f"{max_bpp} bpp {best[0]:.2f} dB ({best[2]}, {best[1]:.3f} bpp); {sam_text}; "
                   f"{fit_text}.")
  return "\n".join(lines)
