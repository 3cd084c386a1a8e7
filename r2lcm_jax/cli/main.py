"""The `r2lcm` console script: dispatches to one subcommand module.

Each subcommand lives in `r2lcm_jax/cli/<name>.py`, defines its absl flags at import time
and a `main(argv)` function. Only the selected module is imported, so flags of different
subcommands never collide. `R2lcmError`s are reported as one line on stderr with exit
code 2 (no traceback).
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
import sys
from types import ModuleType

from r2lcm_jax.errors import R2lcmError

__all__ = ["SUBCOMMANDS", "run", "run_subcommand", "subcommand_help"]

# name -> (module, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
  "render": ("r2lcm_jax.cli.render", "Render camera RAWs (project ISP, darktable, RawTherapee) to a NUS-layout dataset."),
  "encode": ("r2lcm_jax.cli.encode", "Encode RAW metadata next to an sRGB/JPEG image."),
  "decode": ("r2lcm_jax.cli.decode", "Reconstruct the RAW from sRGB + metadata."),
  "eval": ("r2lcm_jax.cli.evaluate", "Evaluate a checkpoint on a dataset through real bitstreams."),
  "train": ("r2lcm_jax.cli.train", "Train a model from an ml_collections config."),
  "port-checkpoint": ("r2lcm_jax.cli.port_checkpoint", "Convert an official PyTorch checkpoint."),
  "bench": ("experiments/bench_<name>.py", "Benchmarks: `r2lcm bench NAME [flags]` runs experiments/bench_NAME.py (assembly, codec, context, coverage, entropy, gate, order, overfit, prior, rd, train)."),
  "demo": ("r2lcm_jax.cli.demo", "End-to-end demo on a real DNG shipped in the package (sRGB by darktable)."),
  "prior": ("r2lcm_jax.cli.prior", "PriorRAW: `r2lcm prior {train,build,reconstruct} [flags]`."),
}


def _usage() -> str:
  lines = ["usage: r2lcm <subcommand> [flags]   (r2lcm <subcommand> --help)", ""]
  for name, (_, doc) in SUBCOMMANDS.items():
    lines.append(f"  {name:<16} {doc}")
  return "\n".join(lines)


def _experiments_dir() -> pathlib.Path:
  """`experiments/` of the source checkout this package runs from."""
  return pathlib.Path(__file__).resolve().parents[2] / "experiments"


def _load_bench(argv: list[str]) -> tuple[str, ModuleType]:
  """Loads `experiments/bench_<name>.py` for `r2lcm bench <name>`; exits 2 if absent."""
  folder = _experiments_dir()
  names = sorted(p.stem[len("bench_"):] for p in folder.glob("bench_*.py"))
  if len(argv) < 3 or argv[2].startswith("-"):
    print(f"usage: r2lcm bench <{'|'.join(names) or 'name'}> [flags]", file=sys.stderr)
    sys.exit(2)
  path = folder / f"bench_{argv[2]}.py"
  if not path.is_file():
    print(
      f"r2lcm bench: no benchmark {argv[2]!r} (have: {', '.join(names) or 'none'};"
      f" benchmarks run from a source checkout, looked in {folder})",
      file=sys.stderr,
    )
    sys.exit(2)
  spec = importlib.util.spec_from_file_location(f"r2lcm_bench_{argv[2]}", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # absl files the module's flags under its name
  spec.loader.exec_module(module)
  return f"bench {argv[2]}", module


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
  rest = argv[2:]
  if name == "bench":
    name, module = _load_bench(argv)
    rest = argv[3:]
  else:
    module_name = SUBCOMMANDS[name][0]
    try:
      module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
      if e.name == module_name:
        print(f"r2lcm: subcommand {name!r} is not available in this build", file=sys.stderr)
        sys.exit(2)
      raise
  run_subcommand(name, module.main, rest)


_HELP_ARGS = ("-h", "--help", "-?", "--helpshort")


def subcommand_help(name: str, main) -> str:
  """`r2lcm NAME --help`: the subcommand's docstring and its own flags with their help."""
  from absl import flags

  module_name = main.__module__
  doc = (main.__globals__.get("__doc__") or "").strip()
  listed = flags.FLAGS.module_help(module_name).strip()
  lines = [f"usage: r2lcm {name} [flags]", ""]
  if doc:
    lines += [doc, ""]
  if listed:
    lines += ["flags:", listed, ""]
  else:
    lines += ["(no flags)", ""]
  lines.append("Logging: warnings only; add --verbosity=0 for info messages (--helpfull: every flag).")
  return "\n".join(lines)


def run_subcommand(name: str, main, argv: list[str] | None = None) -> None:
  """Runs one subcommand's `main` under absl with the CLI's error contract.

  Also what `python -m r2lcm_jax.cli.<module>` runs (each subcommand module calls it
  under `if __name__ == "__main__"`). `argv`: the flags after the subcommand (default
  `sys.argv[1:]`). `--help` prints the subcommand's own flags and exits 0. Logging is
  at WARNING unless `--verbosity` (or `-v`) is given, so a normal run prints only
  what the command itself says.
  """
  from absl import app, flags, logging

  args = list(sys.argv[1:] if argv is None else argv)
  if any(a in _HELP_ARGS for a in args):
    print(subcommand_help(name, main))
    sys.exit(0)

  def _main(rest: list[str]) -> None:
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.WARNING)
    try:
      main(rest)
    except R2lcmError as err:
      print(f"r2lcm {name}: error: {err}", file=sys.stderr)
      sys.exit(2)

  def _parse(argv: list[str]) -> list[str]:
    """absl's flag parsing with the CLI's contract: a bad flag or a config file that
    refuses its arguments is one line on stderr and exit code 2, no traceback."""
    try:
      return flags.FLAGS(argv)
    except (flags.Error, R2lcmError) as err:
      cause = err.__cause__ if isinstance(err.__cause__, R2lcmError) else err
      print(f"r2lcm {name}: error: {cause}", file=sys.stderr)
      sys.exit(2)

  app.run(_main, argv=[f"r2lcm {name}"] + args, flags_parser=_parse)


if __name__ == "__main__":
  run()
