"""The `.cam` metadata file of the CAM baseline: sample positions and raw-RGB values,
entropy-coded with the project's rANS coder (`coding.rans_numpy`).

Samples: the image is cut into `g` x `g` cells in raster order (the last row/column of
cells may be partial, as `metadata_file`); cell (i, j) holds one sample at pixel
(i g + dy, j g + dx), stored as its offset o = dy g + dx (dy, dx inside the cell), and
its raw-RGB value quantised to `value_bits` bits: q = round((2^b - 1) raw).

Coding:
- positions: offsets in raster order of the cells, either packed at ceil(log2 g^2) bits
  each (mode 0: the paper's 6 bits at g = 8) or rANS-coded with the image's own
  histogram (mode 1: g^2 uint16 frequencies summing with the escape bin to 2^12, stored
  in the file); the encoder writes the shorter.
- values, per channel: the residual r = q - p of the LOCO-I median predictor on the
  grid of cells (p = median(a, b, a + b - c) with a the left, b the upper, c the
  upper-left sample; first row: a, first column: b, first sample: 0), split as
  r = hi 2^k + lo (lo in [0, 2^k)); `hi` is rANS-coded with a row of the Gaussian tables
  `value_tables()` (the encoder picks k and the row per channel with the least bits),
  `lo` is stored raw. One substream holds the three channels (channel-major).

File layout (little endian):

    0   4  magic b"R2CM"
    4   1  version (1)
    5   1  cell size g (1..64)
    6   1  value bits b (1..16)
    7   1  position mode (0 packed, 1 rANS)
    8   4  height H (>= 1)
    12  4  width W (>= 1)
    16  4  first 4 bytes of the value tables' fingerprint
    20  3  table row of each channel
    23  3  k of each channel (0..16)
    26     mode 1 only: g^2 uint16 position frequencies
           u32 n_pos, n_pos bytes of positions (packed bits or a rANS substream)
           u32 n_val, n_val bytes: the rANS substream of hi (3 x cells symbols)
           the lo bits of the three channels, packed MSB first, to a whole byte
    end 4  CRC-32 (zlib) of every byte before it

Parsing is strict: truncated, foreign, future-version, inconsistent or corrupted files
raise BitstreamError naming the source and the reason.
"""

from __future__ import annotations

import dataclasses
import os
import struct
import zlib

import numpy as np

from r2lcm_jax.baselines.metadata_file import read_file_bytes
from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.entropy.tables import CodingTables, build_gaussian_tables
from r2lcm_jax.errors import BitstreamError, ShapeMismatchError
from r2lcm_jax.io.atomic import atomic_write_bytes

__all__ = ["MAGIC", "VERSION", "CamSamples", "cell_counts", "value_tables", "encode_cam",
           "decode_cam", "section_sizes", "write_cam", "read_cam"]

MAGIC = b"R2CM"
VERSION = 1
_HEADER = struct.Struct("<4sBBBBII4s3B3B")
_TRAILER = 4
_POS_PRECISION = 12
_LANES = 4
_MAX_PIXELS = 1 << 31


@dataclasses.dataclass(frozen=True, eq=False)
class CamSamples:
  """One sample per cell of an image.

  Attributes:
    height, width: image size H, W.
    grid: cell size g.
    value_bits: b, the values are round((2^b - 1) raw).
    offsets: (ceil(H/g), ceil(W/g)) int32, dy * g + dx inside each cell.
    values: (ceil(H/g), ceil(W/g), 3) uint16 quantised raw-RGB.
  """

  height: int
  width: int
  grid: int
  value_bits: int
  offsets: np.ndarray
  values: np.ndarray

  def positions(self) -> tuple[np.ndarray, np.ndarray]:
    """(gh, gw) int64 row and column pixel indices of the samples."""
    gh, gw = self.offsets.shape
    off = self.offsets.astype(np.int64)
    ys = np.arange(gh, dtype=np.int64)[:, None] * self.grid + off // self.grid
    xs = np.arange(gw, dtype=np.int64)[None, :] * self.grid + off % self.grid
    return ys, xs

  def raw_values(self) -> np.ndarray:
    """(gh, gw, 3) float32 raw-RGB of the samples in [0, 1]."""
    return (self.values.astype(np.float32) / np.float32((1 << self.value_bits) - 1))


def cell_counts(height: int, width: int, grid: int) -> tuple[int, int]:
  """(ceil(H/g), ceil(W/g)): the number of cells (= samples) along each axis."""
  return -(-height // grid), -(-width // grid)


def value_tables() -> CodingTables:
  """The Gaussian tables coding `hi` (32 scales in [0.25, 64], 16-bit precision)."""
  return build_gaussian_tables(scale_min=0.25, scale_max=64.0, num_scales=32,
                               tail_mass=1e-6, precision=16)


def _check_offsets(offsets: np.ndarray, h: int, w: int, g: int) -> bool:
  """True if every offset lies inside its (possibly partial) cell."""
  gh, gw = offsets.shape
  ch = np.minimum(g, h - np.arange(gh) * g)[:, None]
  cw = np.minimum(g, w - np.arange(gw) * g)[None, :]
  return bool(np.all((offsets >= 0) & (offsets // g < ch) & (offsets % g < cw)))


def _med_predict_all(q: np.ndarray) -> np.ndarray:
  """(gh, gw) int64 values -> (gh, gw) int64 LOCO-I predictions (module doc)."""
  a = np.zeros_like(q)
  b = np.zeros_like(q)
  c = np.zeros_like(q)
  a[:, 1:] = q[:, :-1]
  b[1:, :] = q[:-1, :]
  c[1:, 1:] = q[:-1, :-1]
  med = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), a + b - c))
  pred = med.copy()
  pred[0, :] = a[0, :]
  pred[1:, 0] = b[1:, 0]
  return pred


def _med_reconstruct(res: np.ndarray, maxval: int) -> np.ndarray:
  """Inverse of r = q - predict(q), sequential over the cells: (gh, gw) int64."""
  gh, gw = res.shape
  q = np.zeros((gh, gw), np.int64)
  r = res.tolist()
  rows = q.tolist()
  for i in range(gh):
    row, up = rows[i], rows[i - 1] if i else None
    ri = r[i]
    for j in range(gw):
      if i == 0:
        p = row[j - 1] if j else 0
      elif j == 0:
        p = up[0]
      else:
        a, b, c = row[j - 1], up[j], up[j - 1]
        p = max(min(a, b), min(max(a, b), a + b - c))
      v = p + ri[j]
      if not 0 <= v <= maxval:
        raise BitstreamError(f"decoded sample value {v} outside [0, {maxval}] (corrupt)")
      row[j] = v
  return np.asarray(rows, np.int64)


def _hi_cost(hi: np.ndarray, tables: CodingTables) -> np.ndarray:
  """(S,) estimated bits of coding `hi` (n,) with each table row (escapes: +8 bits)."""
  p = tables.precision
  cost = np.empty(tables.num_scales)
  for s in range(tables.num_scales):
    n_sym = int(tables.cdf_length[s]) - 2
    freq = np.diff(tables.cdf[s, : n_sym + 2].astype(np.int64))
    bits = p - np.log2(freq.astype(np.float64))
    b = hi - int(tables.offset[s])
    inside = (b >= 0) & (b < n_sym)
    cost[s] = bits[b[inside]].sum() + (~inside).sum() * (bits[n_sym] + 8.0)
  return cost


def _choose_split(res: np.ndarray, bits: int, tables: CodingTables) -> tuple[int, int]:
  """(k, table row) with the fewest estimated bits for residuals `res` (n,)."""
  best = None
  for k in range(bits + 1):
    cost = _hi_cost(res >> k, tables) + k * res.size
    s = int(np.argmin(cost))
    if best is None or cost[s] < best[0]:
      best = (cost[s], k, s)
  return best[1], best[2]


def _position_table(freq: np.ndarray) -> CodingTables:
  """One-row CodingTables of the g^2 position frequencies + the escape bin."""
  total = 1 << _POS_PRECISION
  esc = total - int(freq.sum())
  cdf = np.concatenate([[0], np.cumsum(np.append(freq.astype(np.int64), esc))]).astype(np.int32)
  return CodingTables(cdf=cdf[None], cdf_length=np.asarray([cdf.size], np.int32),
                      offset=np.zeros(1, np.int32), scale_table=np.ones(1, np.float32),
                      precision=_POS_PRECISION, tail_mass=0.0)


def _position_freqs(offsets: np.ndarray, cells: int) -> np.ndarray | None:
  """Quantised histogram (g^2,) uint16, each >= 1, leaving >= 1 for the escape; None if
  g^2 + 1 does not fit the precision."""
  total = 1 << _POS_PRECISION
  if cells + 1 > total // 2:
    return None
  counts = np.bincount(offsets, minlength=cells).astype(np.int64)
  spare = total - cells - 1
  return (1 + counts * spare // max(1, int(counts.sum()))).astype(np.uint16)


def _pos_bits(grid: int) -> int:
  return max(1, (grid * grid - 1).bit_length())


def _bits(values: np.ndarray, nbits: int) -> np.ndarray:
  """Non-negative ints (n,) -> (n nbits,) uint8 0/1 bits, MSB first."""
  shifts = np.arange(nbits - 1, -1, -1, dtype=np.int64)
  return ((values.astype(np.int64)[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1)


def _pack_fixed(values: np.ndarray, nbits: int) -> bytes:
  """Packs non-negative ints (n,) at `nbits` each, MSB first."""
  return np.packbits(_bits(values, nbits)).tobytes() if nbits and values.size else b""


def _unpack_fixed(data: bytes, n: int, nbits: int) -> np.ndarray:
  if nbits == 0 or n == 0:
    return np.zeros(n, np.int64)
  bits = np.unpackbits(np.frombuffer(data, np.uint8))[: n * nbits].reshape(n, nbits)
  return bits.astype(np.int64) @ (1 << np.arange(nbits - 1, -1, -1, dtype=np.int64))


def _packed_len(nbits_total: int) -> int:
  return -(-nbits_total // 8)


def encode_cam(s: CamSamples) -> bytes:
  """The `.cam` file contents of `s` (module doc).

  Raises:
    ShapeMismatchError: offsets/values that do not match the size; ValueError: bad
      settings or offsets outside their cells.
  """
  g, b, h, w = int(s.grid), int(s.value_bits), int(s.height), int(s.width)
  if not (1 <= g <= 64 and 1 <= b <= 16 and h >= 1 and w >= 1 and h * w <= _MAX_PIXELS):
    raise ValueError(f"bad CAM sample settings: grid {g}, bits {b}, size {h}x{w}")
  gh, gw = cell_counts(h, w, g)
  off = np.asarray(s.offsets)
  vals = np.asarray(s.values)
  if off.shape != (gh, gw) or vals.shape != (gh, gw, 3):
    raise ShapeMismatchError(f"CAM samples must be {(gh, gw)} offsets and {(gh, gw, 3)} values "
                             f"for {h}x{w} at grid {g}, got {off.shape} and {vals.shape}")
  if not _check_offsets(off.astype(np.int64), h, w, g) or vals.max(initial=0) >= 1 << b:
    raise ValueError("CAM sample offsets outside their cells or values above the bit depth")
  n = gh * gw
  flat_off = off.astype(np.int64).reshape(-1)
  packed = _pack_fixed(flat_off, _pos_bits(g))
  freq = _position_freqs(flat_off, g * g)
  mode, pos, table_bytes = 0, packed, b""
  if freq is not None:
    coded = rans_numpy.encode(flat_off.astype(np.int32), np.zeros(n, np.int32),
                              _position_table(freq), lanes=_LANES)
    if len(coded) + 2 * freq.size < len(packed):
      mode, pos, table_bytes = 1, coded, freq.astype("<u2").tobytes()
  tables = value_tables()
  his, los, rows, ks = [], [], [], []
  for c in range(3):
    q = vals[..., c].astype(np.int64)
    res = (q - _med_predict_all(q)).reshape(-1)
    k, row = _choose_split(res, b, tables)
    his.append(res >> k)
    los.append(_bits(res & ((1 << k) - 1), k))
    rows.append(row)
    ks.append(k)
  hi = np.concatenate(his).astype(np.int32)
  idx = np.repeat(np.asarray(rows, np.int32), n)
  val = rans_numpy.encode(hi, idx, tables, lanes=_LANES)
  lo = np.packbits(np.concatenate(los).astype(np.uint8)).tobytes() if any(ks) else b""
  head = _HEADER.pack(MAGIC, VERSION, g, b, mode, h, w, tables.fingerprint[:4], *rows, *ks)
  body = (head + table_bytes + struct.pack("<I", len(pos)) + pos + struct.pack("<I", len(val))
          + val + lo)
  return body + struct.pack("<I", zlib.crc32(body))


def decode_cam(data: bytes, source: str = "<cam>") -> CamSamples:
  """Parses `.cam` bytes strictly (module doc).

  Raises:
    BitstreamError: truncated, foreign, future version, invalid header, wrong lengths,
      CRC mismatch, undecodable substreams, offsets outside their cells.
  """
  data = bytes(data)
  if len(data) < _HEADER.size + _TRAILER:
    raise BitstreamError(f"{source}: truncated CAM metadata ({len(data)} bytes)")
  if data[:4] != MAGIC:
    raise BitstreamError(f"{source}: not CAM metadata (magic {data[:4]!r}, expected {MAGIC!r})")
  (crc,) = struct.unpack_from("<I", data, len(data) - _TRAILER)
  if crc != zlib.crc32(data[:-_TRAILER]):
    raise BitstreamError(f"{source}: corrupted or truncated CAM metadata (CRC-32 mismatch)")
  _, version, g, b, mode, h, w, fp, *rest = _HEADER.unpack_from(data, 0)
  rows, ks = rest[:3], rest[3:]
  if version != VERSION:
    raise BitstreamError(f"{source}: CAM metadata version {version} is not supported (only {VERSION})")
  tables = value_tables()
  if (not (1 <= g <= 64 and 1 <= b <= 16 and h >= 1 and w >= 1 and h * w <= _MAX_PIXELS)
      or mode not in (0, 1) or max(rows) >= tables.num_scales or max(ks) > b):
    raise BitstreamError(f"{source}: invalid CAM header (grid {g}, bits {b}, mode {mode}, "
                         f"size {h}x{w}, rows {rows}, k {ks})")
  if fp != tables.fingerprint[:4]:
    raise BitstreamError(f"{source}: CAM value tables differ from this decoder's")
  gh, gw = cell_counts(h, w, g)
  n = gh * gw
  end = len(data) - _TRAILER
  pos_at = _HEADER.size

  def take(at: int, size: int, what: str) -> tuple[bytes, int]:
    if size < 0 or at + size > end:
      raise BitstreamError(f"{source}: truncated CAM metadata ({what})")
    return data[at:at + size], at + size

  try:
    freq = None
    if mode == 1:
      raw, pos_at = take(pos_at, 2 * g * g, "position table")
      freq = np.frombuffer(raw, "<u2").astype(np.int64)
      if np.any(freq < 1) or freq.sum() >= 1 << _POS_PRECISION:
        raise BitstreamError(f"{source}: invalid CAM position table")
    (n_pos,), pos_at = struct.unpack("<I", take(pos_at, 4, "length")[0]), pos_at + 4
    pos, at = take(pos_at, n_pos, "positions")
    (n_val,), at = struct.unpack("<I", take(at, 4, "length")[0]), at + 4
    val, at = take(at, n_val, "values")
    if mode == 0:
      if n_pos != _packed_len(n * _pos_bits(g)):
        raise BitstreamError(f"{source}: CAM position block has {n_pos} bytes, expected "
                             f"{_packed_len(n * _pos_bits(g))}")
      offsets = _unpack_fixed(pos, n, _pos_bits(g))
    else:
      offsets = rans_numpy.decode(pos, np.zeros(n, np.int32), _position_table(freq)).astype(np.int64)
    idx = np.repeat(np.asarray(rows, np.int32), n)
    hi = rans_numpy.decode(val, idx, tables).astype(np.int64)
  except ValueError as e:
    raise BitstreamError(f"{source}: undecodable CAM metadata ({e})") from e
  lo_bits = n * sum(ks)
  if end - at != _packed_len(lo_bits):
    raise BitstreamError(f"{source}: CAM metadata has {end - at} bytes of low bits, expected "
                         f"{_packed_len(lo_bits)}")
  bits = np.unpackbits(np.frombuffer(data[at:end], np.uint8))[:lo_bits].astype(np.int64)
  offsets = offsets.reshape(gh, gw)
  if not _check_offsets(offsets, h, w, g):
    raise BitstreamError(f"{source}: CAM sample offsets outside their cells (corrupt)")
  vals = np.empty((gh, gw, 3), np.uint16)
  start = 0
  for c in range(3):
    k = ks[c]
    lo = np.zeros(n, np.int64)
    if k:
      lo = bits[start:start + n * k].reshape(n, k) @ (1 << np.arange(k - 1, -1, -1, dtype=np.int64))
      start += n * k
    res = (hi[c * n:(c + 1) * n] << k) + lo
    vals[..., c] = _med_reconstruct(res.reshape(gh, gw), (1 << b) - 1)
  return CamSamples(h, w, g, b, offsets.astype(np.int32), vals)


def section_sizes(data: bytes) -> dict[str, int]:
  """Bytes of each part of a valid `.cam` file: header (with lengths and CRC), position
  table, positions, values (rANS), low bits; BitstreamError if it does not parse."""
  decode_cam(data)
  mode = data[7]
  g = data[5]
  table = 2 * g * g if mode == 1 else 0
  at = _HEADER.size + table
  (n_pos,) = struct.unpack_from("<I", data, at)
  (n_val,) = struct.unpack_from("<I", data, at + 4 + n_pos)
  lo = len(data) - _TRAILER - (at + 8 + n_pos + n_val)
  return {"header": _HEADER.size + 8 + _TRAILER, "position_table": table, "positions": n_pos,
          "values": n_val, "low_bits": lo}


def write_cam(path: str | os.PathLike, data: bytes) -> None:
  """Writes `.cam` bytes atomically (`io.atomic`)."""
  atomic_write_bytes(path, bytes(data))


def read_cam(path: str | os.PathLike) -> CamSamples:
  """Reads and parses a `.cam` file (InputError if missing, BitstreamError if bad)."""
  return decode_cam(read_file_bytes(path, "CAM metadata"), str(path))
