"""`python -m r2lcm_jax` and `python -m r2lcm_jax.cli.<module>` behave like `r2lcm`."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _run(*args: str, cwd) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True,
                        text=True, timeout=300)


@pytest.mark.parametrize("entry", [("r2lcm_jax.cli.train",), ("r2lcm_jax", "train")])
def test_train_module_entry_reports_missing_flags_in_one_line(tmp_path, entry):
  out = _run(*entry, cwd=tmp_path)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1] == (
    "r2lcm train: error: --config and --workdir are required")
  assert "Traceback" not in out.stderr


def test_decode_module_entry_refuses_a_missing_file(tmp_path):
  out = _run("r2lcm_jax.cli.decode", "--srgb", "missing.jpg", "--metadata", "missing.r2lcm",
             "--out", "recon.tiff", cwd=tmp_path)
  assert out.returncode == 2
  # One line and nothing else: no INFO noise (libtpu, backends) on a normal run.
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("r2lcm decode: error: "), out.stderr
  assert not (tmp_path / "recon.tiff").exists()


@pytest.mark.parametrize("sub, flag", [("encode", "--raw"), ("decode", "--metadata"), ("train", "--workdir"),
                                      ("render", "--isp"), ("bench", "--batch_size")])
def test_subcommand_help_lists_its_own_flags_and_exits_0(tmp_path, sub, flag):
  args = ("bench", "train") if sub == "bench" else (sub,)
  out = _run("r2lcm_jax", *args, "--help", cwd=tmp_path)
  assert out.returncode == 0, out.stderr
  assert out.stdout.startswith(f"usage: r2lcm {' '.join(args)} [flags]"), out.stdout[:200]
  assert flag + ":" in out.stdout
  assert "Try --helpfull" not in out.stdout


@pytest.mark.parametrize("args, expected", [
  (("train", "--config=experiments/configs/tiny.py" + ":C=4", "--workdir=w"), "unknown config argument 'C'"),
  (("decode", "--bogus=1"), "Unknown command line flag 'bogus'"),
])
def test_bad_flags_and_config_arguments_are_one_line_and_exit_2(repo_root, tmp_path, args, expected):
  if args[0] == "train":
    args = (args[0], args[1].replace("experiments/", f"{repo_root}/experiments/"), args[2])
  out = _run("r2lcm_jax", *args, cwd=tmp_path)
  assert out.returncode == 2
  lines = out.stderr.strip().splitlines()
  assert len(lines) == 1 and expected in lines[0], out.stderr
