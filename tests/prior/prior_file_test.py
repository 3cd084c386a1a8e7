"""The versioned prior file: round trip and typed errors on broken or foreign files."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.prior.prior_file import Prior, PriorFileError, load_prior, save_prior


@pytest.fixture()
def prior():
  r = np.random.default_rng(0)
  return Prior(features=r.normal(size=(50, 8)).astype(np.float32),
               srgb=r.uniform(size=(50, 3)).astype(np.float32),
               raw=r.uniform(size=(50, 3)).astype(np.float32),
               encoder_fingerprint="ab" * 32, info={"clusters": 50, "seed": 1})


def test_prior_file_round_trips(prior, tmp_path):
  path = tmp_path / "p.npz"
  save_prior(path, prior)
  back = load_prior(path)
  for name in ("features", "srgb", "raw"):
    np.testing.assert_array_equal(getattr(back, name), getattr(prior, name))
  assert back.encoder_fingerprint == prior.encoder_fingerprint and back.info == prior.info
  assert issubclass(PriorFileError, CheckpointError)


@pytest.mark.parametrize("cut", [10, 100, 0.5, -1])
def test_truncated_prior_file_is_rejected(prior, tmp_path, cut):
  path = tmp_path / "p.npz"
  save_prior(path, prior)
  data = path.read_bytes()
  n = int(len(data) * cut) if isinstance(cut, float) else cut
  path.write_bytes(data[:n])
  with pytest.raises(PriorFileError):
    load_prior(path)


def test_corrupted_prior_file_is_rejected(prior, tmp_path):
  path = tmp_path / "p.npz"
  save_prior(path, prior)
  data = bytearray(path.read_bytes())
  with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
    info = z.getinfo("features.npy")
  pos = info.header_offset + 30 + len(info.filename) + 200  # inside the feature values
  data[pos] ^= 0x40
  path.write_bytes(bytes(data))
  with pytest.raises(PriorFileError):
    load_prior(path)


def _rewrite_header(path, **changes):
  with np.load(path) as z:
    arrays = {k: z[k] for k in z.files}
  header = json.loads(bytes(arrays["header"]).decode())
  header.update(changes)
  arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
  np.savez(path, **arrays)


def test_foreign_and_future_prior_files_are_rejected(prior, tmp_path):
  path = tmp_path / "p.npz"
  path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
  with pytest.raises(PriorFileError, match="not an r2lcm prior"):
    load_prior(path)
  np.savez(path, x=np.zeros(3))  # an npz, but not ours
  with pytest.raises(PriorFileError):
    load_prior(path)
  save_prior(path, prior)
  _rewrite_header(path, version=2)
  with pytest.raises(PriorFileError, match="version 2"):
    load_prior(path)
  save_prior(path, prior)
  _rewrite_header(path, fingerprint="00" * 32)
  with pytest.raises(PriorFileError, match="fingerprint"):
    load_prior(path)
  with pytest.raises(PriorFileError, match="cannot read"):
    load_prior(tmp_path / "missing.npz")
