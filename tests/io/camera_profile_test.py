"""Camera profiles: taken from real DNGs, stored as JSON, used by synthetic scenes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from r2lcm_jax.data.synthetic import synthetic_scene
from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.io import camera_profile
from r2lcm_jax.io.raw import read_raw
from r2lcm_jax.isp import pipeline


def test_profile_of_a_real_gopro_dng_round_trips_through_json(real_data, tmp_path):
  raw = read_raw(real_data / "gopro" / "Fusion_GPFR7066.DNG")
  prof = camera_profile.from_raw(raw)
  assert prof.cfa == "RGGB" and prof.white_level == 16383
  np.testing.assert_array_equal(prof.black_array(), raw.black_level)
  np.testing.assert_allclose(prof.xyz_to_cam_array(), raw.xyz_to_cam)
  camera_profile.save_profile(tmp_path / "camera.json", prof)
  assert camera_profile.load_profile(tmp_path / "camera.json") == prof


@pytest.mark.parametrize("content", ["", "{}", '{"camera": "x", "cfa": "XYZW", '
                                     '"black_level": [0, 0, 0, 0], "white_level": 1, '
                                     '"xyz_to_cam": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}'])
def test_malformed_profiles_raise_checkpoint_error(tmp_path, content):
  (tmp_path / "camera.json").write_text(content)
  with pytest.raises(CheckpointError, match="camera.json"):
    camera_profile.load_profile(tmp_path / "camera.json")
  with pytest.raises(CheckpointError, match="not found"):
    camera_profile.load_profile(tmp_path / "absent.json")


def test_synthetic_scene_in_a_camera_space_uses_its_levels_and_matrix():
  xyz = [[0.9, 0.1, -0.1], [-0.3, 1.2, 0.1], [0.0, 0.2, 0.6]]
  prof = camera_profile.CameraProfile("TestCam", "GRBG", (200.0, 201.0, 199.0, 200.0),
                                      4095.0, tuple(tuple(r) for r in xyz))
  a = synthetic_scene(5, 64, 96, profile=prof)
  b = synthetic_scene(5, 64, 96, profile=prof)
  np.testing.assert_array_equal(a.mosaic, b.mosaic)
  assert a.cfa == "GRBG" and a.white_level == 4095 and a.mosaic.max() <= 4095
  assert a.camera == "synthetic (TestCam)"
  np.testing.assert_allclose(a.xyz_to_cam, np.asarray(xyz, np.float32))
  np.testing.assert_array_equal(a.black_level, prof.black_array())
  assert 150 < a.mosaic.min() < 400  # dark areas sit on the black level
  # Same CFA and levels as the built-in camera, another matrix: the ISP (with the
  # profile's matrix) renders the same scene up to noise and clipping in camera space.
  same = camera_profile.CameraProfile("TestCam", "RGGB", (512.0, 513.0, 511.0, 512.0),
                                      16383.0, prof.xyz_to_cam)
  c, r = synthetic_scene(5, 64, 96, profile=same), synthetic_scene(5, 64, 96)
  ref = pipeline.render_srgb(pipeline.raw_rgb_from_raw(r), pipeline.params_for(r))
  out = pipeline.render_srgb(pipeline.raw_rgb_from_raw(c), pipeline.params_for(c))
  assert np.abs(out.astype(float) - ref.astype(float)).mean() < 3.0
  assert not np.array_equal(c.mosaic, r.mosaic)
  json.dumps(prof.__dict__)  # plain JSON types
