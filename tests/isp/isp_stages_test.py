"""Each ISP stage, and each inverse stage, on its own."""

from __future__ import annotations

import numpy as np
import pytest

from r2lcm_jax.io.raw import SRGB_FROM_XYZ
from r2lcm_jax.isp import stages


def _rgb(h=16, w=24, seed=0):
  return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def test_normalise_mosaic_uses_per_position_black_and_clips():
  mosaic = np.tile(np.array([[100, 200], [300, 1100]], np.uint16), (2, 2))
  out = stages.normalise_mosaic(mosaic, np.array([100, 100, 200, 100]), 1100)
  np.testing.assert_allclose(out[:2, :2], [[0.0, 0.1], [100 / 900, 1.0]], rtol=1e-6)
  assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("cfa", ["RGGB", "GRBG", "BGGR", "GBRG"])
def test_bilinear_demosaic_keeps_samples_and_reproduces_smooth_ramps(cfa):
  yy, xx = np.mgrid[0:12, 0:16].astype(np.float32)
  rgb = np.stack([0.02 * xx + 0.01 * yy, 0.03 * yy + 0.2, 0.5 - 0.01 * xx], -1)
  mosaic = stages.mosaic_from_rgb(rgb, cfa)
  out = stages.demosaic_bilinear(mosaic, cfa)
  # Measured samples are kept exactly.
  np.testing.assert_allclose(stages.mosaic_from_rgb(out, cfa), mosaic, atol=1e-6)
  # Bilinear interpolation is exact on linear ramps away from the mirrored border.
  np.testing.assert_allclose(out[1:-1, 1:-1], rgb[1:-1, 1:-1], atol=1e-5)


def test_demosaic_of_constant_colour_is_that_colour_everywhere():
  rgb = np.broadcast_to(np.array([0.3, 0.6, 0.1], np.float32), (10, 14, 3))
  out = stages.demosaic_bilinear(stages.mosaic_from_rgb(np.array(rgb), "GBRG"), "GBRG")
  np.testing.assert_allclose(out, rgb, atol=1e-6)


def test_white_balance_inverts():
  x, wb = _rgb(), np.array([2.0, 1.0, 1.5], np.float32)
  np.testing.assert_allclose(stages.invert_white_balance(stages.white_balance(x, wb), wb), x,
                             rtol=1e-6)
  np.testing.assert_allclose(stages.white_balance(x, wb)[..., 0], 2 * x[..., 0], rtol=1e-6)


def test_highlight_and_gamut_clipping_bound_values():
  x = np.array([[[-0.2, 0.5, 3.0]]], np.float32)
  np.testing.assert_array_equal(stages.clip_highlights(x), [[[0.0, 0.5, 1.0]]])
  np.testing.assert_array_equal(stages.clip_gamut(x), [[[0.0, 0.5, 1.0]]])


def test_ccm_inverts_and_keeps_neutrals_neutral():
  xyz_to_cam = np.array([[0.65, -0.12, -0.09], [-0.38, 1.16, 0.25], [-0.04, 0.15, 0.6]])
  ccm = stages.ccm_from_xyz_to_cam(xyz_to_cam)
  np.testing.assert_allclose(ccm.sum(axis=1), np.ones(3), atol=1e-5)
  grey = np.full((2, 2, 3), 0.4, np.float32)
  np.testing.assert_allclose(stages.apply_ccm(grey, ccm), grey, atol=1e-5)
  x = _rgb()
  np.testing.assert_allclose(stages.invert_ccm(stages.apply_ccm(x, ccm), ccm), x, atol=1e-5)
  # An sRGB camera (xyz_to_cam = SRGB_FROM_XYZ) needs the identity.
  np.testing.assert_allclose(stages.ccm_from_xyz_to_cam(SRGB_FROM_XYZ), np.eye(3), atol=1e-5)


def test_generic_ccm_keeps_white():
  np.testing.assert_allclose(stages.GENERIC_CCM.sum(axis=1), np.ones(3), atol=2e-3)


def test_srgb_transfer_matches_standard_points_and_inverts():
  np.testing.assert_allclose(stages.srgb_encode(np.array([0.0, 0.0031308, 0.18, 1.0])),
                             [0.0, 0.04045, 0.46135, 1.0], atol=1e-4)
  x = np.linspace(0, 1, 1001, dtype=np.float32)
  np.testing.assert_allclose(stages.srgb_decode(stages.srgb_encode(x)), x, atol=1e-6)


@pytest.mark.parametrize("strength", [0.0, 0.3, 0.5, 1.0])
def test_tone_curve_is_monotone_fixes_ends_and_inverts(strength):
  x = np.linspace(0, 1, 2001, dtype=np.float32)
  y = stages.tone_curve(x, strength)
  assert np.all(np.diff(y) >= 0)
  np.testing.assert_allclose(y[[0, 1000, -1]], [0.0, 0.5, 1.0], atol=1e-6)
  np.testing.assert_allclose(stages.invert_tone_curve(y, strength), x, atol=2e-5)


def test_tone_curve_adds_contrast():
  assert stages.tone_curve(np.float32(0.25), 0.5) < 0.25 < stages.tone_curve(np.float32(0.75), 0.5) - 0.5


def test_quantise_8bit_rounds_and_clips():
  q = stages.quantise_8bit(np.array([-0.1, 0.5 / 255, 1.5 / 255, 0.5, 1.2]))
  assert q.dtype == np.uint8
  np.testing.assert_array_equal(q, [0, 0, 2, 128, 255])
  np.testing.assert_allclose(stages.dequantise_8bit(q), q / 255.0, rtol=1e-7)
