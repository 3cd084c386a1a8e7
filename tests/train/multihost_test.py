"""`r2lcm train` across processes (`jax.distributed`): 2 local processes with 2 CPU devices
each (gloo collectives) train the tiny config with the losses of 1 process with 4
devices; both are killed after a checkpoint, restarted with the same commands, and end
with the parameters of the uninterrupted single-process run.

Slow (several compilations of the train step in separate processes): `pytest -m slow
tests/train/multihost_test.py`.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from r2lcm_jax.train.metric_writer import read_scalars as read_scalar_events

pytestmark = pytest.mark.slow

REPO = pathlib.Path(__file__).resolve().parents[2]
TINY = "experiments/configs/tiny.py"
STEPS = 6
FAST_XLA = " --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def _env(request, devices: int) -> dict:
  cache = request.config.cache.mkdir("r2lcm_xla_cache")
  env = dict(os.environ)
  env.update(JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=str(cache),
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}" + FAST_XLA)
  return env


def _cmd(workdir, *extra) -> list[str]:
  return [sys.executable, "-m", "r2lcm_jax", "train", f"--config={TINY}:num_steps={STEPS}",
          f"--workdir={workdir}", *extra]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _start_pair(request, workdir, tag: str) -> list[subprocess.Popen]:
  """Both processes of a 2-process run; each one's output goes to `workdir/../<tag>_<i>.log`."""
  port = _free_port()
  env = _env(request, 2)
  logs = [open(workdir.parent / f"{tag}_{i}.log", "w") for i in range(2)]  # noqa: SIM115
  procs = [subprocess.Popen(_cmd(workdir, f"--coordinator_address=localhost:{port}", "--num_processes=2",
                                 f"--process_id={i}"), cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, text=True)
           for i, log in enumerate(logs)]
  for log in logs:
    log.close()  # the children hold their own descriptors
  return procs


def _log(workdir, tag: str, i: int) -> str:
  return (workdir.parent / f"{tag}_{i}.log").read_text()[-4000:]


def _losses(workdir) -> dict[int, float]:
  """step -> train loss (the last value written for a step wins: resumed runs repeat steps)."""
  return {s: v for s, v in read_scalar_events(workdir)["train/loss"]}


def _params(workdir: pathlib.Path, step: int):
  """The parameters of a checkpoint, on this process's first device whatever the devices
  and processes that wrote it."""
  import jax
  import orbax.checkpoint as ocp

  path = (workdir / "ckpt" / str(step) / "state").absolute()
  with ocp.StandardCheckpointer() as c:
    meta = c.metadata(path)
    tree = getattr(getattr(meta, "item_metadata", meta), "tree", getattr(meta, "item_metadata", meta))
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)
    return c.restore(path, target)["params"]


@pytest.fixture(scope="module")
def single(request, tmp_path_factory):
  workdir = tmp_path_factory.mktemp("single_4dev")
  r = subprocess.run(_cmd(workdir, ), cwd=REPO, env=_env(request, 4), capture_output=True, text=True,
                     timeout=1800)
  assert r.returncode == 0, r.stderr[-4000:]
  return workdir


def test_two_processes_match_one_process_and_resume_after_both_are_killed(request, tmp_path, single):
  workdir = tmp_path / "run"
  procs = _start_pair(request, workdir, "first")
  try:
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
      done = sorted(int(p.name) for p in (workdir / "ckpt").glob("*") if p.name.isdigit()) \
        if (workdir / "ckpt").is_dir() else []
      if done and done[-1] >= 2 and (workdir / "ckpt" / str(done[-1]) / "commit_success.txt").exists():
        break
      assert all(p.poll() is None for p in procs), [_log(workdir, "first", i) for i in range(2)]
      time.sleep(0.05)
    for p in procs:
      p.send_signal(signal.SIGKILL)
  finally:
    for p in procs:
      p.wait(timeout=60)
  killed_at = max(int(p.name) for p in (workdir / "ckpt").glob("*") if p.name.isdigit())
  assert killed_at < STEPS

  procs = _start_pair(request, workdir, "resumed")
  for p in procs:
    p.wait(timeout=1800)
  assert [p.returncode for p in procs] == [0, 0], [_log(workdir, "resumed", i) for i in range(2)]
  assert f"resumed from step {killed_at}" in _log(workdir, "resumed", 0)

  # Metrics of the steps after the resume (a SIGKILL loses what was not yet flushed).
  multi, one = _losses(workdir), _losses(single)
  after = list(range(killed_at + 1, STEPS + 1))
  assert set(after) <= set(multi) and sorted(one) == list(range(1, STEPS + 1))
  np.testing.assert_allclose([multi[s] for s in after], [one[s] for s in after], rtol=1e-4)
  import jax

  for a, b in zip(jax.tree.leaves(_params(workdir, STEPS)), jax.tree.leaves(_params(single, STEPS)),
                  strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
