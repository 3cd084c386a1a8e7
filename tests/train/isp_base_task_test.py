"""Training over the naive inverse ISP: residual targets from the render manifest,
distortion measured back in raw-RGB units."""

from __future__ import annotations

import importlib.util
import pathlib

import jax
import numpy as np
import pytest

from r2lcm_jax.data.manifest import params_from_manifest
from r2lcm_jax.data.nus import find_pairs, load_pair
from r2lcm_jax.data.render import render_inputs
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.isp import pipeline
from r2lcm_jax.train import task

pytestmark = pytest.mark.usefixtures("fast_compilation")

REPO = pathlib.Path(__file__).resolve().parents[2]


def _config(arg):
  path = REPO / "experiments" / "configs" / "gopro_isp.py"
  spec = importlib.util.spec_from_file_location("cfg_gopro_isp", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.fixture(scope="module")
def dataset(real_data, tmp_path_factory):
  root = tmp_path_factory.mktemp("isp_ds")
  files = sorted((real_data / "inteltau").glob("*_00[12]_*.png"))
  assert len(files) == 2
  render_inputs([str(f) for f in files], root, camera="imx135", split="train",
                jpeg_quality=90, progress=False)
  return root


def test_training_images_are_residuals_over_the_manifest_isp(dataset):
  c = _config(f"root={dataset},camera=imx135,N=8,patch_size=32,batch_size=2,num_steps=2")
  pairs = task._image_pairs(c.data, "train", 0)
  out = task._residual_pairs(c.data, dict(c.model), pairs)
  assert len(out) == 2
  for pair, (r, srgb) in zip(pairs, out, strict=True):
    raw, srgb_ref = load_pair(pair)
    isp = params_from_manifest(dataset / "manifest.json", pair.name)
    np.testing.assert_array_equal(srgb, srgb_ref)
    np.testing.assert_allclose(r, 16.0 * (raw - pipeline.invert_render(srgb_ref, isp)),
                               atol=1e-5)
    # The naive inverse of a JPEG q90 is close but not exact: there is something to code.
    assert 1e-4 < np.abs(r / 16.0).mean() < 0.05


def test_loss_measures_distortion_in_raw_units(dataset):
  c = _config(f"root={dataset},camera=imx135,N=8,patch_size=32,batch_size=2,num_steps=2")
  t = task.create_task(c)
  params = t.init_params(jax.random.key(0))
  # A zero residual (g_s's last conv zeroed) reconstructs the naive inverse: the loss's
  # PSNR must then be the naive inverse's PSNR on the patch, in raw-RGB units.
  params["g_s"]["layers_9"] = jax.tree_util.tree_map(np.zeros_like, params["g_s"]["layers_9"])
  batch = next(iter(t.train_iter))
  rngs = {"gumbel": jax.random.key(1), "noise": jax.random.key(2)}
  loss, m = jax.jit(t.loss_fn, static_argnums=3)(params, batch, rngs, True)
  err = np.asarray(batch["raw"], np.float64) / 16.0
  want = np.mean(-10 * np.log10(np.mean(err**2, axis=(1, 2, 3))))
  assert float(m["psnr"]) == pytest.approx(want, abs=1e-3)
  assert float(m["l1"]) == pytest.approx(np.abs(err).mean(), rel=1e-4)
  assert np.isfinite(float(loss))


def test_isp_base_needs_a_manifest_and_real_data(dataset, tmp_path):
  c = _config("N=8,patch_size=32,batch_size=2")
  c.data.source = "synthetic"
  with pytest.raises(ConfigError, match="needs rendered data"):
    task.create_task(c)
  bare = tmp_path / "bare"
  for sub in ("raw", "sRGB"):
    src = dataset / "imx135" / "train" / sub
    dst = bare / "imx135" / "train" / sub
    dst.mkdir(parents=True)
    for f in src.iterdir():
      (dst / f.name).write_bytes(f.read_bytes())
  c = _config(f"root={bare},camera=imx135,N=8,patch_size=32,batch_size=2")
  with pytest.raises(InputError, match="manifest not found"):
    task._residual_pairs(c.data, dict(c.model), find_pairs(bare, "train", "imx135"))


def test_several_roots_train_on_their_union_with_their_own_manifests(dataset, real_data,
                                                                     tmp_path):
  import os

  other = tmp_path / "png"
  files = sorted((real_data / "inteltau").glob("*_00[12]_*.png"))
  render_inputs([str(files[0])], other, camera="imx135", split="train", jpeg_quality=0,
                tone_strength=0.3, progress=False)
  c = _config("N=8,patch_size=32,batch_size=2,camera=imx135")
  c.data.root = os.pathsep.join([str(dataset), str(other)])
  pairs = task._image_pairs(c.data, "train", 0)
  assert [p.srgb_path.endswith(".jpg") for p in pairs] == [True, True, False]
  r, srgb = task._residual_pairs(c.data, dict(c.model), pairs)[2]
  raw, _ = load_pair(pairs[2])
  isp = params_from_manifest(other / "manifest.json", pairs[2].name)
  assert isp.tone_strength == pytest.approx(0.3)
  np.testing.assert_allclose(r, 16.0 * (raw - pipeline.invert_render(srgb, isp)), atol=1e-5)
  # Lossless sRGB: the naive inverse is close to exact (8-bit rounding and clipping left).
  assert np.abs(r / 16.0).mean() < np.abs(task._residual_pairs(
    c.data, dict(c.model), pairs[:1])[0][0] / 16.0).mean()
