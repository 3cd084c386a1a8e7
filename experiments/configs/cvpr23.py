"""The CVPR'23 R2LCM model (arch "cvpr23") trained with `r2lcm train`, on a CPU.

The same data, budget, loss and optimiser as `small_real.py` (N=16, C=4, T=4, 64x64
augmented patches, batch 8, Adam 1e-3, 1500 steps, INTEL-TAU renders in the NUS layout),
so the two models compare at equal training budget; only the model differs:

* arch "cvpr23": symmetric backbone (g_a with four stride-2 slots, y at H/16; g_s with
  learned sub-pixel upsampling), 5-conv h_a / sub-pixel h_s, the hyper latent coded by a
  factorized entropy bottleneck with its channel mean saved as side information, and the
  main level's T order masks predicted jointly by h_mask (SPEC section 14,
  `r2lcm_jax/models/r2lcm.py`);
* no adaptive quantisation (the journal's q-map is an IJCV addition), hence the
  reference's Gaussian scale bound 0.11 for that case.

Commands (data as in `small_real.py`):

  .venv/bin/r2lcm train --config experiments/configs/cvpr23.py:root=data/inteltau \\
      --workdir runs/cvpr23

Variants: `:num_steps=N`, `:lmbda=...`, `:N=...`, `:T=...` (all arguments:
`r2lcm_jax/train/config.py`). The official launch setting of the CVPR model used stride
1 (`--config.model.stride=1`: y at full resolution, z at H/4).

Expected result: see experiments/README.md (CVPR'23 model as a configuration).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.small_cpu()
  c.num_steps = 1500
  c.data.update(dict(camera="imx135", val_crop=128))
  c.schedule.patience = 3
  c.model.update(dict(arch="cvpr23", down_num=4, adaptive_quant=False, scale_bound=0.11,
                      channel_mean=True))
  return base.apply_args(c, arg)
