"""The packaged default model: R2LCM over the naive inverse ISP (`model.base = "isp_inverse"`).

Data and split as `gopro_default.py` (read it for the render commands): the two GoPro
Fusion frames train, the HERO7 frame is the held-back test. The network reconstructs the
residual over the naive inverse of the project's ISP, whose parameters come from the
render manifest in training and from the bitstream header when decoding
(`r2lcm_jax/models/isp_base.py`). Every latent position is coded (coverage "full"), so
the training rate is the rate that is coded. Loss 8·255²·L1 + bpp (L1 in raw units).

How `r2lcm_jax/assets/models/isp_known` (the packaged default until 2026-12-05) was made (its MODEL.md has the results):

  G=../shared/data/real/gopro
  # 1. 3000 steps on the GoPro frames (42 min on the 2-core CPU)
  .venv/bin/r2lcm train --config experiments/configs/gopro_isp.py:root=data/gopro \
      --workdir runs/gopro_isp
  # 2. 600 more steps with synthetic scenes that clip (the frames barely do)
  .venv/bin/python experiments/make_synthetic_set.py \
      --profile r2lcm_jax/assets/models/isp_known/camera.json --out data/synthetic_gopro \
      --count 24 --first_seed 1000
  .venv/bin/r2lcm train --config "experiments/configs/gopro_isp.py:root=data/gopro:data/synthetic_gopro,camera=,num_steps=3600" \
      --workdir runs/gopro_isp
  .venv/bin/python -m r2lcm_jax.app.export --workdir runs/gopro_isp \
      --profile_from $G/Fusion_GPFR7066.DNG --out r2lcm_jax/assets/models/isp_known

Arguments: those of gopro_default (`num_steps`, `lmbda`, `N`, `root`, `camera`, ...; here
lmbda defaults to 8) plus `base`, `residual_gain` (16), `coverage`
(`r2lcm_jax/train/config.py`). `root` may list several dataset roots separated by ":"
(each with its own manifest).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.gopro_cpu()
  c.model.update(dict(base="isp_inverse", residual_gain=16.0, coverage="full"))
  c.loss.lmbda = 8.0
  return base.apply_args(c, arg)
