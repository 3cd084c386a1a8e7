"""Coder backends: the same substream API over the NumPy, JAX and tensorflow-compression coders.

Every backend object has
  `.name`, `.coder_id` (written into the bitstream header),
  `.encode_substreams(items, tables, *, lanes) -> list[bytes]`
      items: list of (symbols int32 (n_k,), indexes int32 (n_k,)), one per substream,
  `.decode_substreams(datas, indexes, tables, *, lanes=None) -> list[int32 (n_k,)]`,
  `.close()` and the context-manager protocol.
"numpy" and "jax" write the same rANS format (coder id `CODER_RANS`), so either decodes
the other's bytes; "tfc" (coder id `CODER_TFC`, `tfc_backend.TfcBackend`) writes one
tensorflow-compression range-coder string per substream and ignores `lanes`.
Backends cache their per-table state (derived arrays, device copies) in the instance;
there is no module-level state. `get_backend(name)` raises CoderBackendError when the
backend cannot be used (e.g. no `.venv-tfc`).
"""

from __future__ import annotations

import abc
import concurrent.futures

import numpy as np

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import CoderBackendError

__all__ = [
  "CODER_RANS",
  "CODER_TFC",
  "CODER_NAMES",
  "CoderBackend",
  "NumpyBackend",
  "JaxBackend",
  "get_backend",
  "backend_for_coder",
]

CODER_RANS = 1
CODER_TFC = 2
CODER_NAMES = {CODER_RANS: "rans", CODER_TFC: "tfc"}


class CoderBackend(abc.ABC):
  """A way to run one entropy coder on lists of substreams."""

  name: str = ""
  coder_id: int = 0

  @abc.abstractmethod
  def encode_substreams(self, items: list[tuple[np.ndarray, np.ndarray]],
                        tables: CodingTables, *, lanes: int) -> list[bytes]:
    """Encodes each (symbols, indexes) pair into one independent substream."""

  @abc.abstractmethod
  def decode_substreams(self, datas: list[bytes], indexes: list[np.ndarray],
                        tables: CodingTables, *, lanes: int | None = None
                        ) -> list[np.ndarray]:
    """Decodes each substream given its int32 indexes; BitstreamError if corrupt."""

  def close(self) -> None:  # noqa: B027 (optional hook, default: nothing to release)
    """Releases resources (worker processes); the default has none."""

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()


class _RansCache:
  """RansTables per table fingerprint (owned by one backend instance)."""

  def __init__(self):
    self._by_fp: dict[bytes, object] = {}

  def get(self, tables: CodingTables, make):
    fp = tables.fingerprint
    if fp not in self._by_fp:
      self._by_fp[fp] = make(tables)
    return self._by_fp[fp]


class NumpyBackend(CoderBackend):
  """NumPy reference rANS; substreams in a thread pool of `workers` threads (0: serial)."""

  name = "numpy"
  coder_id = CODER_RANS

  def __init__(self, workers: int = 0):
    self._workers = int(workers)
    self._cache = _RansCache()

  def _map(self, fn, args):
    if self._workers > 0 and len(args) > 1:
      with concurrent.futures.ThreadPoolExecutor(self._workers) as pool:
        return list(pool.map(lambda a: fn(*a), args))
    return [fn(*a) for a in args]

  def encode_substreams(self, items, tables, *, lanes):
    rt = self._cache.get(tables, fmt.rans_tables)
    return self._map(lambda s, i: rans_numpy.encode(s, i, rt, lanes=lanes), items)

  def decode_substreams(self, datas, indexes, tables, *, lanes=None):
    if len(datas) != len(indexes):
      raise ValueError("need one index array per substream")
    rt = self._cache.get(tables, fmt.rans_tables)
    return self._map(lambda d, i: rans_numpy.decode(d, i, rt, lanes=lanes),
                     list(zip(datas, indexes, strict=False)))


class JaxBackend(CoderBackend):
  """JAX rANS: all substreams x lanes of a call in one jitted `lax.scan`."""

  name = "jax"
  coder_id = CODER_RANS

  def __init__(self, **coder_options):
    """`coder_options` go to `rans_jax.JaxRans` (min_grid, min_fine_rows, devices)."""
    from r2lcm_jax.coding import rans_jax  # imports jax only when used

    self._make = lambda tables: rans_jax.JaxRans(tables, **coder_options)
    self._cache = _RansCache()

  def encode_substreams(self, items, tables, *, lanes):
    return self._cache.get(tables, self._make).encode_many(list(items), lanes=lanes)

  def decode_substreams(self, datas, indexes, tables, *, lanes=None):
    return self._cache.get(tables, self._make).decode_many(
      list(datas), list(indexes), lanes=lanes)


def get_backend(name: str, **options) -> CoderBackend:
  """A new backend object: "numpy" (options: workers), "jax" (options: see JaxRans),
  "tfc" (see tfc_backend).

  Raises:
    CoderBackendError: unknown name, or the backend cannot run here.
  """
  if name == "numpy":
    return NumpyBackend(**options)
  if name == "jax":
    return JaxBackend(**options)
  if name == "tfc":
    from r2lcm_jax.coding import tfc_backend

    return tfc_backend.TfcBackend(**options)
  raise CoderBackendError(f"unknown coder backend {name!r} (have numpy, jax, tfc)")


def backend_for_coder(coder_id: int, prefer: str = "jax", **options) -> CoderBackend:
  """A backend that decodes bitstreams written by `coder_id` (rans: `prefer`)."""
  if coder_id == CODER_RANS:
    return get_backend(prefer if prefer in ("numpy", "jax") else "jax", **options)
  if coder_id == CODER_TFC:
    return get_backend("tfc", **options)
  raise CoderBackendError(f"unknown coder id {coder_id} in bitstream")
