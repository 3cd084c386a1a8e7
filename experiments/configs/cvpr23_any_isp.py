"""The CVPR'23 model (arch "cvpr23") on third-party renders, beside the IJCV model.

`any_isp.py:base=none` (the paper's IJCV model on the train split of every real RAW
rendered by darktable and RawTherapee, two styles each, PNG and JPEG q90; no validation
split, fixed budget) with only the model swapped for the conference one, as
`cvpr23.py` swaps it in `small_real.py`: g_a to H/16, sub-pixel g_s, factorized
bottleneck with the channel mean, joint order masks, no adaptive quantisation (scale
bound 0.11). Same data, patches, batch, optimiser and steps, so the two models compare
at equal training budget (issue 19; experiments/README.md, "CVPR'23 vs IJCV on
third-party renders").

Commands (data as in `any_isp.py`):

  ROOTS=$(ls -d data/any_isp/*/ | paste -sd:)
  .venv/bin/r2lcm train --config "experiments/configs/cvpr23_any_isp.py:root=$ROOTS,lmbda=0.24" \\
      --workdir runs/cvpr23_any_isp_l0.24
  .venv/bin/r2lcm train --config "experiments/configs/any_isp.py:root=$ROOTS,base=none,lmbda=0.24" \\
      --workdir runs/ijcv_any_isp_l0.24

Arguments: those of `any_isp.py` (`num_steps`, `lmbda`, `N`, `root`, ...; `base` stays
"none").
"""

import pathlib

from r2lcm_jax.train import config as base


def get_config(arg=None):
  any_isp = pathlib.Path(__file__).with_name("any_isp.py")
  c = base.load_file(f"{any_isp}:base=none")
  c.model.update(dict(arch="cvpr23", down_num=4, adaptive_quant=False, scale_bound=0.11,
                      channel_mean=True))
  return base.apply_args(c, arg)
