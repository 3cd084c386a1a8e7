"""The training loop: `train_and_evaluate(config, workdir)`.

Assembled from `create_*` pieces: mesh (`parallel`), optimizer (`optim`),
plateau schedule (`schedule`), state (`state`), jitted steps (`step`), Orbax
manager (`checkpoint`), TensorBoard writer (`metric_writer`), and a `Task`
(model loss + train iterator + validation batches: `train.task_api.Task`, the R2LCM
one built by `train.task`).

Per step `s -> s+1`: shard the host batch over the mesh, run the step; every
`log_every_steps`, at checkpoints and at evaluations the pending metrics are
fetched, checked for non-finite values and written. Every `eval.every_steps`
the validation loss updates the plateau schedule (before the checkpoint of the
same step, so a resumed run sees the same schedule state). Checkpoints hold the
train state and the grain iterator; restarting with the same command resumes
from the latest one and reaches bitwise the same parameters on CPU.
"""

from __future__ import annotations

import os
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from orbax.checkpoint import multihost
from tqdm import tqdm

from r2lcm_jax import parallel
from r2lcm_jax.errors import ConfigError, TrainingDivergedError
from r2lcm_jax.io.atomic import atomic_write_text
from r2lcm_jax.train import checkpoint, metric_writer, optim, schedule, step
from r2lcm_jax.train import state as state_lib
from r2lcm_jax.train.task import create_task
from r2lcm_jax.train.task_api import Task

__all__ = ["INIT", "train_and_evaluate"]

INIT = 3  # fold_in purpose of the parameter-initialisation key (0-2: see train.step)


def _resolve_steps(config: ml_collections.ConfigDict, task: Task) -> tuple[int, int]:
  """(num_steps, eval_every_steps) from the config and the epoch size."""
  num_steps = int(config.num_steps)
  eval_every = int(config.eval.every_steps)
  if num_steps <= 0 or eval_every <= 0:
    if task.steps_per_epoch <= 0:
      raise ConfigError("num_steps and eval.every_steps must be > 0 when the epoch size is unknown")
    num_steps = num_steps if num_steps > 0 else int(config.num_epochs) * task.steps_per_epoch
    eval_every = eval_every if eval_every > 0 else task.steps_per_epoch
  return num_steps, eval_every


def _write_config(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> None:
  atomic_write_text(workdir / "config.json", config.to_json_best_effort(indent=2, sort_keys=True))


def _mean_metrics(items: Sequence[Mapping[str, Any]]) -> dict[str, float]:
  host = jax.device_get(list(items))
  return {k: float(np.mean([m[k] for m in host])) for k in host[0]}


def _compiled_together(fn, name: str):
  """`fn` (a jitted function) compiled ahead of its first call, then, in a multi-process
  run, a wait at a coordination-service barrier before it runs.

  The first collective of a step (gloo on CPU) gives up after 30 s when the other
  processes are not there yet, and the processes finish compiling at different times
  (minutes apart on a loaded host). The barrier has a long timeout.
  """
  compiled = {}

  def call(*args):
    if "exe" not in compiled:
      compiled["exe"] = fn.lower(*args).compile()
      if jax.process_count() > 1:
        multihost.get_barrier_sync_fn()(key=f"r2lcm_{name}_compiled", timeout_ms=3_600_000)
    return compiled["exe"](*args)

  return call


def _evaluate(eval_step, params, batches, mesh) -> dict[str, float]:
  """Mean of the eval metrics over the fixed validation batches.

  Every process holds the same validation batches; each feeds its own slice of every
  batch (`parallel.process_slice`), so a batch is evaluated once over all devices.
  """
  out = [eval_step(params, parallel.shard_batch(parallel.process_slice(b), mesh), jnp.int32(i))
         for i, b in enumerate(batches)]
  return _mean_metrics(out)


def _diverged(where: str, step_num: int, values: Mapping[str, float], manager) -> TrainingDivergedError:
  manager.wait_until_finished()
  last = manager.latest_step()
  kept = f"last good checkpoint: step {last} in {manager.directory}" if last is not None else "no checkpoint was written yet"
  shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(values.items()) if k in ("loss", "grad_norm", "bpp", "l1"))
  return TrainingDivergedError(f"non-finite {where} at step {step_num} ({shown}); training stopped, {kept}")


def train_and_evaluate(
  config: ml_collections.ConfigDict,
  workdir: str | os.PathLike,
  task: Task | None = None,
  profile_steps: int = 0,
) -> state_lib.TrainState:
  """Trains (or resumes training) until `config.num_steps`.

  Args:
    config: experiment config (see `r2lcm_jax/train/config.py`).
    workdir: output folder: `config.json`, `ckpt/`, TensorBoard events,
      `plugins/profile` traces.
    task: what to train; None builds the R2LCM task from `config`.
    profile_steps: if > 0, a `jax.profiler` trace of this many steps (after
      the first, compiling, step) is written under `workdir/plugins/profile`.

  Returns:
    The final train state (replicated over the mesh).

  Raises:
    TrainingDivergedError: a non-finite training or validation loss.
    ConfigError, CheckpointError: bad configuration or checkpoint.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  primary = jax.process_index() == 0
  if task is None:
    task = create_task(config)
  num_steps, eval_every = _resolve_steps(config, task)
  mesh = parallel.create_mesh(int(config.get("num_devices", 0)) or None)
  repl = parallel.replicated_sharding(mesh)
  base_key = jax.random.key(int(config.seed))
  tx = optim.create_optimizer(**config.optim)
  sched = schedule.create_plateau_schedule(**config.schedule)

  # Parameters come from the task's initialiser (host-side or traceable), the optimizer
  # state from one small program; initialised on one device, then replicated: the same
  # values for any mesh.
  params = task.init_params(jax.random.fold_in(base_key, INIT))
  state = jax.jit(lambda p: state_lib.create_train_state(p, tx, sched))(params)
  state = parallel.replicate(state, mesh)
  manager = checkpoint.create_checkpoint_manager(
    workdir / "ckpt", max_to_keep=int(config.ckpt.max_to_keep), save_interval_steps=int(config.ckpt.every_steps)
  )
  restored = checkpoint.restore_checkpoint(manager, state, task.train_iter)
  if restored is not None:
    state = restored
    message = f"resumed from step {int(state.step)} in {manager.directory}"
    logging.info(message)
    if primary:
      tqdm.write(message, file=sys.stderr)
  if primary:
    _write_config(config, workdir)
  writer = metric_writer.MetricWriter(workdir, enabled=primary)
  train_step = _compiled_together(jax.jit(
    step.make_train_step(task.loss_fn, tx, base_key,
                         skip_nonfinite=config.optim.get("nan_policy", "skip_step") == "skip_step"),
    donate_argnums=0,
    out_shardings=(repl, repl),
  ), "train_step")
  eval_step = _compiled_together(
    jax.jit(step.make_eval_step(task.loss_fn, base_key), out_shardings=repl), "eval_step")
  start = int(state.step)
  base_lr = parallel.replicate(np.float32(config.optim.learning_rate), mesh)
  pending: list[dict] = []
  profiling = False
  bar = tqdm(total=num_steps, initial=start, desc="train", dynamic_ncols=True, disable=not primary)
  try:
    for s in range(start, num_steps):
      if profile_steps > 0 and s == start + 1:
        jax.profiler.start_trace(str(workdir / "plugins" / "profile"))
        profiling = True
      with jax.profiler.StepTraceAnnotation("train", step_num=s):
        batch = parallel.shard_batch(next(task.train_iter), mesh)
        state, metrics = train_step(state, batch, base_lr)
      pending.append(metrics)
      bar.update(1)
      step_num = s + 1
      if profiling and step_num == start + 1 + profile_steps:
        jax.block_until_ready(state)
        jax.profiler.stop_trace()
        profiling = False
      is_last = step_num == num_steps
      do_eval = step_num % eval_every == 0
      do_save = manager.should_save(step_num) or is_last
      if pending and (step_num % int(config.log_every_steps) == 0 or do_eval or do_save):
        if not all(int(f) for f in jax.device_get([m["finite"] for m in pending])):
          bad = next(i for i, m in enumerate(pending) if not int(m["finite"]))
          raise _diverged("training loss", step_num - len(pending) + bad + 1, jax.device_get(pending[bad]), manager)
        mean = _mean_metrics([{k: v for k, v in m.items() if k != "finite"} for m in pending])
        pending = []
        writer.write_scalars(step_num, {f"train/{k}": v for k, v in mean.items()})
        bar.set_postfix({k: f"{mean[k]:.4g}" for k in ("loss", "bpp", "psnr") if k in mean})
      if do_eval and task.val_batches:
        val = _evaluate(eval_step, state.params, task.val_batches, mesh)
        if not np.isfinite(val["loss"]):
          raise _diverged("validation loss", step_num, val, manager)
        plateau = parallel.replicate(sched.update(jax.device_get(state.plateau), val["loss"]), mesh)
        state = state.replace(plateau=plateau)
        val["lr"] = float(schedule.PlateauSchedule.learning_rate(plateau, float(config.optim.learning_rate)))
        writer.write_scalars(step_num, {f"val/{k}": v for k, v in val.items()})
      if do_save:
        checkpoint.save_checkpoint(manager, step_num, state, task.train_iter, force=is_last)
  finally:
    if profiling:
      jax.profiler.stop_trace()
    bar.close()
    manager.wait_until_finished()
    manager.close()
    writer.close()
  return state
