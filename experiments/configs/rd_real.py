"""R2LCM for the rate-distortion benchmark (`r2lcm bench rd`), trained on the real RAWs.

The benchmark renders the real RAWs of ../shared/data/real into a NUS-layout dataset
(cameras imx135 and gopro have train images; see r2lcm_jax/benchmark/splits.py) and
trains this config on every camera's train split (`camera=""`), validating on the
INTEL-TAU val split. The driver sets `root`; the budget is `num_steps` (the driver's
`--r2lcm_steps` overrides it). Defaults are the official architecture (N=64, C=8, T=4)
and loss (lambda 0.24, L1), sized for one GPU:

  .venv/bin/r2lcm bench rd --out experiments/results/rd_full \\
      --r2lcm_config experiments/configs/rd_real.py --r2lcm_steps 20000

Variants: `:N=16,latent_channels=4,num_steps=2000,patch_size=64` for a CPU-sized model;
`:base=isp_inverse,coverage=full` for the model that reconstructs over the naive inverse
ISP (`r2lcm_jax/models/isp_base.py`; the benchmark's render manifest gives the ISP).
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
  arg = common.parse_arg(arg, root="", camera="", num_steps=20000, lmbda=0.24, N=64,
                         latent_channels=8, T=4, lr=1e-4, seed=0, patch_size=256,
                         batch_size=8, base="none", coverage="official")
  c = common.base_config()
  c.seed = arg.seed
  c.num_steps = arg.num_steps
  c.log_every_steps = 50
  c.model.N = arg.N
  c.model.latent_channels = arg.latent_channels
  c.model.num_steps = arg.T
  c.model.base = arg.base
  c.model.coverage = arg.coverage
  c.loss.lmbda = arg.lmbda
  c.data.root = arg.root
  c.data.camera = arg.camera
  c.data.patch_size = arg.patch_size
  c.data.patch_stride = arg.patch_size // 2
  c.data.batch_size = arg.batch_size
  c.data.augment = True
  c.data.val_crop = 128
  c.optim.learning_rate = arg.lr
  c.schedule.patience = 5
  c.eval.every_steps = max(1, min(1000, arg.num_steps // 4))
  c.ckpt.every_steps = max(1, min(1000, arg.num_steps // 2))
  c.ckpt.max_to_keep = 2
  return c
