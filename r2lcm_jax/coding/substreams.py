"""Coding groups split into K independent substreams ("parallel entropy coding").

A coding group (the hyper latent, or one context step of one level) is a 1-D sequence of
n symbols in the codec's coding order (channel-major, positions in raster order). It is
cut into K contiguous chunks by `split_indices(n, K)`, a rule that depends only on n and
K: chunk k is `[k * n // K, (k + 1) * n // K)`. Contiguous chunks of a channel-major
order are spatial tiles of one or a few channels. Each chunk is one substream with its
own coder state, so substreams can be decoded by one thread, a thread pool or one
vectorised accelerator loop, always giving the same symbols.

The encoder chooses K and the lanes per substream L (deterministic functions of n and the
estimated payload); the bitstream stores K (the number of substreams of the group) and
each substream stores its L, so decoders need neither rule. Every rANS lane costs about
`LANE_COST_BITS` (36) bits: its 32-bit final state plus the start-up of a lane whose
state begins at 2^16 (measured). The total lanes of a group are capped so that this
stays below `OVERHEAD_BUDGET` (0.4 %) of the estimated payload:
`lane_budget = floor(0.004 * est_bits / 36)`; K = ceil(budget / max_lanes) (at least 2
when the budget allows 2 x 64 lanes, so thread-parallel decoders get work), and
L = clip(budget // K, 1, max_lanes). Small groups therefore get few lanes (rate first);
on XLA:CPU speed grows with K * L per scan step, so large groups are also the fast ones.

API:
  DEFAULT_LANES (the default maximum lanes per substream)
  choose_num_substreams(n_symbols, est_bits=None, *, lanes=DEFAULT_LANES) -> int
  choose_lanes(n_symbols, est_bits=None, *, num_substreams=1, max_lanes=DEFAULT_LANES)
  split_indices(n, K) -> int64 (K + 1,) chunk boundaries
  encode_group(symbols, indexes, tables, *, num_substreams, backend,
               lanes=DEFAULT_LANES, est_bits=None) -> list[bytes]
  decode_group(substreams, indexes, tables, *, backend, workers=0) -> int32 (n,)
"""

from __future__ import annotations

import concurrent.futures

import numpy as np

from r2lcm_jax.coding.backend_api import CoderBackend
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = [
  "DEFAULT_LANES",
  "MAX_SUBSTREAMS",
  "OVERHEAD_BUDGET",
  "DEFAULT_BITS_PER_SYMBOL",
  "choose_num_substreams",
  "choose_lanes",
  "lane_budget",
  "LANE_COST_BITS",
  "split_indices",
  "encode_group",
  "decode_group",
]

DEFAULT_LANES = 4096
MAX_SUBSTREAMS = 4096
OVERHEAD_BUDGET = 0.004
LANE_COST_BITS = 36
DEFAULT_BITS_PER_SYMBOL = 2.0
_MIN_LANES_FOR_SPLIT = 64


def lane_budget(n_symbols: int, est_bits: float | None = None) -> int:
  """Total rANS lanes a group of n symbols can afford (>= 1, <= n)."""
  n = int(n_symbols)
  bits = DEFAULT_BITS_PER_SYMBOL * n if est_bits is None else float(est_bits)
  if not np.isfinite(bits) or bits < 0:
    bits = DEFAULT_BITS_PER_SYMBOL * n
  return int(max(1, min(max(n, 1), OVERHEAD_BUDGET * bits // LANE_COST_BITS)))


def choose_num_substreams(n_symbols: int, est_bits: float | None = None, *,
                          lanes: int = DEFAULT_LANES) -> int:
  """Number of substreams K for a group (deterministic; 1 <= K <= max(1, n_symbols)).

  Args:
    n_symbols: symbols in the group.
    est_bits: estimated payload in bits (e.g. sum of -log2 likelihoods); None assumes
      DEFAULT_BITS_PER_SYMBOL per symbol.
    lanes: maximum rANS lanes per substream.

  Returns:
    K = ceil(lane_budget / lanes), at least 2 if the budget covers 2 x 64 lanes,
    at most MAX_SUBSTREAMS.
  """
  budget = lane_budget(n_symbols, est_bits)
  k = -(-budget // max(1, int(lanes)))
  if budget >= 2 * _MIN_LANES_FOR_SPLIT:
    k = max(k, 2)
  return int(max(1, min(k, MAX_SUBSTREAMS, max(1, int(n_symbols)))))


def choose_lanes(n_symbols: int, est_bits: float | None = None, *,
                 num_substreams: int = 1, max_lanes: int = DEFAULT_LANES) -> int:
  """rANS lanes per substream: clip(lane_budget // K, 1, max_lanes)."""
  budget = lane_budget(n_symbols, est_bits)
  return int(max(1, min(int(max_lanes), budget // max(1, int(num_substreams)))))


def split_indices(n: int, num_substreams: int) -> np.ndarray:
  """int64 (K + 1,) boundaries: substream k holds symbols [b[k], b[k + 1])."""
  if num_substreams < 1:
    raise ValueError(f"num_substreams must be >= 1, got {num_substreams}")
  k = np.arange(num_substreams + 1, dtype=np.int64)
  return (k * int(n)) // num_substreams


def encode_group(symbols: np.ndarray, indexes: np.ndarray, tables: CodingTables, *,
                 num_substreams: int, backend: CoderBackend,
                 lanes: int = DEFAULT_LANES, est_bits: float | None = None
                 ) -> list[bytes]:
  """Encodes int32 symbols (n,) with indexes (n,) into `num_substreams` substreams.

  Args:
    symbols, indexes: int32 (n,) in coding order.
    tables: the coding tables.
    num_substreams: K (e.g. from `choose_num_substreams`).
    backend: a CoderBackend.
    lanes: maximum rANS lanes per substream; the lanes used are
      `choose_lanes(n, est_bits, num_substreams=K, max_lanes=lanes)`.
    est_bits: estimated payload in bits (None: 2 bits per symbol).
  """
  symbols = np.asarray(symbols)
  indexes = np.asarray(indexes)
  if symbols.shape != indexes.shape or symbols.ndim != 1:
    raise ValueError(f"symbols {symbols.shape} / indexes {indexes.shape}: need equal 1-D")
  if num_substreams > max(1, symbols.size):
    raise ValueError(f"{num_substreams} substreams for {symbols.size} symbols")
  b = split_indices(symbols.size, num_substreams)
  items = [(symbols[b[k] : b[k + 1]], indexes[b[k] : b[k + 1]])
           for k in range(num_substreams)]
  used = choose_lanes(symbols.size, est_bits, num_substreams=num_substreams,
                      max_lanes=lanes)
  return backend.encode_substreams(items, tables, lanes=used)


def decode_group(substreams: list[bytes], indexes: np.ndarray, tables: CodingTables, *,
                 backend: CoderBackend, workers: int = 0) -> np.ndarray:
  """Decodes a group: int32 symbols (n,) for int32 indexes (n,) (n from the indexes).

  Args:
    substreams: the group's K substreams (K as written by the encoder).
    indexes: int32 (n,) table indexes in coding order.
    tables: the coding tables (must match the bitstream's fingerprint).
    backend: a backend of the coder that wrote the bitstream.
    workers: 0 decodes all substreams in one backend call; > 0 splits them over that
      many threads. The result is identical for every value.

  Raises:
    BitstreamError: wrong number of substreams or corrupt substream data.
  """
  indexes = np.asarray(indexes)
  k = len(substreams)
  if k < 1 or k > max(1, indexes.size) or k > MAX_SUBSTREAMS:
    raise BitstreamError(f"group has {k} substreams for {indexes.size} symbols")
  b = split_indices(indexes.size, k)
  parts = [indexes[b[j] : b[j + 1]] for j in range(k)]
  if workers > 0 and k > 1:
    chunks = np.array_split(np.arange(k), min(workers, k))
    with concurrent.futures.ThreadPoolExecutor(len(chunks)) as pool:
      results = list(pool.map(
        lambda c: backend.decode_substreams([substreams[j] for j in c],
                                            [parts[j] for j in c], tables), chunks))
    decoded = [s for r in results for s in r]
  else:
    decoded = backend.decode_substreams(list(substreams), parts, tables)
  if not decoded:
    return np.zeros(0, np.int32)
  return np.concatenate(decoded).astype(np.int32)
