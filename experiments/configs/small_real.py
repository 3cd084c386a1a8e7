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

Variants: `:num_steps=N`, `:camera=...`, `:lmbda=...`, `:N=32`.

Expected result: see experiments/README.md (small real model).
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
  arg = common.parse_arg(arg, root="", camera="imx135", num_steps=1500, lmbda=0.24, N=16,
                         lr=1e-3, seed=0)
  c = common.base_config()
  c.seed = arg.seed
  c.num_steps = arg.num_steps
  c.log_every_steps = 25
  c.model.N = arg.N
  c.model.latent_channels = 4
  c.model.num_steps = 4
  c.loss.lmbda = arg.lmbda
  c.data.root = arg.root
  c.data.camera = arg.camera
  c.data.patch_size = 64
  c.data.patch_stride = 32
  c.data.batch_size = 8
  c.data.augment = True
  c.data.val_crop = 128
  c.optim.learning_rate = arg.lr
  c.schedule.patience = 3
  c.eval.every_steps = 250
  c.ckpt.every_steps = 250
  c.ckpt.max_to_keep = 2
  return c
