"""Algorithm 1: contrastive training of the pixel searching encoder.

The training images are split into two disjoint subsets (`split_targets_references`:
sorted order, even positions are targets, odd positions references). Every step takes a
batch of random target patches and a separate batch of random reference patches (two
grain pipelines of `data.pipeline.make_train_dataset`, zipped), encodes both, and
assembles every target embedding's raw from all reference pixels of the batch:

    A = f_t . f_r^T;  As = softmax(A) over reference pixels;  FRAW_t = As x RAW_r

(`affinity.assemble_chunked`, never the dense matrix), on the half-resolution grid of
the embeddings (raw 2x2-averaged). The loss is the L2 distance to the target raw; only
the affinities are learned (the reference raw values are data).

`create_contrastive_task` packages this as a `train.task_api.Task`, so the project's loop
(optimizer, plateau schedule, Orbax checkpoints with the grain iterator state, metric
writer, resumption) trains it.
"""

from __future__ import annotations

from collections.abc import Sequence

import grain
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.data.nus import ImagePair, load_pair
from r2lcm_jax.data.pipeline import make_train_dataset
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.prior.affinity import assemble_chunked
from r2lcm_jax.prior.encoder import (
  PixelSearchEncoder,
  half_resolution,
  init_encoder_params,
)
from r2lcm_jax.prior.relight import relight_pairs
from r2lcm_jax.train.task_api import Task

__all__ = ["split_targets_references", "contrastive_loss_fn", "make_contrastive_iter",
           "create_contrastive_task"]

Pairs = Sequence[ImagePair | tuple[np.ndarray, np.ndarray]]


def split_targets_references(items: Sequence) -> tuple[list, list]:
  """(targets, references): even / odd positions of `items` (disjoint; >= 2 items)."""
  if len(items) < 2:
    raise ConfigError(f"contrastive training needs >= 2 training images, got {len(items)}")
  return list(items[0::2]), list(items[1::2])


def contrastive_loss_fn(encoder: PixelSearchEncoder, *, key_chunk: int = 1024,
                        query_chunk: int = 4096):
  """`loss_fn(params, batch, rngs, training) -> (L2, metrics)` of Algorithm 1.

  batch: "target_srgb", "target_raw" (B, P, P, 3); "reference_srgb", "reference_raw"
  (B_r, P, P, 3); float32 in [0, 1], P even. Metrics: "l2", "psnr" (of the assembled
  half-resolution raw).
  """

  def loss_fn(params, batch, rngs, training):
    del rngs, training
    ft = encoder.apply({"params": params}, batch["target_srgb"])
    fr = encoder.apply({"params": params}, batch["reference_srgb"])
    d = ft.shape[-1]
    ref_raw = half_resolution(batch["reference_raw"]).reshape(-1, 3)
    pred = assemble_chunked(ft.reshape(-1, d), fr.reshape(-1, d), ref_raw,
                            key_chunk=key_chunk, query_chunk=query_chunk)
    target = half_resolution(batch["target_raw"]).reshape(-1, 3)
    l2 = jnp.mean(jnp.square(pred - target))
    return l2, {"l2": l2, "psnr": -10.0 * jnp.log10(jnp.maximum(l2, 1e-20))}

  return loss_fn


def _merge(pair):
  t, r = pair
  return {"target_srgb": t["srgb"], "target_raw": t["raw"],
          "reference_srgb": r["srgb"], "reference_raw": r["raw"]}


def make_contrastive_iter(targets: Pairs, references: Pairs, *, patch_size: int = 64,
                          batch_size: int = 8, reference_batch_size: int = 8, seed: int = 0,
                          augment: bool = True) -> grain.DatasetIterator:
  """Endless, checkpointable iterator of contrastive batches (see `contrastive_loss_fn`).

  Target and reference patches come from separate pipelines seeded by `seed` and
  `seed + 1`; deterministic for a seed.
  """
  ds_t = make_train_dataset(targets, patch_size=patch_size, batch_size=batch_size, seed=seed,
                            augment=augment)
  ds_r = make_train_dataset(references, patch_size=patch_size, batch_size=reference_batch_size,
                            seed=(seed + 1) % 2**32, augment=augment)
  n = min(len(ds_t), len(ds_r))  # both endless (repeat); zip needs equal lengths
  ds = grain.experimental.ZipMapDataset(parents=[ds_t[:n], ds_r[:n]]).map(_merge)
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=2, prefetch_buffer_size=4)))


def _arrays(pairs: Pairs) -> list[tuple[np.ndarray, np.ndarray]]:
  """(raw, sRGB) arrays of pairs given as `ImagePair`s or arrays."""
  return [load_pair(p) if isinstance(p, ImagePair) else p for p in pairs]


def create_contrastive_task(encoder: PixelSearchEncoder, train: Pairs, val: Pairs, *,
                            patch_size: int = 64, batch_size: int = 8,
                            reference_batch_size: int = 8, val_batches: int = 2,
                            seed: int = 0, relight: str = "") -> Task:
  """The loop `Task` of Algorithm 1.

  Args:
    encoder: the encoder definition.
    train: training images, split into targets / references by `split_targets_references`.
    val: validation images: fixed batches of their patches (targets) against patches
      of the reference subset.
    patch_size, batch_size, reference_batch_size: patch side and counts per step.
    val_batches: number of fixed validation batches.
    seed: data seed.
    relight: "" (off), or a `prior.relight` mode: load every image and re-light its raw
      to the train set's mean gains (val images to the same gains), so that the
      assembly is not charged for illuminants.
  """
  if relight:
    train, mean_gains = relight_pairs(_arrays(train), relight)
    val = relight_pairs(_arrays(val), relight, mean_gains=mean_gains)[0] if val else []
  targets, references = split_targets_references(train)
  it = make_contrastive_iter(targets, references, patch_size=patch_size, batch_size=batch_size,
                             reference_batch_size=reference_batch_size, seed=seed)
  val_it = make_contrastive_iter(val, references, patch_size=patch_size, batch_size=batch_size,
                                 reference_batch_size=reference_batch_size,
                                 seed=(seed + 7) % 2**32, augment=False) if val else None
  return Task(init_params=lambda key: init_encoder_params(encoder, key, patch_size),
              loss_fn=contrastive_loss_fn(encoder), train_iter=it,
              val_batches=[next(val_it) for _ in range(val_batches)] if val_it else [])
