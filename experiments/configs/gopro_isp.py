"""The default GoPro model over the naive inverse ISP (`model.base = "isp_inverse"`).

Same data, split, architecture and budget as `gopro_default.py` (read it for the render
commands); the network reconstructs the residual over the naive inverse of the
project's ISP, whose parameters come from the render manifest in training and from the
bitstream header when decoding (`r2lcm_jax/models/isp_base.py`). Every latent position
is coded (coverage "full"), so the training rate is the rate that is coded.

  .venv/bin/r2lcm train --config experiments/configs/gopro_isp.py:root=data/gopro \\
      --workdir runs/gopro_isp
  .venv/bin/python -m r2lcm_jax.codec.export --workdir runs/gopro_isp \\
      --profile_from $G/Fusion_GPFR7066.DNG --out r2lcm_jax/assets/models/default

Arguments: those of gopro_default (`num_steps`, `lmbda`, `N`, ...) plus `gain`
(residual_gain, 16).
"""

import importlib.util
import os


def _load(name):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"r2lcm_experiments_configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg=None):
  common = _load("common")
  arg = common.parse_arg(arg, root="data/gopro", camera="gopro", num_steps=3000, lmbda=0.24,
                         N=16, C=4, lr=1e-3, patch=64, batch=8, seed=0, gain=16.0)
  passed = ",".join(f"{k}={v}" for k, v in arg.items() if k != "gain")
  c = _load("gopro_default").get_config(passed)
  c.model.base = "isp_inverse"
  c.model.residual_gain = arg.gain
  c.model.coverage = "full"
  return c
