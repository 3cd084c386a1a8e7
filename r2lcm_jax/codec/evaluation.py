"""Evaluation of a checkpoint over a dataset through real bitstreams.

For every image of a NUS-layout split and every rate setting (drop_steps, gamma), the
metadata is compressed to a `.r2lcm` file on disk, read back, decoded, and scored:

* PSNR = -10 log10(mean((x - x̂)^2)) on [0, 1] over all pixels and channels of the
  original (un-padded) area, x̂ not clamped (the official protocol);
* SSIM as `skimage.metrics.structural_similarity(data_range=1, channel_axis=-1)`
  (7x7 uniform window, sample covariance, mean over channels);
* bpp = 8 * bytes / (H * W) of the original area, from the file size on disk: metadata
  only, and metadata + the sRGB file as stored (the official code reports metadata only
  and divides by the padded area);
* seconds of encode and decode, each split into network and entropy coding.

Outputs (in `out_dir`): `results.csv` (one row per image and setting), `summary.csv`
and `summary.md` (means per setting, with the protocol), `rd_curves.png` (PSNR vs bpp
over drop_steps and over gamma), `error_maps/<name>.png` (max-over-channels absolute
error, as the paper's figures, next to the sRGB and the gamma-corrected RAW).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from r2lcm_jax import metrics
from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.nus import ImagePair, load_pair
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import InputError
from r2lcm_jax.io.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from r2lcm_jax.models import isp_base

__all__ = ["RateSetting", "ImageResult", "evaluate_pairs", "error_map_figure", "score_pair",
           "PROTOCOL"]

PROTOCOL = (
  "PSNR on [0,1] over the original area, reconstruction not clamped; SSIM as skimage "
  "structural_similarity (data_range=1, 7x7 uniform window, sample covariance, mean over "
  "channels); bpp = 8*bytes/(H*W) from the files on disk (metadata only, and metadata + "
  "sRGB file)."
)

_FIELDS = ["name", "camera", "drop_steps", "gamma", "psnr", "ssim", "bytes", "bpp_metadata",
           "bpp_with_srgb", "encode_network_s", "encode_coding_s", "decode_network_s",
           "decode_coding_s"]


@dataclasses.dataclass(frozen=True)
class RateSetting:
  """One point of the rate sweep."""

  drop_steps: int = 0
  gamma: float = 0.0

  @property
  def tag(self) -> str:
    return f"d{self.drop_steps}_g{self.gamma:g}"


@dataclasses.dataclass
class ImageResult:
  """One row of results.csv."""

  name: str
  camera: str
  drop_steps: int
  gamma: float
  psnr: float
  ssim: float
  bytes: int
  bpp_metadata: float
  bpp_with_srgb: float
  encode_network_s: float
  encode_coding_s: float
  decode_network_s: float
  decode_coding_s: float


def score_pair(x: np.ndarray, x_hat: np.ndarray) -> tuple[float, float]:
  """(PSNR dB, SSIM) of x̂ against x, both (H, W, 3) on [0, 1] (see PROTOCOL)."""
  a, b = x[None].astype(np.float32), x_hat[None].astype(np.float32)
  return float(metrics.psnr(a, b)[0]), float(metrics.ssim(a, b)[0])


def error_map_figure(path: pathlib.Path, srgb: np.ndarray, x: np.ndarray, x_hat: np.ndarray,
                     vmax: float) -> None:
  """Writes sRGB | RAW^(1/2.2) | reconstruction^(1/2.2) | max-over-channels |error|."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  err = np.abs(x - x_hat).max(axis=-1)
  fig, axes = plt.subplots(1, 4, figsize=(16, 4 * x.shape[0] / x.shape[1] + 0.6))
  panels = [
    (np.clip(srgb, 0, 1), "sRGB"),
    (np.clip(x, 0, 1) ** (1 / 2.2), "RAW (gamma 2.2 for display)"),
    (np.clip(x_hat, 0, 1) ** (1 / 2.2), "reconstruction"),
  ]
  for ax, (img, title) in zip(axes, panels, strict=False):
    ax.imshow(img)
    ax.set_title(title)
  im = axes[3].imshow(err, cmap="viridis", vmin=0, vmax=vmax)
  axes[3].set_title(f"max |error| over channels (0..{vmax:g})")
  fig.colorbar(im, ax=axes[3], fraction=0.046)
  for ax in axes:
    ax.axis("off")
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=100)
  plt.close(fig)


def rd_figure(path: pathlib.Path, rows: Sequence[ImageResult]) -> None:
  """PSNR vs metadata bpp: one curve over drop_steps (gamma 0), one over gamma (drop 0)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  means = _means(rows)
  fig, ax = plt.subplots(figsize=(6, 4.5))
  drop = sorted((k for k in means if k.gamma == 0), key=lambda k: -k.drop_steps)
  gam = sorted((k for k in means if k.drop_steps == 0), key=lambda k: -k.gamma)
  for keys, label, marker in ((drop, "drop_steps (gamma=0)", "o"),
                              (gam, "gamma (drop_steps=0)", "s")):
    if keys:
      ax.plot([means[k]["bpp_metadata"] for k in keys], [means[k]["psnr"] for k in keys],
              marker=marker, label=label)
      for k in keys:
        ax.annotate(k.tag, (means[k]["bpp_metadata"], means[k]["psnr"]), fontsize=7)
  ax.set_xlabel("metadata bpp (from bitstream bytes)")
  ax.set_ylabel("PSNR (dB)")
  ax.grid(alpha=0.3)
  ax.legend()
  ax.set_title("R2LCM rate-distortion (real bitstreams)")
  fig.tight_layout()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=120)
  plt.close(fig)


def _means(rows: Sequence[ImageResult]) -> dict[RateSetting, dict[str, float]]:
  groups: dict[RateSetting, list[ImageResult]] = {}
  for r in rows:
    groups.setdefault(RateSetting(r.drop_steps, r.gamma), []).append(r)
  numeric = [f for f in _FIELDS if f not in ("name", "camera", "drop_steps", "gamma")]
  return {k: {f: float(np.mean([getattr(r, f) for r in v])) for f in numeric} | {"n": len(v)}
          for k, v in sorted(groups.items(), key=lambda kv: (kv[0].drop_steps, kv[0].gamma))}


def _write_csv(path: pathlib.Path, header: list[str], rows: list[list]) -> None:
  with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(header)
    w.writerows(rows)


def write_reports(out_dir: pathlib.Path, rows: Sequence[ImageResult]) -> dict:
  """results.csv, summary.csv, summary.md and rd_curves.png; returns the means."""
  _write_csv(out_dir / "results.csv", _FIELDS,
             [[getattr(r, f) for f in _FIELDS] for r in rows])
  means = _means(rows)
  cols = ["n", "psnr", "ssim", "bpp_metadata", "bpp_with_srgb", "encode_network_s",
          "encode_coding_s", "decode_network_s", "decode_coding_s"]
  _write_csv(out_dir / "summary.csv", ["drop_steps", "gamma"] + cols,
             [[k.drop_steps, k.gamma] + [m[c] for c in cols] for k, m in means.items()])
  lines = ["# Evaluation summary", "", PROTOCOL, "",
           "| drop_steps | gamma | images | PSNR | SSIM | bpp (metadata) | bpp (+sRGB) | "
           "enc net/coding s | dec net/coding s |", "|" + "---|" * 9]
  for k, m in means.items():
    lines.append(
      f"| {k.drop_steps} | {k.gamma:g} | {m['n']} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
      f"{m['bpp_metadata']:.4f} | {m['bpp_with_srgb']:.4f} | "
      f"{m['encode_network_s']:.2f}/{m['encode_coding_s']:.2f} | "
      f"{m['decode_network_s']:.2f}/{m['decode_coding_s']:.2f} |")
  atomic_write_text(out_dir / "summary.md", "\n".join(lines) + "\n")
  rd_figure(out_dir / "rd_curves.png", rows)
  return means


def evaluate_pairs(
  pairs: Sequence[ImagePair],
  runner: ModelRunner,
  tables: CodingTables,
  out_dir: str | os.PathLike,
  *,
  settings: Sequence[RateSetting] = (RateSetting(),),
  backend: str = "auto",
  error_max: float = 0.01,
  manifest: str | os.PathLike | None = None,
  gate: residual_gate.GateSpec | None = None,
) -> list[ImageResult]:
  """Runs every pair through the codec at every setting; writes the reports.

  `manifest` (an `r2lcm render` manifest) gives each image's ISP parameters to models
  that reconstruct over the naive inverse (base "isp_inverse"); other models ignore it.
  `gate`: the residual gate every bitstream gets (ISP-base models; `codec.gate_for`).
  """
  needs_isp = isp_base.needs_isp(runner.config)
  if needs_isp and manifest is None:
    raise InputError("this model reconstructs over the naive inverse ISP: it needs the "
                     "dataset's render manifest (ROOT/manifest.json)")
  out = pathlib.Path(out_dir)
  (out / "bitstreams").mkdir(parents=True, exist_ok=True)
  (out / "error_maps").mkdir(exist_ok=True)
  rows: list[ImageResult] = []
  bar = tqdm(total=len(pairs) * len(settings), desc="eval", unit="run")
  for pair in pairs:
    x, s = load_pair(pair)
    h, w = x.shape[:2]
    srgb_bytes = pathlib.Path(pair.srgb_path).stat().st_size
    isp = params_from_manifest(manifest, pair.name) if needs_isp else None
    for setting in settings:
      enc = codec.compress_image(x, s, runner, tables, drop_steps=setting.drop_steps,
                                 gamma=setting.gamma, backend=backend, isp=isp, gate=gate)
      path = out / "bitstreams" / f"{pair.camera}_{pair.name}_{setting.tag}.r2lcm"
      atomic_write_bytes(path, enc.data)
      data = path.read_bytes()
      dec = codec.decompress_image(s, data, runner, tables)
      psnr, ssim = score_pair(x, dec.raw)
      rows.append(ImageResult(
        pair.name, pair.camera, setting.drop_steps, setting.gamma, psnr, ssim, len(data),
        8.0 * len(data) / (h * w), 8.0 * (len(data) + srgb_bytes) / (h * w),
        enc.seconds["network"], enc.seconds["coding"], dec.seconds["network"],
        dec.seconds["coding"]))
      if setting == settings[0]:
        error_map_figure(out / "error_maps" / f"{pair.camera}_{pair.name}.png", s, x,
                         dec.raw, error_max)
      bar.set_postfix(psnr=f"{psnr:.2f}", bpp=f"{rows[-1].bpp_metadata:.3f}")
      bar.update(1)
  bar.close()
  write_reports(out, rows)
  return rows
