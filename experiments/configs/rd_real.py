"""R2LCM for the rate-distortion benchmark (`r2lcm bench rd`), trained on the real RAWs.

The benchmark renders the real RAWs of ../shared/data/real into a NUS-layout dataset
(cameras imx135 and gopro have train images; see r2lcm_jax/benchmark/splits.py) and
trains this config on every camera's train split (`camera=""`), validating on the
INTEL-TAU val split. The driver sets `root`; the budget is `num_steps` (the driver's
`--r2lcm_steps` overrides it). Defaults are the official architecture (N=64, C=8, T=4)
and loss (lambda 0.24, L1), sized for one GPU:

  .venv/bin/r2lcm bench rd --out experiments/results/rd_full \\
      --r2lcm_config experiments/configs/rd_real.py --r2lcm_steps 20000

Variants (all arguments: `r2lcm_jax/train/config.py`):
`:N=16,latent_channels=4,num_steps=2000,patch_size=64` for a CPU-sized model;
`:base=isp_inverse,coverage=full` for the model that reconstructs over the naive inverse
ISP (`r2lcm_jax/models/isp_base.py`; the benchmark's render manifest gives the ISP).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.official()
  c.num_steps = 20000
  c.model.base = "none"
  c.data.update(dict(camera="", augment=True, val_crop=128))
  c.schedule.patience = 5
  c.ckpt.max_to_keep = 2
  c = base.apply_args(c, arg)
  c.eval.every_steps = max(1, min(1000, c.num_steps // 4))
  c.ckpt.every_steps = max(1, min(1000, c.num_steps // 2))
  return c
