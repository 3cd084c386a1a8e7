"""Integer CDF tables of the Gaussian conditional (built once, stored, fingerprinted).

One table row per entry of a log-spaced scale table (default 64 scales in
[0.01, 32], the table the official code installs with adaptive quantisation).
Row k models a unit-bin Gaussian of std `s_k` over the support
`j in [-c_k, c_k]`, `c_k = ceil(s_k * m)`, `m = -Phi^-1(tail_mass / 2)`, followed by
one **escape** symbol that carries the remaining tail mass. The coder codes a value
`v` with row k as bin `v - offset[k]` when `0 <= v - offset[k] < support_k`
(`support_k = cdf_length[k] - 2`), and otherwise as the escape bin followed by the
raw value (see `r2lcm_jax.coding.rans_format`), so no input can fail to encode.

Quantisation to `precision` bits (float64, NumPy, once): `f_j = max(1, rint(p_j * 2^P))`,
then the total is corrected to exactly `2^P` one count at a time, cycling over the bins
in order of decreasing probability (never taking a bin below 1). Every symbol of
the support and the escape have frequency >= 1.

Layout (CompressAI / tensorflow-compression style):

* `cdf`: int32 (num_scales, max_len); row k is `[0, c_1, ..., 2^P]` in its first
  `cdf_length[k]` entries and padded with `2^P` after.
* `cdf_length`: int32 (num_scales,) = support_k + 2 (regular bins + escape + 1).
* `offset`: int32 (num_scales,) = -c_k (value of bin 0).
* `scale_table`: float32 (num_scales,) strictly increasing.

The tables are data: `save_tables`/`load_tables` store them as `.npz` next to the
model parameters together with their SHA-256 `fingerprint`, which every bitstream
records. Decoders never rebuild them from floating point.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import pathlib

import numpy as np
from scipy import special

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io.atomic import atomic_path

__all__ = [
  "CodingTables",
  "build_gaussian_tables",
  "tables_from_pmfs",
  "save_tables",
  "load_tables",
  "validate_tables",
  "gaussian_bin_pmf",
  "MAX_PRECISION",
]

MAX_PRECISION = 16
_FINGERPRINT_TAG = b"r2lcm-coding-tables-v1"
_MAX_OFFSET = 1 << 20
_MAX_LEN = 1 << 16


@dataclasses.dataclass(frozen=True, eq=False)
class CodingTables:
  """Integer CDF tables (see module docstring for the layout).

  Attributes:
    cdf: int32 (num_scales, max_len) padded CDF rows.
    cdf_length: int32 (num_scales,) valid entries per row (support + 2).
    offset: int32 (num_scales,) value coded by bin 0 of each row.
    scale_table: float32 (num_scales,) strictly increasing scales (index selection).
    precision: CDF precision P in bits (rows end at 2^P), 1..16.
    tail_mass: tail mass the tables were built with (metadata, not fingerprinted).
  """

  cdf: np.ndarray
  cdf_length: np.ndarray
  offset: np.ndarray
  scale_table: np.ndarray
  precision: int
  tail_mass: float

  @property
  def num_scales(self) -> int:
    return int(self.cdf.shape[0])

  @functools.cached_property
  def fingerprint(self) -> bytes:
    """SHA-256 (32 bytes) over a canonical little-endian serialisation.

    Covers precision, the shapes, `cdf`, `cdf_length`, `offset` (int32) and the
    float32 bit patterns of `scale_table` (index selection depends on it).
    """
    h = hashlib.sha256(_FINGERPRINT_TAG)
    h.update(np.asarray([self.precision, *self.cdf.shape], "<u4").tobytes())
    for arr, dt in ((self.cdf, "<i4"), (self.cdf_length, "<i4"),
                    (self.offset, "<i4"), (self.scale_table, "<f4")):
      h.update(np.ascontiguousarray(arr, dt).tobytes())
    return h.digest()


def validate_tables(tables: CodingTables) -> None:
  """Checks every invariant the coders rely on; raises ValueError if violated."""
  cdf, length, offset = tables.cdf, tables.cdf_length, tables.offset
  p = tables.precision
  if not isinstance(p, (int, np.integer)) or not 1 <= p <= MAX_PRECISION:
    raise ValueError(f"precision must be in [1, {MAX_PRECISION}], got {p}")
  if cdf.ndim != 2 or cdf.dtype != np.int32:
    raise ValueError(f"cdf must be int32 (num_scales, max_len), got {cdf.dtype} {cdf.shape}")
  s, m = cdf.shape
  if s < 1 or m < 3 or m > _MAX_LEN:
    raise ValueError(f"cdf shape {cdf.shape} out of bounds")
  for name, a, dt in (("cdf_length", length, np.int32), ("offset", offset, np.int32),
                      ("scale_table", tables.scale_table, np.float32)):
    if a.shape != (s,) or a.dtype != dt:
      raise ValueError(f"{name} must be {np.dtype(dt)} ({s},), got {a.dtype} {a.shape}")
  if np.any(length < 3) or np.any(length > m):
    raise ValueError("cdf_length entries must be in [3, max_len]")
  if np.any(np.abs(offset.astype(np.int64)) > _MAX_OFFSET):
    raise ValueError(f"offsets must be within +-{_MAX_OFFSET}")
  st = tables.scale_table
  if not np.all(np.isfinite(st)) or np.any(st <= 0) or np.any(np.diff(st) <= 0):
    raise ValueError("scale_table must be finite, positive and strictly increasing")
  total = 1 << p
  cols = np.arange(m)[None, :]
  valid = cols < length[:, None]
  if np.any(cdf[:, 0] != 0):
    raise ValueError("every cdf row must start at 0")
  last = cdf[np.arange(s), length - 1]
  if np.any(last != total):
    raise ValueError(f"every cdf row must end at 2^{p}")
  step = np.diff(cdf, axis=1)
  if np.any(step[valid[:, 1:]] < 1):
    raise ValueError("every symbol needs frequency >= 1 (cdf strictly increasing)")
  if np.any(cdf[~valid] != total):
    raise ValueError(f"cdf padding must equal 2^{p}")


def gaussian_bin_pmf(scale: float, support: np.ndarray) -> np.ndarray:
  """float64 probabilities of unit bins centred on `support` under N(0, scale^2)."""
  a = np.abs(np.asarray(support, np.float64))
  return special.ndtr((0.5 - a) / scale) - special.ndtr((-0.5 - a) / scale)


def _quantize_pmf(pmf: np.ndarray, precision: int) -> np.ndarray:
  """float64 pmf (n,) -> int64 frequencies (n,) >= 1 summing to 2^precision."""
  total = 1 << precision
  if pmf.size > total:
    raise ValueError(f"{pmf.size} symbols do not fit precision {precision}")
  freq = np.maximum(1, np.rint(pmf * total)).astype(np.int64)
  diff = total - int(freq.sum())
  order = np.argsort(-pmf, kind="stable")
  step = 1 if diff > 0 else -1
  while diff != 0:
    moved = False
    for i in order:
      if diff == 0:
        break
      if step < 0 and freq[i] <= 1:
        continue
      freq[i] += step
      diff -= step
      moved = True
    if not moved:
      raise ValueError("cannot quantise pmf")
  return freq


def build_gaussian_tables(
  scale_min: float = 0.01,
  scale_max: float = 32.0,
  num_scales: int = 64,
  tail_mass: float = 1e-9,
  precision: int = 16,
) -> CodingTables:
  """Builds the Gaussian-conditional tables (NumPy float64, deterministic).

  Args:
    scale_min, scale_max: first and last scale; scales are
      `exp(linspace(ln scale_min, ln scale_max, num_scales))` rounded to float32.
    num_scales: number of rows.
    tail_mass: mass outside the support (sets `c_k`), carried by the escape bin.
    precision: CDF precision in bits (<= 16).

  Returns:
    CodingTables with the layout of the module docstring.
  """
  if not 0 < scale_min < scale_max or num_scales < 2:
    raise ValueError("need 0 < scale_min < scale_max and num_scales >= 2")
  if not 0 < tail_mass < 1:
    raise ValueError("tail_mass must be in (0, 1)")
  scales = np.exp(np.linspace(np.log(scale_min), np.log(scale_max), num_scales))
  scale_table = scales.astype(np.float32)
  mult = -special.ndtri(tail_mass / 2)
  pmfs = []
  offsets = []
  for s in scale_table.astype(np.float64):
    c = int(np.ceil(s * mult))
    support = np.arange(-c, c + 1)
    tail = 2.0 * special.ndtr((-0.5 - c) / s)
    pmfs.append(np.append(gaussian_bin_pmf(s, support), tail))
    offsets.append(-c)
  return tables_from_pmfs(pmfs, offsets, scale_table, precision=precision, tail_mass=tail_mass)


def tables_from_pmfs(
  pmfs: list[np.ndarray], offsets: list[int] | np.ndarray, scale_table: np.ndarray, *,
  precision: int, tail_mass: float,
) -> CodingTables:
  """Validated CodingTables from one float64 pmf per row (support bins, then the escape
  bin's mass), each quantised to `precision` bits and padded to the longest row.

  Args:
    pmfs: R arrays (n_r + 1,); `offsets`: R ints, the value of each row's first bin;
    scale_table: (R,) float32, strictly increasing.
  """
  rows = [np.concatenate([[0], np.cumsum(_quantize_pmf(pmf, precision))]) for pmf in pmfs]
  cdf = np.full((len(rows), max(len(r) for r in rows)), 1 << precision, np.int32)
  for k, r in enumerate(rows):
    cdf[k, : len(r)] = r
  tables = CodingTables(
    cdf=cdf,
    cdf_length=np.asarray([len(r) for r in rows], np.int32),
    offset=np.asarray(offsets, np.int32),
    scale_table=np.asarray(scale_table, np.float32),
    precision=int(precision),
    tail_mass=float(tail_mass),
  )
  validate_tables(tables)
  return tables


def save_tables(path: str | os.PathLike, tables: CodingTables) -> None:
  """Writes `tables` (+ fingerprint) to an `.npz` file atomically (`io.atomic`)."""
  with atomic_path(path) as tmp, open(tmp, "wb") as f:
    np.savez(
      f,
      cdf=tables.cdf, cdf_length=tables.cdf_length, offset=tables.offset,
      scale_table=tables.scale_table,
      precision=np.int32(tables.precision), tail_mass=np.float64(tables.tail_mass),
      fingerprint=np.frombuffer(tables.fingerprint, np.uint8),
    )


def load_tables(path: str | os.PathLike) -> CodingTables:
  """Reads tables saved by `save_tables`; CheckpointError if missing or corrupted."""
  path = pathlib.Path(path)
  try:
    with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:
      tables = CodingTables(
        cdf=np.asarray(z["cdf"]), cdf_length=np.asarray(z["cdf_length"]),
        offset=np.asarray(z["offset"]), scale_table=np.asarray(z["scale_table"]),
        precision=int(z["precision"]), tail_mass=float(z["tail_mass"]),
      )
      stored = bytes(np.asarray(z["fingerprint"], np.uint8))
  except FileNotFoundError as e:
    raise CheckpointError(f"{path}: coding tables not found") from e
  except Exception as e:  # zip/npy/key errors of a damaged file
    raise CheckpointError(f"{path}: unreadable coding tables ({e})") from e
  try:
    validate_tables(tables)
  except ValueError as e:
    raise CheckpointError(f"{path}: invalid coding tables ({e})") from e
  if stored != tables.fingerprint:
    raise CheckpointError(f"{path}: coding-table fingerprint mismatch (file corrupted)")
  return tables
