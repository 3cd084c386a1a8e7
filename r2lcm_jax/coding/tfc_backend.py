"""The `tfc` coder backend: tensorflow-compression's range coder in a worker process.

TF 2.14 (the newest tensorflow-compression pin) needs numpy < 2 and cannot share an
environment with current JAX, so `make tfc` creates `.venv-tfc` and this backend sends
(values, indexes, integer CDF tables) to `third_party/tfc_bridge/worker.py` running in
it, over a length-prefixed pipe protocol (see the worker's docstring). Each substream is
one TFC range-coder stream (`create_range_encoder` + `entropy_encode_index` +
`entropy_encode_finalize`, and the decoder ops in reverse); bitstreams record coder id
`CODER_TFC`.

Tables: our CDF rows `[0, c_1, ..., 2^P]` (padded with 2^P) become TFC rows
`[-P, 0, c_1, ..., 2^P, ...]`; the negative precision turns on TFC's overflow coding, whose
escape symbol is the last non-zero-probability bin, i.e. exactly our escape bin. Values
outside the support are then coded by TFC as escape + Elias-gamma magnitude + sign in
uniform binary bins, inside the same stream (our rANS format instead stores the
distance beyond the support as a varint after the words). TFC codes
`v - offset[index]`, which must fit int32.

The worker is found at `<repo>/.venv-tfc/bin/python` or `$R2LCM_TFC_PYTHON`, started on
first use, owned by the backend object and stopped by `close()` (or the `with` block).
"""

from __future__ import annotations

import io
import os
import pathlib
import struct
import subprocess
import tempfile
import threading

import numpy as np

from r2lcm_jax.coding.backend_api import CODER_TFC, CoderBackend
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError, CoderBackendError

__all__ = ["TfcBackend", "find_tfc_python", "tfc_lookup", "REPO_ROOT", "WORKER"]

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKER = REPO_ROOT / "third_party" / "tfc_bridge" / "worker.py"


def find_tfc_python(python: str | os.PathLike | None = None) -> pathlib.Path:
  """Interpreter of the isolated TFC environment; CoderBackendError if absent."""
  candidate = python or os.environ.get("R2LCM_TFC_PYTHON") or (
    REPO_ROOT / ".venv-tfc" / "bin" / "python")
  path = pathlib.Path(candidate)
  if not path.is_file() or not os.access(path, os.X_OK):
    raise CoderBackendError(
      f"tfc backend unavailable: no interpreter at {path} (run `make tfc` to create "
      ".venv-tfc, or set R2LCM_TFC_PYTHON)")
  if not WORKER.is_file():
    raise CoderBackendError(f"tfc backend unavailable: worker script {WORKER} missing")
  return path


def tfc_lookup(tables: CodingTables) -> np.ndarray:
  """int32 (S, max_len + 1) TFC CDF rows with overflow coding on (-precision prefix)."""
  prefix = np.full((tables.num_scales, 1), -tables.precision, np.int32)
  return np.concatenate([prefix, tables.cdf], axis=1)


def _pack(op: bytes, arrays: list[np.ndarray]) -> bytes:
  parts = [struct.pack("<4sI", op, len(arrays))]
  for a in arrays:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    parts += [struct.pack("<Q", buf.tell()), buf.getvalue()]
  return b"".join(parts)


class TfcBackend(CoderBackend):
  """tensorflow-compression range coder, one TFC stream per substream."""

  name = "tfc"
  coder_id = CODER_TFC

  def __init__(self, python: str | os.PathLike | None = None, threads: int = 0):
    """Args:
      python: interpreter of `.venv-tfc` (default: found as described above).
      threads: TF intra-op threads of the worker (0: TensorFlow's default, all cores).
    """
    self._python = find_tfc_python(python)
    self._threads = int(threads)
    self._proc: subprocess.Popen | None = None
    self._lock = threading.Lock()  # one request at a time on the pipe
    self._stderr = None
    self._lookups: dict[bytes, np.ndarray] = {}
    self.last_worker_seconds = 0.0  # time of the last call inside the worker (no IPC)

  # -- worker process --------------------------------------------------------------
  def _start(self) -> subprocess.Popen:
    if self._proc is not None and self._proc.poll() is None:
      return self._proc
    self._stderr = tempfile.TemporaryFile()
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    try:
      self._proc = subprocess.Popen(
        [str(self._python), str(WORKER), "--threads", str(self._threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
    except OSError as e:
      raise CoderBackendError(f"tfc backend: cannot start {self._python}: {e}") from e
    return self._proc

  def _stderr_tail(self) -> str:
    if self._stderr is None:
      return ""
    self._stderr.seek(0)
    return self._stderr.read().decode("utf-8", "replace")[-2000:]

  def _read(self, n: int) -> bytes:
    data = self._proc.stdout.read(n)
    if data is None or len(data) != n:
      self.close()
      raise CoderBackendError(f"tfc worker exited unexpectedly:\n{self._stderr_tail()}")
    return data

  def _call(self, op: bytes, arrays: list[np.ndarray]) -> tuple[bytes, list[np.ndarray]]:
    with self._lock:
      return self._call_locked(op, arrays)

  def _call_locked(self, op, arrays):
    proc = self._start()
    try:
      proc.stdin.write(_pack(op, arrays))
      proc.stdin.flush()
    except (BrokenPipeError, OSError) as e:
      self.close()
      raise CoderBackendError(f"tfc worker unreachable ({e}):\n{self._stderr_tail()}") from e
    status, count = struct.unpack("<4sI", self._read(8))
    out = []
    for _ in range(count):
      (nbytes,) = struct.unpack("<Q", self._read(8))
      out.append(np.load(io.BytesIO(self._read(nbytes)), allow_pickle=False))
    return status, out

  def close(self) -> None:
    """Stops the worker (if running)."""
    proc, self._proc = self._proc, None
    if proc is not None:
      try:
        if proc.poll() is None:
          proc.stdin.write(_pack(b"QUIT", []))
          proc.stdin.flush()
          proc.wait(timeout=10)
      except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()
      finally:
        for f in (proc.stdin, proc.stdout):
          if f is not None:
            f.close()
    if self._stderr is not None:
      self._stderr.close()
      self._stderr = None

  def __del__(self):
    if getattr(self, "_proc", None) is not None:
      self.close()

  def version(self) -> str:
    """TensorFlow version string reported by the worker (starts it)."""
    status, out = self._call(b"PING", [])
    if status != b"OK__":
      raise CoderBackendError("tfc worker did not answer PING")
    return out[0].tobytes().decode()

  # -- coding ------------------------------------------------------------------------
  def _lookup(self, tables: CodingTables) -> np.ndarray:
    fp = tables.fingerprint
    if fp not in self._lookups:
      self._lookups[fp] = tfc_lookup(tables)
    return self._lookups[fp]

  @staticmethod
  def _indexes(indexes, num_scales) -> np.ndarray:
    idx = np.asarray(indexes)
    if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= num_scales)):
      raise ValueError(f"indexes must be 1-D in [0, {num_scales})")
    return idx.astype(np.int32)

  def encode_substreams(self, items, tables, *, lanes=0):
    del lanes  # one TFC stream per substream
    idx = [self._indexes(i, tables.num_scales) for _, i in items]
    values = []
    for (sym, _), ix in zip(items, idx, strict=True):
      sym = np.asarray(sym)
      if sym.shape != ix.shape:
        raise ValueError(f"symbols {sym.shape} and indexes {ix.shape} differ in shape")
      v = sym.astype(np.int64) - tables.offset[ix]
      if v.size and (v.min() < -(2**31) or v.max() >= 2**31):
        raise ValueError("tfc backend: symbol minus offset exceeds the int32 range")
      values.append(v.astype(np.int32))
    sizes = np.asarray([i.size for i in idx], np.int64)
    cat = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.int32)  # noqa: E731
    status, out = self._call(b"ENC_", [self._lookup(tables), cat(values), cat(idx), sizes])
    if status != b"OK__":
      raise CoderBackendError(f"tfc encode failed: {out[0].tobytes().decode()}")
    lengths, blob, seconds = out
    self.last_worker_seconds = float(seconds)
    offs = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    raw = blob.tobytes()
    return [raw[offs[k] : offs[k + 1]] for k in range(len(items))]

  def decode_substreams(self, datas, indexes, tables, *, lanes=None):
    del lanes
    if len(datas) != len(indexes):
      raise ValueError("need one index array per substream")
    idx = [self._indexes(i, tables.num_scales) for i in indexes]
    for k, (d, ix) in enumerate(zip(datas, idx, strict=True)):
      if ix.size == 0 and d:
        raise BitstreamError(f"tfc substream {k}: {len(d)} bytes for zero symbols")
      if ix.size and not d:
        raise BitstreamError(f"tfc substream {k} is empty but codes {ix.size} symbols")
    sizes = np.asarray([i.size for i in idx], np.int64)
    lengths = np.asarray([len(d) for d in datas], np.int64)
    blob = np.frombuffer(b"".join(bytes(d) for d in datas), np.uint8)
    cat = np.concatenate(idx) if idx else np.zeros(0, np.int32)
    status, out = self._call(b"DEC_", [self._lookup(tables), cat, sizes, lengths, blob])
    if status != b"OK__":
      raise BitstreamError(f"tfc substream corrupt: {out[0].tobytes().decode()}")
    values, ok, seconds = out
    self.last_worker_seconds = float(seconds)
    if not np.all(ok):
      raise BitstreamError(
        f"tfc substream(s) {np.nonzero(~ok)[0].tolist()} failed the decoder's end check")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    return [(values[starts[k] : starts[k + 1]].astype(np.int64) + tables.offset[ix]
             ).astype(np.int32) for k, ix in enumerate(idx)]
