"""The `r2lcm` console script: dispatches to one subcommand module.

Each subcommand lives in `r2lcm_jax/cli/<name>.py`, defines its absl flags at import time
and a `main(argv)` function. Only the selected module is imported, so flags of different
subcommands never collide. `R2lcmError`s are reported as one line on stderr with exit
code 2 (no traceback).
"""

from __future__ import annotations

import importlib
import sys

from r2lcm_jax.errors import R2lcmError

__all__ = ["SUBCOMMANDS", "run"]

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
  "render": ("r2lcm_jax.cli.render", "Render camera RAWs to a NUS-layout dataset."),
  "encode": ("r2lcm_jax.cli.encode", "Encode RAW metadata next to an sRGB/JPEG image."),
  "decode": ("r2lcm_jax.cli.decode", "Reconstruct the RAW from sRGB + metadata."),
  "eval": ("r2lcm_jax.cli.evaluate", "Evaluate a checkpoint on a dataset through real bitstreams."),
  "train": ("r2lcm_jax.cli.train", "Train a model from an ml_collections config."),
  "port-checkpoint": ("r2lcm_jax.cli.port_checkpoint", "Convert an official PyTorch checkpoint."),
  "bench": ("r2lcm_jax.cli.bench", "Benchmarks (entropy, train, rd)."),
  "demo": ("r2lcm_jax.cli.demo", "End-to-end demo on the embedded default."),
  "prior": ("r2lcm_jax.cli.prior", "PriorRAW: build a prior, reconstruct without metadata."),
}


def _usage() -> str:
  lines = ["usage: r2lcm <subcommand> [flags]   (r2lcm <subcommand> --help)", ""]
  for name, (_, doc) in SUBCOMMANDS.items():
    lines.append(f"  {name:<16} {doc}")
  return "\n".join(lines)


def run(argv: list[str] | None = None) -> None:
  """Entry point of the console script."""
  argv = list(sys.argv if argv is None else argv)
  if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
    print(_usage())
    sys.exit(0 if len(argv) >= 2 else 2)
  name = argv[1]
  if name not in SUBCOMMANDS:
    print(f"r2lcm: unknown subcommand {name!r}\n\n{_usage()}", file=sys.stderr)
    sys.exit(2)
  module_name = SUBCOMMANDS[name][0]
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name == module_name:
      print(f"r2lcm: subcommand {name!r} is not available in this build", file=sys.stderr)
      sys.exit(2)
    raise
  from absl import app

  def _main(args: list[str]) -> None:
    try:
      module.main(args)
    except R2lcmError as err:
      print(f"r2lcm {name}: error: {err}", file=sys.stderr)
      sys.exit(2)

  app.run(_main, argv=[f"r2lcm {name}"] + argv[2:])


if __name__ == "__main__":
  run()
