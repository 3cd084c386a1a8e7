"""SHA-256 fingerprints of arrays, parameter trees and byte strings (for bitstream headers).

`sha256_fingerprint(x)` -> 32 bytes. Arrays are hashed with their dtype and shape
(canonical little-endian, C order), so equal values of different shapes or dtypes give
different fingerprints; pytrees (dicts / lists / tuples of arrays, e.g. model
parameters) are hashed leaf by leaf in sorted-key order with their paths.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np

__all__ = ["sha256_fingerprint"]


def _update(h, obj, path: str) -> None:
  if isinstance(obj, (bytes, bytearray, memoryview)):
    h.update(b"B" + path.encode() + b"\0" + len(obj).to_bytes(8, "little"))
    h.update(bytes(obj))
  elif isinstance(obj, Mapping):
    for key in sorted(obj, key=str):
      _update(h, obj[key], f"{path}/{key}")
  elif isinstance(obj, (list, tuple)):
    for i, item in enumerate(obj):
      _update(h, item, f"{path}[{i}]")
  else:
    a = np.asarray(obj)
    if a.dtype == object:
      raise TypeError(f"cannot fingerprint object at {path!r}")
    a = np.ascontiguousarray(a, a.dtype.newbyteorder("<"))
    h.update(b"A" + path.encode() + b"\0" + a.dtype.str.encode() + b"\0")
    h.update(np.asarray(a.shape, "<i8").tobytes())
    h.update(a.tobytes())


def sha256_fingerprint(obj) -> bytes:
  """32-byte SHA-256 of bytes, an array (NumPy or jax) or a pytree of arrays."""
  h = hashlib.sha256(b"r2lcm-fingerprint-v1")
  _update(h, obj, "")
  return h.digest()
