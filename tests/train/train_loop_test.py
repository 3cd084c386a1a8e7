"""Must-show tests of `r2lcm train` on the tiny config (real model, real pipeline).

- 4 simulated CPU devices give the same loss as 1 device on the same global batch,
  and the loss goes down;
- a run killed with SIGKILL mid-training and restarted with the same command ends
  with bitwise the same parameters as an uninterrupted run;
- a non-finite loss stops training (exit code 2, clear message) and leaves the
  last good checkpoint intact;
- metrics land in TensorBoard event files and `--profile_steps` writes a trace.

The default run keeps the reference run (the `r2lcm train` command end to end); the
other three are `slow` (`pytest -m slow`), as each costs one or two more compilations in
a fresh process. Faster tests cover their parts in the default run: the sharded batch
split (`train_infra_test.test_shard_batch_*`), checkpoint state and iterator restore
(`train_infra_test.test_checkpoint_restores_*`), the step's non-finite guard
(`train_infra_test.test_train_step_skips_*`).

Every run is a `r2lcm train` subprocess on a 4-device CPU platform
(XLA_FLAGS=--xla_force_host_platform_device_count=4, set before jax starts) with
one persistent XLA compilation cache (in .pytest_cache, kept between sessions), so
each program (init, train step, eval step on 1 and on 4 devices) is compiled once.
LLVM optimisation is turned down for the same reason; it changes speed, not results.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from r2lcm_jax.train.metric_writer import read_scalars as read_scalar_events

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = "experiments/configs/tiny.py"
STEPS = 30
XLA_FLAGS = (
  "--xla_force_host_platform_device_count=4 --xla_backend_optimization_level=0"
  " --xla_llvm_disable_expensive_passes=true"
)


@pytest.fixture(scope="module")
def env(request):
  # Kept across test sessions in .pytest_cache (keys are HLO + flags + versions).
  cache = request.config.cache.mkdir("r2lcm_xla_cache")
  e = dict(os.environ)
  e.update(
    JAX_PLATFORMS="cpu",
    XLA_FLAGS=XLA_FLAGS,
    JAX_COMPILATION_CACHE_DIR=str(cache),
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
  )
  return e


def _train(env, workdir, arg, *extra, timeout=500):
  cmd = [sys.executable, "-m", "r2lcm_jax.cli.main", "train", f"--config={TINY}:{arg}", f"--workdir={workdir}", *extra]
  return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def _ckpt_steps(workdir: pathlib.Path) -> list[int]:
  return sorted(int(p.name) for p in (workdir / "ckpt").glob("*") if p.name.isdigit())


def _params(workdir: pathlib.Path, step: int):
  import orbax.checkpoint as ocp

  with ocp.StandardCheckpointer() as c:
    return c.restore((workdir / "ckpt" / str(step) / "state").absolute())["params"]


def _assert_trees_bitwise_equal(a, b):
  import jax

  la, ta = jax.tree.flatten(a)
  lb, tb = jax.tree.flatten(b)
  assert ta == tb
  for x, y in zip(la, lb, strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, env):
  """An uninterrupted 1-device run of STEPS steps, with a 2-step profile.

  A checkpoint every 10 steps instead of the tiny config's 2 (15 Orbax saves were a third
  of the run); the cadence does not change the trained parameters."""
  workdir = tmp_path_factory.mktemp("reference")
  r = _train(env, workdir, f"num_devices=1,num_steps={STEPS}", "--profile_steps=2",
             "--config.ckpt.every_steps=10")
  assert r.returncode == 0, r.stderr[-4000:]
  return workdir


def test_reference_run_writes_metrics_profile_and_the_loss_goes_down(reference):
  events = read_scalar_events(reference)
  for key in ("train/loss", "train/bpp", "train/bpp_y", "train/bpp_z", "train/psnr", "val/loss", "val/lr"):
    assert key in events, sorted(events)
  losses = [v for _, v in events["train/loss"]]
  assert [s for s, _ in events["train/loss"]] == list(range(1, STEPS + 1))
  # 16 patches = 4 batches per epoch: compare the mean over the same patches.
  assert np.mean(losses[-6:-2]) < 0.9 * np.mean(losses[:4]), losses
  assert [s for s, _ in events["val/loss"]] == list(range(4, STEPS + 1, 4))
  assert list((reference / "plugins" / "profile").rglob("*.xplane.pb")), "no profiler trace"
  assert json.loads((reference / "config.json").read_text())["num_steps"] == STEPS
  assert _ckpt_steps(reference)[-1] == STEPS


@pytest.mark.slow
def test_four_devices_give_the_one_device_loss_on_the_same_global_batch(tmp_path, env, reference):
  r = _train(env, tmp_path, "num_devices=4,num_steps=3")
  assert r.returncode == 0, r.stderr[-4000:]
  four = [v for _, v in read_scalar_events(tmp_path)["train/loss"]]
  one = [v for _, v in read_scalar_events(reference)["train/loss"]][:3]
  assert len(four) == 3
  np.testing.assert_allclose(four[0], one[0], rtol=1e-5)
  np.testing.assert_allclose(four, one, rtol=1e-4)
  assert _ckpt_steps(tmp_path) == [2, 3]


@pytest.mark.slow
def test_killed_training_resumes_to_identical_parameters(tmp_path, env, reference):
  cmd = [sys.executable, "-m", "r2lcm_jax.cli.main", "train", f"--config={TINY}:num_devices=1,num_steps={STEPS}", f"--workdir={tmp_path}"]
  proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 400
  try:
    while time.monotonic() < deadline and proc.poll() is None:
      steps = _ckpt_steps(tmp_path) if (tmp_path / "ckpt").is_dir() else []
      if steps and steps[-1] >= 4:
        break
      time.sleep(0.01)
    assert proc.poll() is None, "training ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
  finally:
    proc.wait(timeout=60)
  at_kill = _ckpt_steps(tmp_path)
  assert at_kill and at_kill[-1] < STEPS, at_kill

  resumed = _train(env, tmp_path, f"num_devices=1,num_steps={STEPS}")
  assert resumed.returncode == 0, resumed.stderr[-4000:]
  assert f"resumed from step {at_kill[-1]}" in resumed.stderr
  _assert_trees_bitwise_equal(_params(reference, STEPS), _params(tmp_path, STEPS))


@pytest.mark.slow
def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, env, reference):
  good = _train(env, tmp_path, "num_devices=1,num_steps=2")
  assert good.returncode == 0, good.stderr[-4000:]
  before = _params(tmp_path, 2)
  bad = _train(env, tmp_path, "num_devices=1,num_steps=8", "--config.optim.learning_rate=1e30")
  assert bad.returncode == 2, bad.stderr[-4000:]
  assert "non-finite training loss at step" in bad.stderr
  assert "last good checkpoint: step 2" in bad.stderr
  assert "Traceback" not in bad.stderr
  assert _ckpt_steps(tmp_path)[-1] == 2
  _assert_trees_bitwise_equal(before, _params(tmp_path, 2))
