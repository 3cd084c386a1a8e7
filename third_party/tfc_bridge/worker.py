"""Range-coding worker that runs inside `.venv-tfc` (tensorflow-compression 2.14.1).

Started by `r2lcm_jax.coding.tfc_backend.TfcBackend` as
`.venv-tfc/bin/python third_party/tfc_bridge/worker.py [--threads N]`; it never imports
JAX and the main environment never imports TensorFlow (their NumPy pins conflict).

Protocol on stdin/stdout, all integers little-endian:
  request  = op (4 bytes) | u32 count | count x (u64 nbytes | np.save bytes)
  response = b"OK__" | u32 count | arrays   or   b"ERR_" | u32 1 | uint8 message
ops:
  b"ENC_": lookup int32 (S, M) TFC CDF rows, values int32 (N,), indexes int32 (N,),
           sizes int64 (K,)  ->  lengths int64 (K,), blob uint8 (sum lengths), seconds
  b"DEC_": lookup, indexes int32 (N,), sizes int64 (K,), lengths int64 (K,), blob
           ->  values int32 (N,), ok bool (K,) (`entropy_decode_finalize` per stream),
           seconds
  (seconds: float64, time spent in the TFC ops and array handling inside the worker)
  b"PING" -> version string;  b"QUIT" -> exits.
Substream k is symbols [sum(sizes[:k]), sum(sizes[:k+1])); it becomes one element of a
TFC range-coder handle. Substreams of equal size share one handle (TF codes the handle's
elements in parallel on its intra-op thread pool), so the bytes of a substream never
depend on the others.
"""

import argparse
import io
import os
import struct
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np  # noqa: E402


def read_exact(stream, n):
  buf = bytearray()
  while len(buf) < n:
    chunk = stream.read(n - len(buf))
    if not chunk:
      raise EOFError("client closed the pipe")
    buf += chunk
  return bytes(buf)


def read_message(stream):
  op, count = struct.unpack("<4sI", read_exact(stream, 8))
  arrays = []
  for _ in range(count):
    (nbytes,) = struct.unpack("<Q", read_exact(stream, 8))
    arrays.append(np.load(io.BytesIO(read_exact(stream, nbytes)), allow_pickle=False))
  return op, arrays


def write_message(stream, op, arrays):
  parts = [struct.pack("<4sI", op, len(arrays))]
  for a in arrays:
    buf = io.BytesIO()
    np.save(buf, np.asarray(a), allow_pickle=False)
    parts.append(struct.pack("<Q", buf.tell()))
    parts.append(buf.getvalue())
  stream.write(b"".join(parts))
  stream.flush()


def _groups(sizes):
  """{size: [substream numbers]} in first-appearance order."""
  out = {}
  for k, n in enumerate(sizes.tolist()):
    out.setdefault(n, []).append(k)
  return out


def encode(tf, tfc, lookup, values, indexes, sizes):
  starts = np.concatenate([[0], np.cumsum(sizes)])
  strings = [b""] * len(sizes)
  for n, ks in _groups(sizes).items():
    if n == 0:
      continue
    rows = np.stack([np.arange(starts[k], starts[k] + n) for k in ks])
    handle = tfc.create_range_encoder([len(ks)], lookup)
    handle = tfc.entropy_encode_index(handle, indexes[rows], values[rows])
    for k, s in zip(ks, tfc.entropy_encode_finalize(handle).numpy(), strict=True):
      strings[k] = bytes(s)
  lengths = np.asarray([len(s) for s in strings], np.int64)
  return [lengths, np.frombuffer(b"".join(strings), np.uint8)]


def decode(tf, tfc, lookup, indexes, sizes, lengths, blob):
  starts = np.concatenate([[0], np.cumsum(sizes)])
  offs = np.concatenate([[0], np.cumsum(lengths)])
  raw = blob.tobytes()
  values = np.zeros(int(starts[-1]), np.int32)
  ok = np.ones(len(sizes), bool)
  for n, ks in _groups(sizes).items():
    if n == 0:
      continue
    rows = np.stack([np.arange(starts[k], starts[k] + n) for k in ks])
    encoded = np.asarray([raw[offs[k] : offs[k + 1]] for k in ks], object)
    handle = tfc.create_range_decoder(tf.constant(encoded, tf.string), lookup)
    handle, out = tfc.entropy_decode_index(handle, indexes[rows], [n], tf.int32)
    values[rows] = out.numpy()
    ok[ks] = tfc.entropy_decode_finalize(handle).numpy()
  return [values, ok]


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--threads", type=int, default=0, help="intra-op threads (0: TF)")
  args = parser.parse_args()
  # Keep the protocol stream private: fd 1 becomes stderr, so stray prints or C++
  # logging cannot corrupt it.
  stdout = os.fdopen(os.dup(1), "wb")
  os.dup2(2, 1)
  sys.stdout = sys.stderr
  import tensorflow as tf
  import tensorflow_compression as tfc

  tf.get_logger().setLevel("ERROR")
  if args.threads > 0:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
  stdin = sys.stdin.buffer
  while True:
    try:
      op, arrays = read_message(stdin)
    except EOFError:
      return
    try:
      if op == b"QUIT":
        write_message(stdout, b"OK__", [])
        return
      if op == b"PING":
        version = f"tensorflow {tf.__version__}, tensorflow-compression"
        write_message(stdout, b"OK__", [np.frombuffer(version.encode(), np.uint8)])
      elif op in (b"ENC_", b"DEC_"):
        start = time.perf_counter()
        result = (encode if op == b"ENC_" else decode)(tf, tfc, *arrays)
        seconds = np.float64(time.perf_counter() - start)
        write_message(stdout, b"OK__", result + [seconds])
      else:
        raise ValueError(f"unknown op {op!r}")
    except Exception as e:  # reported to the client, which raises a typed error
      msg = f"{type(e).__name__}: {e}".encode("utf-8", "replace")[:4000]
      write_message(stdout, b"ERR_", [np.frombuffer(msg, np.uint8)])


if __name__ == "__main__":
  main()
