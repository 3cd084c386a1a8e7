"""A small R2LCM (N=16, C=4, T=4) trained on real rendered sensor data, on a CPU.

Used for the codec's real-image tests (estimated vs real bitstream size) and as a quick
end-to-end check that training on real data works. Data: the 20 INTEL-TAU Sony IMX135
images of ../shared/data/real/inteltau rendered with the project's ISP into the NUS
layout, split by file number (fixed rule): 001-014 train, 015-017 val, 018-020 test.

Commands:

  D=../shared/data/real/inteltau
  f(){ for i in "$@"; do printf "$D/S_IMX135_BLCCSC_field_%03d_sensorname_sony_imx135.png," $i; done; }
  .venv/bin/r2lcm render --input "$(f $(seq 1 14))" --output data/inteltau --split train --camera imx135
  .venv/bin/r2lcm render --input "$(f 15 16 17)" --output data/inteltau --split val --camera imx135
  .venv/bin/r2lcm render --input "$(f 18 19 20)" --output data/inteltau --split test --camera imx135
  .venv/bin/r2lcm train --config experiments/configs/small_real.py:root=data/inteltau \\
      --workdir runs/small_real

Variants: `:num_steps=N`, `:camera=...`, `:lmbda=...`, `:N=32` (all arguments:
`r2lcm_jax/train/config.py`).

Expected result: see experiments/README.md (small real model).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = base.small_cpu()
  c.num_steps = 1500
  c.data.update(dict(camera="imx135", val_crop=128))
  c.schedule.patience = 3
  return base.apply_args(c, arg)
