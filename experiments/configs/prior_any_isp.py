"""PriorRAW on third-party renders (darktable / RawTherapee), sized for a 2-core CPU.

Data (issue 21): the INTEL-TAU Sony IMX135 train split (001-014, 384x256) rendered by
darktable 4.2.1 (styles `default`, `local`) and RawTherapee 5.9 (`default`, `drc`) as PNG
(`r2lcm render --isp`, the commands of `any_isp.py`, which render the train split of every
real RAW into `data/any_isp/<tool>_<style>_q0/any/train`); `match=IMX135` keeps the
INTEL-TAU images (PriorRAW's prior and networks are per camera; the two GoPro Fusion
frames are another sensor). Test: the same four styles of INTEL-TAU 018-020 as rendered
by `r2lcm bench rd` (`<work>/data/<tool>-<style>_png/imx135/test`). No val split is
rendered for these tools, so training runs without validation (a fixed step budget;
the plateau schedule keeps its rate).

The encoder's contrastive targets / references are the even / odd positions of the
concatenated train list: with 14 images per style, images 001, 003, ... of every style
are targets and 002, 004, ... references (disjoint scenes). The prior is built from
`references` = 14 of the 4 x 14 renders, evenly spaced (`prior/references.py`; the paper
hand-picks 100 images resized to 1024^2; these are 384x256 and kept as they are): one
prior over the four ISPs (the prior "built from third-party renders").

Defaults = the CPU run of experiments/results/prior.md (encoder 500 steps, 1000 clusters,
reconstructor 400 steps: about 85 min of wall time on a loaded 2-core machine for the
U-Net row and full PriorRAW).

Commands (roots separated like PATH; DATA / WORK are folders outside the checkout or
the git-ignored `data/`, `runs/`):

  TRAIN=$(ls -d data/any_isp/*_q0 | paste -sd:)
  TEST=$(ls -d $WORK/data/*_png | grep -v '/png$' | paste -sd:)
  C="experiments/configs/prior_any_isp.py:root=$TRAIN,test_root=$TEST"
  nice -n 19 .venv/bin/r2lcm bench prior --config $C --workdir runs/prior_any_isp \\
      --variants unet,full --curve 200 --unet_steps 400 --json runs/prior_any_isp/bench.json

Arguments (name=value pairs after the file name): root, test_root, match, test_camera, camera, encoder_steps,
reconstructor_steps, clusters, group_size, references (reference images, 0 = all),
reference_size (longer side, 0 = as they are), use_prior / reliable / nonlocal_fusion
(Table 1's reconstructor rows, for `r2lcm prior train`; `bench prior --variants` sets
them itself), and those of `r2lcm_jax/train/config.py`.

Every stage resumes: the encoder and reconstructor stages from their Orbax checkpoints
(`<workdir>/encoder`, `<workdir>/reconstructor`, every `ckpt_every` steps), finished
stages are skipped with `--reuse`. Results: experiments/results/prior.md.
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
    num_steps=500, learning_rate=1e-3, eval_every=100, ckpt_every=100, patience=4))
  c.prior = ml_collections.ConfigDict(dict(clusters=1000, group_size=200, iterations=20,
                                           references=14, reference_size=0))
  c.reconstructor = ml_collections.ConfigDict(dict(
    features=16, heads=2, patch_size=64, batch_size=8, num_steps=400,
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
