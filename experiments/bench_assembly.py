"""PriorRAW's chunked assembly in training: time and memory of value + gradient, with the
scan body rematerialised (the default) and without.

`r2lcm bench assembly [--sizes 4096x8192x32,32768x131072x64] [--repeats 3] [--out FILE]`

Each size is `MxNxD`: M target pixels (queries), N reference pixels (keys), D the
embedding width; values have 3 channels (raw), as in the encoder's contrastive step
(`prior.contrastive`): the CPU recipe of experiments/configs/prior_any_isp.py is 4 target
x 8 reference patches of 64^2 at half resolution (4096 x 8192, D = 32), the GPU recipe
8 x 32 patches of 128^2 (32768 x 131072, D = 64). For each size and setting it reports
the compiled program's temporary memory (`memory_analysis`, both settings; no run
needed) and, where `--run_limit_gib` allows the run, the fastest of `--repeats` runs of
`jax.value_and_grad` (the two settings interleaved, so a change of load hits both),
with the process CPU time next to the wall time.
"""

from __future__ import annotations

import pathlib
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.affinity import assemble_chunked

__all__ = ["main"]

_SIZES = flags.DEFINE_list("sizes", ["4096x8192x32", "32768x131072x64"], "MxNxD sizes.")
_REPEATS = flags.DEFINE_integer("repeats", 3, "Timed runs per setting (the fastest is kept).")
_LIMIT = flags.DEFINE_float("run_limit_gib", 4.0, "Only time settings whose temporaries fit.")
_KEY_CHUNK = flags.DEFINE_integer("key_chunk", 1024, "Keys per chunk.")
_QUERY_CHUNK = flags.DEFINE_integer("query_chunk", 4096, "Queries per block.")
_OUT = flags.DEFINE_string("out", None, "Also write the table to this file.")


def _size(text: str) -> tuple[int, int, int]:
  try:
    m, n, d = (int(x) for x in text.lower().split("x"))
  except ValueError:
    raise ConfigError(f"--sizes: {text!r} is not MxNxD") from None
  if min(m, n, d) < 1:
    raise ConfigError(f"--sizes: {text!r} needs positive M, N, D")
  return m, n, d


def _program(m: int, n: int, d: int, remat: bool):
  """(compiled value_and_grad, its arguments) of one setting."""
  r = np.random.default_rng(0)
  q = jnp.asarray(r.normal(size=(m, d)).astype(np.float32) / np.sqrt(d))
  k = jnp.asarray(r.normal(size=(n, d)).astype(np.float32) / np.sqrt(d))
  v = jnp.asarray(r.uniform(size=(n, 3)).astype(np.float32))
  target = jnp.asarray(r.uniform(size=(m, 3)).astype(np.float32))

  def loss(q, k):
    out = assemble_chunked(q, k, v, key_chunk=_KEY_CHUNK.value, query_chunk=_QUERY_CHUNK.value,
                           remat=remat)
    return jnp.mean((out - target) ** 2)

  fn = jax.jit(jax.value_and_grad(loss, (0, 1)))
  return fn.lower(q, k).compile(), (q, k)


def _timed(compiled, args) -> tuple[float, float]:
  w, c = time.perf_counter(), time.process_time()
  jax.block_until_ready(compiled(*args))
  return time.perf_counter() - w, time.process_time() - c


def main(argv: list[str]) -> None:
  del argv
  sizes = [_size(s) for s in _SIZES.value]
  lines = [f"# assembly value + gradient ({platform.machine()}, {jax.devices()[0].platform}, "
           f"jax {jax.__version__}; key_chunk {_KEY_CHUNK.value}, query_chunk "
           f"{_QUERY_CHUNK.value}; fastest of {_REPEATS.value})", "",
           "| M x N x D | dense M x N (MiB) | remat | temporaries (MiB) | wall (s) | CPU (s) |",
           "|---|---|---|---|---|---|"]
  for m, n, d in sizes:
    progs = {r: _program(m, n, d, r) for r in (True, False)}
    temp = {r: p[0].memory_analysis().temp_size_in_bytes / 2**20 for r, p in progs.items()}
    runnable = [r for r in progs if temp[r] <= _LIMIT.value * 1024]
    best = {r: (float("inf"), float("inf")) for r in runnable}
    for r in runnable:  # the first call warms up (buffers, thread pools)
      _timed(*progs[r])
    for _ in range(_REPEATS.value):
      for r in runnable:
        best[r] = min(best[r], _timed(*progs[r]))
    for r in (True, False):
      wall, cpu = (f"{best[r][0]:.3f}", f"{best[r][1]:.3f}") if r in best else ("not run", "")
      lines.append(f"| {m} x {n} x {d} | {m * n * 4 / 2**20:.0f} | {'yes' if r else 'no'} | "
                   f"{temp[r]:.0f} | {wall} | {cpu} |")
  text = "\n".join(lines)
  print(text)
  if _OUT.value:
    pathlib.Path(_OUT.value).write_text(text + "\n")
