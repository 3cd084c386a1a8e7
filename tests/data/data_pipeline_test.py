"""grain pipelines over synthetic and real rendered data; iterator checkpointing."""

from __future__ import annotations

import grain
import numpy as np
import orbax.checkpoint as ocp
import pytest

from r2lcm_jax.data import nus
from r2lcm_jax.data.pipeline import PairStore, make_eval_iter, make_train_iter
from r2lcm_jax.data.render import render_inputs
from r2lcm_jax.data.synthetic import synthetic_pair
from r2lcm_jax.errors import ConfigError


@pytest.fixture(scope="module")
def synth_pairs():
  return [synthetic_pair(s, 48, 80) for s in range(5)]


@pytest.fixture(scope="module")
def rendered_root(real_data, tmp_path_factory):
  """The INTEL-TAU samples and the Halide crop rendered to the NUS layout."""
  root = tmp_path_factory.mktemp("rendered")
  render_inputs([str(real_data / "inteltau"), str(real_data / "halide")], root, split="train",
                progress=False)
  return root


def _is_aligned_patch(batch_raw, batch_srgb, pairs):
  """Each (raw, sRGB) patch occurs, under one flip/rotation, at one place of one pair."""
  for r, s in zip(batch_raw, batch_srgb, strict=True):
    found = False
    for raw, srgb in pairs:
      for k in range(4):
        for flip in (False, True):
          rr = np.rot90(r[:, ::-1] if flip else r, -k)
          ss = np.rot90(s[:, ::-1] if flip else s, -k)
          hits = np.argwhere(raw[..., 0] == rr[0, 0, 0])
          for y, x in hits:
            p = rr.shape[0]
            if (y + p <= raw.shape[0] and x + p <= raw.shape[1]
                and np.array_equal(raw[y:y + p, x:x + p], rr)
                and np.array_equal(srgb[y:y + p, x:x + p], ss)):
              found = True
    if not found:
      return False
  return True


def test_train_batches_have_the_requested_shape_and_aligned_pairs(synth_pairs):
  it = make_train_iter(synth_pairs, patch_size=32, batch_size=4, seed=3)
  for _ in range(3):
    batch = next(it)
    assert set(batch) == {"raw", "srgb"}
    assert batch["raw"].shape == batch["srgb"].shape == (4, 32, 32, 3)
    assert batch["raw"].dtype == np.float32
    assert _is_aligned_patch(batch["raw"], batch["srgb"], synth_pairs)


def test_same_seed_same_batches_other_seed_other_batches(synth_pairs):
  a = [next(it)["raw"] for it in [make_train_iter(synth_pairs, patch_size=32, batch_size=2,
                                                  seed=7)] for _ in range(4)]
  b = [next(it)["raw"] for it in [make_train_iter(synth_pairs, patch_size=32, batch_size=2,
                                                  seed=7)] for _ in range(4)]
  c = next(make_train_iter(synth_pairs, patch_size=32, batch_size=2, seed=8))["raw"]
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x, y)
  assert not np.array_equal(a[0], c)


def test_iterator_is_infinite_across_epochs_and_reshuffles_each_epoch(synth_pairs):
  """5 images, 1 patch each, batch 1: batches 0-4 are epoch 0, 5-9 epoch 1, 10-14 epoch 2.

  Every epoch visits every image once (each patch lies inside its own image), and the
  windows and order are drawn anew, so an epoch does not repeat the previous one.
  """
  it = make_train_iter(synth_pairs, patch_size=16, batch_size=1, seed=0, augment=False,
                       num_threads=1)
  patches = [next(it)["raw"][0] for _ in range(15)]

  def source(patch):
    hits = [i for i, (raw, _) in enumerate(synth_pairs)
            if any(np.array_equal(raw[y:y + 16, x:x + 16], patch)
                   for y in range(raw.shape[0] - 15) for x in range(raw.shape[1] - 15))]
    assert len(hits) == 1
    return hits[0]

  epochs = [[source(p) for p in patches[e * 5:(e + 1) * 5]] for e in range(3)]
  for order in epochs:
    assert sorted(order) == list(range(5)), epochs
  assert not all(np.array_equal(patches[i], patches[i + 5]) for i in range(5))


def test_get_state_set_state_resumes_at_the_same_batch(synth_pairs):
  it = make_train_iter(synth_pairs, patch_size=32, batch_size=2, seed=5)
  for _ in range(3):
    next(it)
  state = it.get_state()
  expected = next(it)
  fresh = make_train_iter(synth_pairs, patch_size=32, batch_size=2, seed=5)
  fresh.set_state(state)
  got = next(fresh)
  np.testing.assert_array_equal(got["raw"], expected["raw"])
  np.testing.assert_array_equal(got["srgb"], expected["srgb"])


def test_real_rendered_data_pipeline_resumes_from_an_orbax_checkpoint(rendered_root, tmp_path):
  pairs = nus.find_pairs(rendered_root, "train")
  assert len(pairs) == 21 and {p.camera for p in pairs} == {"SonyIMX135", "halide"}
  store = PairStore(pairs)
  it = make_train_iter(store, patch_size=64, batch_size=4, seed=11)
  first = next(it)
  assert first["raw"].shape == first["srgb"].shape == (4, 64, 64, 3)
  assert 0 <= first["raw"].min() and first["raw"].max() <= 1 and first["srgb"].max() <= 1
  next(it)
  ckpt = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  ckpt.save(tmp_path / "ckpt", args=ocp.args.Composite(ds=grain.checkpoint.CheckpointSave(it)))
  expected = [next(it) for _ in range(2)]
  fresh = make_train_iter(store, patch_size=64, batch_size=4, seed=11)
  ckpt.restore(tmp_path / "ckpt",
               args=ocp.args.Composite(ds=grain.checkpoint.CheckpointRestore(fresh)))
  for want in expected:
    got = next(fresh)
    np.testing.assert_array_equal(got["raw"], want["raw"])
    np.testing.assert_array_equal(got["srgb"], want["srgb"])


def test_patch_larger_than_images_is_a_config_error(synth_pairs):
  with pytest.raises(ConfigError, match="patch_size"):
    make_train_iter(synth_pairs, patch_size=64)


def test_eval_iter_crops_to_multiple_of_16_and_records_the_area(synth_pairs):
  odd = [(p[0][:45, :70], p[1][:45, :70]) for p in synth_pairs[:2]]
  items = list(make_eval_iter(odd, 16))
  assert len(items) == 2
  it = items[0]
  assert it["raw"].shape == it["srgb"].shape == (1, 32, 64, 3)
  assert it["crop"] == (0, 0, 32, 64) and it["source_crop"] == (6, 3, 32, 64)
  np.testing.assert_array_equal(it["raw"][0], odd[0][0][6:38, 3:67])
  padded = next(make_eval_iter(odd, 16, mode="pad"))
  assert padded["raw"].shape == (1, 48, 80, 3)
  top, left, h, w = padded["crop"]
  np.testing.assert_array_equal(padded["raw"][0, top:top + h, left:left + w], odd[0][0])


def test_eval_iter_over_real_rendered_pairs(rendered_root):
  pairs = nus.find_pairs(rendered_root, "train", camera="halide")
  (item,) = list(make_eval_iter(pairs))
  assert item["name"] == "bayer_small"
  assert item["raw"].shape == (1, 336, 256, 3)  # 344x256 centre-cropped to 16
  assert item["source_crop"] == (4, 0, 336, 256)


def test_grid_sampling_visits_every_official_window_once_per_epoch(synth_pairs):
  store = PairStore(synth_pairs[:2])
  grid = store.grid(32, 16)
  # 48x80 images: tops {0, 16}, lefts {0, 16, 32, 48} -> 8 windows per image.
  assert len(grid) == 16
  it = make_train_iter(store, patch_size=32, batch_size=4, seed=2, augment=False,
                       sampling="grid", stride=16)
  seen = []
  for _ in range(4):
    batch = next(it)
    for r in batch["raw"]:
      seen.append(next((i, t, left) for i, t, left in grid
                       if np.array_equal(synth_pairs[i][0][t:t + 32, left:left + 32], r)))
  assert sorted(seen) == sorted(map(tuple, grid.tolist()))
  assert seen != [tuple(g) for g in grid.tolist()]  # shuffled


def test_process_shards_concatenate_to_the_single_process_batches(synth_pairs):
  """Two processes with local batch 2 see exactly the batches of one process with 4."""
  kw = dict(patch_size=16, seed=3, augment=True, num_threads=1)
  whole = make_train_iter(synth_pairs, batch_size=4, **kw)
  parts = [make_train_iter(synth_pairs, batch_size=2, shard=(i, 2), **kw) for i in range(2)]
  for _ in range(7):  # several epochs of 5 images
    expected = next(whole)
    got = [next(p) for p in parts]
    for key in ("raw", "srgb"):
      np.testing.assert_array_equal(np.concatenate([g[key] for g in got]), expected[key])
  with pytest.raises(ConfigError, match="shard"):
    make_train_iter(synth_pairs, batch_size=2, shard=(2, 2), **kw)
