"""Reference selection and resizing, the channel-gain oracle, multi-root dataset pairs."""

from __future__ import annotations

import json

import ml_collections
import numpy as np
import pytest

from r2lcm_jax.errors import ConfigError
from r2lcm_jax.io.images import read_image, to_uint8, to_uint16, write_png
from r2lcm_jax.prior import stages
from r2lcm_jax.prior.diagnostics import channel_gains, gain_oracle, psnr_np
from r2lcm_jax.prior.references import fit_reference, select_references


def _inteltau(real_data, n: int) -> tuple[np.ndarray, np.ndarray]:
  """(raw (256, 384, 3) float32 in [0, 1], its ground-truth illuminant (3,), G = 1)."""
  stem = f"S_IMX135_BLCCSC_field_{n:03d}_sensorname_sony_imx135"
  raw = read_image(real_data / "inteltau" / f"{stem}.png").astype(np.float32) / 65535.0
  ill = np.asarray(json.loads((real_data / "inteltau" / f"{stem}_metadata.json").read_text())
                   ["illuminant_color_raw"])
  return raw, ill / ill[1]


def test_select_references_spreads_over_the_list():
  items = list(range(56))  # e.g. 4 styles x 14 images
  sel = select_references(items, 8)
  assert sel == [3, 10, 17, 24, 31, 38, 45, 52]
  assert {i // 14 for i in sel} == {0, 1, 2, 3}  # every style is represented
  assert select_references(items, 0) == items and select_references(items, 99) == items
  with pytest.raises(ConfigError):
    select_references(items, -1)
  with pytest.raises(ConfigError):
    select_references([], 3)


def test_fit_reference_shrinks_aligned_and_keeps_small_images(real_data):
  raw, _ = _inteltau(real_data, 1)
  srgb = raw ** (1 / 2.2)
  r, s = fit_reference(raw, srgb, 100)
  assert r.shape == s.shape and max(r.shape[:2]) <= 100 and r.shape[0] % 2 == 0
  assert r.shape[:2] == (66, 100)
  # The same resampling on both: the raw -> sRGB relation survives up to averaging.
  np.testing.assert_allclose(fit_reference(raw, raw, 100)[1], r, atol=1e-6)
  assert abs(float(r.mean()) - float(raw.mean())) < 2e-3
  r0, s0 = fit_reference(raw[:255], srgb[:255], 1024)  # smaller than the size: only cropped
  np.testing.assert_array_equal(r0, raw[:254])
  np.testing.assert_array_equal(s0, srgb[:254])


def test_gain_oracle_recovers_a_white_balance_error(real_data):
  raw, ill = _inteltau(real_data, 18)
  _, other = _inteltau(real_data, 5)
  # A prediction right up to the illuminant: another image's cast instead of its own.
  pred = raw * (other / ill)
  assert psnr_np(np.clip(pred, 0, 1), raw) < 35
  oracle, g = gain_oracle(pred, raw)
  np.testing.assert_allclose(g, ill / other, rtol=1e-3)
  assert oracle > 60
  # A local error is not removed by the gains.
  noisy = raw + np.random.default_rng(0).normal(0, 0.01, raw.shape)
  assert gain_oracle(noisy, raw)[0] == pytest.approx(psnr_np(np.clip(noisy, 0, 1), raw), abs=0.3)
  np.testing.assert_array_equal(channel_gains(np.zeros((4, 4, 3)), raw[:4, :4]), 1.0)


def _write_split(root, camera, split, names, real_data):
  for i, n in enumerate(names):
    raw, _ = _inteltau(real_data, 1 + i)
    raw = raw[:32, :48]
    write_png(root / camera / split / "raw" / f"{n}.png", to_uint16(raw))
    write_png(root / camera / split / "sRGB" / f"{n}.png", to_uint8(raw ** (1 / 2.2)))


def test_dataset_pairs_joins_roots_and_filters_names(tmp_path, real_data):
  a, b, t = tmp_path / "dt", tmp_path / "rt", tmp_path / "test"
  for root in (a, b):
    _write_split(root, "any", "train", ["S_IMX135_01", "S_IMX135_02", "Fusion_X"], real_data)
  _write_split(t, "imx135", "test", ["S_IMX135_18"], real_data)
  pairs = stages.dataset_pairs(f"{a}:{b}", "train", "any", match="IMX135")
  assert [p.name for p in pairs] == ["S_IMX135_01", "S_IMX135_02"] * 2
  assert [str(p.raw_path).startswith(str(a)) for p in pairs] == [True, True, False, False]
  with pytest.raises(ConfigError, match="no train pairs"):
    stages.dataset_pairs(str(a), "train", "any", match="Canon")
  c = ml_collections.ConfigDict(dict(data=dict(
    root=f"{a}:{b}", camera="any", match="IMX135", train_split="train", val_split="",
    test_split="test", test_root=str(t), test_camera="imx135")))
  assert len(stages.config_pairs(c, "train")) == 4
  assert stages.config_pairs(c, "val") == []
  assert [p.name for p in stages.config_pairs(c, "test")] == ["S_IMX135_18"]
