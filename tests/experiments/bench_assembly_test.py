"""`r2lcm bench assembly`: both settings compiled, measured and reported; bad sizes exit 2."""

from __future__ import annotations

import os
import subprocess
import sys


def _bench(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "assembly", *args],
                        env=env, capture_output=True, text=True, timeout=300)


def test_bench_assembly_reports_both_settings(tmp_path):
  out = tmp_path / "assembly.md"
  r = _bench("--sizes=1024x8192x8", "--repeats=1", "--key_chunk=512", "--query_chunk=512",
             f"--out={out}")
  assert r.returncode == 0, r.stderr
  rows = [line.split("|")[1:-1] for line in out.read_text().splitlines()
          if line.startswith("| 1024 x 8192")]
  assert [c[2].strip() for c in rows] == ["yes", "no"]
  temp = {c[2].strip(): float(c[3]) for c in rows}
  assert temp["yes"] < temp["no"] / 4  # the probabilities are not kept for the gradient
  assert all(float(c[4]) > 0 for c in rows)  # both were run and timed


def test_bench_assembly_refuses_a_bad_size():
  r = _bench("--sizes=1024x8192")
  assert r.returncode == 2 and "is not MxNxD" in r.stderr
