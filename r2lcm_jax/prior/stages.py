"""The PriorRAW pipeline stages run by `r2lcm prior` and the experiment driver.

1. `train_encoder_stage`: Algorithm 1 through the project's loop (`train.loop.
   train_and_evaluate` with `contrastive.create_contrastive_task`): Orbax checkpoints,
   events and resumption in `<workdir>/encoder/`; the final parameters in
   `<workdir>/encoder.msgpack`.
2. `build_prior`: Algorithm 2 on a dataset split (`compression`), returns the `Prior`.
3. `train_reconstructor_stage`: the reconstructor through the same loop
   (`reconstructor_train.create_reconstructor_task`) in `<workdir>/reconstructor/`; the
   encoder + reconstructor in `<workdir>/model.msgpack` (the `--checkpoint` of
   `r2lcm prior reconstruct`).

The config (`experiments/configs/prior_*.py`) holds `seed`, `log_every_steps`, `data`
(root, camera, train/val split names), `encoder`, `prior` and `reconstructor` groups;
each training group gives its own steps, patches, learning rate and cadences, turned
into the loop's config keys by `loop_config`.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable

import ml_collections
import numpy as np

from r2lcm_jax.data.nus import ImagePair, find_pairs, load_pair
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.compression import ReferenceSet, compress_prior, encode_references
from r2lcm_jax.prior.contrastive import create_contrastive_task
from r2lcm_jax.prior.encoder import PixelSearchEncoder
from r2lcm_jax.prior.inference import check_prior_matches
from r2lcm_jax.prior.model_file import SWITCHES, PriorModel, load_model, save_model
from r2lcm_jax.prior.prior_file import Prior, load_prior
from r2lcm_jax.prior.reconstructor import PriorReconstructor
from r2lcm_jax.prior.reconstructor_train import create_reconstructor_task
from r2lcm_jax.prior.relight import relight_pairs
from r2lcm_jax.train import loop

__all__ = ["dataset_pairs", "config_pairs", "loop_config", "train_encoder_stage", "build_prior",
           "build_prior_from_arrays", "encode_reference_images",
           "train_reconstructor_stage"]


def dataset_pairs(root: str | os.PathLike, split: str, camera: str | None, *,
                  match: str = "") -> list[ImagePair]:
  """The NUS-layout pairs of one split of one camera (ConfigError if cameras are mixed).

  `root` may name several roots separated like PATH (`os.pathsep`, e.g. one root per
  third-party ISP style): their pairs are concatenated in the order given. `match`
  keeps only the pairs whose name contains it (e.g. "IMX135": one sensor of a root
  rendered with `--camera any`); ConfigError when nothing is left.
  """
  roots = [r for r in str(root).split(os.pathsep) if r]
  if not roots:
    raise ConfigError("no dataset root given")
  pairs = []
  for r in roots:
    found = find_pairs(r, split, camera or None)
    cameras = sorted({p.camera for p in found})
    if len(cameras) > 1:
      raise ConfigError(f"{r}: several cameras ({', '.join(cameras)}); choose one with --camera")
    pairs += [p for p in found if match in p.name]
  if not pairs:
    raise ConfigError(f"{root}: no {split} pairs whose name contains {match!r}")
  return pairs


def config_pairs(config: ml_collections.ConfigDict, split: str) -> list[ImagePair]:
  """The pairs of the config's split `split` ("train", "val" or "test"): `data.<split>_root`
  when the config gives one (else `data.root`), `data.<split>_split`,
  `data.<split>_camera` (else `data.camera`) and `data.match`. An empty `<split>_split`
  name gives no pairs."""
  d = config.data
  name = d.get(f"{split}_split", split)
  if not name:
    return []
  root = d.get(f"{split}_root", "") or d.root
  camera = d.get(f"{split}_camera", "") or d.camera
  return dataset_pairs(root, name, camera, match=d.get("match", ""))


def loop_config(config: ml_collections.ConfigDict, stage: ml_collections.ConfigDict):
  """The `train.loop` config keys of one training stage (`num_devices` from the config's
  top level, default 1; 0 = every device, the stage's batch split over them)."""
  c = ml_collections.ConfigDict()
  c.seed = int(config.seed)
  c.num_steps = int(stage.num_steps)
  c.num_epochs = 0
  c.num_devices = int(config.get("num_devices", 1))
  c.log_every_steps = int(config.log_every_steps)
  c.optim = dict(learning_rate=float(stage.learning_rate), grad_clip=1.0, b1=0.9, b2=0.999,
                 eps=1e-8)
  c.schedule = dict(factor=0.5, patience=int(stage.get("patience", 4)), rtol=1e-4)
  c.eval = dict(every_steps=int(stage.eval_every), batch_size=1)
  c.ckpt = dict(every_steps=int(stage.ckpt_every), max_to_keep=2)
  c.stage = stage.to_dict()
  return c


def _stage_pairs(config: ml_collections.ConfigDict, train: list[ImagePair] | None,
                 val: list[ImagePair] | None) -> tuple[list[ImagePair], list[ImagePair]]:
  """The given (train, val) pairs, or the config's data splits for those left None."""
  if train is None:
    train = config_pairs(config, "train")
  if val is None:
    val = config_pairs(config, "val")
  return list(train), list(val)


def train_encoder_stage(config: ml_collections.ConfigDict, workdir: str | os.PathLike, *,
                        train: list[ImagePair] | None = None,
                        val: list[ImagePair] | None = None) -> PriorModel:
  """Algorithm 1; writes `<workdir>/encoder.msgpack` and returns the encoder.

  `train` / `val` replace the config's data splits when given (the benchmark passes the
  pairs of several rendered roots; `val` may be empty: no validation). The config's
  top-level `relight` ("": off; a `prior.relight` mode) re-lights the raws.
  """
  workdir = pathlib.Path(workdir)
  e = config.encoder
  encoder = PixelSearchEncoder(features=int(e.features), embed_dim=int(e.embed_dim))
  train, val = _stage_pairs(config, train, val)
  task = create_contrastive_task(encoder, train, val, patch_size=int(e.patch_size),
                                 batch_size=int(e.batch_size),
                                 reference_batch_size=int(e.reference_batch_size),
                                 seed=int(config.seed), relight=str(config.get("relight", "")))
  state = loop.train_and_evaluate(loop_config(config, e), workdir / "encoder", task=task)
  model = PriorModel(encoder, state.params)
  save_model(workdir / "encoder.msgpack", model)
  return model


def build_prior(model: PriorModel, pairs: list[ImagePair], *, num_clusters: int = 5000,
                group_size: int = 200, iterations: int = 20, seed: int = 0,
                relight: str = "") -> Prior:
  """Algorithm 2 over every half-resolution pixel of `pairs`."""
  if not pairs:
    raise ConfigError("no reference images to build the prior from")
  prior = build_prior_from_arrays(model, (load_pair(p) for p in pairs), num_clusters=num_clusters,
                                  group_size=group_size, iterations=iterations, seed=seed,
                                  relight=relight)
  prior.info["images"] = [p.name for p in pairs]
  return prior


def encode_reference_images(model: PriorModel, images: Iterable[tuple[np.ndarray, np.ndarray]],
                            relight: str = "") -> tuple[ReferenceSet, np.ndarray | None]:
  """Every half-resolution pixel of (raw, sRGB) (H, W, 3) float32 images as (feature,
  sRGB, raw) (`compression.encode_references`), the raws re-lit first when `relight` is
  a `prior.relight` mode. Returns (the reference set, the common gains (3,) or None)."""
  gains = None
  if relight:
    images, gains = relight_pairs(images, relight)
  return encode_references(model.encoder, model.encoder_params, images), gains


def build_prior_from_arrays(model: PriorModel, images: Iterable[tuple[np.ndarray, np.ndarray]], *,
                            num_clusters: int = 5000, group_size: int = 200,
                            iterations: int = 20, seed: int = 0,
                            relight: str = "") -> Prior:
  """Algorithm 2 over every half-resolution pixel of (raw, sRGB) (H, W, 3) float32 images
  (e.g. references resized by `references.fit_reference`). `relight` ("" = off, or a
  `prior.relight` mode): the references' raws re-lit to their mean gains first (mode
  and gains recorded in `info["relight"]`, `info["relight_gains"]`)."""
  refs, gains = encode_reference_images(model, images, relight)
  if refs[0].shape[0] < num_clusters:
    raise ConfigError(f"{refs[0].shape[0]} reference pixels are fewer than {num_clusters} clusters")
  prior = compress_prior(refs, model.encoder_params, num_clusters=num_clusters,
                         group_size=group_size, iterations=iterations, seed=seed)
  if gains is not None:
    prior.info["relight"] = relight
    prior.info["relight_gains"] = [float(g) for g in gains]
  return prior


def train_reconstructor_stage(config: ml_collections.ConfigDict, workdir: str | os.PathLike,
                              encoder_path: str | os.PathLike,
                              prior_path: str | os.PathLike, *,
                              train: list[ImagePair] | None = None,
                              val: list[ImagePair] | None = None,
                              folder: str = "reconstructor",
                              model_file: str = "model.msgpack") -> PriorModel:
  """Trains the reconstructor; writes `<workdir>/<model_file>` and returns the model.

  `train` / `val` replace the config's data splits when given (as `train_encoder_stage`).
  The reconstructor group's `use_prior`, `reliable`, `nonlocal_fusion` (default on) pick
  Table 1's row (`reconstructor.PriorReconstructor`); `folder` is the loop's folder under
  `workdir` (checkpoints, events; a rerun resumes from its latest checkpoint).
  """
  workdir = pathlib.Path(workdir)
  base = load_model(encoder_path)
  prior = load_prior(prior_path)
  check_prior_matches(base, prior)
  r = config.reconstructor
  recon = PriorReconstructor(features=int(r.features), heads=int(r.heads),
                             **{k: bool(r.get(k, True)) for k in SWITCHES})
  train, val = _stage_pairs(config, train, val)
  task = create_reconstructor_task(recon, base.encoder, base.encoder_params, prior, train, val,
                                   patch_size=int(r.patch_size), batch_size=int(r.batch_size),
                                   alpha=float(r.alpha), beta=float(r.beta),
                                   seed=int(config.seed))
  state = loop.train_and_evaluate(loop_config(config, r), workdir / folder, task=task)
  model = PriorModel(base.encoder, base.encoder_params, recon, state.params)
  save_model(workdir / model_file, model)
  return model
