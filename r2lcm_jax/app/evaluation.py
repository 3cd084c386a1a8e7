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

Outputs (in `out_dir`): `results.csv` (one `app.results.Row` per image and setting), `summary.csv`
and `summary.md` (means per setting, with the protocol), `rd_curves.png` (PSNR vs bpp
over drop_steps and over gamma), `error_maps/<name>.png` (max-over-channels absolute
error, as the paper's figures, next to the sRGB and the gamma-corrected RAW).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Sequence

import numpy as np
from tqdm import tqdm

from r2lcm_jax.app.figures import error_map_figure, figure
from r2lcm_jax.app.results import Row, write_rows_csv
from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.nus import ImagePair, load_pair
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import InputError
from r2lcm_jax.io.atomic import atomic_write_bytes, atomic_write_text
from r2lcm_jax.metrics import PROTOCOL, score_pair
from r2lcm_jax.models import isp_base

__all__ = ["RateSetting", "evaluate_pairs", "write_reports", "rd_figure"]

_MEAN_FIELDS = ("psnr", "ssim", "bpp_metadata", "bpp_with_srgb", "encode_s",
                "encode_coding_s", "decode_s", "decode_coding_s")


@dataclasses.dataclass(frozen=True)
class RateSetting:
  """One point of the rate sweep; its `tag` is the `setting` of its rows."""

  drop_steps: int = 0
  gamma: float = 0.0

  @property
  def tag(self) -> str:
    return f"d{self.drop_steps}_g{self.gamma:g}"

  @classmethod
  def from_tag(cls, tag: str) -> RateSetting:
    """Inverse of `tag` ("d1_g0.5" -> RateSetting(1, 0.5))."""
    m = re.fullmatch(r"d(\d+)_g([0-9.eE+-]+)", tag)
    if m is None:
      raise InputError(f"not an R2LCM rate setting: {tag!r}")
    return cls(int(m.group(1)), float(m.group(2)))


def _means(rows: Sequence[Row]) -> dict[RateSetting, dict[str, float]]:
  groups: dict[RateSetting, list[Row]] = {}
  for r in rows:
    groups.setdefault(RateSetting.from_tag(r.setting), []).append(r)
  return {k: {f: float(np.mean([getattr(r, f) for r in v])) for f in _MEAN_FIELDS}
          | {"n": len(v)}
          for k, v in sorted(groups.items(), key=lambda kv: (kv[0].drop_steps, kv[0].gamma))}


def rd_figure(path: pathlib.Path, rows: Sequence[Row]) -> None:
  """PSNR vs metadata bpp: one curve over drop_steps (gamma 0), one over gamma (drop 0)."""
  means = _means(rows)
  drop = sorted((k for k in means if k.gamma == 0), key=lambda k: -k.drop_steps)
  gam = sorted((k for k in means if k.drop_steps == 0), key=lambda k: -k.gamma)
  with figure(path, dpi=120, figsize=(6, 4.5)) as (_, ax):
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


def write_reports(out_dir: pathlib.Path, rows: Sequence[Row]) -> dict:
  """results.csv, summary.csv, summary.md and rd_curves.png; returns the means."""
  write_rows_csv(out_dir / "results.csv", rows)
  means = _means(rows)
  cols = ("n",) + _MEAN_FIELDS
  lines = ["drop_steps,gamma," + ",".join(cols)]
  lines += [f"{k.drop_steps},{k.gamma:g}," + ",".join(f"{m[c]:g}" for c in cols)
            for k, m in means.items()]
  atomic_write_text(out_dir / "summary.csv", "\n".join(lines) + "\n")
  md = ["# Evaluation summary", "", PROTOCOL, "",
        "| drop_steps | gamma | images | PSNR | SSIM | bpp (metadata) | bpp (+sRGB) | "
        "enc total/coding s | dec total/coding s |", "|" + "---|" * 9]
  for k, m in means.items():
    md.append(
      f"| {k.drop_steps} | {k.gamma:g} | {m['n']} | {m['psnr']:.2f} | {m['ssim']:.4f} | "
      f"{m['bpp_metadata']:.4f} | {m['bpp_with_srgb']:.4f} | "
      f"{m['encode_s']:.2f}/{m['encode_coding_s']:.2f} | "
      f"{m['decode_s']:.2f}/{m['decode_coding_s']:.2f} |")
  atomic_write_text(out_dir / "summary.md", "\n".join(md) + "\n")
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
) -> list[Row]:
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
  rows: list[Row] = []
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
      rows.append(Row(
        "R2LCM", setting.tag, "", pair.camera, pair.name, psnr, ssim, len(data),
        8.0 * len(data) / (h * w), 8.0 * (len(data) + srgb_bytes) / (h * w),
        sum(enc.seconds.values()), sum(dec.seconds.values()),
        encode_coding_s=enc.seconds["coding"], decode_coding_s=dec.seconds["coding"]))
      if setting == settings[0]:
        error_map_figure(out / "error_maps" / f"{pair.camera}_{pair.name}.png", s, x,
                         dec.raw, error_max)
      bar.set_postfix(psnr=f"{psnr:.2f}", bpp=f"{rows[-1].bpp_metadata:.3f}")
      bar.update(1)
  bar.close()
  write_reports(out, rows)
  return rows
