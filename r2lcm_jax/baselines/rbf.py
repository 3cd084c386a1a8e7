"""Radial-basis-function fitting in NumPy, batched over many small problems.

An RBF interpolant with a polynomial tail in a D-dimensional feature space,

    f(p) = sum_j w_j phi(|p - c_j|) + sum_k a_k m_k(p),

is fitted to values v_j at centres c_j by solving the (smoothing) saddle-point system

    [ K + ridge I   P      ] [w]   [v]
    [ P^T         -eps I   ] [a] = [0],     K_ij = phi(|c_i - c_j|), P_jk = m_k(c_j).

`fit_interpolant` solves a whole batch of such systems at once with `np.linalg.solve` on
stacked (B, N + T, N + T) matrices; invalid (padding) centres get an identity row, so
every problem in the batch may have its own number of centres. `fit_regression` is the
least-squares variant (fewer centres than data points), used by the global mapping.
All solves are in float64.
"""

from __future__ import annotations

import itertools

import numpy as np
from threadpoolctl import threadpool_limits

__all__ = ["KERNELS", "kernel", "poly_features", "num_poly_terms", "fit_interpolant",
           "evaluate", "fit_regression", "regression_features"]

KERNELS = ("cubic", "linear", "thin_plate", "gaussian")
_SADDLE_EPS = 1e-9


def kernel(r2: np.ndarray, name: str, sigma: float = 0.25) -> np.ndarray:
  """phi as a function of the squared distance r2 (any shape, float64).

  Kernels: "cubic" r^3 and "linear" r (polyharmonic, need the polynomial tail),
  "thin_plate" r^2 log r, "gaussian" exp(-r^2 / (2 sigma^2)).
  """
  r2 = np.maximum(r2, 0.0)
  if name == "cubic":
    return r2 * np.sqrt(r2)
  if name == "linear":
    return np.sqrt(r2)
  if name == "thin_plate":
    return 0.5 * r2 * np.log(np.where(r2 > 0, r2, 1.0))
  if name == "gaussian":
    return np.exp(-r2 / (2.0 * sigma * sigma))
  raise ValueError(f"unknown RBF kernel {name!r}; expected one of {KERNELS}")


def _monomials(dim: int, degree: int) -> list[tuple[int, ...]]:
  terms: list[tuple[int, ...]] = [()]
  for d in range(1, degree + 1):
    terms += list(itertools.combinations_with_replacement(range(dim), d))
  return terms


def num_poly_terms(dim: int, degree: int) -> int:
  """Number of monomials of total degree <= `degree` in `dim` variables."""
  return len(_monomials(dim, degree))


def poly_features(x: np.ndarray, degree: int) -> np.ndarray:
  """Monomials of total degree <= `degree`: (..., D) -> (..., T), constant first."""
  cols = [np.ones(x.shape[:-1], x.dtype)]
  for term in _monomials(x.shape[-1], degree)[1:]:
    col = x[..., term[0]]
    for k in term[1:]:
      col = col * x[..., k]
    cols.append(col)
  return np.stack(cols, -1)


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """(B, M, D), (B, N, D) -> (B, M, N) squared distances."""
  d2 = (np.sum(a * a, -1)[..., :, None] + np.sum(b * b, -1)[..., None, :]
        - 2.0 * (a @ np.ascontiguousarray(np.swapaxes(b, -1, -2))))
  return np.maximum(d2, 0.0)


def fit_interpolant(centres: np.ndarray, values: np.ndarray, valid: np.ndarray, *,
                    kernel_name: str = "cubic", ridge: float = 1e-3, degree: int = 1,
                    sigma: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
  """Fits B smoothing RBF interpolants at once.

  Args:
    centres: (B, N, D) float centres (padding rows may hold anything).
    values: (B, N, C) float values at the centres.
    valid: (B, N) bool, False for padding rows.
    kernel_name: see `kernel`.
    ridge: smoothing added to the kernel diagonal (0 = exact interpolation).
    degree: total degree of the polynomial tail (0, 1, ...).
    sigma: Gaussian width.

  Returns:
    weights (B, N, C) float64 (0 for padding) and poly (B, T, C) float64 coefficients.
  """
  c = np.asarray(centres, np.float64)
  b, n, _ = c.shape
  v = np.where(valid[..., None], np.asarray(values, np.float64), 0.0)
  m = valid.astype(np.float64)
  k = kernel(_sq_dist(c, c), kernel_name, sigma) * m[:, :, None] * m[:, None, :]
  eye = np.eye(n)
  k = k + eye * np.where(valid, ridge, 1.0)[:, :, None]
  p = poly_features(c, degree) * m[..., None]
  t = p.shape[-1]
  a = np.empty((b, n + t, n + t))
  a[:, :n, :n] = k
  a[:, :n, n:] = p
  a[:, n:, :n] = np.swapaxes(p, 1, 2)
  a[:, n:, n:] = -_SADDLE_EPS * np.eye(t)
  rhs = np.concatenate([v, np.zeros((b, t, v.shape[-1]))], 1)
  with threadpool_limits(limits=1, user_api="blas"):  # many tiny solves: threads only hurt
    sol = np.linalg.solve(a, rhs)
  return sol[:, :n], sol[:, n:]


def evaluate(points: np.ndarray, centres: np.ndarray, weights: np.ndarray, poly: np.ndarray, *,
             kernel_name: str = "cubic", degree: int = 1, sigma: float = 0.25) -> np.ndarray:
  """Evaluates B interpolants of `fit_interpolant` at their own points.

  Args:
    points: (B, M, D) evaluation points.
    centres: (B, N, D), weights (B, N, C), poly (B, T, C) from `fit_interpolant`.

  Returns:
    (B, M, C) float64 values.
  """
  pts = np.asarray(points, np.float64)
  with threadpool_limits(limits=1, user_api="blas"):  # small batched products: 20x faster
    phi = kernel(_sq_dist(pts, np.asarray(centres, np.float64)), kernel_name, sigma)
    return phi @ weights + poly_features(pts, degree) @ poly


def regression_features(points: np.ndarray, centres: np.ndarray, *, kernel_name: str,
                        degree: int, sigma: float = 0.25) -> np.ndarray:
  """[phi(|p - c_j|) for each centre, monomials of p]: (M, D), (N, D) -> (M, N + T)."""
  pts = np.asarray(points, np.float64)
  phi = kernel(_sq_dist(pts[None], np.asarray(centres, np.float64)[None])[0], kernel_name, sigma)
  return np.concatenate([phi, poly_features(pts, degree)], -1)


def fit_regression(points: np.ndarray, values: np.ndarray, centres: np.ndarray, *,
                   kernel_name: str = "cubic", degree: int = 3, ridge: float = 1e-6,
                   sigma: float = 0.25, chunk: int = 65536) -> np.ndarray:
  """Least-squares RBF + polynomial regression with a ridge (normal equations in chunks).

  Args:
    points: (M, D) data points; values: (M, C) their values.
    centres: (N, D) RBF centres.
    ridge: Tikhonov weight, relative to the mean diagonal of the normal matrix.
    chunk: rows of the design matrix built at once (bounds memory for 12 MP images).

  Returns:
    (N + T, C) float64 coefficients for `regression_features`.
  """
  pts, vals = np.asarray(points, np.float64), np.asarray(values, np.float64)
  cols = len(centres) + num_poly_terms(pts.shape[1], degree)
  ata, atb = np.zeros((cols, cols)), np.zeros((cols, vals.shape[1]))
  for s in range(0, len(pts), chunk):
    f = regression_features(pts[s:s + chunk], centres, kernel_name=kernel_name, degree=degree,
                            sigma=sigma)
    ata += f.T @ f
    atb += f.T @ vals[s:s + chunk]
  lam = ridge * max(float(np.trace(ata)) / cols, 1e-12)
  return np.linalg.solve(ata + lam * np.eye(cols), atb)
