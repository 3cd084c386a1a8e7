"""CAM baseline (Nam et al., CVPR'22) sized for a 2-core CPU.

Trained by `r2lcm bench rd --cam_config experiments/configs/cam_small_real.py[:args]`
on the train split of --train_variant (the pairs the U-Net and PriorRAW use), through the
project's loop (`r2lcm_jax/baselines/cam_train.py`; checkpoints and resumption in
`<work>/cam/train/`, the networks in `<work>/cam/cam.msgpack`). Official sizes: U-Nets
of 32 features and 4 levels, 128 px patches, batch 128, Adam 1e-3, 120 epochs, SLIC
weight 1e-4 (alpha 0.2, m 10), cells of 8 px (1.5625 % of the pixels).

Variants: `:steps=N`, `:features=F`, `:levels=L`, `:grid=G`, `:patch=P`,
`:batch_size=B`, `:lr=X`, `:seed=S`. Results: experiments/results/cam.md.
"""

import ml_collections

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.log_every_steps = 25
  c.cam = ml_collections.ConfigDict(dict(
    features=16, levels=3, grid=8, patch_size=64, batch_size=8, num_steps=1000,
    learning_rate=1e-3, lambda_slic=1e-4, slic_alpha=0.2, slic_m=10.0,
    eval_every=250, ckpt_every=100, patience=4))
  return base.apply_args(c, arg, steps="cam.num_steps", features="cam.features",
                         levels="cam.levels", grid="cam.grid", patch="cam.patch_size",
                         batch_size="cam.batch_size", lr="cam.learning_rate")
