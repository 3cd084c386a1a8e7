"""R2LCM for sRGB from ISPs the decoder does not know: the fitted base on third-party renders.

`model.base = "fitted"` (`r2lcm_jax/isp/fitted_map.py`, `models/isp_base.py`): the
encoder fits a global sRGB -> raw map to each image (310 bytes in the header) and the
network codes `16 * (raw - fitted(sRGB))`. Training data: the train split of every real
RAW (`r2lcm_jax/benchmark/splits.py`: INTEL-TAU 001-014, the two GoPro Fusion frames)
rendered by darktable and RawTherapee in two styles each (`r2lcm render --isp`), PNG and
JPEG q90. `base=none` gives the paper's model on the same data.

Commands (from the repository root; the renders take a few minutes on 2 cores):

  R=../shared/data/real
  TRAIN=$(.venv/bin/python -c "from r2lcm_jax.benchmark import splits; print(','.join(str(e.path) for e in splits.plan_splits('$R') if e.split == 'train'))")
  for isp in darktable:default darktable:local rawtherapee:default rawtherapee:drc; do
    for q in 0 90; do
      .venv/bin/r2lcm render --isp $isp --input $TRAIN --output data/any_isp/${isp/:/_}_q$q \\
          --camera any --split train --jpeg_quality $q
    done
  done
  ROOTS=$(ls -d data/any_isp/*/ | paste -sd:)
  .venv/bin/r2lcm train --config "experiments/configs/any_isp.py:root=$ROOTS" \\
      --workdir runs/any_isp
  .venv/bin/python -m r2lcm_jax.app.export --workdir runs/any_isp --out ckpt/any_isp \
      --profile_from $R/gopro/Fusion_GPFR7066.DNG

The packaged `default` (r2lcm_jax/assets/models/default, MODEL.md) is this config at
lmbda=2 (`:lmbda=2.0`), stopped at step 3500.

Arguments (`r2lcm_jax/train/config.py`): those of gopro_default (`num_steps`, `lmbda`,
`N`, `latent_channels`, `root`, `camera`, `patch_size`, `batch_size`, `lr`, `seed`, ...)
plus `base` ("fitted" or "none"), `residual_gain` (16), `coverage` ("full") and
`init_from` (a parameter folder to start from; default: the packaged `isp_known` model,
which has the same architecture, trained over the naive inverse ISP; '' = a fresh
initialisation; ignored with base=none).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.gopro_cpu()
  c.num_steps = 4000
  c.init_from = "r2lcm_jax/assets/models/isp_known"
  c.model.update(dict(base="fitted", residual_gain=16.0, coverage="full"))
  c.loss.lmbda = 4.0
  c.data.update(dict(root="data/any_isp", camera="any"))
  c = base.apply_args(c, arg)
  if c.model.base == "none":  # the paper's model: nothing to warm-start from
    c.init_from = ""
  return c
