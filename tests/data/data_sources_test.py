"""Render inputs: discovery and conversion of every real file kind."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.data import sources
from r2lcm_jax.errors import ImageFormatError, InputError
from r2lcm_jax.io.images import write_png


def test_real_folder_expands_to_every_renderable_file(real_data):
  files = sources.expand_inputs(str(real_data))
  names = sorted(f.name for f in files)
  assert len(files) == 25
  assert "colorchart.dng" in names and "bayer_small.png" in names
  assert sum(n.endswith(".DNG") for n in names) == 3
  assert not any(n.endswith((".json", ".mat", ".md")) for n in names)


def test_comma_list_is_deduplicated_and_missing_paths_fail(real_data, tmp_path):
  dng = real_data / "canon" / "colorchart.dng"
  assert len(sources.expand_inputs(f"{dng},{dng}")) == 1
  with pytest.raises(InputError, match="nothere"):
    sources.expand_inputs(f"{dng},{tmp_path / 'nothere'}")
  with pytest.raises(InputError, match="empty folder"):
    sources.expand_inputs(str(tmp_path))


def test_each_real_kind_loads_with_its_parameters(real_data):
  tau = sources.load_source(sorted((real_data / "inteltau").glob("*.png"))[0])
  assert tau.kind == "inteltau" and tau.params.wb_source == "illuminant"
  assert tau.params.ccm_source == "generic" and tau.raw_rgb.shape == (256, 384, 3)
  bayer = sources.load_source(real_data / "halide" / "bayer_small.png")
  assert bayer.kind == "bayer_png" and bayer.meta["cfa"] == "GRBG"
  assert bayer.raw_rgb.shape == (344, 256, 3) and bayer.params.ccm_source == "file"
  canon = sources.load_source(real_data / "canon" / "colorchart.dng")
  assert canon.kind == "raw" and canon.camera == "Canon EOS Kiss X4"
  assert canon.meta["white_level"] == 15000


def test_plain_png_is_not_a_render_input(tmp_path):
  write_png(tmp_path / "photo.png", np.zeros((8, 8, 3), np.uint8))
  with pytest.raises(ImageFormatError, match="photo.png.*not a render input"):
    sources.load_source(tmp_path / "photo.png")
