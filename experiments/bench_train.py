"""Training throughput of R2LCM: `r2lcm bench train [--quick] [--config ...]`.

Builds the model, loss, optimizer and the same jitted, data-parallel train step as
`r2lcm train` (from the config, default `configs/r2lcm_default.py`: N=64, C=8, T=4),
feeds a fixed batch of `--batch_size` random-content RAW/sRGB patches of `--patch`
x `--patch` pixels already on the devices, and reports the compile time and then
the steady-state step time and patches/s over `--steps` steps (after `--warmup`).
Data loading is excluded (measured by the data pipeline's own benchmark).

  .venv/bin/r2lcm bench train                 # default: batch 8 of 256x256, 20 steps
  .venv/bin/r2lcm bench train --quick         # short CPU run: 3 timed steps
  .venv/bin/r2lcm bench train --bf16          # bfloat16 compute (accelerators)
  .venv/bin/r2lcm bench train --batch_size 2 --steps 3 --official_repo ../official
      # side by side with the official PyTorch code (needs torch): timed steps alternate
      # ours / theirs on the same batch shape and thread count, and the JSON gains
      # `official_step_ms` and `speedup` (official step time / ours)
  .venv/bin/r2lcm bench train --quick --profile prof_dir   # + jax.profiler trace of one
      # step and its top XLA ops (by self time) printed

XLA flags are taken from the environment (`XLA_FLAGS`) and reported in the JSON.
"""

from __future__ import annotations

import json
import os
import time

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

_HERE = os.path.dirname(os.path.abspath(__file__))
_CONFIG = config_flags.DEFINE_config_file(
  "config", os.path.join(_HERE, "configs", "r2lcm_default.py"), "Training config (model, loss, optim)."
)
_BATCH = flags.DEFINE_integer("batch_size", 8, "Global batch (patches per step).")
_PATCH = flags.DEFINE_integer("patch", 256, "Patch side in pixels.")
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps.")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")
_QUICK = flags.DEFINE_bool("quick", False, "Short run: 3 timed steps, 1 warm-up.")
_BF16 = flags.DEFINE_bool("bf16", False, "bfloat16 compute dtype (params stay float32).")
_DEVICES = flags.DEFINE_integer("devices", 0, "Data-parallel devices (0 = all).")
_JSON = flags.DEFINE_string("json", "", "Also write the result as JSON to this file.")
_OFFICIAL = flags.DEFINE_string(
  "official_repo", "", "Checkout of the official PyTorch R2LCM: time it in the same run.")
_OFFICIAL_THREADS = flags.DEFINE_integer(
  "official_threads", 0, "torch threads for the official code (0 = the CPUs this process "
  "may use, as XLA:CPU).")
_PROFILE = flags.DEFINE_string(
  "profile", "", "Trace one extra step with jax.profiler into this folder and print its "
  "top XLA ops.")
_TOP = flags.DEFINE_integer("profile_top", 25, "Ops listed from the profile.")


def _load_sibling(name: str):
  """Imports experiments/<name>.py by path (experiments is not a package)."""
  import importlib.util

  spec = importlib.util.spec_from_file_location(f"r2lcm_experiments_{name}",
                                                os.path.join(_HERE, f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _threads() -> int:
  return _OFFICIAL_THREADS.value or len(os.sched_getaffinity(0))


def main(argv: list[str]) -> None:
  """Runs the benchmark and prints one result line."""
  del argv
  official = None
  if _OFFICIAL.value:  # fail fast (bad path, no torch) before compiling anything
    official = _load_sibling("official_torch").load_official(_OFFICIAL.value, _threads())
  from r2lcm_jax import parallel
  from r2lcm_jax.train import optim, schedule, state, step, task

  config = _CONFIG.value
  steps, warmup = (3, 1) if _QUICK.value else (_STEPS.value, _WARMUP.value)
  model_kwargs = dict(config.model)
  if _BF16.value:
    model_kwargs["compute_dtype"] = "bfloat16"
  mesh = parallel.create_mesh(_DEVICES.value or None)
  repl = parallel.replicated_sharding(mesh)
  init_params, loss_fn = task.create_model_and_loss(model_kwargs, _PATCH.value, **config.loss)
  tx = optim.create_optimizer(**config.optim)
  sched = schedule.create_plateau_schedule(**config.schedule)
  base_key = jax.random.key(config.seed)
  params = init_params(base_key)  # host-side or traceable initialiser, as in the loop
  train_state = jax.jit(
    lambda p: state.create_train_state(p, tx, sched), out_shardings=repl
  )(params)
  rng = np.random.default_rng(0)
  shape = (_BATCH.value, _PATCH.value, _PATCH.value, 3)
  srgb = rng.random(shape, dtype=np.float32)
  batch = parallel.shard_batch({"raw": srgb**2.2, "srgb": srgb}, mesh)
  train_step = jax.jit(
    step.make_train_step(loss_fn, tx, base_key),
    donate_argnums=0,
    out_shardings=(repl, repl),
  )
  t0 = time.perf_counter()
  base_lr = jax.device_put(np.float32(config.optim.learning_rate), repl)
  compiled = train_step.lower(train_state, batch, base_lr).compile()
  compile_s = time.perf_counter() - t0
  for _ in range(warmup):
    train_state, metrics = compiled(train_state, batch, base_lr)
  jax.block_until_ready(train_state)
  raw_np = np.asarray(srgb**2.2, np.float32)
  official_s, official_loss = [], None
  if official is not None:
    for _ in range(warmup):
      official.train_step(raw_np, srgb)
  ours_s = []
  for _ in range(steps):  # ours and theirs alternate, so both see the same machine load
    t0 = time.perf_counter()
    train_state, metrics = compiled(train_state, batch, base_lr)
    jax.block_until_ready((train_state, metrics))
    ours_s.append(time.perf_counter() - t0)
    if official is not None:
      seconds, official_loss = official.train_step(raw_np, srgb)
      official_s.append(seconds)
  elapsed = sum(ours_s)
  result = {
    "backend": jax.default_backend(),
    "device": jax.devices()[0].device_kind,
    "devices": len(mesh.devices.flat),
    "batch": _BATCH.value,
    "patch": _PATCH.value,
    "compute_dtype": model_kwargs["compute_dtype"],
    "compile_s": round(compile_s, 2),
    "step_ms": round(1e3 * elapsed / steps, 1),
    "patches_per_s": round(_BATCH.value * steps / elapsed, 2),
    "timed_steps": steps,
    "final_loss": float(metrics["loss"]),
    "step_s_each": [round(s, 2) for s in ours_s],
    "xla_flags": os.environ.get("XLA_FLAGS", ""),
    "loadavg": _loadavg(),
  }
  if official is not None:
    result.update(
      official_step_ms=round(1e3 * sum(official_s) / steps, 1),
      official_step_s_each=[round(s, 2) for s in official_s],
      official_threads=official.threads,
      official_final_loss=official_loss,
      official_stubbed_imports=official.stubbed,
      speedup=round(sum(official_s) / elapsed, 3),
    )
  if _PROFILE.value:
    result["profile_top"] = _profile(compiled, train_state, batch, base_lr)
  print(json.dumps(result))
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(result, f, indent=2)


def _loadavg() -> str:
  try:
    with open("/proc/loadavg") as f:
      return " ".join(f.read().split()[:3])
  except OSError:
    return ""


def _profile(compiled, train_state, batch, base_lr) -> list:
  """Traces one step, prints and returns the top XLA ops by self time."""
  profile_ops = _load_sibling("profile_ops")
  with jax.profiler.trace(_PROFILE.value, create_perfetto_trace=True):
    out = compiled(train_state, batch, base_lr)
    jax.block_until_ready(out)
  rows = profile_ops.top_ops(_PROFILE.value, _TOP.value, hlo_text=compiled.as_text())
  print(profile_ops.format_table(rows))
  return rows
