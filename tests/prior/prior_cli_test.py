"""`r2lcm prior` end to end (subprocess): bad inputs exit 2 with one line and no output file."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.io.images import read_image, to_uint8, to_uint16, write_png
from r2lcm_jax.prior.compression import compress_prior, encode_references
from r2lcm_jax.prior.model_file import PriorModel, save_model
from r2lcm_jax.prior.prior_file import Prior, load_prior, save_prior


def _r2lcm(*args):
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "prior", *map(str, args)],
                        capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_model, synthetic_pairs):
  """A model, an encoder-only file, its prior, a prior of another encoder, an sRGB PNG."""
  d = tmp_path_factory.mktemp("prior_cli")
  save_model(d / "model.msgpack", tiny_model)
  save_model(d / "encoder.msgpack", PriorModel(tiny_model.encoder, tiny_model.encoder_params))
  refs = encode_references(tiny_model.encoder, tiny_model.encoder_params, synthetic_pairs[1:])
  save_prior(d / "prior.npz", compress_prior(refs, tiny_model.encoder_params, num_clusters=32,
                                             group_size=20, iterations=3))
  prior = load_prior(d / "prior.npz")  # the same entries, claimed by another encoder
  save_prior(d / "other.npz", Prior(prior.features, prior.srgb, prior.raw, "00" * 32))
  write_png(d / "img.png", to_uint8(synthetic_pairs[0][1]))
  data = (d / "prior.npz").read_bytes()
  (d / "truncated.npz").write_bytes(data[: len(data) // 2])
  return d


@pytest.mark.parametrize("case,message", [
  ("no_action", "usage: r2lcm prior"),
  ("missing_flag", "--checkpoint is required"),
  ("truncated_prior", "truncated or corrupted prior file"),
  ("other_encoder", "different encoder"),
  ("encoder_only", "only an encoder"),
  ("missing_image", "cannot read"),
  ("out_is_folder", "is a folder"),
])
def test_reconstruct_bad_inputs_exit_2_without_output(files, case, message):
  d, out = files, files / f"{case}.tiff"
  ok = dict(srgb=d / "img.png", prior=d / "prior.npz", checkpoint=d / "model.msgpack", out=out)
  change = {"missing_flag": dict(checkpoint=None), "truncated_prior": dict(prior=d / "truncated.npz"),
            "other_encoder": dict(prior=d / "other.npz"),
            "encoder_only": dict(checkpoint=d / "encoder.msgpack"),
            "missing_image": dict(srgb=d / "nope.png"), "out_is_folder": dict(out=d)}
  args = [] if case == "no_action" else ["reconstruct"] + [
    f"--{k}={v}" for k, v in {**ok, **change.get(case, {})}.items() if v is not None]
  r = _r2lcm(*args)
  assert r.returncode == 2, (r.stdout, r.stderr)
  assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
  assert len(r.stderr.strip().splitlines()) == 1, r.stderr
  assert not out.exists() and not list(d.glob(f".{case}*"))


def test_build_bad_inputs_exit_2(files, tmp_path):
  r = _r2lcm("build", f"--dataset={tmp_path / 'nope'}", f"--encoder={files / 'encoder.msgpack'}",
             f"--out={tmp_path / 'p.npz'}")
  assert r.returncode == 2 and "dataset root is not a folder" in r.stderr, r.stderr
  assert not (tmp_path / "p.npz").exists()


@pytest.mark.slow
def test_build_then_reconstruct_writes_a_16bit_raw(files, synthetic_pairs, tmp_path):
  root = tmp_path / "data" / "cam" / "train"
  for i, (raw, srgb) in enumerate(synthetic_pairs):
    write_png(root / "raw" / f"{i}.png", to_uint16(raw))
    write_png(root / "sRGB" / f"{i}.png", to_uint8(srgb))
  r = _r2lcm("build", f"--dataset={tmp_path / 'data'}", f"--encoder={files / 'encoder.msgpack'}",
             f"--out={tmp_path / 'p.npz'}", "--clusters=100", "--group_size=10")
  assert r.returncode == 0, r.stderr
  assert "from 3072 reference pixels of 4 images" in r.stdout
  r = _r2lcm("reconstruct", f"--srgb={files / 'img.png'}", f"--prior={tmp_path / 'p.npz'}",
             f"--checkpoint={files / 'model.msgpack'}", f"--out={tmp_path / 'r.tiff'}",
             "--tile=16", "--halo=16")
  assert r.returncode == 0, r.stderr
  out = read_image(tmp_path / "r.tiff")
  assert out.dtype == np.uint16 and out.shape == (48, 64, 3)
