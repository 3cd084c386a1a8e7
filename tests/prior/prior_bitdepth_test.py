"""Table 3's 4-to-8-bit task: quantisation, its baselines, and the set PriorRAW reads."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from r2lcm_jax.data.nus import find_pairs, load_pair
from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io.images import read_image, to_uint8, write_png
from r2lcm_jax.prior.bitdepth import bit_replicate, interval_centre, to_raw16, truncate
from r2lcm_jax.prior.diagnostics import psnr_np


def _eight_bit(real_data, n=18) -> np.ndarray:
  """An INTEL-TAU field rendered to 8 bits (gain + gamma 1/2.2): (256, 384, 3) uint8."""
  raw = read_image(real_data / "inteltau" /
                   f"S_IMX135_BLCCSC_field_{n:03d}_sensorname_sony_imx135.png") / 65535.0
  return to_uint8(np.clip(raw / np.percentile(raw, 99), 0, 1) ** (1 / 2.2))


def test_quantisation_and_baselines_on_code_values():
  v = np.arange(256, dtype=np.uint8)
  t = truncate(v, 4)
  np.testing.assert_array_equal(t[[0, 15, 16, 255]], [0, 0, 16, 240])
  np.testing.assert_array_equal(bit_replicate(t, 4)[[0, 16, 128, 255]], [0, 17, 136, 255])
  np.testing.assert_array_equal(bit_replicate(truncate(v, 3), 3)[[255, 32]], [255, 36])
  np.testing.assert_allclose(interval_centre(t, 4)[[0, 255]] * 255, [7.5, 247.5])
  with pytest.raises(ConfigError):
    truncate(v.astype(np.uint16), 4)
  with pytest.raises(ConfigError):
    truncate(v, 8)
  np.testing.assert_array_equal(to_raw16(v).astype(np.float64) / 65535, v / 255.0)


def test_baselines_on_a_real_image_rank_as_expected(real_data):
  v = _eight_bit(real_data)
  target = v / 255.0
  low = truncate(v, 4)
  zero = psnr_np(low / 255.0, target)
  rep = psnr_np(bit_replicate(low, 4) / 255.0, target)
  centre = psnr_np(interval_centre(low, 4), target)
  # Zero padding is biased down by half a step; the centre removes the bias.
  assert 26 < zero < rep < centre < 36


def test_make_bitdepth_set_writes_what_priorraw_reads(tmp_path, real_data, repo_root):
  src = tmp_path / "render"
  for n in (1, 2):
    v = _eight_bit(real_data, n)
    write_png(src / "cam" / "train" / "raw" / f"f{n}.png", (v.astype(np.uint16) * 200))
    write_png(src / "cam" / "train" / "sRGB" / f"f{n}.png", v)
  out = tmp_path / "bitdepth"
  r = subprocess.run([sys.executable, str(repo_root / "experiments/make_bitdepth_set.py"),
                      f"--roots={src}", "--split=train", f"--out={out}", "--bits=4"],
                     capture_output=True, text=True, timeout=120, cwd=repo_root)
  assert r.returncode == 0, r.stderr
  pairs = find_pairs(out / "render", "train")
  assert [p.name for p in pairs] == ["f1", "f2"]
  raw, srgb = load_pair(pairs[0])
  v = _eight_bit(real_data, 1)
  np.testing.assert_allclose(raw, v / 255.0, atol=1e-6)  # the target: the 8-bit image
  np.testing.assert_allclose(srgb, truncate(v, 4) / 255.0, atol=1e-6)  # the input: 4 bits
