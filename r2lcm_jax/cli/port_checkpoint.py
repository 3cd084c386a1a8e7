"""`r2lcm port-checkpoint --input official.pth.tar --output DIR`.

Converts an official PyTorch R2LCM journal4 checkpoint (Sony / Samsung / Olympus releases
or any `torch.save` of its state_dict) into our parameter folder (see
`r2lcm_jax.models.params_io`). torch is used when installed, otherwise the built-in
zip-pickle reader. The configuration is the README one unless flags say otherwise; the
shapes are checked against it.
"""

from __future__ import annotations

from absl import flags

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.params_io import save_params
from r2lcm_jax.port.torch_checkpoint import load_official_state_dict, port_state_dict

__all__ = ["main"]

_INPUT = flags.DEFINE_string("input", None, "Official checkpoint (.pth / .pth.tar).")
_OUTPUT = flags.DEFINE_string("output", None, "Output parameter folder.")
_N = flags.DEFINE_integer("N", 64, "Base width N of the checkpoint's model.")
_C = flags.DEFINE_integer("latent_channels", 8, "Latent channels C (= N / reduce_c).")
_T = flags.DEFINE_integer("num_steps", 4, "Context steps T (sampling_num).")
_DOWN = flags.DEFINE_integer("down_num", 2, "Strided slots of the encoder.")
_COVERAGE = flags.DEFINE_enum("coverage", "official", ["official", "full"],
                              "Coverage rule to store with the parameters.")
_READER = flags.DEFINE_enum("reader", "auto", ["auto", "torch", "builtin"],
                            "How to read the file: torch.load, built-in reader, or auto.")


def main(argv: list[str]) -> None:
  """Runs the conversion; errors are CheckpointError / ConfigError (exit code 2)."""
  del argv
  if not _INPUT.value or not _OUTPUT.value:
    raise ConfigError("--input and --output are required")
  cfg = R2LCMConfig(N=_N.value, latent_channels=_C.value, num_steps=_T.value,
                    down_num=_DOWN.value, coverage=_COVERAGE.value)
  use_torch = {"auto": None, "torch": True, "builtin": False}[_READER.value]
  sd = load_official_state_dict(_INPUT.value, use_torch=use_torch)
  params = port_state_dict(sd, cfg)
  fp = save_params(_OUTPUT.value, params, cfg)
  print(f"ported {len(sd)} tensors from {_INPUT.value} -> {_OUTPUT.value}"
        f" (fingerprint {fp.hex()[:16]})")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.port_checkpoint [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("port-checkpoint", main)
