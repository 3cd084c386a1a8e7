"""grain pipelines: random training patches and full-image evaluation.

Training (`make_train_iter`): every image is made landscape (raw and sRGB rotated 90
degrees CCW if portrait, as the official loader does) and kept in memory in its file
precision. With `sampling="random"`, one epoch draws `patches_per_image` patches from
every image: the element indices are shuffled per epoch (grain `shuffle` + `repeat`), and
each element picks its image (index mod number of images) and a uniform random window.
With `sampling="grid"` (the official protocol, SPEC §10), one epoch is every
`patch_size` window at stride `stride` in raster order of every image, shuffled. With
`augment`, one of the 8 flips/rotations is applied. All randomness comes from generators
seeded by (seed, epoch, index) (grain `random_map`). Batches stack `batch_size` such patches. The iterator is infinite,
deterministic for a seed, and its position is a small JSON state (`get_state` /
`set_state`, or Orbax through `grain.checkpoint.CheckpointSave` / `CheckpointRestore`).

Evaluation (`make_eval_iter`): each full image, centre-cropped (official protocol) or
reflect-padded to a multiple of 16, with the original area recorded in `crop`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import grain
import numpy as np

from r2lcm_jax.data import transforms
from r2lcm_jax.data.nus import ImagePair, load_pair
from r2lcm_jax.errors import ConfigError, ShapeMismatchError

__all__ = ["PairStore", "make_train_dataset", "make_train_iter", "make_eval_iter"]


@dataclasses.dataclass(frozen=True, eq=False)
class _StoredImage:
  raw: np.ndarray  # (H, W, 3), uint16 (scale 65535) or float32 (scale 1)
  srgb: np.ndarray  # (H, W, 3), uint16 (scale 255, official grid) or float32
  raw_scale: float
  srgb_scale: float
  name: str


class PairStore:
  """Immutable in-memory (raw, sRGB) images, landscape, in file precision.

  Args:
    items: `ImagePair`s (loaded with `load_pair`), or (raw, srgb) float arrays (H, W, 3)
      in [0, 1], or a mix.
  """

  def __init__(self, items: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]]):
    images = []
    for i, item in enumerate(items):
      if isinstance(item, ImagePair):
        raw, srgb = load_pair(item)
        raw, srgb = transforms.to_landscape(raw, srgb)
        images.append(_StoredImage(
          raw=np.round(raw * 65535.0).astype(np.uint16),
          srgb=np.round(srgb * 255.0).astype(np.uint16),
          raw_scale=65535.0, srgb_scale=255.0, name=item.name))
      else:
        raw, srgb = (np.asarray(a, np.float32) for a in item)
        if raw.shape != srgb.shape or raw.ndim != 3:
          raise ShapeMismatchError(f"pair {i}: raw {raw.shape} and sRGB {srgb.shape} differ")
        raw, srgb = transforms.to_landscape(raw, srgb)
        images.append(_StoredImage(raw=raw, srgb=srgb, raw_scale=1.0, srgb_scale=1.0,
                                   name=f"array_{i}"))
    if not images:
      raise ConfigError("no training images given")
    self._images = tuple(images)

  def __len__(self) -> int:
    return len(self._images)

  def image(self, index: int) -> _StoredImage:
    return self._images[index]

  def min_size(self) -> tuple[int, int]:
    return (min(im.raw.shape[0] for im in self._images),
            min(im.raw.shape[1] for im in self._images))

  def grid(self, patch: int, stride: int) -> np.ndarray:
    """(N, 3) int64 (image, top, left) of every window, raster order per image."""
    rows = []
    for i, im in enumerate(self._images):
      h, w = im.raw.shape[:2]
      tops, lefts = np.arange(0, h - patch + 1, stride), np.arange(0, w - patch + 1, stride)
      tt, ll = np.meshgrid(tops, lefts, indexing="ij")
      rows.append(np.stack([np.full(tt.size, i), tt.ravel(), ll.ravel()], -1))
    return np.concatenate(rows).astype(np.int64)


@dataclasses.dataclass(frozen=True, eq=False)
class _PatchSampler(grain.transforms.RandomMap):
  store: PairStore
  patch_size: int
  augment: bool
  grid: np.ndarray | None = None  # (N, 3) windows for grid sampling, else random windows

  def random_map(self, element: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if self.grid is None:
      im = self.store.image(int(element) % len(self.store))
      raw, srgb = transforms.random_patch(im.raw, im.srgb, self.patch_size, rng)
    else:
      i, top, left = (int(v) for v in self.grid[int(element) % len(self.grid)])
      im, p = self.store.image(i), self.patch_size
      raw, srgb = im.raw[top:top + p, left:left + p], im.srgb[top:top + p, left:left + p]
    if self.augment:
      raw, srgb = transforms.random_flip_rotate(raw, srgb, rng)
    return {"raw": raw.astype(np.float32) / np.float32(im.raw_scale),
            "srgb": srgb.astype(np.float32) / np.float32(im.srgb_scale)}


def make_train_dataset(pairs_or_arrays: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]] | PairStore,
                       *, patch_size: int = 256, batch_size: int = 8, seed: int = 0,
                       augment: bool = True, patches_per_image: int = 1,
                       sampling: str = "random", stride: int | None = None,
                       shard: tuple[int, int] = (0, 1)) -> grain.MapDataset:
  """The infinite, batched training `grain.MapDataset` (see module doc).

  `shard = (index, count)`: this process's part of a multi-process run. `batch_size` is
  then the *local* batch: global batch g is the concatenation, in process order, of
  local batch g of processes 0..count-1, i.e. elements [g*B, (g+1)*B) of the one global
  element sequence (B = count * batch_size). Every process draws the same sequence from
  `seed` and reads only its own elements, so a run over N processes sees exactly the
  batches of one process with the whole global batch.
  """
  index, count = (int(v) for v in shard)
  if not 0 <= index < count:
    raise ConfigError(f"shard index {index} not in [0, {count})")
  store = pairs_or_arrays if isinstance(pairs_or_arrays, PairStore) else PairStore(pairs_or_arrays)
  h, w = store.min_size()
  if patch_size < 1 or patch_size > min(h, w):
    raise ConfigError(f"patch_size {patch_size} does not fit the smallest image ({h}x{w})")
  if batch_size < 1 or patches_per_image < 1:
    raise ConfigError("batch_size and patches_per_image must be >= 1")
  if not 0 <= seed < 2**32:
    raise ConfigError(f"seed must be in [0, 2**32), got {seed}")
  if sampling == "random":
    grid = None
    ds = grain.MapDataset.range(len(store) * patches_per_image)
  elif sampling == "grid":
    stride = patch_size // 2 if stride is None else stride
    if stride < 1:
      raise ConfigError(f"stride must be >= 1, got {stride}")
    grid = store.grid(patch_size, stride)
    ds = grain.MapDataset.range(len(grid))
  else:
    raise ConfigError(f"sampling must be 'random' or 'grid', got {sampling!r}")
  ds = ds.shuffle(seed=seed).repeat(None)
  ds = ds.random_map(_PatchSampler(store, patch_size, augment, grid), seed=seed)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds if count == 1 else ds[index::count]


def make_train_iter(pairs_or_arrays: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]] | PairStore,
                    *, patch_size: int = 256, batch_size: int = 8, seed: int = 0,
                    augment: bool = True, patches_per_image: int = 1, sampling: str = "random",
                    stride: int | None = None, num_threads: int = 2,
                    prefetch: int = 4, shard: tuple[int, int] = (0, 1)) -> grain.DatasetIterator:
  """Infinite iterator of training batches.

  Args:
    pairs_or_arrays: `ImagePair`s, (raw, srgb) float32 (H, W, 3) arrays, or a PairStore.
    patch_size: square patch side P.
    batch_size: patches per batch B.
    seed: all randomness (order, windows, augmentation) derives from it.
    augment: random flips / 90-degree rotations applied to raw and sRGB together.
    patches_per_image: patches drawn from each image per epoch (random sampling).
    sampling: "random" windows, or "grid": every window at `stride` (default P/2, the
      official 256/128 tiling; use augment=False for the official protocol).
    stride: grid stride.
    num_threads, prefetch: grain read options (threads computing elements ahead).
    shard: (process index, process count); `batch_size` is then the local batch
      (`make_train_dataset`).

  Returns:
    grain DatasetIterator yielding {"raw": float32 (B, P, P, 3), "srgb": float32
    (B, P, P, 3)}, with `get_state()` / `set_state()` and Orbax checkpointing through
    `grain.checkpoint.CheckpointSave(it)` / `CheckpointRestore(it)`.
  """
  ds = make_train_dataset(pairs_or_arrays, patch_size=patch_size, batch_size=batch_size,
                          seed=seed, augment=augment, patches_per_image=patches_per_image,
                          sampling=sampling, stride=stride, shard=shard)
  opts = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  return iter(ds.to_iter_dataset(opts))


def make_eval_iter(pairs: Sequence[ImagePair | tuple[np.ndarray, np.ndarray]], multiple: int = 16,
                   *, mode: str = "crop") -> Iterator[dict[str, Any]]:
  """Full test images, one at a time, sized to a multiple of `multiple`.

  Args:
    pairs: `ImagePair`s (loaded lazily, official test loader: raw not rotated, sRGB
      rotated to match) or (raw, srgb) arrays.
    multiple: both sides are made multiples of it.
    mode: "crop" (official: centre crop, start (h mod m)//2) or "pad" (reflect padding).

  Yields:
    {"raw": float32 (1, H', W', 3), "srgb": float32 (1, H', W', 3), "crop": (top, left,
    h, w) of the original image area inside these arrays (the whole array for "crop"),
    "source_crop": (top, left, H', W') of the arrays inside the original image (crop
    mode; (0, 0, H, W) for pad), "name": str}.
  """
  if mode not in ("crop", "pad"):
    raise ConfigError(f"mode must be 'crop' or 'pad', got {mode!r}")
  for i, item in enumerate(pairs):
    if isinstance(item, ImagePair):
      raw, srgb, name = *load_pair(item), item.name
    else:
      raw, srgb, name = np.asarray(item[0], np.float32), np.asarray(item[1], np.float32), f"array_{i}"
      if raw.shape != srgb.shape:
        raise ShapeMismatchError(f"pair {i}: raw {raw.shape} and sRGB {srgb.shape} differ")
    if mode == "crop":
      raw_c, src = transforms.centre_crop_to_multiple(raw, multiple)
      srgb_c, _ = transforms.centre_crop_to_multiple(srgb, multiple)
      crop = (0, 0, raw_c.shape[0], raw_c.shape[1])
    else:
      raw_c, crop = transforms.pad_to_multiple(raw, multiple)
      srgb_c, _ = transforms.pad_to_multiple(srgb, multiple)
      src = (0, 0, raw.shape[0], raw.shape[1])
    yield {"raw": np.ascontiguousarray(raw_c[None]), "srgb": np.ascontiguousarray(srgb_c[None]),
           "crop": crop, "source_crop": src, "name": name}
