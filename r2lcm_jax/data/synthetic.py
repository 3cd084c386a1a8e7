"""Synthetic RAW scenes for tests and demos that need no files.

A scene is built in linear sRGB (smooth background gradient, flat and shaded shapes,
periodic textures, a colour ramp, bright specular highlights that clip), taken to camera
RGB with a fixed colour matrix, lit by a random illuminant (camera RGB), exposed, given
shot/read noise, and sampled on a Bayer pattern with a 14-bit range and per-position
black levels. Everything is a function of the seed.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.io.camera_profile import CameraProfile
from r2lcm_jax.io.raw import SRGB_FROM_XYZ, RawImage
from r2lcm_jax.isp import pipeline, stages

__all__ = ["synthetic_scene", "synthetic_pair", "SYNTHETIC_XYZ_TO_CAM"]

# Camera of the synthetic scenes: the generic camera->sRGB matrix, inverted.
SYNTHETIC_XYZ_TO_CAM = (np.linalg.inv(stages.GENERIC_CCM.astype(np.float64))
                        @ SRGB_FROM_XYZ).astype(np.float32)
_BLACK = np.array([512.0, 513.0, 511.0, 512.0], np.float32)
_WHITE = 16383.0


def _scene_srgb_linear(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
  """(H, W, 3) float32 linear-sRGB reflectance-like scene, mostly in [0, 1], highlights > 1."""
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
  u, v = xx / max(w - 1, 1), yy / max(h - 1, 1)
  c0, c1 = rng.uniform(0.05, 0.5, 3), rng.uniform(0.05, 0.5, 3)
  ang = rng.uniform(0, np.pi)
  t = (np.cos(ang) * u + np.sin(ang) * v)[..., None]
  t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
  img = (1 - t) * c0 + t * c1
  n_shapes = int(rng.integers(4, 9))
  for i in range(n_shapes):
    cy, cx = rng.uniform(0, 1, 2)
    ry, rx = rng.uniform(0.08, 0.35, 2)
    colour = rng.uniform(0.0, 0.02, 3) if i == 0 else rng.uniform(0.02, 0.9, 3) ** 1.5
    if rng.random() < 0.5:
      d = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2
      mask = 1.0 / (1.0 + np.exp(np.minimum((d - 1.0) * 30.0, 60.0)))  # soft ellipse
    else:
      mask = ((np.abs(u - cx) < rx) & (np.abs(v - cy) < ry)).astype(np.float32)
    shade = 1.0 - 0.4 * rng.random() * (u - cx)
    if rng.random() < 0.4:  # textured shape: stripes or checks
      f = rng.uniform(8, 40)
      if rng.random() < 0.5:
        tex = 0.5 + 0.5 * np.sin(2 * np.pi * f * (u * np.cos(ang) + v * np.sin(ang)))
      else:
        tex = ((np.floor(u * f) + np.floor(v * f)) % 2).astype(np.float32)
      shade = shade * (0.4 + 0.6 * tex)
    img = img * (1 - mask[..., None]) + (colour * shade[..., None]) * mask[..., None]
  # Colour ramp along the bottom: saturated hues.
  band = v > 0.88
  hue = u * 6.0
  ramp = np.clip(np.stack([np.abs(hue - 3) - 1, 2 - np.abs(hue - 2), 2 - np.abs(hue - 4)], -1), 0, 1)
  img = np.where(band[..., None], 0.05 + 0.6 * ramp, img)
  # Lens vignetting, then fine noise texture everywhere.
  img = img * (1.0 - 0.5 * ((u - 0.5) ** 2 + (v - 0.5) ** 2))[..., None]
  img = img * (1.0 + 0.05 * rng.standard_normal((h, w, 1)))
  # Specular highlights: bright Gaussian blobs, well above white.
  for _ in range(int(rng.integers(1, 4))):
    cy, cx, s = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.02, 0.06)
    img = img + 4.0 * np.exp(-(((u - cx) ** 2 + (v - cy) ** 2) / (2 * s * s)))[..., None]
  return np.clip(img, 0.0, None).astype(np.float32)


def synthetic_scene(seed: int, height: int, width: int, cfa: str = "RGGB",
                    profile: CameraProfile | None = None) -> RawImage:
  """A deterministic synthetic Bayer RAW frame.

  Args:
    seed: scene seed (same seed -> identical mosaic).
    height, width: even mosaic size.
    cfa: Bayer phase (ignored when `profile` is given).
    profile: a real sensor to synthesise in (its CFA, black/white levels and colour
      matrix); None: the built-in synthetic camera.

  Returns:
    RawImage: (height, width) uint16 mosaic. Built-in camera: 14-bit range (white 16383,
    black ~512 per CFA position), `SYNTHETIC_XYZ_TO_CAM`; with a profile, its levels and
    matrix. As-shot WB = inverse of the scene illuminant.
  """
  if height % 2 or width % 2 or height < 2 or width < 2:
    raise ValueError(f"height and width must be even and positive, got {height}x{width}")
  if profile is None:
    black_level, white, xyz_to_cam, camera = _BLACK, _WHITE, SYNTHETIC_XYZ_TO_CAM, "synthetic"
    ccm = stages.GENERIC_CCM
  else:
    cfa, black_level, white = profile.cfa, profile.black_array(), profile.white_level
    xyz_to_cam, camera = profile.xyz_to_cam_array(), f"synthetic ({profile.camera})"
    ccm = stages.ccm_from_xyz_to_cam(xyz_to_cam)
  rng = np.random.default_rng(seed)
  scene = _scene_srgb_linear(rng, height, width)
  cam = stages.apply_ccm(scene, np.linalg.inv(ccm.astype(np.float64)))
  illuminant = np.array([rng.uniform(0.4, 0.8), 1.0, rng.uniform(0.45, 0.9)], np.float32)
  exposure = rng.uniform(0.5, 0.8)
  signal = np.clip(cam, 0.0, None) * illuminant * exposure
  mosaic = stages.mosaic_from_rgb(signal.astype(np.float32), cfa)
  scale = white - black_level.max()
  # Shot/read noise in units of the 14-bit built-in range, whatever the sensor's range.
  unit = scale / (_WHITE - _BLACK.max())
  electrons = np.clip(mosaic, 0.0, 1.2) * scale
  noise = rng.standard_normal(mosaic.shape) * np.sqrt(2.0 + 0.3 * electrons / unit) * unit
  black = np.tile(black_level.reshape(2, 2), (height // 2, width // 2))
  values = np.clip(np.round(electrons + noise + black), 0, white).astype(np.uint16)
  wb = (1.0 / illuminant).astype(np.float32)
  return RawImage(mosaic=values, black_level=black_level.copy(), white_level=white, cfa=cfa,
                  as_shot_wb=wb / wb[1], xyz_to_cam=np.asarray(xyz_to_cam, np.float32).copy(),
                  camera=camera, path=None)


def synthetic_pair(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
  """A (raw-RGB, sRGB) training pair rendered through the ISP.

  Returns:
    raw_rgb (H, W, 3) float32 in [0, 1] and srgb (H, W, 3) float32 in [0, 1] (8-bit grid).
  """
  raw = synthetic_scene(seed, height, width)
  raw_rgb = pipeline.raw_rgb_from_raw(raw)
  srgb = pipeline.render_srgb(raw_rgb, pipeline.params_for(raw))
  return raw_rgb, stages.dequantise_8bit(srgb)
