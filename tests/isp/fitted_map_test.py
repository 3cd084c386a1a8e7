"""The fitted global sRGB -> raw map (`isp.fitted_map`): fit, quantisation, bytes."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.data.sources import load_source
from r2lcm_jax.errors import BitstreamError, ShapeMismatchError
from r2lcm_jax.io.images import decode_jpeg, encode_jpeg
from r2lcm_jax.isp import fitted_map, pipeline


def _psnr(a, b):
  return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_fit_recovers_a_map_of_its_own_family():
  rng = np.random.default_rng(0)
  K = 9
  knots = np.linspace(0, 1, K)
  # Smooth monotone curves mixed by a matrix: inside the model family.
  curves = np.stack([knots ** g for g in (2.2, 1.8, 2.6)])  # (3 in, K)
  m = np.array([[0.6, 0.3, 0.05], [0.1, 0.7, 0.1], [0.02, 0.2, 0.5]])
  truth = fitted_map.FittedMap(np.rint(m[:, :, None] * curves[None] / fitted_map.STEP)
                               .astype(np.int16))
  srgb = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
  raw = fitted_map.apply(truth, srgb)
  fm = fitted_map.fit(srgb, raw, knots=K, smoothness=0.0)
  assert _psnr(fitted_map.apply(fm, srgb), raw) > 80
  assert fm.knots == K and fm.q.dtype == np.int16


def test_fit_matches_the_known_inverse_on_a_real_render(real_data):
  """On the project's own ISP, the fitted map comes close to the exact naive inverse."""
  src = load_source(real_data / "inteltau" / "S_IMX135_BLCCSC_field_003_sensorname_sony_imx135.png")
  raw = src.raw_rgb
  srgb = decode_jpeg(encode_jpeg(pipeline.render_srgb(raw, src.params), 90))
  naive = _psnr(pipeline.invert_render(srgb, src.params), raw)
  fm = fitted_map.fit(srgb, raw)
  fitted = _psnr(fitted_map.apply(fm, srgb), raw)
  identity = _psnr(srgb.astype(np.float32) / 255, raw)
  assert fitted > identity + 10
  assert fitted > naive - 2.0, (fitted, naive)


def test_bytes_round_trip_and_size():
  rng = np.random.default_rng(1)
  fm = fitted_map.FittedMap(rng.integers(-30000, 30000, (3, 3, 17)).astype(np.int16))
  data = fm.to_bytes()
  assert len(data) == 4 + 2 * 9 * 17 == 310
  again = fitted_map.FittedMap.from_bytes(data)
  np.testing.assert_array_equal(again.q, fm.q)
  srgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
  np.testing.assert_array_equal(fitted_map.apply(again, srgb), fitted_map.apply(fm, srgb))


@pytest.mark.parametrize("mutate,match", [
  (lambda d: d[:3], "truncated"),
  (lambda d: b"XX" + d[2:], "magic"),
  (lambda d: d[:2] + bytes([9]) + d[3:], "version"),
  (lambda d: d[:3] + bytes([1]) + d[4:], "knots out of"),
  (lambda d: d[:-2], "need"),
  (lambda d: d + b"\0\0", "need"),
])
def test_bad_bytes_are_refused(mutate, match):
  data = fitted_map.FittedMap(np.zeros((3, 3, 17), np.int16)).to_bytes()
  with pytest.raises(BitstreamError, match=match):
    fitted_map.FittedMap.from_bytes(mutate(data))


def test_bad_shapes_are_refused():
  with pytest.raises(ShapeMismatchError):
    fitted_map.fit(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.float32))
  with pytest.raises(ShapeMismatchError):
    fitted_map.apply(fitted_map.FittedMap(np.zeros((3, 3, 5), np.int16)), np.zeros((4, 4)))
  with pytest.raises(ValueError):
    fitted_map.FittedMap(np.zeros((3, 2, 5), np.int16))


def test_fit_is_deterministic_and_values_are_bounded():
  rng = np.random.default_rng(2)
  srgb = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
  raw = np.clip((srgb / 255.0) ** 2.2 + rng.normal(0, 0.01, srgb.shape), 0, 1)
  a, b = fitted_map.fit(srgb, raw), fitted_map.fit(srgb, raw)
  np.testing.assert_array_equal(a.q, b.q)
  out = fitted_map.apply(a, srgb)
  assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
