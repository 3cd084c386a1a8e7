"""The R2LCM training task: model + rate-distortion loss, training and validation data.

Only this module and `train.loop` read the ConfigDict; everything below them gets
explicit keyword arguments.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import ml_collections
import numpy as np

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.train.task_api import Task

__all__ = ["create_model_and_loss", "create_validation_batches", "create_task"]

# Seed offset of the synthetic validation images, so they never coincide with the
# synthetic training images (which use seeds seed*1000 + i, i < 1000).
_VAL_SEED_OFFSET = 10**6


def create_model_and_loss(
  model_kwargs: Mapping[str, Any], patch_size: int, lmbda: float = 0.24, distortion: str = "l1"
) -> tuple[Callable[[jax.Array], Any], Callable]:
  """R2LCM parameters initialiser and its loss `lmbda * 255^2 * D + bpp`.

  Args:
    model_kwargs: `R2LCMConfig` fields (N, latent_channels, num_steps, ...).
    patch_size: training patch side, to trace `init` at the right size.
    lmbda: rate-distortion trade-off (official 0.24).
    distortion: "l1" (official) or "mse".

  Returns:
    `init_params(key) -> params` and `loss_fn(params, batch, rngs, training) ->
    (loss, metrics)`; `batch` has "raw" and "srgb", each (B, P, P, 3) float32, and
    optionally "draws": injected training noise that replaces the rngs' draws
    (`models.r2lcm` module doc; how the official step is reproduced).
  """
  from r2lcm_jax import losses
  from r2lcm_jax.models import param_init
  from r2lcm_jax.models.config import R2LCMConfig
  from r2lcm_jax.models.r2lcm import R2LCM

  model_config = R2LCMConfig(**model_kwargs)
  model = R2LCM(model_config)
  del patch_size  # parameter shapes do not depend on the patch size

  def init_params(key: jax.Array):
    # PyTorch-default initialisation drawn on the host: no model program to compile
    # (jitting `model.init` compiled the whole forward pass, minutes on a CPU).
    return param_init.init_params(model_config, key)

  # With an ISP base the batch "raw" is the residual domain (gain * (raw - base)); the
  # distortion is measured back in raw-RGB units, so lmbda and the logged PSNR mean the
  # same thing for every base.
  from r2lcm_jax.models import isp_base

  gain = float(model_config.residual_gain) if isp_base.has_base(model_config) else 1.0

  def loss_fn(params, batch, rngs, training: bool):
    out = model.apply({"params": params}, batch["raw"], batch["srgb"], training=training, rngs=rngs,
                      draws=batch.get("draws"))
    target = batch["raw"]
    if gain != 1.0:
      out = {**out, "x_hat": out["x_hat"] / gain}
      target = target / gain
    return losses.rate_distortion(out, target, lmbda=lmbda, distortion=distortion)

  return init_params, loss_fn


def _crops(image: np.ndarray, size: int) -> list[np.ndarray]:
  """Non-overlapping `size` x `size` crops of an (H, W, 3) image, raster order."""
  h, w = image.shape[:2]
  return [image[i : i + size, j : j + size] for i in range(0, h - size + 1, size) for j in range(0, w - size + 1, size)]


def create_validation_batches(
  pairs: Sequence[tuple[np.ndarray, np.ndarray]], crop: int, batch_size: int
) -> list[dict[str, np.ndarray]]:
  """Fixed validation batches of non-overlapping crops (official: 512x512).

  Args:
    pairs: (raw, srgb) float32 (H, W, 3) images of the validation split.
    crop: crop side.
    batch_size: crops per batch; a trailing partial batch is dropped so every
      batch has one shape (one compilation) and equal weight in the mean.

  Returns:
    list of {"raw", "srgb"}: (batch_size, crop, crop, 3) float32.

  Raises:
    ConfigError: fewer crops than one batch.
  """
  raws, srgbs = [], []
  for raw, srgb in pairs:
    raws += _crops(np.asarray(raw, np.float32), crop)
    srgbs += _crops(np.asarray(srgb, np.float32), crop)
  n = len(raws) // batch_size * batch_size
  if n == 0:
    raise ConfigError(f"validation split yields {len(raws)} crops of {crop}px, fewer than eval.batch_size={batch_size}")
  return [
    {"raw": np.stack(raws[i : i + batch_size]), "srgb": np.stack(srgbs[i : i + batch_size])}
    for i in range(0, n, batch_size)
  ]


def _image_pairs(data: ml_collections.ConfigDict, split: str, seed_base: int) -> list:
  """Images of one split: NUS `ImagePair`s, or synthetic (raw, srgb) arrays."""
  if data.source == "synthetic":
    from r2lcm_jax.data.synthetic import synthetic_pair

    n = int(data.synthetic_images) if split == "train" else max(1, int(data.synthetic_images) // 2)
    return [synthetic_pair(seed_base + i, int(data.synthetic_height), int(data.synthetic_width)) for i in range(n)]
  if data.source == "nus":
    from r2lcm_jax.data.nus import find_pairs

    if not data.root:
      raise ConfigError("data.root is empty: give the NUS root, e.g. --config ...:root=data/nus")
    # Several roots, separated like PATH (os.pathsep), train on their union: e.g. one
    # rendered dataset per JPEG quality, as the paper samples the quality per image.
    roots = [r for r in str(data.root).split(os.pathsep) if r]
    return [p for r in roots for p in find_pairs(r, split, data.camera or None)]
  raise ConfigError(f"data.source must be 'nus' or 'synthetic', got {data.source!r}")


def _loaded(pairs: list) -> list[tuple[np.ndarray, np.ndarray]]:
  """(raw, srgb) float32 arrays, landscape, for NUS pairs or synthetic arrays."""
  from r2lcm_jax.data.nus import ImagePair, load_pair
  from r2lcm_jax.data.transforms import to_landscape

  return [to_landscape(*load_pair(p)) if isinstance(p, ImagePair) else p for p in pairs]


def _residual_pairs(data: ml_collections.ConfigDict, model_kwargs: Mapping[str, Any],
                    pairs: list) -> list:
  """For a model with a base: (gain * (raw - base), srgb) arrays; else `pairs`.

  "isp_inverse": the ISP parameters of each image come from the `manifest.json` (written
  by `r2lcm render`) of its dataset root (`<root>/<camera>/<split>/raw/<file>`).
  "fitted": each image's map is fitted on the whole image and quantised, exactly as the
  encoder does (`isp_base.fit_base`), before any patch is cut; any source works.

  Raises:
    ConfigError: an ISP-base model on a source without ISP parameters (synthetic).
    InputError: no manifest, or no entry for an image.
  """
  from r2lcm_jax.models import isp_base
  from r2lcm_jax.models.config import R2LCMConfig

  cfg = R2LCMConfig(**model_kwargs)
  if isp_base.needs_fit(cfg):
    from r2lcm_jax.data.nus import ImagePair, load_pair

    out = []
    for p in pairs:
      raw, srgb = load_pair(p) if isinstance(p, ImagePair) else p
      base = isp_base.base_image(cfg, srgb, None, isp_base.fit_base(cfg, srgb, raw))
      out.append((isp_base.to_residual(cfg, raw, base), srgb))
    return out
  if not isp_base.needs_isp(cfg):
    return pairs
  if data.source != "nus":
    raise ConfigError("model.base='isp_inverse' needs rendered data with a manifest (data.source='nus')")
  from r2lcm_jax.data.manifest import params_from_manifest
  from r2lcm_jax.data.nus import ImagePair, load_pair

  out = []
  for p in pairs:
    assert isinstance(p, ImagePair)
    isp = params_from_manifest(pathlib.Path(p.raw_path).parents[3], p.name)  # the dataset root
    raw, srgb = load_pair(p)  # base and residual are computed before any rotation
    base = isp_base.base_image(cfg, srgb, isp)
    out.append((isp_base.to_residual(cfg, raw, base), srgb))
  return out


def warm_start(init_params: Callable[[jax.Array], Any], folder: str) -> Callable[[jax.Array], Any]:
  """An initialiser that returns the parameters saved in `folder` (fine-tuning).

  `folder` is a parameter folder (`params.msgpack` + `config.json`: an exported codec
  checkpoint or a packaged model). Its parameter tree must have the shapes of the model
  being trained; the base, the loss and the data may differ (e.g. a model trained over
  the naive inverse ISP as the start of one over the fitted map). A run that resumes from
  its own checkpoint ignores this.

  Raises:
    CheckpointError: missing or corrupt folder. ConfigError: other shapes.
  """
  from r2lcm_jax.models.params_io import load_params

  loaded, _ = load_params(folder)

  def init(key: jax.Array):
    fresh = init_params(key)
    want = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), fresh)
    got = jax.tree_util.tree_map(lambda a: tuple(np.shape(a)), loaded)
    if want != got:
      raise ConfigError(f"init_from={folder}: its parameters have other shapes than the "
                        "model configured (N, latent_channels, num_steps must match)")
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), loaded)

  return init


def create_task(config: ml_collections.ConfigDict) -> Task:
  """The R2LCM `Task` described by `config` (see r2lcm_jax/train/config.py).

  Training patches come from the grain pipeline (`data.pipeline`, official grid
  sampling `patch_size`/`patch_stride`); validation uses `data.val_split`
  (refused if it is the test split) cut into non-overlapping `data.val_crop`
  crops; `data.val_split = ""` means no validation (the plateau schedule then never
  fires: for datasets too small to hold one out). The global batch is divided among
  processes.

  Raises:
    ConfigError: inconsistent sizes or sources; InputError: missing data.
  """
  from r2lcm_jax.data.pipeline import PairStore, make_train_iter

  data = config.data
  if data.val_split == "test":
    raise ConfigError("data.val_split must not be the test split (the schedule would be tuned on it)")
  num_processes = jax.process_count()
  if data.batch_size % num_processes:
    raise ConfigError(f"data.batch_size={data.batch_size} does not split over {num_processes} processes")
  patch, stride = int(data.patch_size), int(data.patch_stride)
  model_kwargs = dict(config.model)
  store = PairStore(_residual_pairs(data, model_kwargs, _image_pairs(data, "train", int(config.seed) * 1000)))
  train_iter = make_train_iter(
    store,
    patch_size=patch,
    batch_size=data.batch_size // num_processes,
    seed=int(config.seed),
    shard=(jax.process_index(), num_processes),
    augment=bool(data.augment),
    sampling="grid",
    stride=stride,
  )
  steps_per_epoch = len(store.grid(patch, stride)) // int(data.batch_size)
  val_batches = []
  if data.val_split:
    val_pairs = _loaded(_residual_pairs(
      data, model_kwargs, _image_pairs(data, data.val_split, _VAL_SEED_OFFSET + int(config.seed) * 1000)))
    val_batches = create_validation_batches(val_pairs, int(data.val_crop), int(config.eval.batch_size))
  init_params, loss_fn = create_model_and_loss(model_kwargs, patch, **config.loss)
  if config.get("init_from", ""):
    init_params = warm_start(init_params, str(config.init_from))
  return Task(init_params, loss_fn, train_iter, val_batches, steps_per_epoch)
