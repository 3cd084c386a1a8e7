"""Bayer mosaic stored as a 16-bit grayscale PNG with MATLAB colour matrices.

This is the layout of Halide's camera-pipeline sample (`bayer_small.png`, GRBG, black 25,
white 1023, and `matrix_3200.mat` / `matrix_7000.mat`). Each .mat holds one 3x4 float
matrix `[M | o]` (stored 4x3, i.e. transposed) that maps black-subtracted camera RGB to
linear output RGB, white balance included; the offset column `o` (a few percent of the
range) is dropped here. As Halide does, the matrix at colour temperature T is the
interpolation of the two in 1/T. It is split into the as-shot white balance and a
white-preserving colour matrix: `M = C @ diag(wb)` with the rows of `C` summing to one,
so `wb = 1 / (inv(M) @ 1)` (then divided by its G entry).
"""

from __future__ import annotations

import os
import pathlib

import numpy as np

from r2lcm_jax.errors import ImageFormatError, InputError
from r2lcm_jax.io.images import read_image
from r2lcm_jax.io.raw import SRGB_FROM_XYZ, RawImage

__all__ = ["read_mat_matrix", "interpolate_matrix", "split_wb_matrix", "read_bayer_png"]


def read_mat_matrix(path: str | os.PathLike) -> np.ndarray:
  """Reads a MATLAB v5 file holding one 3x4 (stored 4x3) float matrix -> (3, 4) float64."""
  import scipy.io

  path = str(path)
  if not pathlib.Path(path).is_file():
    raise InputError(f"{path}: no such file")
  try:
    content = scipy.io.loadmat(path)
  except Exception as e:
    raise ImageFormatError(f"{path}: not a readable MATLAB matrix file ({e})") from e
  arrays = [v for k, v in content.items() if not k.startswith("__")]
  if len(arrays) != 1 or np.shape(arrays[0]) != (4, 3):
    raise ImageFormatError(f"{path}: expected one 4x3 matrix, found {[np.shape(a) for a in arrays]}")
  return np.asarray(arrays[0], dtype=np.float64).T


def interpolate_matrix(m_low: np.ndarray, t_low: float, m_high: np.ndarray, t_high: float,
                       temperature: float) -> np.ndarray:
  """Linear interpolation in 1/T between matrices calibrated at t_low and t_high kelvin."""
  alpha = (1.0 / temperature - 1.0 / t_high) / (1.0 / t_low - 1.0 / t_high)
  return alpha * np.asarray(m_low) + (1.0 - alpha) * np.asarray(m_high)


def split_wb_matrix(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Splits a 3x3 WB-including matrix into (wb (3,) with G=1, C (3,3) rows summing to 1)."""
  m = np.asarray(m, dtype=np.float64)[:3, :3]
  inv_gains = np.linalg.inv(m) @ np.ones(3)
  if np.any(inv_gains <= 0):
    raise ValueError(f"matrix does not map a positive camera white to white: {m}")
  wb = 1.0 / inv_gains
  c = m / wb[None, :]
  wb = wb / wb[1]
  return wb, c


def read_bayer_png(path: str | os.PathLike, *, cfa: str = "GRBG", black_level: float = 25.0,
                   white_level: float = 1023.0, matrices: dict[float, str] | None = None,
                   temperature: float = 3700.0, camera: str = "halide") -> RawImage:
  """Reads a Bayer mosaic from a 16-bit grayscale PNG as a RawImage.

  Args:
    path: (H, W) uint16 PNG of sensor values.
    cfa: 2x2 Bayer phase of the mosaic.
    black_level: black level (all CFA positions).
    white_level: saturation level.
    matrices: {colour temperature K: path of a .mat 3x4 matrix}; two entries are
      interpolated at `temperature`, one is used as is. Default: `matrix_3200.mat` and
      `matrix_7000.mat` beside the PNG when present, else no colour matrix.
    temperature: colour temperature of the scene illuminant (Halide's default 3700 K).
    camera: camera name recorded in the RawImage.

  Returns:
    RawImage (mosaic cropped to even size) with wb and xyz_to_cam from the matrices
    (wb = 1, xyz_to_cam = None without matrices).
  """
  path = str(path)
  mosaic = read_image(path)
  if mosaic.ndim != 2 or mosaic.dtype != np.uint16:
    raise ImageFormatError(f"{path}: a Bayer PNG must be 16-bit grayscale, got {mosaic.shape} {mosaic.dtype}")
  folder = pathlib.Path(path).parent
  if matrices is None:
    found = {t: folder / f"matrix_{t}.mat" for t in (3200, 7000)}
    matrices = {float(t): str(p) for t, p in found.items() if p.is_file()}
  wb = np.ones(3)
  xyz_to_cam = None
  if matrices:
    items = sorted((float(t), read_mat_matrix(p)[:, :3]) for t, p in matrices.items())
    if len(items) == 1:
      m = items[0][1]
    else:
      (t_lo, m_lo), (t_hi, m_hi) = items[0], items[-1]
      m = interpolate_matrix(m_lo, t_lo, m_hi, t_hi, temperature)
    try:
      wb, c = split_wb_matrix(m)
    except (ValueError, np.linalg.LinAlgError) as e:
      raise ImageFormatError(f"{path}: unusable colour matrices ({e})") from e
    xyz_to_cam = (np.linalg.inv(c) @ SRGB_FROM_XYZ).astype(np.float32)
  h, w = mosaic.shape
  return RawImage(mosaic=np.ascontiguousarray(mosaic[: h - h % 2, : w - w % 2]),
                  black_level=np.full(4, black_level, np.float32), white_level=float(white_level),
                  cfa=cfa, as_shot_wb=np.asarray(wb, np.float32), xyz_to_cam=xyz_to_cam,
                  camera=camera, path=path)
