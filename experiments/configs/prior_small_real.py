"""PriorRAW (ACM MM'24) on rendered INTEL-TAU data, sized for a 2-core CPU.

Data: the 20 INTEL-TAU Sony IMX135 images rendered into the NUS layout exactly as in
`small_real.py` (001-014 train, 015-017 val, 018-020 test). The encoder's contrastive
targets and references are the even / odd positions of the sorted train split
(`prior.contrastive.split_targets_references`: 7 + 7 disjoint images); the prior is
built from all 14 train images; validation uses 015-017; 018-020 are only evaluated.

Commands (render first, see `small_real.py`):

  C=experiments/configs/prior_small_real.py:root=data/inteltau
  .venv/bin/r2lcm prior train --stage encoder --config $C --workdir runs/prior
  .venv/bin/r2lcm prior build --dataset data/inteltau --camera imx135 \\
      --encoder runs/prior/encoder.msgpack --out runs/prior/prior.npz
  .venv/bin/r2lcm prior train --stage reconstructor --config $C --workdir runs/prior
  .venv/bin/r2lcm prior reconstruct --srgb data/inteltau/imx135/test/sRGB/<name>.png \\
      --prior runs/prior/prior.npz --checkpoint runs/prior/model.msgpack --out recon.tiff

or all stages and the Table-1 ablation at once: `r2lcm bench prior --config $C
--workdir runs/prior` (experiments/bench_prior.py). Variants: `:encoder_steps=N`,
`:reconstructor_steps=N`, `:clusters=K`, `:group_size=G`, `:seed=S`.

Results: experiments/results/prior.md.
"""

import importlib.util
import os

import ml_collections


def _load(name):
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
  spec = importlib.util.spec_from_file_location(f"r2lcm_experiments_configs_{name}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config(arg=None):
  common = _load("common")
  arg = common.parse_arg(arg, root="", camera="imx135", seed=0, encoder_steps=300,
                         reconstructor_steps=600, clusters=5000, group_size=200)
  c = ml_collections.ConfigDict()
  c.seed = arg.seed
  c.log_every_steps = 25
  c.data = ml_collections.ConfigDict(dict(root=arg.root, camera=arg.camera, train_split="train",
                                          val_split="val", test_split="test"))
  c.encoder = ml_collections.ConfigDict(dict(
    features=16, embed_dim=32, patch_size=64, batch_size=4, reference_batch_size=8,
    num_steps=arg.encoder_steps, learning_rate=1e-3, eval_every=100, ckpt_every=100, patience=4))
  c.prior = ml_collections.ConfigDict(dict(clusters=arg.clusters, group_size=arg.group_size,
                                           iterations=20))
  c.reconstructor = ml_collections.ConfigDict(dict(
    features=16, heads=2, patch_size=64, batch_size=8, num_steps=arg.reconstructor_steps,
    learning_rate=1e-3, alpha=1.0, beta=0.1, eval_every=200, ckpt_every=200, patience=4))
  return c
