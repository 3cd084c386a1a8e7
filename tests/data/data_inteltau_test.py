"""INTEL-TAU reader on every real sample."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from r2lcm_jax.data import inteltau
from r2lcm_jax.errors import ImageFormatError, InputError


def test_every_real_inteltau_file_reads_with_its_illuminant(real_data):
  paths = inteltau.find_inteltau(real_data / "inteltau")
  assert len(paths) == 20
  for p in paths:
    img = inteltau.read_inteltau(p)
    assert img.raw_rgb.shape == (256, 384, 3) and img.raw_rgb.dtype == np.float32
    assert 0 <= img.raw_rgb.min() and img.raw_rgb.max() <= 1 and img.raw_rgb.max() > 0.1
    assert img.illuminant.shape == (3,) and np.all(img.illuminant > 0)
    assert img.camera == "SonyIMX135"
  first = inteltau.read_inteltau(paths[0])
  np.testing.assert_allclose(first.illuminant, [0.7045069, 0.6518583, 0.2806257], rtol=1e-6)


def test_missing_or_broken_metadata_raises(real_data, tmp_path):
  src = sorted((real_data / "inteltau").glob("*.png"))[0]
  dst = tmp_path / src.name
  shutil.copy(src, dst)
  with pytest.raises(InputError, match="metadata"):
    inteltau.read_inteltau(dst)
  inteltau.metadata_path(dst).write_text(json.dumps({"illuminant_color_raw": [1, -1, 0]}))
  with pytest.raises(ImageFormatError, match="positive"):
    inteltau.read_inteltau(dst)
  inteltau.metadata_path(dst).write_text("{broken")
  with pytest.raises(ImageFormatError, match="illuminant_color_raw"):
    inteltau.read_inteltau(dst)


def test_empty_folder_raises_input_error(tmp_path):
  with pytest.raises(InputError, match="empty"):
    inteltau.find_inteltau(tmp_path)
