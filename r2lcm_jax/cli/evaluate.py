"""`r2lcm eval`: a checkpoint over a NUS-layout dataset, through real bitstreams.

    r2lcm eval --dataset ROOT [--checkpoint CKPT|default] --out DIR [--split test] [--camera NAME]
               [--drop_steps 0,1,2,3] [--gammas 0] [--max_images N] [--error_max 0.01]
               [--gate_tile PIXELS]

Writes results.csv, summary.csv/.md, rd_curves.png and error_maps/ (see
r2lcm_jax/app/evaluation.py for the protocol).
"""

from __future__ import annotations

import pathlib

from absl import flags

from r2lcm_jax.app.evaluation import RateSetting, evaluate_pairs
from r2lcm_jax.app.files import load_runner
from r2lcm_jax.cli.flag_checks import define_gate_tile, require
from r2lcm_jax.codec.codec import gate_for
from r2lcm_jax.data.nus import find_pairs
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.metrics import PROTOCOL

__all__ = ["main", "parse_settings"]

_DATASET = flags.DEFINE_string("dataset", None, "Dataset root in the NUS layout.")
_CKPT = flags.DEFINE_string(
  "checkpoint", "default", "Codec checkpoint folder, or a packaged model's name (default).")
_OUT = flags.DEFINE_string("out", None, "Output folder.")
_SPLIT = flags.DEFINE_string("split", "test", "Split to evaluate.")
_CAMERA = flags.DEFINE_string("camera", None, "Camera folder (default: all).")
_DROPS = flags.DEFINE_string("drop_steps", "0,1,2,3", "drop_steps values (gamma = 0).")
_GAMMAS = flags.DEFINE_string("gammas", "0", "gamma values (drop_steps = 0).")
_MAX = flags.DEFINE_integer("max_images", 0, "Evaluate at most this many images (0: all).")
_ERROR_MAX = flags.DEFINE_float("error_max", 0.01, "Upper end of the error-map colour scale.")
_BACKEND = flags.DEFINE_enum(
  "backend", "auto", ["auto", "native", "jax", "numpy", "tfc"],
  "Entropy coder (auto: native on a CPU, jax on an accelerator; same bytes).")
_GATE = define_gate_tile()


def parse_settings(drops: str, gammas: str) -> list[RateSetting]:
  """The sweep: every drop_steps value with gamma 0, then every gamma with drop 0."""
  try:
    d = [int(v) for v in drops.split(",") if v.strip()]
    g = [float(v) for v in gammas.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"bad --drop_steps/--gammas: {e}") from e
  settings = [RateSetting(x, 0.0) for x in d or [0]]
  settings += [RateSetting(0, x) for x in g if RateSetting(0, x) not in settings]
  return settings


def main(argv: list[str]) -> None:
  del argv
  require(_DATASET, _OUT)
  settings = parse_settings(_DROPS.value, _GAMMAS.value)
  pairs = find_pairs(_DATASET.value, _SPLIT.value, _CAMERA.value)
  if _MAX.value:
    pairs = pairs[: _MAX.value]
  ckpt, runner = load_runner(_CKPT.value)
  out = pathlib.Path(_OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  manifest = pathlib.Path(_DATASET.value) / "manifest.json"
  rows = evaluate_pairs(pairs, runner, ckpt.tables, out, settings=settings,
                        backend=_BACKEND.value, error_max=_ERROR_MAX.value,
                        manifest=manifest if manifest.is_file() else None,
                        gate=gate_for(runner, _GATE.value))
  print(PROTOCOL)
  print((out / "summary.md").read_text())
  print(f"{len(rows)} runs; reports in {out}")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.evaluate [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("eval", main)
