"""The one measurement row of every evaluation and benchmark, and its CSV file.

A row is one (method, setting, variant, image) measurement through real files: the
rate comes from the file size on disk (`metrics.PROTOCOL`). `app.evaluation` writes
R2LCM's rows, `benchmark.runs` the baselines' rows and relabels R2LCM's; both write and
read them with `write_rows_csv` / `read_rows_csv`.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence

from r2lcm_jax.io.atomic import atomic_path

__all__ = ["Row", "ROW_FIELDS", "write_rows_csv", "read_rows_csv"]


@dataclasses.dataclass(frozen=True)
class Row:
  """One measurement.

  Attributes:
    method: "R2LCM", "R2LCM[name]", "SAM", ...
    setting: the method's rate setting ("d0_g0" for R2LCM, "" for 0-bpp methods).
    variant: how the sRGB is stored ("png", "jpeg95", ...; "" outside the benchmark).
    camera, name: the image.
    psnr, ssim: `metrics.score_pair`.
    bytes: metadata file size; bpp_metadata, bpp_with_srgb: 8 * bytes / (H W).
    encode_s, decode_s: wall time of each direction (network + coding).
    isp: who made the variant's sRGB ("project" or a third-party "tool:style").
    encode_coding_s, decode_coding_s: the entropy-coding part of encode_s / decode_s
      (0 for methods that report no split).
  """

  method: str
  setting: str
  variant: str
  camera: str
  name: str
  psnr: float
  ssim: float
  bytes: int
  bpp_metadata: float
  bpp_with_srgb: float
  encode_s: float
  decode_s: float
  isp: str = "project"
  encode_coding_s: float = 0.0
  decode_coding_s: float = 0.0


ROW_FIELDS = [f.name for f in dataclasses.fields(Row)]
_TEXT_FIELDS = ("method", "setting", "variant", "camera", "name", "isp")


def write_rows_csv(path: str | os.PathLike, rows: Sequence[Row]) -> None:
  """Every measurement, one line each, header `ROW_FIELDS` (atomic)."""
  with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(ROW_FIELDS)
    w.writerows([[getattr(r, k) for k in ROW_FIELDS] for r in rows])


def read_rows_csv(path: str | os.PathLike) -> list[Row]:
  """Inverse of `write_rows_csv`; columns a file lacks (older files: `isp`, the coding
  times) take their defaults."""
  with open(path, newline="") as f:
    return [Row(**{k: (v if k in _TEXT_FIELDS else int(v) if k == "bytes" else float(v))
                   for k, v in r.items() if k in ROW_FIELDS})
            for r in csv.DictReader(f)]
