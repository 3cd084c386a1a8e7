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

Arguments (name=value pairs after the file name): recipe (below), root, test_root, match,
test_camera, camera, num_devices (data-parallel devices, 0 = all), relight ("" off, or
"gains" / "colour": train the encoder and build the prior on raws re-lit to the set's
mean gains, `r2lcm_jax/prior/relight.py`), encoder_steps,
reconstructor_steps, clusters, group_size, references (reference images, 0 = all),
reference_size (longer side, 0 = as they are), use_prior / reliable / nonlocal_fusion
(Table 1's reconstructor rows, for `r2lcm prior train`; `bench prior --variants` sets
them itself), and those of `r2lcm_jax/train/config.py`.

Every stage resumes: the encoder and reconstructor stages from their Orbax checkpoints
(`<workdir>/encoder`, `<workdir>/reconstructor`, every `ckpt_every` steps), finished
stages are skipped with `--reuse`. Results: experiments/results/prior.md.

Recipes (`recipe=cpu|gpu`, applied before the other arguments, which override it):
  cpu  (default) the sizes above: encoder features 16, D = 32, 64x64 patches, 4 targets
       vs 8 references; 1000 clusters of 14 references, group 200; reconstructor C = 16,
       2 heads, batch 8 of 64x64; one device; 500 / 400 steps.
  gpu  sized for one accelerator, data-parallel over every device of the host when
       there are several (`num_devices=0`; the global batch is split, as in
       `r2lcm train`): encoder features 32, D = 64, 128x128 patches, 8 targets vs 32
       references, 20000 steps at 5e-4; the prior over every train render (`references=0`)
       with the paper's 5000 clusters and groups of 1000; reconstructor C = 32, 4 heads,
       batch 16 of 128x128, 30000 steps at 5e-4; checkpoints every 1000 steps. The paper
       gives no batch, step or width figures: these are ours. The CPU-side checks of this
       recipe are in experiments/results/prior.md ("GPU recipe").

  C="experiments/configs/prior_any_isp.py:recipe=gpu,root=$TRAIN,test_root=$TEST"
  .venv/bin/r2lcm bench prior --config $C --workdir runs/prior_any_isp_gpu \
      --variants unet,full --curve 5000,10000,20000 --json runs/prior_any_isp_gpu/bench.json
"""

import ml_collections

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.relight import MODES as RELIGHT_MODES
from r2lcm_jax.train import config as base

RECIPES = ("cpu", "gpu")


def _recipe(arg) -> str:
  """The `recipe=` value of the config argument ("cpu" when absent)."""
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key == "recipe":
      if value not in RECIPES:
        raise ConfigError(f"config argument recipe={value!r}: choose from {list(RECIPES)}")
      return value
  return "cpu"


def _gpu_recipe(c: ml_collections.ConfigDict) -> None:
  """Sets the `recipe=gpu` sizes (see the module docstring) in `c`."""
  c.log_every_steps = 200
  c.num_devices = 0
  c.encoder.update(dict(features=32, embed_dim=64, patch_size=128, batch_size=8,
                        reference_batch_size=32, num_steps=20000, learning_rate=5e-4,
                        eval_every=1000, ckpt_every=1000))
  c.prior.update(dict(clusters=5000, group_size=1000, references=0))
  c.reconstructor.update(dict(features=32, heads=4, patch_size=128, batch_size=16,
                              num_steps=30000, learning_rate=5e-4, eval_every=1000,
                              ckpt_every=1000))


def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.recipe = _recipe(arg)
  c.seed = 0
  c.num_devices = 1
  c.relight = ""
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
  if c.recipe == "gpu":
    _gpu_recipe(c)
  c = base.apply_args(c, arg, recipe="recipe", relight="relight", encoder_steps="encoder.num_steps",
                      reconstructor_steps="reconstructor.num_steps",
                      clusters="prior.clusters", group_size="prior.group_size",
                      references="prior.references",
                      reference_size="prior.reference_size", test_root="data.test_root",
                      match="data.match", test_camera="data.test_camera",
                      use_prior="reconstructor.use_prior", reliable="reconstructor.reliable",
                      nonlocal_fusion="reconstructor.nonlocal_fusion")
  if c.relight and c.relight not in RELIGHT_MODES:
    raise ConfigError(f"config argument relight={c.relight!r}: choose from '' (off), "
                      f"{', '.join(map(repr, RELIGHT_MODES))}")
  return c
