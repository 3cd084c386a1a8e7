"""The packaged default model: a small R2LCM trained on the real GoPro frames, on a CPU.

This is the model `r2lcm demo`, `r2lcm encode/decode/eval` load when no --checkpoint is
given (`r2lcm_jax/assets/models/default/`, its MODEL.md records how it was made and what
it measures). Data: the GoPro DNGs of ../shared/data/real/gopro rendered with the
project's ISP, sRGB stored as JPEG q90 (what people keep), split by the benchmark's
fixed rule (`r2lcm_jax/benchmark/splits.py`):

  train: Fusion_GPFR7066, Fusion_GPBK7066 (GoPro Fusion, front and back lens)
  test:  HERO7_GOPR9231 (HERO7 Black: held back, never seen in training)
  val:   none. With two training frames there is no image left for a validation split
         that is not the test split, so there is no validation (data.val_split = "") and
         the plateau schedule never fires: the learning rate stays constant.

Commands (from the repository root):

  G=../shared/data/real/gopro
  .venv/bin/r2lcm render --input $G/Fusion_GPFR7066.DNG,$G/Fusion_GPBK7066.DNG \\
      --output data/gopro --camera gopro --split train --jpeg_quality 90
  .venv/bin/r2lcm render --input $G/HERO7_GOPR9231.DNG \\
      --output data/gopro --camera gopro --split test --jpeg_quality 90
  .venv/bin/r2lcm train --config experiments/configs/gopro_default.py:root=data/gopro \\
      --workdir runs/gopro_default
  .venv/bin/python -m r2lcm_jax.app.export --workdir runs/gopro_default \\
      --profile_from $G/Fusion_GPFR7066.DNG --out r2lcm_jax/assets/models/default

Variants: `:num_steps=N` (the CPU budget), `:N=32`, `:lmbda=...`, `:patch_size=...` (all
arguments: `r2lcm_jax/train/config.py`).
Architecture: the official one (SPEC_R2LCM.md) with N=16 features, C=4 latent channels,
T=4 context steps (the paper's default is N=64, C=8: too slow to train on a CPU).
"""

from r2lcm_jax.train import config as base


def get_config(arg=None):
  return base.apply_args(base.gopro_cpu(), arg)
