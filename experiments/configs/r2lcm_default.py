"""R2LCM (IJCV journal4) with the official README training settings, one camera of NUS.

N=64, C=8, T=4, stride 2, down_num 2, adaptive quantisation; loss 0.24 * 255^2 * L1 +
bpp; Adam lr 1e-4 after clip_by_global_norm(1.0) on the true gradients; batch 8 of
256x256 patches (stride 128, no augmentation); ReduceLROnPlateau(0.1, patience 40
evaluations) on the loss over 512x512 crops of the `val` split (the official code
used the test split; we do not); 1000 epochs.

Command (NUS layout `<root>/<camera>/{train,val,test}/{raw,sRGB}`):

  .venv/bin/r2lcm train \
    --config experiments/configs/r2lcm_default.py:root=data/nus,camera=SonyA57 \
    --workdir runs/r2lcm_sony

Variants: `:camera=OlympusEPL6`, `:lmbda=0.5`, `:compute_dtype=bfloat16`,
`:source=synthetic` (synthetic pairs instead of NUS, for a smoke run), `:eps=1e-8` (optax's
Adam epsilon instead of the official 1e-6); all arguments: `r2lcm_jax/train/config.py`.
Any key can also be set with `--config.optim.learning_rate=...`.

Expected result: the official checkpoints reach about 0.38 bpp at 58.2 dB PSNR
(Sony) on the NUS test split (SPEC section 12). This reimplementation uses correctly
clipped fp32 gradients, whose dynamics differ from the reference (SPEC section 9),
and has not been trained to convergence here: no measured number yet.
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  return base.apply_args(base.official(), arg)
