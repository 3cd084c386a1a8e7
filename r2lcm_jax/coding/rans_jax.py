"""rANS in JAX: all substreams x lanes vectorised in one `lax.scan` (CPU, GPU, TPU).

Same arithmetic and bytes as the NumPy reference (`rans_numpy`; format in
`rans_format`): uint32 states, 16-bit words, no 64-bit types (works without x64).
Substream k with n_k symbols uses L_k = min(lanes, n_k) lanes. All substreams of a call
are laid out on one grid (steps T, substreams K, lanes Lm) and one jitted scan runs
over the steps; in the decoder each substream's read pointer advances by an exclusive
cumulative sum of the lanes that need a word, so the interleaved word order of the
format is reproduced exactly. Grid sizes are rounded up to a few buckets so that
repeated calls with similar sizes reuse the compiled program (idle cells are masked).
Host-side NumPy does only the layout (scatter into the grid), the compaction of emitted
words, the byte packing and, in the decoder, reading each substream's symbols out of the
decoded grid (a strided slice per substream). With `devices=[d0, d1, ...]` the substream
axis is split over the devices by `jax.shard_map` (e.g. two XLA:CPU devices,
`jax_num_cpu_devices=2`, run the scan on both cores); the bytes are the same.

API:
  encode(symbols: int32 (n,), indexes: int32 (n,), tables, *, lanes: int) -> bytes
  decode(data: bytes, indexes: int32 (n,), tables, *, lanes: int | None = None)
      -> int32 (n,)
  JaxRans(tables, *, min_grid=(1, 1, 1), min_fine_rows=1, devices=None)
  JaxRans(tables).encode_many([(symbols, indexes), ...], lanes=L) -> list[bytes]
  JaxRans(tables).decode_many([bytes, ...], [indexes, ...], lanes=None) -> list[int32]
`JaxRans` keeps the tables on the device; the module functions build one per call.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.coding.rans_numpy import as_rans_tables
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = ["encode", "decode", "JaxRans", "bucket"]


def bucket(n: int) -> int:
  """Smallest size >= n of the form m * 2^k with 8 <= m < 16 (<= 12.5 % padding)."""
  if n <= 8:
    return max(int(n), 1)
  shift = int(n).bit_length() - 4
  return ((int(n) + (1 << shift) - 1) >> shift) << shift


def _grid_cells(steps, lm, starts, counts, lanes_k):
  """valid bool (T, K, Lm) and flat source positions int32 of each grid cell.

  Substream k's symbol i sits at step i // L_k, lane i % L_k, and at `starts[k] + i` in
  the flat input arrays; cells past its n_k symbols or its L_k lanes are idle.
  """
  t = jnp.arange(steps, dtype=jnp.int32)[:, None, None]
  lane = jnp.arange(lm, dtype=jnp.int32)[None, None, :]
  lk = lanes_k[None, :, None]
  pos = t * lk + lane
  valid = (lane < lk) & (pos < counts[None, :, None])
  return valid, jnp.where(valid, starts[None, :, None] + pos, 0)


def _divmod_u16_quotient(x, f):
  """Exact (x // f, x % f) for uint32 x, f >= 1 with x // f < 2^16 (rANS at precision
  P = 16 after renormalisation: x < f << 16).

  Integer division is scalarised on CPUs; a float32 division gives the quotient to within
  +-1 (relative error ~2^-23 on a quotient < 2^16), then one integer correction step
  makes it exact on every backend. q * f < 2^32 throughout, so nothing wraps.
  """
  q = jnp.floor(x.astype(jnp.float32) / f.astype(jnp.float32)).astype(jnp.uint32)
  q = jnp.minimum(q, jnp.uint32(0xFFFF))
  q = jnp.where(q * f > x, q - jnp.uint32(1), q)
  r = x - q * f
  up = r >= f
  return jnp.where(up, q + jnp.uint32(1), q), jnp.where(up, r - f, r)


def _encode_grid(packed, offset, support, sym_flat, idx_flat, starts, counts, lanes_k,
                 *, precision, steps, lm):
  """Encodes K substreams laid out on the grid (T, K, Lm) (see `_grid_cells`).

  Args:
    packed, offset, support: RansTables arrays.
    sym_flat, idx_flat: int32 (N,) symbols and table rows of all substreams, back to back.
    starts, counts, lanes_k: int32 (K,) first flat position, symbols and lanes of each
      substream (idle substreams: count 0).

  Returns:
    words uint16 (K, T, Lm), emit bool (K, T, Lm), final states uint32 (K, Lm) and the
    number of escaped symbols per substream int32 (K,).
  """
  m = packed.shape[1]
  valid, src = _grid_cells(steps, lm, starts, counts, lanes_k)
  symbols = jnp.take(sym_flat, src, mode="clip")
  rows = jnp.take(idx_flat, src, mode="clip")
  off = offset[rows]
  sup = support[rows]
  esc = valid & ((symbols < off) | (symbols >= off + sup))
  bins = jnp.where(esc, sup, jnp.where(valid, symbols - off, 0))
  fc = jnp.take(packed.reshape(-1), rows * m + bins, mode="clip")
  f = jnp.where(valid, fc >> jnp.uint32(16), jnp.uint32(1))
  c = fc & jnp.uint32(0xFFFF)
  shift = jnp.uint32(32 - precision)
  p = jnp.uint32(precision)

  def body(x, inp):
    f_t, c_t, v_t = inp
    e = v_t & (x >= (f_t << shift))
    w = (x & jnp.uint32(0xFFFF)).astype(jnp.uint16)
    x = jnp.where(e, x >> jnp.uint32(16), x)
    if precision == 16:  # quotient < 2^16: exact float path
      q, r = _divmod_u16_quotient(x, f_t)
    else:
      q, r = x // f_t, x % f_t
    xn = (q << p) + r + c_t
    return jnp.where(v_t, xn, x), (w, e)

  x0 = jnp.full(symbols.shape[1:], fmt.RANS_L, jnp.uint32)
  x, (words, emit) = jax.lax.scan(body, x0, (f, c, valid), reverse=True)
  num_esc = esc.sum(axis=(0, 2), dtype=jnp.int32)
  return words.transpose(1, 0, 2), emit.transpose(1, 0, 2), x, num_esc


def _exclusive_prefix_sum(a):
  """Exclusive prefix sum along the last axis of small non-negative int32 counts (K, n).

  XLA:CPU lowers `cumsum` to reduce-windows, which dominated a decoder step with many
  lanes; above 128 lanes this uses triangular matmuls on blocks of up to 32 lanes,
  recursing over the block totals (measured 2x faster at 1024 lanes). The
  counts are 0/1 and the sums < 2^24, so float32 arithmetic is exact (precision=HIGHEST
  keeps TPUs from rounding inputs to bfloat16; small integers would be exact anyway).
  """
  k, n = a.shape
  if n <= 128:  # small: XLA's own cumsum is cheaper than two dot calls
    return jnp.cumsum(a, axis=1) - a
  b = 1
  while b < 32 and n % (b * 2) == 0:
    b *= 2
  hi = jax.lax.Precision.HIGHEST
  blocks = a.reshape(k, n // b, b).astype(jnp.float32)
  within = jnp.matmul(blocks, jnp.triu(jnp.ones((b, b), jnp.float32), 1), precision=hi)
  totals = blocks.sum(axis=2).astype(jnp.int32)
  if n // b <= 64:
    tri = jnp.triu(jnp.ones((n // b, n // b), jnp.float32), 1)
    offsets = jnp.matmul(totals.astype(jnp.float32), tri, precision=hi)
  elif b == 1:  # odd lengths: plain cumsum
    return jnp.cumsum(a, axis=1) - a
  else:
    offsets = _exclusive_prefix_sum(totals).astype(jnp.float32)
  return (within + offsets[:, :, None]).reshape(k, n).astype(jnp.int32)


def _decode_grid(packed, coarse, fine, offset, support, wbuf, idx_flat, base, states,
                 starts, counts, lanes_k, *, precision, coarse_bits, steps, lm):
  """Decodes K substreams laid out on the grid (T, K, Lm) (see `_grid_cells`).

  Slot -> bin by the two-level table of `RansTables` (coarse bucket, and the fine row of a
  mixed bucket): two small gathers instead of a 2^P-entry table per row (16 MB at P = 16,
  which does not stay in cache).

  Returns:
    bins int32 (T, K, Lm), final states uint32 (K, Lm), words read per substream int32
    (K,), escape bins per substream int32 (K,).
  """
  m = packed.shape[1]
  valid, src = _grid_cells(steps, lm, starts, counts, lanes_k)
  rows = jnp.take(idx_flat, src, mode="clip")
  p = jnp.uint32(precision)
  mask = jnp.uint32((1 << precision) - 1)
  fine_bits = precision - coarse_bits
  packed_flat = packed.reshape(-1)
  coarse_flat = coarse.reshape(-1)
  fine_flat = fine.reshape(-1)
  lo16 = jnp.uint32(0xFFFF)

  def body(carry, inp):
    x, ptr = carry
    r_t, v_t = inp
    slot = x & mask
    c = jnp.take(coarse_flat, (r_t << coarse_bits) + (slot >> fine_bits).astype(jnp.int32),
                 mode="clip")
    sub = (slot & jnp.uint32((1 << fine_bits) - 1)).astype(jnp.int32)
    f = jnp.take(fine_flat, jnp.where(c < 0, ((-1 - c) << fine_bits) + sub, 0),
                 mode="clip")
    b = jnp.where(c < 0, f, c)
    fc = jnp.take(packed_flat, r_t * m + b, mode="clip")
    x1 = (fc >> jnp.uint32(16)) * (x >> p) + slot - (fc & lo16)
    need = v_t & (x1 < jnp.uint32(fmt.RANS_L))
    need_i = need.astype(jnp.int32)
    pos = base[:, None] + ptr[:, None] + _exclusive_prefix_sum(need_i)
    w = jnp.take(wbuf, pos, mode="clip").astype(jnp.uint32)
    x1 = jnp.where(need, (x1 << jnp.uint32(16)) | w, x1)
    return (jnp.where(v_t, x1, x), ptr + need_i.sum(axis=1)), b

  ptr0 = jnp.zeros(states.shape[0], jnp.int32)
  (x, ptr), bins = jax.lax.scan(body, (states, ptr0), (rows, valid))
  num_esc = (valid & (bins == support[rows])).sum(axis=(0, 2), dtype=jnp.int32)
  return bins, x, ptr, num_esc


_P = jax.sharding.PartitionSpec
_GRID = _P(None, "k", None)


@functools.lru_cache(maxsize=16)
def _compiled(kind: str, devices: tuple | None):
  """jit of the encoder / decoder; with several devices, a shard_map over the substream
  axis K (each device codes whole substreams; no communication inside the loop)."""
  if kind == "encode":
    fn, static = _encode_grid, ("precision", "steps", "lm")
    in_specs = (_P(),) * 5 + (_P("k"),) * 3
    out_specs = (_P("k"), _P("k"), _P("k"), _P("k"))
  else:
    fn, static = _decode_grid, ("precision", "coarse_bits", "steps", "lm")
    in_specs = (_P(),) * 7 + (_P("k"),) * 5
    out_specs = (_GRID, _P("k"), _P("k"), _P("k"))
  if devices is not None:
    mesh = jax.sharding.Mesh(np.asarray(devices, dtype=object), ("k",))
    inner = fn

    def fn(*args, **static_kw):
      return jax.shard_map(functools.partial(inner, **static_kw), mesh=mesh,
                           in_specs=in_specs, out_specs=out_specs,
                           check_vma=False)(*args)

  return jax.jit(fn, static_argnames=static)


class JaxRans:
  """Batched JAX rANS coder bound to one set of tables (kept on the default device)."""

  def __init__(self, tables: CodingTables | fmt.RansTables, *,
               min_grid: tuple[int, int, int] = (1, 1, 1), min_fine_rows: int = 1,
               devices=None):
    """Args:
      tables: the coding tables.
      min_grid: lower bounds (steps, substreams, lanes) of the padded grid; a larger
        grid lets calls of different sizes share one compiled program.
      min_fine_rows: lower bound of the padded fine-table rows (same purpose, for
        tables of different contents).
      devices: devices to spread the substreams over (`jax.shard_map` on a 1-D mesh
        over the substream axis; e.g. two XLA:CPU devices use both cores). None: the
        default device only. The bytes do not depend on it.
    """
    devices = tuple(devices) if devices is not None else ()
    self._devices = devices if len(devices) > 1 else None
    self._encode_fn = _compiled("encode", self._devices)
    self._decode_fn = _compiled("decode", self._devices)
    self.rt = as_rans_tables(tables)
    self._min_grid = tuple(int(v) for v in min_grid)
    fine = self.rt.fine
    rows = bucket(max(fine.shape[0], int(min_fine_rows)))
    fine = np.concatenate([fine, np.zeros((rows - fine.shape[0], fine.shape[1]), np.int32)])
    self._fine = jnp.asarray(fine)
    self._packed = jnp.asarray(self.rt.packed)
    self._coarse = jnp.asarray(self.rt.coarse)
    self._offset = jnp.asarray(self.rt.offset)
    self._support = jnp.asarray(self.rt.support)

  def _layout(self, sizes: list[int], lane_counts: list[int]):
    """Grid (steps, K, Lm) and int32 (K,) starts / counts / lanes of live substreams."""
    steps = max(((n + lc - 1) // lc for n, lc in zip(sizes, lane_counts, strict=True)),
                default=1)
    t0, k0, l0 = self._min_grid
    kb = bucket(max(len(sizes), k0))
    if self._devices is not None:  # whole substreams per device
      d = len(self._devices)
      kb = -(-kb // d) * d
    total = int(sum(sizes))
    starts = np.full(kb, total, np.int32)
    counts = np.zeros(kb, np.int32)
    lanes = np.zeros(kb, np.int32)
    starts[: len(sizes)] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if sizes else []
    counts[: len(sizes)] = sizes
    lanes[: len(sizes)] = lane_counts
    grid = (bucket(max(steps, t0)), kb, bucket(max(max(lane_counts, default=1), l0)))
    return grid, starts, counts, lanes

  @staticmethod
  def _flat(arrays: list[np.ndarray], size: int) -> np.ndarray:
    out = np.zeros(size, np.int32)
    if arrays:
      np.concatenate(arrays, out=out[: sum(a.size for a in arrays)])
    return out

  def encode_many(self, items: list[tuple[np.ndarray, np.ndarray]], *, lanes: int
                  ) -> list[bytes]:
    """Encodes each (symbols int32 (n_k,), indexes int32 (n_k,)) into one substream."""
    rt = self.rt
    prepared, counts = [], []
    for symbols, indexes in items:
      idx = fmt.check_indexes(indexes, rt.support.size)
      sym = np.asarray(symbols)
      if sym.shape != idx.shape:
        raise ValueError(f"symbols {sym.shape} and indexes {idx.shape} differ in shape")
      if sym.dtype != np.int32:
        if sym.dtype.kind not in "iu" or (sym.size and (
            sym.min() < np.iinfo(np.int32).min or sym.max() > np.iinfo(np.int32).max)):
          raise ValueError("symbols must be integers in the int32 range")
        sym = sym.astype(np.int32)
      prepared.append((sym, idx))
      counts.append(fmt.lane_layout(idx.size, lanes)[0])
    live = [k for k, (sym, _) in enumerate(prepared) if sym.size]
    out = [b""] * len(items)
    if not live:
      return out
    (steps, kb, lm), starts, ns, lanes_k = self._layout(
      [prepared[k][0].size for k in live], [counts[k] for k in live])
    size = steps * kb * lm  # >= the symbols; a function of the grid: no recompiles
    words, emit, states, num_esc = self._encode_fn(
      self._packed, self._offset, self._support,
      self._flat([prepared[k][0] for k in live], size),
      self._flat([prepared[k][1] for k in live], size), starts, ns, lanes_k,
      precision=rt.precision, steps=steps, lm=lm)
    words, emit, states = np.asarray(words), np.asarray(emit), np.asarray(states)
    num_esc = np.asarray(num_esc)
    stream = words[emit]
    ends = np.cumsum(emit.reshape(kb, -1).sum(axis=1))
    for j, k in enumerate(live):
      lo = int(ends[j - 1]) if j else 0
      codes = (fmt.to_bins(*prepared[k], rt)[1] if num_esc[j]
               else np.zeros(0, np.uint64))
      out[k] = fmt.pack_substream(states[j, : counts[k]], stream[lo : int(ends[j])],
                                  codes)
    return out

  def decode_many(self, datas: list[bytes], indexes: list[np.ndarray], *,
                  lanes: int | None = None) -> list[np.ndarray]:
    """Decodes substreams; returns int32 symbols (n_k,) per substream."""
    rt = self.rt
    if len(datas) != len(indexes):
      raise ValueError("need one index array per substream")
    idxs = [fmt.check_indexes(i, rt.support.size) for i in indexes]
    out: list[np.ndarray | None] = [None] * len(datas)
    views = {}
    for k, (data, idx) in enumerate(zip(datas, idxs, strict=True)):
      if idx.size == 0:
        if data:
          raise BitstreamError(f"substream of {len(data)} bytes for zero symbols")
        out[k] = np.zeros(0, np.int32)
      else:
        views[k] = fmt.parse_substream(bytes(data), idx.size, lanes)
    live = list(views)
    if live:
      self._decode_live(live, views, idxs, out)
    return out

  def _decode_live(self, live, views, idxs, out) -> None:
    rt = self.rt
    sizes = [idxs[k].size for k in live]
    (steps, kb, lm), starts, ns, lanes_k = self._layout(
      sizes, [views[k].lanes for k in live])
    states = np.full((kb, lm), fmt.RANS_L, np.uint32)
    for j, k in enumerate(live):
      states[j, : views[k].lanes] = views[k].states
    bodies = [np.frombuffer(views[k].body, "<u2", count=len(views[k].body) // 2)
              for k in live]
    base = np.zeros(kb, np.int32)
    base[: len(live)] = np.concatenate([[0], np.cumsum([b.size for b in bodies])[:-1]])
    # A symbol emits at most one word and one escape varint (<= 5 bytes), so a body
    # holds at most 3.5 n_k 16-bit units (checked by parse_substream): the size
    # depends on the grid.
    wbuf = np.empty(4 * steps * kb * lm, np.uint16)  # only [0, total words) is read
    cat = np.concatenate(bodies)
    wbuf[: cat.size] = cat
    n_out = steps * kb * lm  # >= the symbols; a function of the grid: no recompiles
    bins, x, ptr, num_esc = self._decode_fn(
      self._packed, self._coarse, self._fine, self._offset, self._support, wbuf,
      self._flat([idxs[k] for k in live], n_out), base, states, starts, ns, lanes_k,
      precision=rt.precision, coarse_bits=rt.coarse_bits, steps=steps, lm=lm)
    bins, x, ptr, num_esc = (np.asarray(a) for a in (bins, x, ptr, num_esc))
    if np.any(x != fmt.RANS_L):
      bad = sorted({live[j] for j in np.nonzero((x != fmt.RANS_L).any(axis=1))[0]
                    if j < len(live)})
      raise BitstreamError(f"substream(s) {bad} did not decode to the initial state")
    for j, k in enumerate(live):
      try:
        codes = fmt.split_body(views[k], int(ptr[j]), int(num_esc[j]))
      except BitstreamError as e:
        raise BitstreamError(f"substream {k}: {e}") from None
      # Symbol i of substream j sits at step i // L_j, lane i % L_j: a strided slice of
      # the grid, read in row-major order (on the host: a gather with a per-element
      # division costs more than the scan on XLA:CPU when K > 1).
      lk = int(lanes_k[j])
      b = bins[: -(-sizes[j] // lk), j, :lk].reshape(-1)[: sizes[j]]
      if codes.size:
        out[k] = fmt.from_bins(b, idxs[k], codes, rt)
      else:  # every bin is a regular one (num_esc counted the escape bins)
        out[k] = b + rt.offset[idxs[k]]


def encode(symbols: np.ndarray, indexes: np.ndarray,
           tables: CodingTables | fmt.RansTables, *, lanes: int) -> bytes:
  """Encodes int32 symbols (n,) with table rows `indexes` (n,) into one substream."""
  return JaxRans(tables).encode_many([(symbols, indexes)], lanes=lanes)[0]


def decode(data: bytes, indexes: np.ndarray, tables: CodingTables | fmt.RansTables,
           *, lanes: int | None = None) -> np.ndarray:
  """Decodes one substream; returns int32 symbols (n,) for the n given indexes."""
  return JaxRans(tables).decode_many([data], [indexes], lanes=lanes)[0]
