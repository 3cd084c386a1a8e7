"""Coder backends: the same substream API over the NumPy, native, JAX and TFC coders.

Every backend object is a `backend_api.CoderBackend`:
  `.name`, `.coder_id` (written into the bitstream header),
  `.encode_substreams(items, tables, *, lanes) -> list[bytes]`
      items: list of (symbols int32 (n_k,), indexes int32 (n_k,)), one per substream,
  `.decode_substreams(datas, indexes, tables, *, lanes=None) -> list[int32 (n_k,)]`,
  `.close()` and the context-manager protocol.
"numpy", "native" (numba kernels on the CPU cores, `rans_native`) and "jax" (one
`lax.scan`, for accelerators) write the same rANS format, byte for byte (coder id
`CODER_RANS`), so each decodes the others' bytes; "auto" is "native" when the default
JAX device is a CPU and numba is installed, else "jax" (`default_rans_backend`).
"tfc" (coder id `CODER_TFC`, `tfc_backend.TfcBackend`) writes one
tensorflow-compression range-coder string per substream and ignores `lanes`.
Backends cache their per-table state (derived arrays, device copies) in the instance;
there is no module-level state. `get_backend(name)` raises CoderBackendError when the
backend cannot be used (e.g. no `.venv-tfc`).
"""

from __future__ import annotations

import concurrent.futures

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.coding.backend_api import (
  CODER_NAMES,
  CODER_RANS,
  CODER_TFC,
  CoderBackend,
)
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import CoderBackendError

__all__ = [
  # The interface and coder ids are defined in `backend_api` (imported by `tfc_backend`
  # too, without a cycle); they stay reachable here for `coding.bitstream` and the codec.
  "CODER_NAMES",
  "CODER_RANS",
  "CODER_TFC",
  "CoderBackend",
  "NumpyBackend",
  "JaxBackend",
  "NativeBackend",
  "RANS_BACKENDS",
  "default_rans_backend",
  "get_backend",
  "backend_for_coder",
]


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


class _BatchedRansBackend(CoderBackend):
  """A backend whose coder object (`self._make(tables)`, cached per table) encodes and
  decodes all substreams of a call at once (`encode_many` / `decode_many`)."""

  def encode_substreams(self, items, tables, *, lanes):
    return self._cache.get(tables, self._make).encode_many(list(items), lanes=lanes)

  def decode_substreams(self, datas, indexes, tables, *, lanes=None):
    return self._cache.get(tables, self._make).decode_many(
      list(datas), list(indexes), lanes=lanes)


class NativeBackend(_BatchedRansBackend):
  """Native rANS (`rans_native`, numba): substreams in parallel on the CPU cores."""

  name = "native"
  coder_id = CODER_RANS

  def __init__(self, workers: int | None = None):
    """`workers`: threads for the substreams of a call (None: the usable CPU cores)."""
    from r2lcm_jax.coding import rans_native

    if not rans_native.available():
      raise CoderBackendError(
        "native coder backend unavailable: numba is not installed (pip install numba)")
    self._make = lambda tables: rans_native.NativeRans(tables, workers=workers)
    self._cache = _RansCache()


class JaxBackend(_BatchedRansBackend):
  """JAX rANS: all substreams x lanes of a call in one jitted `lax.scan`."""

  name = "jax"
  coder_id = CODER_RANS

  def __init__(self, **coder_options):
    """`coder_options` go to `rans_jax.JaxRans` (min_grid, min_fine_rows, devices)."""
    from r2lcm_jax.coding import rans_jax  # imports jax only when used

    self._make = lambda tables: rans_jax.JaxRans(tables, **coder_options)
    self._cache = _RansCache()


RANS_BACKENDS = ("auto", "native", "jax", "numpy")


def default_rans_backend() -> str:
  """"native" if numba is installed and JAX's default device is a CPU, else "jax"."""
  from r2lcm_jax.coding import rans_native

  if not rans_native.available():
    return "jax"
  import jax

  return "native" if jax.default_backend() == "cpu" else "jax"


def get_backend(name: str, **options) -> CoderBackend:
  """A new backend object: "numpy" (options: workers), "native" (options: workers),
  "jax" (options: see JaxRans), "auto" (`default_rans_backend()`, same options),
  "tfc" (see tfc_backend).

  Raises:
    CoderBackendError: unknown name, or the backend cannot run here.
  """
  if name == "auto":
    name = default_rans_backend()
  if name == "numpy":
    return NumpyBackend(**options)
  if name == "native":
    return NativeBackend(**options)
  if name == "jax":
    return JaxBackend(**options)
  if name == "tfc":
    from r2lcm_jax.coding import tfc_backend

    return tfc_backend.TfcBackend(**options)
  raise CoderBackendError(
    f"unknown coder backend {name!r} (have auto, native, jax, numpy, tfc)")


def backend_for_coder(coder_id: int, prefer: str = "auto", **options) -> CoderBackend:
  """A backend that decodes bitstreams written by `coder_id` (rans: `prefer`, one of
  RANS_BACKENDS; anything else means "auto")."""
  if coder_id == CODER_RANS:
    return get_backend(prefer if prefer in RANS_BACKENDS else "auto", **options)
  if coder_id == CODER_TFC:
    return get_backend("tfc", **options)
  raise CoderBackendError(f"unknown coder id {coder_id} in bitstream")
