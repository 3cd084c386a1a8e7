"""Coding groups split into K independent substreams ("parallel entropy coding").

A coding group (the hyper latent, or one context step of one level) is a 1-D sequence of
n symbols in the codec's coding order (channel-major, positions in raster order). It is
cut into K contiguous chunks by `split_indices(n, K)`, a rule that depends only on n and
K: chunk k is `[k * n // K, (k + 1) * n // K)`. Contiguous chunks of a channel-major
order are spatial tiles of one or a few channels. Each chunk is one substream with its
own coder state, so substreams can be decoded by one thread, a thread pool or one
vectorised accelerator loop, always giving the same symbols.

The encoder chooses K (`choose_num_substreams`, deterministic) and the bitstream stores
it (the number of substreams of the group). Per substream the rANS coder spends
2 + 4 * min(lanes, n_k) bytes on lane states; K is chosen so that this stays below
`OVERHEAD_BUDGET` (0.4 %) of the group's estimated payload.

API:
  DEFAULT_LANES
  choose_num_substreams(n_symbols, est_bits=None, *, lanes=DEFAULT_LANES) -> int
  split_indices(n, K) -> int64 (K + 1,) chunk boundaries
  encode_group(symbols, indexes, tables, *, num_substreams, backend,
               lanes=DEFAULT_LANES) -> list[bytes]
  decode_group(substreams, indexes, tables, *, backend, workers=0) -> int32 (n,)
"""

from __future__ import annotations

import concurrent.futures

import numpy as np

from r2lcm_jax.coding.backends import CoderBackend
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = [
  "DEFAULT_LANES",
  "MAX_SUBSTREAMS",
  "OVERHEAD_BUDGET",
  "DEFAULT_BITS_PER_SYMBOL",
  "choose_num_substreams",
  "split_indices",
  "encode_group",
  "decode_group",
]

DEFAULT_LANES = 256
MAX_SUBSTREAMS = 4096
OVERHEAD_BUDGET = 0.004
DEFAULT_BITS_PER_SYMBOL = 2.0


def choose_num_substreams(n_symbols: int, est_bits: float | None = None, *,
                          lanes: int = DEFAULT_LANES) -> int:
  """Number of substreams K for a group (deterministic; 1 <= K <= max(1, n_symbols)).

  Args:
    n_symbols: symbols in the group.
    est_bits: estimated payload in bits (e.g. sum of -log2 likelihoods); None assumes
      DEFAULT_BITS_PER_SYMBOL per symbol.
    lanes: rANS lanes per substream (each costs 4 bytes of state).

  Returns:
    K = clip(floor(OVERHEAD_BUDGET * est_bytes / (2 + 4 * lanes)), 1, MAX_SUBSTREAMS),
    and at most ceil(n_symbols / lanes) so that every substream fills its lanes.
  """
  n = int(n_symbols)
  if n <= 0:
    return 1
  bits = DEFAULT_BITS_PER_SYMBOL * n if est_bits is None else float(est_bits)
  if not np.isfinite(bits) or bits < 0:
    bits = DEFAULT_BITS_PER_SYMBOL * n
  k = int(OVERHEAD_BUDGET * bits / 8.0 // (2 + 4 * lanes))
  k = min(k, MAX_SUBSTREAMS, -(-n // lanes))
  return max(1, k)


def split_indices(n: int, num_substreams: int) -> np.ndarray:
  """int64 (K + 1,) boundaries: substream k holds symbols [b[k], b[k + 1])."""
  if num_substreams < 1:
    raise ValueError(f"num_substreams must be >= 1, got {num_substreams}")
  k = np.arange(num_substreams + 1, dtype=np.int64)
  return (k * int(n)) // num_substreams


def encode_group(symbols: np.ndarray, indexes: np.ndarray, tables: CodingTables, *,
                 num_substreams: int, backend: CoderBackend,
                 lanes: int = DEFAULT_LANES) -> list[bytes]:
  """Encodes int32 symbols (n,) with indexes (n,) into `num_substreams` substreams."""
  symbols = np.asarray(symbols)
  indexes = np.asarray(indexes)
  if symbols.shape != indexes.shape or symbols.ndim != 1:
    raise ValueError(f"symbols {symbols.shape} / indexes {indexes.shape}: need equal 1-D")
  if num_substreams > max(1, symbols.size):
    raise ValueError(f"{num_substreams} substreams for {symbols.size} symbols")
  b = split_indices(symbols.size, num_substreams)
  items = [(symbols[b[k] : b[k + 1]], indexes[b[k] : b[k + 1]])
           for k in range(num_substreams)]
  return backend.encode_substreams(items, tables, lanes=lanes)


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
