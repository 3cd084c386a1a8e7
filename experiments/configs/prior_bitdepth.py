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

import ml_collections

from r2lcm_jax.train import config as base


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.log_every_steps = 50
  c.data = ml_collections.ConfigDict(dict(
    root="", camera="any", match="IMX135", train_split="train", val_split="",
    test_split="test", test_root="", test_camera="imx135"))
  c.encoder = ml_collections.ConfigDict(dict(
    features=16, embed_dim=32, patch_size=64, batch_size=4, reference_batch_size=8,
    num_steps=300, learning_rate=1e-3, eval_every=100, ckpt_every=100, patience=4))
  c.prior = ml_collections.ConfigDict(dict(clusters=1000, group_size=200, iterations=20,
                                           references=14, reference_size=0))
  c.reconstructor = ml_collections.ConfigDict(dict(
    features=16, heads=2, patch_size=64, batch_size=8, num_steps=300,
    learning_rate=1e-3, alpha=1.0, beta=0.1, eval_every=100, ckpt_every=100, patience=4,
    use_prior=True, reliable=True, nonlocal_fusion=True))
  return base.apply_args(c, arg, encoder_steps="encoder.num_steps",
                         reconstructor_steps="reconstructor.num_steps",
                         clusters="prior.clusters", group_size="prior.group_size",
                         references="prior.references",
                         reference_size="prior.reference_size", test_root="data.test_root",
                         match="data.match", test_camera="data.test_camera",
                         use_prior="reconstructor.use_prior", reliable="reconstructor.reliable",
                         nonlocal_fusion="reconstructor.nonlocal_fusion")
