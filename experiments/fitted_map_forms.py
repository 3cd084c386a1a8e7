"""Form of the fitted sRGB -> raw map: additive curves vs a 3D LUT vs curves + a 3x3 matrix.

    .venv/bin/python experiments/fitted_map_forms.py [--data ../shared/data/real]
        [--out experiments/results/fitted_map_forms] [--work DIR]
        [--images canon,gopro,inteltau]
        [--isps darktable:default,darktable:local,rawtherapee:default,rawtherapee:drc,project]
        [--formats png,q90] [--knots 9,17,33] [--lut_nodes 5,7,9,13] [--curves_matrix 17]
        [--smoothness 1e-3] [--lut_smoothness 1e-5]

The fitted base (`r2lcm_jax/isp/fitted_map.py`) stores one global map sRGB -> raw-RGB per
image. This script measures what the choice of its form costs and buys, fitting each form
to each (sRGB, raw) pair and scoring it on the same pair (the base's PSNR before any
residual is coded):

- `additive K=k`: the package's map (`fitted_map.fit` / `apply`), 9k int16 + 4 bytes;
- `3D LUT n^3`: a trilinear lookup table with n nodes per axis, fitted by least squares
  with a smoothness prior (squared second differences of the nodes along each of the
  three axes, weight `--lut_smoothness` scaled as the package's curves), 3 n^3 16-bit
  values (int16 at the package's step) + 4 bytes. The LUT's default weight (1e-5) is
  lower than the curves' (1e-3): the score is on the fitted image itself, and at 1e-3 the
  prior costs a 5^3 LUT 2 dB on the Canon chart (darktable), while 1e-5 is within 0.15 dB
  of 1e-7; the additive map scores the same at 1e-3 and 1e-5 (58.42 dB there);
- `curves+3x3 K=k`: three per-channel curves (k knots, same hat basis) followed by a 3x3
  matrix, fitted by alternating least squares from the same normal equations as the
  additive map; (3k + 9) int16 + 4 bytes (curves at the package's step, matrix at 2^-12);
- `naive inverse`: the project ISP inverted with the RAW's own parameters
  (`pipeline.invert_render(srgb, src.params)`), 0 bytes; "ISP unknown, assumed" on the
  third-party renders and "ISP known" on the project's.

Images (`--images`): the Canon colour chart (`canon/colorchart.dng`, full frame), a
768x1024 centre crop of `gopro/HERO7_GOPR9231.DNG` (written as a Bayer DNG with
`io.dng.dng_from_raw`, so the tools render only the crop) and the INTEL-TAU test fields
018-020 (384x256, through the project's LinearRaw DNG). Each is rendered by every
`--isps` entry: a third-party ISP with `isp.external.render_external` (the raw-RGB cut to
the aligned rectangle), `project` with `pipeline.render_srgb`; each render is scored as
lossless PNG and as JPEG (`qNN`, `io.images.encode_jpeg` / `decode_jpeg`, 4:2:0).

PSNR is on raw-RGB in [0, 1] (`10 log10(1 / MSE)` over all pixels and channels, as
`r2lcm_jax.metrics.psnr`). Fit time is the encoder-side fit alone (CPU, seconds).
Writes `--out`/report.md (mean PSNR per ISP style and format, bytes, fit time, command,
hardware, wall time) and `--out`/results.csv (one row per image, ISP, format and form).
With `--work`, renders are kept there and reused by a later run with the same inputs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import pathlib
import platform
import shlex
import shutil
import sys
import tempfile
import time

import numpy as np
from scipy import sparse

from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io import images
from r2lcm_jax.io.dng import dng_from_raw
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp import fitted_map, pipeline
from r2lcm_jax.isp.external import render_external, style_names

__all__ = ["Pair", "Form", "parse_forms", "input_files", "render_pairs", "measure_pair",
           "run", "report_lines", "write_results", "main"]

_REPO = pathlib.Path(__file__).resolve().parents[1]
GOPRO_CROP_HW = (768, 1024)
INTELTAU_FIELDS = ("018", "019", "020")
LUT_STEP = fitted_map.STEP  # the LUT's node values share the package's int16 step
MATRIX_STEP = 2.0 ** -12  # the 3x3 matrix of curves+3x3: int16, range +-8
_HEADER_BYTES = 4  # as the package's block: magic, version, size
CSV_FIELDS = ["image", "isp", "format", "form", "bytes", "psnr", "fit_s", "height", "width"]


@dataclasses.dataclass(frozen=True)
class Form:
  """One form of the map: kind "additive" | "lut" | "curves_matrix" | "naive", size k."""

  kind: str
  size: int = 0

  @property
  def label(self) -> str:
    """The table's name of the form."""
    return {"additive": f"additive K={self.size}", "lut": f"3D LUT {self.size}^3",
            "curves_matrix": f"curves+3x3 K={self.size}",
            "naive": "naive inverse (project ISP, RAW's params)"}[self.kind]

  @property
  def values(self) -> int:
    """Stored parameter values."""
    return {"additive": 9 * self.size, "lut": 3 * self.size ** 3,
            "curves_matrix": 3 * self.size + 9, "naive": 0}[self.kind]


@dataclasses.dataclass(frozen=True, eq=False)
class Pair:
  """One rendered pair: sRGB (uint8, as stored) and the raw-RGB under it."""

  image: str
  isp: str
  format: str
  srgb: np.ndarray
  raw: np.ndarray
  params: pipeline.IspParams


def parse_forms(knots: str, lut_nodes: str, curves_matrix: str) -> list[Form]:
  """The forms named by the comma-separated size lists, plus the naive inverse."""
  forms = []
  for kind, spec, lo, hi in (("additive", knots, fitted_map.MIN_KNOTS, fitted_map.MAX_KNOTS),
                             ("lut", lut_nodes, 2, 17),
                             ("curves_matrix", curves_matrix, 2, fitted_map.MAX_KNOTS)):
    for item in (s.strip() for s in spec.split(",")):
      if not item:
        continue
      try:
        size = int(item)
      except ValueError as e:
        raise ConfigError(f"{kind} size {item!r} is not an integer") from e
      if not lo <= size <= hi:
        raise ConfigError(f"{kind} size {size} out of {lo}..{hi}")
      forms.append(Form(kind, size))
  return forms + [Form("naive")]


# ---------------------------------------------------------------------------- fits


def _codes(srgb: np.ndarray) -> np.ndarray:
  """(N, 3) int64 8-bit codes of a uint8 sRGB image."""
  if srgb.dtype != np.uint8:
    raise ValueError(f"sRGB must be uint8, got {srgb.dtype}")
  return srgb.reshape(-1, 3).astype(np.int64)


def _basis(knots: int) -> np.ndarray:
  """(256, K) hat functions of each 8-bit code (as `fitted_map`)."""
  t = np.arange(256, dtype=np.float32) / np.float32(255.0) * np.float32(knots - 1)
  i0 = np.clip(np.floor(t), 0, knots - 2).astype(np.int64)
  f = (t - i0).astype(np.float64)
  phi = np.zeros((256, knots))
  phi[np.arange(256), i0] = 1.0 - f
  phi[np.arange(256), i0 + 1] += f
  return phi


def _second_differences(n: int) -> np.ndarray:
  """(n - 2, n) second-difference operator."""
  d2 = np.zeros((max(n - 2, 0), n))
  for k in range(n - 2):
    d2[k, k:k + 3] = (1.0, -2.0, 1.0)
  return d2


def _quantise(values: np.ndarray, step: float) -> np.ndarray:
  """Values rounded to int16 at `step` and read back (float64)."""
  return np.clip(np.rint(values / step), -32768, 32767).astype(np.int16).astype(np.float64) * step


def fit_lut(srgb: np.ndarray, raw: np.ndarray, nodes: int, smoothness: float) -> np.ndarray:
  """A trilinear 3D LUT sRGB -> raw-RGB by regularised least squares.

  The pixels are grouped by their 8-bit colour (the normal equations only need each
  colour's count and raw sum), the trilinear weights of the distinct colours form a sparse
  design matrix, and the prior adds `smoothness * N / n^2` times the squared second
  differences of the nodes along each axis (the package's curve prior, per LUT line).

  Returns:
    (n, n, n, 3) float64 node values after int16 quantisation at `LUT_STEP`.
  """
  codes = _codes(srgb)
  r = raw.reshape(-1, 3).astype(np.float64)
  key = (codes[:, 0] << 16) | (codes[:, 1] << 8) | codes[:, 2]
  uniq, inv, count = np.unique(key, return_inverse=True, return_counts=True)
  sums = np.stack([np.bincount(inv, r[:, c], minlength=uniq.size) for c in range(3)], 1)
  colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1)
  idx, w = _trilinear(colours, nodes)
  m = nodes ** 3
  rows = np.repeat(np.arange(uniq.size), 8)
  a = sparse.csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(uniq.size, m))
  ata = (a.T @ sparse.diags(count.astype(np.float64)) @ a).toarray()
  atr = a.T @ sums
  d2 = _second_differences(nodes)
  eye = np.eye(nodes)
  penalty = d2.T @ d2
  lap = (np.kron(np.kron(penalty, eye), eye) + np.kron(np.kron(eye, penalty), eye)
         + np.kron(np.kron(eye, eye), penalty))
  n_pix = codes.shape[0]
  reg = lap * (smoothness * n_pix / nodes ** 2) + np.eye(m) * (1e-9 * n_pix)
  lut = np.linalg.solve(ata + reg, atr)
  return _quantise(lut, LUT_STEP).reshape(nodes, nodes, nodes, 3)


def _trilinear(codes: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
  """(N, 8) flat node indices and weights of 8-bit colours (N, 3) in an n^3 grid."""
  t = codes.astype(np.float64) / 255.0 * (nodes - 1)
  i0 = np.clip(np.floor(t), 0, nodes - 2).astype(np.int64)
  f = t - i0
  idx, wts = [], []
  for corner in range(8):
    bits = [(corner >> axis) & 1 for axis in range(3)]
    ii = [i0[:, a] + bits[a] for a in range(3)]
    idx.append((ii[0] * nodes + ii[1]) * nodes + ii[2])
    wts.append(np.prod([f[:, a] if bits[a] else 1.0 - f[:, a] for a in range(3)], axis=0))
  return np.stack(idx, 1), np.stack(wts, 1)


def apply_lut(lut: np.ndarray, srgb: np.ndarray) -> np.ndarray:
  """raw-RGB (H, W, 3) float32 in [0, 1] from a uint8 sRGB through the LUT."""
  nodes = lut.shape[0]
  idx, w = _trilinear(_codes(srgb), nodes)
  flat = lut.reshape(-1, 3)
  out = np.einsum("nk,nkc->nc", w, flat[idx])
  return np.clip(out, 0.0, 1.0).reshape(srgb.shape).astype(np.float32)


def _normal_equations(srgb: np.ndarray, raw: np.ndarray, knots: int):
  """Gram (3K, 3K) and right-hand sides (3K, 3) of the additive basis (as `fitted_map.fit`)."""
  codes = _codes(srgb)
  r = raw.reshape(-1, 3).astype(np.float64)
  phi = _basis(knots)
  k = knots
  ata = np.zeros((3 * k, 3 * k))
  atr = np.zeros((3 * k, 3))
  for j in range(3):
    for i in range(j, 3):
      joint = np.bincount(codes[:, j] * 256 + codes[:, i], minlength=65536).reshape(256, 256)
      block = phi.T @ joint @ phi
      ata[j * k:(j + 1) * k, i * k:(i + 1) * k] = block
      ata[i * k:(i + 1) * k, j * k:(j + 1) * k] = block.T
    sums = np.stack([np.bincount(codes[:, j], r[:, c], minlength=256) for c in range(3)], 1)
    atr[j * k:(j + 1) * k] = phi.T @ sums
  return ata, atr, codes.shape[0]


def fit_curves_matrix(srgb: np.ndarray, raw: np.ndarray, knots: int, smoothness: float,
                      iterations: int = 30) -> tuple[np.ndarray, np.ndarray]:
  """x = M f(s): per-channel curves f_j (K knots) then a 3x3 matrix M, alternating LS.

  Both steps are solved from the additive map's normal equations (joint histograms), so
  an iteration costs microseconds. Start: f_j = the sRGB decoding curve. The curves are
  normalised to end at 1 after each step (the scale moves into M).

  Returns:
    (curves (3, K), matrix (3, 3)), both quantised (curves at the package's step, the
    matrix at `MATRIX_STEP`).
  """
  ata, atr, n_pix = _normal_equations(srgb, raw, knots)
  k = knots
  g = [[ata[j * k:(j + 1) * k, i * k:(i + 1) * k] for i in range(3)] for j in range(3)]
  b = [atr[j * k:(j + 1) * k] for j in range(3)]  # (K, 3 out)
  d2 = _second_differences(k)
  reg = d2.T @ d2 * (smoothness * n_pix / (k * k)) + np.eye(k) * (1e-9 * n_pix)
  knots_s = np.linspace(0.0, 1.0, k)
  a = np.tile(np.where(knots_s <= 0.04045, knots_s / 12.92,
                       ((knots_s + 0.055) / 1.055) ** 2.4), (3, 1))
  m = np.eye(3)
  for _ in range(iterations):
    # M given the curves: features F_j = phi_j a_j; F^T F and F^T x from the Gram blocks.
    ftf = np.array([[a[j] @ g[j][i] @ a[i] for i in range(3)] for j in range(3)])
    ftx = np.array([a[j] @ b[j] for j in range(3)])  # (3 in, 3 out)
    m = np.linalg.solve(ftf + np.eye(3) * 1e-12 * n_pix, ftx).T
    # Curves given M: sum_c M[c, j] M[c, i] G_ji a_i = sum_c M[c, j] b_j[:, c].
    lhs = np.block([[(m[:, j] @ m[:, i]) * g[j][i] + (reg if i == j else 0.0)
                     for i in range(3)] for j in range(3)])
    rhs = np.concatenate([b[j] @ m[:, j] for j in range(3)])
    a = np.linalg.solve(lhs, rhs).reshape(3, k)
    scale = np.where(np.abs(a[:, -1]) > 1e-6, a[:, -1], 1.0)
    a, m = a / scale[:, None], m * scale[None, :]
  ftf = np.array([[a[j] @ g[j][i] @ a[i] for i in range(3)] for j in range(3)])
  ftx = np.array([a[j] @ b[j] for j in range(3)])
  m = np.linalg.solve(ftf + np.eye(3) * 1e-12 * n_pix, ftx).T
  return _quantise(a, fitted_map.STEP), _quantise(m, MATRIX_STEP)


def apply_curves_matrix(curves: np.ndarray, matrix: np.ndarray, srgb: np.ndarray) -> np.ndarray:
  """raw-RGB (H, W, 3) float32 in [0, 1] from a uint8 sRGB: M @ (f_j(s_j))_j."""
  tables = (_basis(curves.shape[1]) @ curves.T).astype(np.float32)  # (256 codes, 3 in)
  f = np.stack([tables[srgb[..., j], j] for j in range(3)], -1)
  return np.clip(f @ matrix.T.astype(np.float32), 0.0, 1.0).astype(np.float32)


def naive_inverse(srgb: np.ndarray, params: pipeline.IspParams) -> np.ndarray:
  """`pipeline.invert_render(srgb, params)`, evaluated once per distinct 8-bit colour.

  The inverse maps each pixel's colour on its own, so running it on the distinct colours
  and scattering back gives the same array as on the whole image, several times faster
  (its tone-curve inverse iterates Newton steps in float64).
  """
  codes = _codes(srgb)
  key = (codes[:, 0] << 16) | (codes[:, 1] << 8) | codes[:, 2]
  uniq, inv = np.unique(key, return_inverse=True)
  colours = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], 1).astype(np.uint8)
  out = pipeline.invert_render(colours[:, None, :], params)[:, 0, :]
  return out[inv].reshape(srgb.shape)


def psnr(x: np.ndarray, y: np.ndarray) -> float:
  """PSNR in dB of y against x on [0, 1] (as `r2lcm_jax.metrics.psnr`)."""
  mse = float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2))
  return float("inf") if mse == 0 else float(10.0 * np.log10(1.0 / mse))


def measure_pair(pair: Pair, forms: list[Form], smoothness: float,
                 lut_smoothness: float) -> list[dict]:
  """Fits every form to one pair; one row (bytes, PSNR, fit seconds) per form."""
  rows = []
  for form in forms:
    t0 = time.perf_counter()
    if form.kind == "additive":
      fm = fitted_map.fit(pair.srgb, pair.raw, knots=form.size, smoothness=smoothness)
      seconds = time.perf_counter() - t0
      x_hat, nbytes = fitted_map.apply(fm, pair.srgb), len(fm.to_bytes())
    elif form.kind == "lut":
      lut = fit_lut(pair.srgb, pair.raw, form.size, lut_smoothness)
      seconds = time.perf_counter() - t0
      x_hat, nbytes = apply_lut(lut, pair.srgb), _HEADER_BYTES + 2 * form.values
    elif form.kind == "curves_matrix":
      curves, matrix = fit_curves_matrix(pair.srgb, pair.raw, form.size, smoothness)
      seconds = time.perf_counter() - t0
      x_hat = apply_curves_matrix(curves, matrix, pair.srgb)
      nbytes = _HEADER_BYTES + 2 * form.values
    else:
      x_hat = naive_inverse(pair.srgb, pair.params)
      seconds, nbytes = time.perf_counter() - t0, 0
    rows.append({"image": pair.image, "isp": pair.isp, "format": pair.format,
                 "form": form.label, "bytes": nbytes, "psnr": psnr(pair.raw, x_hat),
                 "fit_s": seconds, "height": pair.raw.shape[0], "width": pair.raw.shape[1]})
  return rows


# ---------------------------------------------------------------------------- data


def input_files(data: pathlib.Path, work: pathlib.Path, which: list[str]) -> list[pathlib.Path]:
  """The render inputs: Canon chart, the GoPro centre-crop DNG (written to `work`), INTEL-TAU."""
  files = []
  if "canon" in which:
    files.append(data / "canon" / "colorchart.dng")
  if "gopro" in which:
    crop_path = work / "HERO7_GOPR9231_crop768x1024.dng"
    if not crop_path.is_file():
      raw = read_raw(data / "gopro" / "HERO7_GOPR9231.DNG")
      h, w = raw.mosaic.shape
      ch, cw = GOPRO_CROP_HW
      top, left = (h - ch) // 2 // 2 * 2, (w - cw) // 2 // 2 * 2
      work.mkdir(parents=True, exist_ok=True)
      dng_from_raw(crop_path, raw, crop=(top, left, ch, cw))
    files.append(crop_path)
  if "inteltau" in which:
    for field in INTELTAU_FIELDS:
      files += sorted((data / "inteltau").glob(f"*_field_{field}_*.png"))
  missing = [f for f in files if not f.is_file()]
  if missing:
    raise ConfigError(f"test images not found: {', '.join(map(str, missing))}")
  return files


def _render(path: pathlib.Path, isp: str, work: pathlib.Path, src) -> tuple[np.ndarray,
                                                                            np.ndarray, str]:
  """(sRGB uint8, raw-RGB under it, tool version) of one source and ISP; cached in `work`."""
  if isp == "project":
    return pipeline.render_srgb(src.raw_rgb, src.params), src.raw_rgb, "project"
  tag = f"{path.stem}_{isp.replace(':', '-')}"
  cached_png, cached_json = work / "renders" / f"{tag}.png", work / "renders" / f"{tag}.json"
  if cached_png.is_file() and cached_json.is_file():
    info = json.loads(cached_json.read_text())
    if info.get("source_mtime") == path.stat().st_mtime:
      top, left, h, w = info["crop"]
      return (images.read_image(cached_png), src.raw_rgb[top:top + h, left:left + w],
              info["version"])
  scratch = work / "scratch" / tag
  try:
    ext = render_external(src, isp, scratch)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
  cached_png.parent.mkdir(parents=True, exist_ok=True)
  images.write_png(cached_png, ext.srgb)
  cached_json.write_text(json.dumps({"crop": list(ext.crop), "version": ext.version,
                                     "source_mtime": path.stat().st_mtime,
                                     "seconds": ext.seconds}))
  return ext.srgb, ext.cut(src.raw_rgb), ext.version


def render_pairs(path: pathlib.Path, isps: list[str], formats: list[str],
                 work: pathlib.Path, versions: dict | None = None) -> list[Pair]:
  """Every (ISP, format) pair of one input; `versions` collects each ISP's tool version."""
  src = load_source(path)
  pairs = []
  for isp in isps:
    srgb, raw, version = _render(path, isp, work, src)
    if versions is not None:
      versions[isp] = version
    for fmt in formats:
      stored = srgb if fmt == "png" else images.decode_jpeg(images.encode_jpeg(srgb, int(fmt[1:])))
      pairs.append(Pair(src.name, isp, fmt, stored, np.asarray(raw, np.float32), src.params))
  return pairs


def run(files: list[pathlib.Path], isps: list[str], formats: list[str], forms: list[Form],
        work: pathlib.Path, smoothness: float = 1e-3, lut_smoothness: float = 1e-5,
        versions: dict | None = None, log=None) -> list[dict]:
  """Renders every input with every ISP and format and measures every form on each pair."""
  rows = []
  for path in files:
    for pair in render_pairs(path, isps, formats, work, versions):
      pair_rows = measure_pair(pair, forms, smoothness, lut_smoothness)
      rows += pair_rows
      if log is not None:
        log(f"{pair.image} {pair.isp} {pair.format}: " + ", ".join(
          f"{r['form'].split(' (')[0]} {r['psnr']:.2f}" for r in pair_rows))
  return rows


# ---------------------------------------------------------------------------- report


def _parse_formats(spec: str) -> list[str]:
  formats = [s.strip() for s in spec.split(",") if s.strip()]
  for fmt in formats:
    if fmt != "png" and not (fmt.startswith("q") and fmt[1:].isdigit() and 1 <= int(fmt[1:]) <= 100):
      raise ConfigError(f"format {fmt!r}: expected png or qNN (JPEG quality 1..100)")
  if not formats:
    raise ConfigError("no --formats")
  return formats


def _parse_isps(spec: str) -> list[str]:
  isps = [s.strip() for s in spec.split(",") if s.strip()]
  valid = ["project", *style_names()]
  for isp in isps:
    if isp not in valid and isp not in ("darktable", "rawtherapee"):
      raise ConfigError(f"ISP {isp!r}: unknown; valid: {', '.join(valid)}")
  if not isps:
    raise ConfigError("no --isps")
  return isps


def _mean(values: list[float]) -> float:
  return float(np.mean(values)) if values else float("nan")


def report_lines(rows: list[dict], forms: list[Form], isps: list[str],
                 formats: list[str]) -> list[str]:
  """Markdown tables: mean PSNR per form, per ISP style, per format; bytes; fit time."""
  third = [i for i in isps if i != "project"]
  lines = []
  for fmt in formats:
    name = "lossless PNG" if fmt == "png" else f"JPEG q{fmt[1:]} (4:2:0)"
    head = ["form", "bytes", *isps]
    if len(third) > 1:
      head.append("mean 3rd-party")
    head.append("fit s (mean)")
    lines += [f"#### sRGB as {name}: mean PSNR (dB) of the map alone", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for form in forms:
      sel = [r for r in rows if r["form"] == form.label and r["format"] == fmt]
      if not sel:
        continue
      cells = [form.label, str(sel[0]["bytes"])]
      for isp in isps:
        cells.append(f"{_mean([r['psnr'] for r in sel if r['isp'] == isp]):.2f}")
      if len(third) > 1:
        cells.append(f"{_mean([r['psnr'] for r in sel if r['isp'] in third]):.2f}")
      cells.append(f"{_mean([r['fit_s'] for r in sel]):.3f}")
      lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
  return lines


def write_results(out: pathlib.Path, rows: list[dict], lines: list[str]) -> None:
  """report.md and results.csv into `out` (created)."""
  out.mkdir(parents=True, exist_ok=True)
  buf = io.StringIO()
  writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
  writer.writeheader()
  for r in rows:
    writer.writerow({**r, "psnr": f"{r['psnr']:.3f}", "fit_s": f"{r['fit_s']:.4f}"})
  images.atomic_write_bytes(out / "results.csv", buf.getvalue().encode())
  images.atomic_write_bytes(out / "report.md", ("\n".join(lines) + "\n").encode())


def _rel(path: str | os.PathLike) -> str:
  """`path` relative to the repository when inside it (reports name no machine paths)."""
  p = pathlib.Path(path).resolve()
  try:
    return str(p.relative_to(_REPO))
  except ValueError:
    return str(path)


def _hardware() -> str:
  cpu = platform.processor() or platform.machine()
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  return (f"{cpu}, {os.cpu_count()} CPU cores visible ({platform.system()} "
          f"{platform.machine()}), NumPy {np.__version__}; fits on the CPU, no JAX")


def _define_flags():
  """The command-line flags (defined only when run as a script: importing defines none)."""
  from absl import flags

  flags.DEFINE_string("data", "../shared/data/real", "Real-data folder (canon/, gopro/, inteltau/).")
  flags.DEFINE_string("out", "experiments/results/fitted_map_forms", "Output folder.")
  flags.DEFINE_string("work", "", "Folder for the GoPro crop DNG and the renders (kept and "
                      "reused); '' = a temporary folder, removed.")
  flags.DEFINE_string("images", "canon,gopro,inteltau", "Test images: canon, gopro, inteltau.")
  flags.DEFINE_string("isps", "darktable:default,darktable:local,rawtherapee:default,"
                      "rawtherapee:drc,project", "ISPs rendering the sRGB.")
  flags.DEFINE_string("formats", "png,q90", "sRGB storage: png and/or qNN (JPEG).")
  flags.DEFINE_string("knots", "9,17,33", "Additive map: knots per curve.")
  flags.DEFINE_string("lut_nodes", "5,7,9,13", "3D LUT: nodes per axis.")
  flags.DEFINE_string("curves_matrix", "17", "Curves + 3x3: knots per curve ('' = none).")
  flags.DEFINE_float("smoothness", 1e-3, "Curve smoothness (the package's default).")
  flags.DEFINE_float("lut_smoothness", 1e-5, "3D LUT smoothness (same scaling; see the doc).")
  return flags.FLAGS


def main(argv: list[str]) -> None:
  """Runs the measurement with the command-line flags (see the module doc)."""
  from absl import flags

  FLAGS = flags.FLAGS  # noqa: N806 (defined by `_define_flags` when run as a script)
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  t_start = time.perf_counter()
  which = [s.strip() for s in FLAGS.images.split(",") if s.strip()]
  unknown = set(which) - {"canon", "gopro", "inteltau"}
  if unknown or not which:
    raise ConfigError(f"--images={FLAGS.images!r}: expected canon, gopro and/or inteltau")
  isps, formats = _parse_isps(FLAGS.isps), _parse_formats(FLAGS.formats)
  forms = parse_forms(FLAGS.knots, FLAGS.lut_nodes, FLAGS.curves_matrix)
  keep = bool(FLAGS.work)
  work = pathlib.Path(FLAGS.work) if keep else pathlib.Path(tempfile.mkdtemp(prefix="fm_forms_"))
  versions: dict = {}
  try:
    files = input_files(pathlib.Path(FLAGS.data), work, which)
    rows = run(files, isps, formats, forms, work, FLAGS.smoothness, FLAGS.lut_smoothness,
               versions, log=lambda s: print(s, flush=True))
  finally:
    if not keep:
      shutil.rmtree(work, ignore_errors=True)
  wall = time.perf_counter() - t_start
  command = " ".join([".venv/bin/python", _rel(sys.argv[0]),
                      *(shlex.quote(a) for a in sys.argv[1:])])
  names = sorted({r["image"] for r in rows})
  tools = ", ".join(f"{isp}: {v}" for isp, v in versions.items() if isp != "project")
  lines = [
    "# Fitted map: form of the global sRGB -> raw map (`experiments/fitted_map_forms.py`)", "",
    f"Command: `{command}`", "",
    f"Hardware: {_hardware()}. Wall time {wall:.0f} s (renders included).", "",
    f"Images ({len(names)}): {', '.join(names)}. Tools: {tools or 'none'}.", "",
    f"Smoothness: curves {FLAGS.smoothness:g}, LUT {FLAGS.lut_smoothness:g}. PSNR on raw-RGB "
    "in [0, 1] of the map fitted to the pair and applied to the same sRGB; bytes as stored "
    "(4-byte header + int16 values); fit time per pair, encoder side.", "",
    *report_lines(rows, forms, isps, formats),
  ]
  write_results(pathlib.Path(FLAGS.out), rows, lines)
  print("\n".join(lines))


if __name__ == "__main__":
  from absl import app

  _define_flags()
  app.run(main)
