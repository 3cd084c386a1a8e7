"""Entropy-coding benchmark: our JAX rANS vs the NumPy reference vs TFC's range coder.

Run as `r2lcm bench entropy [flags]` (or `python experiments/bench_entropy.py`).
For each size n (2^20..2^24 by default) it draws symbols from realistic adaptive-
quantisation statistics (q ~ U(-2, 2), normalised scale sigma/2^q log-uniform in
[0.1, 8], mu ~ U(-3, 3) * 2^q, u = mu + sigma * N(0, 1), all rounded to float16 as the
codec does), computes symbols and table indexes with `r2lcm_jax.entropy.indexes`, and
codes the same (symbols, indexes) with

* `jax`: our rANS (`rans_jax`, XLA on the default backend; `--jax_devices 2` spreads the
  substreams over two XLA:CPU devices with shard_map), for every lanes L x substreams K,
  plus the encoder's own choice of (K, L) for the payload ("auto");
* `numpy`: the NumPy reference (only for n <= 2^--numpy_max_log2; it loops over steps);
* `tfc`: tensorflow-compression's range coder in the `.venv-tfc` worker with
  --tfc_threads intra-op threads, one TFC stream per substream. Its time is reported
  twice: inside the worker (TFC ops only) and end to end (with the pipe transfer).

Reported: encode / decode Msym/s (best of --repeats, after one warm-up call that
compiles), bits per symbol, the ideal -log2 p of the symbols under the coding tables'
Gaussians (float64, unquantised), and the overhead over it. Every decode is checked to
reproduce the symbols exactly. `--profile DIR` writes a jax.profiler trace of the JAX
runs; `--out FILE` writes the markdown table (with command, load average and versions).
"""

from __future__ import annotations

import os
import platform
import sys
import time

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_list("sizes", ["20", "22", "24"], "log2 of the symbol counts.")
flags.DEFINE_list("lanes", ["256", "1024", "4096"], "rANS lanes per substream.")
flags.DEFINE_list("substreams", ["1", "4", "auto"],
                  "substreams K per group; 'auto' adds the encoder's own (K, lanes).")
flags.DEFINE_integer("repeats", 3, "timed repetitions (best is reported).")
flags.DEFINE_integer("numpy_max_log2", 18, "largest log2 size run with the NumPy coder.")
flags.DEFINE_bool("tfc", True, "also run tensorflow-compression (needs .venv-tfc).")
flags.DEFINE_integer("tfc_threads", 2, "intra-op threads of the TFC worker.")
flags.DEFINE_bool("quick", False, "small run: sizes 2^18, 2^20; lanes 256, 1024.")
flags.DEFINE_string("profile", None, "write a jax.profiler trace of the JAX runs here.")
flags.DEFINE_string("out", None, "write the markdown results table to this file.")
flags.DEFINE_integer("seed", 0, "data seed.")
flags.DEFINE_integer("jax_devices", 1, "XLA:CPU devices; > 1 shards the substreams "
                     "over them with shard_map (e.g. 2 = both cores of a 2-core CPU).")


def realistic_group(n: int, tables, seed: int):
  """(symbols int32 (n,), indexes int32 (n,), ideal bits float) from R2LCM-like stats."""
  from scipy import special

  from r2lcm_jax.entropy import indexes

  rng = np.random.default_rng(seed)
  f16 = lambda a: np.asarray(a, np.float32).astype(np.float16).astype(np.float32)  # noqa: E731
  q = f16(rng.uniform(-2, 2, n))
  step = indexes.step_size(q)
  sigma = f16(np.exp(rng.uniform(np.log(0.1), np.log(8.0), n)) * step)
  mu = f16(rng.uniform(-3, 3, n) * step)
  u = (mu + sigma * rng.standard_normal(n).astype(np.float32)).astype(np.float32)
  sym = indexes.quantize_symbols(u, mu, q)
  idx = indexes.scale_indexes(sigma, q, tables.scale_table)
  s = tables.scale_table[idx].astype(np.float64)
  a = np.abs(sym.astype(np.float64))
  p = special.ndtr((0.5 - a) / s) - special.ndtr((-0.5 - a) / s)
  ideal = float(-np.log2(np.maximum(p, 1e-300)).sum())
  return sym, idx, ideal


def _best(fn, repeats: int):
  """(best seconds, last result) of `repeats` calls after one warm-up call."""
  result = fn()
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    result = fn()
    best = min(best, time.perf_counter() - start)
  return best, result


def _row(coder, n, lanes, k, enc_s, dec_s, nbytes, ideal, note=""):
  bits = 8.0 * nbytes / n
  ideal_bits = ideal / n
  return (f"| {coder} | 2^{int(np.log2(n))} | {lanes} | {k} | {n / enc_s / 1e6:.1f} | "
          f"{n / dec_s / 1e6:.1f} | {bits:.4f} | {ideal_bits:.4f} | "
          f"{100 * (bits / ideal_bits - 1):+.2f} % | {note} |")


def _encode(backend, sym, idx, tables, k: int, lanes: int) -> list[bytes]:
  """K substreams (split rule of `substreams`) with exactly `lanes` lanes each."""
  from r2lcm_jax.coding import substreams

  b = substreams.split_indices(sym.size, k)
  items = [(sym[b[j] : b[j + 1]], idx[b[j] : b[j + 1]]) for j in range(k)]
  return backend.encode_substreams(items, tables, lanes=lanes)


def _configs(n: int, ideal: float) -> list[tuple[int, int, str]]:
  """(lanes, K, note) per configuration; "auto" uses the encoder's own choice."""
  from r2lcm_jax.coding import substreams

  out = []
  for lanes in (int(v) for v in FLAGS.lanes):
    for kspec in FLAGS.substreams:
      if kspec == "auto":
        continue
      out.append((lanes, int(kspec), ""))
  if "auto" in FLAGS.substreams:
    k = substreams.choose_num_substreams(n, ideal)
    lanes = substreams.choose_lanes(n, ideal, num_substreams=k)
    out.append((lanes, k, "encoder's choice (K, L)"))
  return out


def run_size(n, tables, tfc, jax_backend, numpy_backend, out_rows, progress):
  from r2lcm_jax.coding import substreams

  sym, idx, ideal = realistic_group(n, tables, FLAGS.seed + n)
  ks_seen = set()
  for lanes, k, note in _configs(n, ideal):
    progress.set_postfix_str(f"n=2^{int(np.log2(n))} L={lanes} K={k}")
    enc_s, subs = _best(lambda k=k, lanes=lanes: _encode(
      jax_backend, sym, idx, tables, k, lanes), FLAGS.repeats)
    dec_s, out = _best(lambda subs=subs: substreams.decode_group(
      subs, idx, tables, backend=jax_backend), FLAGS.repeats)
    if not np.array_equal(out, sym):
      raise AssertionError(f"jax round trip failed at n={n} L={lanes} K={k}")
    nbytes = sum(map(len, subs))
    out_rows.append(_row("jax rANS", n, lanes, k, enc_s, dec_s, nbytes, ideal, note))
    if n <= 1 << FLAGS.numpy_max_log2:
      nenc_s, nsubs = _best(lambda k=k, lanes=lanes: _encode(
        numpy_backend, sym, idx, tables, k, lanes), 1)
      if nsubs != subs:
        raise AssertionError("numpy and jax bytes differ")
      ndec_s, nout = _best(lambda subs=subs: substreams.decode_group(
        subs, idx, tables, backend=numpy_backend), 1)
      if not np.array_equal(nout, sym):
        raise AssertionError("numpy round trip failed")
      out_rows.append(_row("numpy rANS (reference)", n, lanes, k, nenc_s, ndec_s,
                           nbytes, ideal, "same bytes as jax"))
    if tfc is not None and k not in ks_seen:
      ks_seen.add(k)
      out_rows.extend(_run_tfc(tfc, sym, idx, tables, k, ideal))
    progress.update(1)


def _run_tfc(tfc, sym, idx, tables, k, ideal):
  from r2lcm_jax.coding import substreams

  n = sym.size
  _encode(tfc, sym, idx, tables, k, 1)  # warm-up
  tenc = tenc_w = tdec = tdec_w = float("inf")
  for _ in range(FLAGS.repeats):
    start = time.perf_counter()
    tsubs = _encode(tfc, sym, idx, tables, k, 1)
    tenc = min(tenc, time.perf_counter() - start)
    tenc_w = min(tenc_w, tfc.last_worker_seconds)
    start = time.perf_counter()
    tout = substreams.decode_group(tsubs, idx, tables, backend=tfc)
    tdec = min(tdec, time.perf_counter() - start)
    tdec_w = min(tdec_w, tfc.last_worker_seconds)
  if not np.array_equal(tout, sym):
    raise AssertionError("tfc round trip failed")
  tbytes = sum(map(len, tsubs))
  return [
    _row("tfc range coder (in worker)", n, "-", k, tenc_w, tdec_w, tbytes, ideal,
         f"{FLAGS.tfc_threads} TF threads"),
    _row("tfc range coder (incl. pipe)", n, "-", k, tenc, tdec, tbytes, ideal,
         "end to end from the main process"),
  ]


def main(argv) -> None:
  del argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import jax

  if FLAGS.jax_devices > 1:
    jax.config.update("jax_num_cpu_devices", FLAGS.jax_devices)
  from tqdm import tqdm

  from r2lcm_jax.coding import backends
  from r2lcm_jax.entropy.tables import build_gaussian_tables
  from r2lcm_jax.errors import CoderBackendError

  if FLAGS.quick:
    for name, value in (("sizes", ["18", "20"]), ("lanes", ["256", "1024"]),
                        ("repeats", 2)):
      if not FLAGS[name].present:
        FLAGS[name].value = value
  sizes = [1 << int(v) for v in FLAGS.sizes]
  tables = build_gaussian_tables()
  tfc = None
  tfc_note = "not run (--notfc)"
  if FLAGS.tfc:
    try:
      tfc = backends.get_backend("tfc", threads=FLAGS.tfc_threads)
      tfc_note = tfc.version()
    except CoderBackendError as e:
      tfc_note = f"not available: {e}"
  devices = jax.devices()[: FLAGS.jax_devices]
  jax_backend = backends.get_backend("jax", devices=devices)
  numpy_backend = backends.get_backend("numpy")
  rows: list[str] = []
  load_before = os.getloadavg()
  total = len(sizes) * (len(FLAGS.lanes) * len([k for k in FLAGS.substreams
                                                  if k != "auto"])
                        + ("auto" in FLAGS.substreams))
  try:
    with tqdm(total=total, desc="bench entropy", file=sys.stderr) as progress:
      if FLAGS.profile:
        jax.profiler.start_trace(FLAGS.profile)
      try:
        for n in sizes:
          run_size(n, tables, tfc, jax_backend, numpy_backend, rows, progress)
      finally:
        if FLAGS.profile:
          jax.profiler.stop_trace()
  finally:
    if tfc is not None:
      tfc.close()
  load_after = os.getloadavg()
  header = [
    "| coder | n | lanes L | substreams K | enc Msym/s | dec Msym/s | bits/sym | "
    "ideal bits/sym | overhead | note |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ]
  meta = [
    f"Command: `r2lcm bench entropy {' '.join(sys.argv[3:] if len(sys.argv) > 2 else [])}`"
    .replace("  ", " "),
    f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
    f"JAX {jax.__version__} on {jax.default_backend()} with {len(devices)} device(s); "
    f"TFC: {tfc_note}.",
    f"Load average (1/5/15 min) before: {load_before[0]:.2f}/{load_before[1]:.2f}/"
    f"{load_before[2]:.2f}, after: {load_after[0]:.2f}/{load_after[1]:.2f}/"
    f"{load_after[2]:.2f}.",
    "",
  ]
  text = "\n".join(meta + header + rows) + "\n"
  print(text)
  if FLAGS.out:
    tmp = FLAGS.out + ".tmp"
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, FLAGS.out)


if __name__ == "__main__":
  app.run(main)
