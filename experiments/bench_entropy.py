"""Entropy-coding benchmark: our rANS (native, JAX, NumPy) vs TFC, constriction, CompressAI.

Run as `r2lcm bench entropy [flags]` (or `python experiments/bench_entropy.py`).
For each size n (2^20..2^24 by default) it draws symbols from realistic adaptive-
quantisation statistics (q ~ U(-2, 2), normalised scale sigma/2^q log-uniform in
[0.1, 8], mu ~ U(-3, 3) * 2^q, u = mu + sigma * N(0, 1), all rounded to float16 as the
codec does), computes symbols and table indexes with `r2lcm_jax.entropy.indexes`, and
codes the same (symbols, indexes) with

* `native`: our rANS (`rans_native`, numba kernels, the substreams in --native_workers
  threads; the codec's default on a CPU); it must write the same bytes as `jax`;
* `jax`: our rANS (`rans_jax`, XLA on the default backend; `--jax_devices 2` spreads the
  substreams over two XLA:CPU devices with shard_map), for every lanes L x substreams K,
  plus the encoder's own choice of (K, L) for the payload ("auto");
* `numpy`: the NumPy reference (only for n <= 2^--numpy_max_log2; it loops over steps);
* `tfc`: tensorflow-compression's range coder in the `.venv-tfc` worker with
  --tfc_threads intra-op threads, one TFC stream per substream. Its time is reported
  twice: inside the worker (TFC ops only) and end to end (with the pipe transfer);
* `constriction` (if installed): its stack ANS coder (`stream.stack.AnsCoder`, 32-bit
  words, 64-bit state) with one `stream.model.Categorical` per table row holding our
  quantised probabilities (bins incl. the escape bin; escaped values cost our varints).
  The symbols of each substream are coded grouped by row, in one call per row; the
  timing includes the binning and the grouping. One thread: its calls hold the GIL;
* `compressai` (only if `compressai.ans` imports, i.e. CompressAI and torch are
  installed): its rANS (`RansEncoder.encode_with_indexes` / `RansDecoder`) with our CDF
  rows and offsets (same escape bin; its escapes cost its own bypass code), one stream
  per substream; the timing includes the `.tolist()` conversions it requires.

Reported: encode / decode Msym/s (best of --repeats, after one warm-up call that
compiles), bits per symbol, the ideal -log2 p of the symbols under the coding tables'
Gaussians (float64, unquantised), and the overhead over it. Every decode is checked to
reproduce the symbols exactly. The first native calls of the run (numba compile, or
loading its on-disk cache) are timed separately and reported; a summary table gives
the ratios at the encoder's own (K, L). `--profile DIR` writes a jax.profiler trace of the JAX
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
flags.DEFINE_bool("jax", True, "run the JAX lax.scan coder.")
flags.DEFINE_integer("native_workers", 0, "threads of the native coder (0: all cores).")
flags.DEFINE_bool("constriction", True, "also run constriction's ANS coder (if installed).")
flags.DEFINE_bool("compressai", True, "also run CompressAI's rANS (if it imports).")
flags.DEFINE_integer("tfc_threads", 2, "intra-op threads of the TFC worker.")
flags.DEFINE_bool("quick", False, "small run: sizes 2^18, 2^20; lanes 256, 1024.")
flags.DEFINE_string("profile", None, "write a jax.profiler trace of the JAX runs here.")
flags.DEFINE_string("out", None, "write the markdown results table to this file.")
flags.DEFINE_integer("seed", 0, "data seed.")
flags.DEFINE_integer("jax_devices", 1, "XLA:CPU devices; > 1 shards the substreams "
                     "over them with shard_map (e.g. 2 = both cores of a 2-core CPU).")


def _version(dist: str) -> str:
  from importlib import metadata

  try:
    return metadata.version(dist)
  except metadata.PackageNotFoundError:
    return "(module imports; no installed distribution)"


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


def run_size(n, tables, peers, coders, out_rows, summary, progress):
  from r2lcm_jax.coding import substreams

  sym, idx, ideal = realistic_group(n, tables, FLAGS.seed + n)
  ks_seen = set()
  for lanes, k, note in _configs(n, ideal):
    progress.set_postfix_str(f"n=2^{int(np.log2(n))} L={lanes} K={k}")
    speeds = {}
    reference = None
    for name, label in (("native", "native rANS"), ("jax", "jax rANS")):
      backend = coders.get(name)
      if backend is None:
        continue
      enc_s, subs = _best(lambda k=k, lanes=lanes, b=backend: _encode(
        b, sym, idx, tables, k, lanes), FLAGS.repeats)
      dec_s, out = _best(lambda subs=subs, b=backend: substreams.decode_group(
        subs, idx, tables, backend=b), FLAGS.repeats)
      if not np.array_equal(out, sym):
        raise AssertionError(f"{name} round trip failed at n={n} L={lanes} K={k}")
      if reference is not None and subs != reference:
        raise AssertionError(f"native and jax bytes differ at n={n} L={lanes} K={k}")
      reference = subs
      nbytes = sum(map(len, subs))
      same = "same bytes as native" if name == "jax" and "native" in coders else ""
      out_rows.append(_row(label, n, lanes, k, enc_s, dec_s, nbytes, ideal,
                           "; ".join(t for t in (note, same) if t)))
      speeds[name] = (n / enc_s, n / dec_s, 8.0 * nbytes / ideal - 1)
    if n <= 1 << FLAGS.numpy_max_log2:
      numpy_backend = coders["numpy"]
      nenc_s, nsubs = _best(lambda k=k, lanes=lanes, b=numpy_backend: _encode(
        b, sym, idx, tables, k, lanes), 1)
      if nsubs != reference:
        raise AssertionError("numpy bytes differ from native/jax")
      ndec_s, nout = _best(lambda subs=nsubs, b=numpy_backend: substreams.decode_group(
        subs, idx, tables, backend=b), 1)
      if not np.array_equal(nout, sym):
        raise AssertionError("numpy round trip failed")
      out_rows.append(_row("numpy rANS (reference)", n, lanes, k, nenc_s, ndec_s,
                           sum(map(len, nsubs)), ideal, "same bytes"))
    if k not in ks_seen:
      ks_seen.add(k)
      for peer, run in peers.items():
        rows, speed = run(sym, idx, tables, k, ideal)
        out_rows.extend(rows)
        speeds[peer] = speed
    if note:
      summary.append((n, k, lanes, speeds))
    progress.update(1)


def _split(sym, idx, k):
  from r2lcm_jax.coding import substreams

  b = substreams.split_indices(sym.size, k)
  return [(sym[b[j] : b[j + 1]], idx[b[j] : b[j + 1]]) for j in range(k)]


def _time_pair(encode, decode, sym, repeats):
  """Best (encode s, decode s) and the encoded data, after a warm-up round trip."""
  data = encode()
  if not np.array_equal(decode(data), sym):
    raise AssertionError("round trip failed")
  enc_s = dec_s = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    data = encode()
    enc_s = min(enc_s, time.perf_counter() - start)
    start = time.perf_counter()
    out = decode(data)
    dec_s = min(dec_s, time.perf_counter() - start)
    if not np.array_equal(out, sym):
      raise AssertionError("round trip failed")
  return enc_s, dec_s, data


class ConstrictionPeer:
  """constriction's stack ANS coder with our tables as one Categorical per row."""

  def __init__(self, tables):
    import constriction

    from r2lcm_jax.coding import rans_format

    self.constriction = constriction
    self.rt = rans_format.rans_tables(tables)
    rt = self.rt
    cat = constriction.stream.model.Categorical
    self.models = [cat(rt.freq[r, : rt.support[r] + 1].astype(np.float64) / 2.0**16,
                       perfect=False) for r in range(rt.support.size)]
    self.version = getattr(constriction, "__version__", "")

  def _groups(self, idx):
    """Positions grouped by row (stable) and each row's [start, end) in that order."""
    order = np.argsort(idx.astype(np.uint8 if self.rt.support.size <= 256 else np.int32),
                       kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(self.rt.support.size + 1))
    return order, bounds

  def encode(self, sym, idx):
    from r2lcm_jax.coding import rans_format

    bins, codes = rans_format.to_bins(sym, idx, self.rt)
    order, bounds = self._groups(idx)
    grouped = bins[order]
    coder = self.constriction.stream.stack.AnsCoder()
    for r in range(self.rt.support.size - 1, -1, -1):  # a stack: last row decodes first
      if bounds[r + 1] > bounds[r]:
        coder.encode_reverse(grouped[bounds[r] : bounds[r + 1]], self.models[r])
    return coder.get_compressed(), rans_format.escape_varints(codes)

  def decode(self, data, idx):
    from r2lcm_jax.coding import rans_format

    words, region = data
    order, bounds = self._groups(idx)
    coder = self.constriction.stream.stack.AnsCoder(words)
    grouped = np.empty(idx.size, np.int32)
    for r in range(self.rt.support.size):
      if bounds[r + 1] > bounds[r]:
        grouped[bounds[r] : bounds[r + 1]] = coder.decode(self.models[r],
                                                           int(bounds[r + 1] - bounds[r]))
    bins = np.empty(idx.size, np.int32)
    bins[order] = grouped
    num_esc = int(np.count_nonzero(bins == self.rt.support[idx]))
    codes = rans_format.read_escape_varints(region, num_esc)
    return rans_format.from_bins(bins, idx, codes, self.rt)

  def run(self, sym, idx, tables, k, ideal):
    items = _split(sym, idx, k)
    enc_s, dec_s, datas = _time_pair(
      lambda: [self.encode(s, i) for s, i in items],
      lambda ds: np.concatenate([self.decode(d, i) for d, (_, i) in zip(ds, items, strict=True)]),
      sym, FLAGS.repeats)
    nbytes = sum(4 * w.size + len(e) for w, e in datas)
    n = sym.size
    row = _row("constriction ANS, Categorical per row", n, "-", k, enc_s, dec_s, nbytes,
               ideal, "1 thread (GIL held)")
    return [row], (n / enc_s, n / dec_s, 8.0 * nbytes / ideal - 1)


class CompressaiPeer:
  """CompressAI's rANS (ryg rans64, precision 16) with our CDF rows and offsets."""

  def __init__(self, tables):
    from compressai import ans

    self.ans = ans
    self.cdfs = [row[: int(length)].tolist()
                 for row, length in zip(tables.cdf, tables.cdf_length, strict=True)]
    self.lengths = tables.cdf_length.astype(np.int32).tolist()
    self.offsets = tables.offset.astype(np.int32).tolist()
    if tables.precision != 16:
      raise ValueError("CompressAI's rANS codes at precision 16 only")

  def run(self, sym, idx, tables, k, ideal):
    items = _split(sym, idx, k)

    def encode():
      return [self.ans.RansEncoder().encode_with_indexes(
        s.tolist(), i.tolist(), self.cdfs, self.lengths, self.offsets) for s, i in items]

    def decode(datas):
      return np.concatenate([np.asarray(self.ans.RansDecoder().decode_with_indexes(
        d, i.tolist(), self.cdfs, self.lengths, self.offsets), np.int32)
        for d, (_, i) in zip(datas, items, strict=True)])

    enc_s, dec_s, datas = _time_pair(encode, decode, sym, FLAGS.repeats)
    nbytes = sum(map(len, datas))
    n = sym.size
    row = _row("CompressAI rANS", n, "-", k, enc_s, dec_s, nbytes, ideal,
               "1 thread (GIL held), incl. .tolist()")
    return [row], (n / enc_s, n / dec_s, 8.0 * nbytes / ideal - 1)


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
  ], (n / tenc_w, n / tdec_w, 8.0 * tbytes / ideal - 1)


def _first_native_calls(backend, tables) -> tuple[float, float]:
  """Seconds of the first native encode and decode (numba compile or cache load)."""
  from r2lcm_jax.coding import substreams

  sym = np.zeros(64, np.int32)
  idx = np.zeros(64, np.int32)
  start = time.perf_counter()
  subs = backend.encode_substreams([(sym, idx)], tables, lanes=4)
  mid = time.perf_counter()
  out = substreams.decode_group(subs, idx, tables, backend=backend)
  end = time.perf_counter()
  if not np.array_equal(out, sym):
    raise AssertionError("native round trip failed")
  return mid - start, end - mid


def _summary(summary) -> list[str]:
  """Ratios at the encoder's own (K, L): native against every other coder of the run."""
  others = [("tfc", "TFC in worker"), ("constriction", "constriction"),
            ("compressai", "CompressAI"), ("jax", "jax rANS")]
  present = [(key, label) for key, label in others
             if any(key in speeds for *_, speeds in summary)]
  if not summary or not any("native" in speeds for *_, speeds in summary):
    return []
  head = ("| n | (K, L) | native enc / dec Msym/s | native overhead | "
          + " | ".join(f"vs {label} enc / dec" for _, label in present) + " |")
  lines = ["At the encoder's own (K, L), native rANS against the others "
           "(ratio of Msym/s, > 1: native is faster):", "", head,
           "|" + "---|" * (4 + len(present))]
  for n, k, lanes, speeds in summary:
    ne, nd, no = speeds["native"]
    cells = []
    for key, _ in present:
      if key in speeds:
        e, d, _ = speeds[key]
        cells.append(f"{ne / e:.2f}x / {nd / d:.2f}x")
      else:
        cells.append("-")
    lines.append(f"| 2^{int(np.log2(n))} | {k}, {lanes} | {ne / 1e6:.1f} / {nd / 1e6:.1f} | "
                 f"{100 * no:+.2f} % | " + " | ".join(cells) + " |")
  return lines + [""]


def main(argv) -> None:
  del argv
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  import jax

  if FLAGS.jax_devices > 1:
    jax.config.update("jax_num_cpu_devices", FLAGS.jax_devices)
  from tqdm import tqdm

  from r2lcm_jax.coding import backends, rans_native
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
  coders = {"numpy": backends.get_backend("numpy")}
  native_note = "not run"
  try:
    coders["native"] = backends.get_backend(
      "native", workers=FLAGS.native_workers or None)
    first_enc, first_dec = _first_native_calls(coders["native"], tables)
    native_note = (f"numba {_version('numba')}, "
                   f"{FLAGS.native_workers or rans_native.default_workers()} threads; "
                   f"first calls (compile or cache load) encode {first_enc:.2f} s, "
                   f"decode {first_dec:.2f} s")
  except CoderBackendError as e:
    native_note = f"not available: {e}"
  if FLAGS.jax:
    coders["jax"] = backends.get_backend("jax", devices=devices)
  peers = {}
  peer_notes = []
  if tfc is not None:
    peers["tfc"] = lambda sym, idx, tables, k, ideal: _run_tfc(tfc, sym, idx, tables, k,
                                                               ideal)
  for name, flag, make in (("constriction", FLAGS.constriction, ConstrictionPeer),
                           ("compressai", FLAGS.compressai, CompressaiPeer)):
    if not flag:
      peer_notes.append(f"{name}: not run (--no{name})")
      continue
    try:
      peers[name] = make(tables).run
      peer_notes.append(f"{name}: {_version(name)}")
    except (ImportError, OSError, ValueError) as e:
      peer_notes.append(f"{name}: not available ({type(e).__name__}: {e})")
  rows: list[str] = []
  summary: list = []
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
          run_size(n, tables, peers, coders, rows, summary, progress)
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
    f"TFC: {tfc_note}; native: {native_note}; {'; '.join(peer_notes)}.",
    f"Load average (1/5/15 min) before: {load_before[0]:.2f}/{load_before[1]:.2f}/"
    f"{load_before[2]:.2f}, after: {load_after[0]:.2f}/{load_after[1]:.2f}/"
    f"{load_after[2]:.2f}.",
    "",
  ]
  text = "\n".join(meta + _summary(summary) + header + rows) + "\n"
  print(text)
  if FLAGS.out:
    tmp = FLAGS.out + ".tmp"
    with open(tmp, "w") as f:
      f.write(text)
    os.replace(tmp, FLAGS.out)


if __name__ == "__main__":
  app.run(main)
