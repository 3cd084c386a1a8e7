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
`:reconstructor_steps=N`, `:clusters=K`, `:group_size=G`, `:seed=S`, `:root=...`,
`:camera=...` (the names of `r2lcm_jax/train/config.py` plus the stage budgets).

Results: experiments/results/prior.md.
"""

import ml_collections

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.log_every_steps = 25
  c.data = ml_collections.ConfigDict(dict(root="", camera="imx135", train_split="train",
                                          val_split="val", test_split="test"))
  c.encoder = ml_collections.ConfigDict(dict(
    features=16, embed_dim=32, patch_size=64, batch_size=4, reference_batch_size=8,
    num_steps=300, learning_rate=1e-3, eval_every=100, ckpt_every=100, patience=4))
  c.prior = ml_collections.ConfigDict(dict(clusters=5000, group_size=200, iterations=20))
  c.reconstructor = ml_collections.ConfigDict(dict(
    features=16, heads=2, patch_size=64, batch_size=8, num_steps=600,
    learning_rate=1e-3, alpha=1.0, beta=0.1, eval_every=200, ckpt_every=200, patience=4))
  return base.apply_args(c, arg, encoder_steps="encoder.num_steps",
                         reconstructor_steps="reconstructor.num_steps",
                         clusters="prior.clusters", group_size="prior.group_size")
