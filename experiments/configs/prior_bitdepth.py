"""PriorRAW on the 4-to-8-bit recovery task (paper Table 3), sized for a 2-core CPU.

The paper trains on MIT-Adobe 5K + Sintel and tests on Kodak (none available offline).
Stand-in: the 8-bit PNG renders of the real INTEL-TAU images (darktable `default` /
`local`, RawTherapee `default` / `drc`; the data of `prior_any_isp.py`), written as
(4-bit input, 8-bit target) pairs by `experiments/make_bitdepth_set.py`: train 001-014,
test 018-020, four renders each. The prior holds (feature, 4-bit value, 8-bit value)
entries built from `references` of the train images.

  make() { .venv/bin/python experiments/make_bitdepth_set.py --roots "$1" --split $2 \\
             --match IMX135 --out runs/bitdepth/$2; }
  make "$(ls -d runs/prior_data/train/* | paste -sd:)" train
  make "$(ls -d runs/prior_data/test/* | paste -sd:)" test
  C="experiments/configs/prior_bitdepth.py:root=$(ls -d runs/bitdepth/train/* | paste -sd:),test_root=$(ls -d runs/bitdepth/test/* | paste -sd:)"
  nice -n 19 .venv/bin/r2lcm bench prior --config $C --workdir runs/prior_bitdepth \\
      --variants unet,full --bitdepth_bits 4

Arguments: as `prior_any_isp.py`. Defaults: encoder 300 steps, 1000 clusters of 14
reference images, reconstructor 300 steps (no val split: fixed budgets).
"""

import pathlib

from r2lcm_jax.train import config as base


def get_config(arg=None):
  # prior_any_isp.py with 300-step stages; the caller's arguments come last and win.
  any_isp = pathlib.Path(__file__).with_name("prior_any_isp.py")
  return base.load_file(f"{any_isp}:encoder_steps=300,reconstructor_steps=300,{arg or ''}")
