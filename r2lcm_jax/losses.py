"""Rate-distortion loss of R2LCM (SPEC section 9)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["rate_distortion", "bits"]


def bits(likelihoods: jax.Array) -> jax.Array:
  """Total -log2 of likelihoods (any shape) -> float32 scalar."""
  return -jnp.sum(jnp.log2(likelihoods.astype(jnp.float32)))


def rate_distortion(
  out: dict,
  x_raw: jax.Array,
  *,
  lmbda: float = 0.24,
  distortion: str = "l1",
) -> tuple[jax.Array, dict[str, jax.Array]]:
  """loss = lmbda * 255**2 * D + bpp.

  Args:
    out: the model output (needs `x_hat` (B,H,W,3) and `likelihoods` {"hyper", "main"}).
    x_raw: (B, H, W, 3) target raw in [0, 1].
    lmbda: rate-distortion trade-off (0.24 in the README config).
    distortion: "l1" (mean absolute error, the README config) or "mse".

  Returns:
    loss: float32 scalar; metrics: dict of float32 scalars bpp, bpp_y, bpp_z, l1, mse,
    psnr (mean over the batch of per-image PSNR, peak 1, x_hat not clamped).
  """
  b, h, w, _ = x_raw.shape
  pixels = b * h * w
  bpp_z = bits(out["likelihoods"]["hyper"]) / pixels
  bpp_y = bits(out["likelihoods"]["main"]) / pixels
  bpp = bpp_y + bpp_z
  err = out["x_hat"].astype(jnp.float32) - x_raw.astype(jnp.float32)
  l1 = jnp.mean(jnp.abs(err))
  mse = jnp.mean(err * err)
  if distortion == "l1":
    dist = l1
  elif distortion == "mse":
    dist = mse
  else:
    raise ValueError(f"distortion must be 'l1' or 'mse', got {distortion!r}")
  per_image = jnp.mean(err * err, axis=(1, 2, 3))
  psnr = jnp.mean(-10.0 * jnp.log10(jnp.maximum(per_image, 1e-20)))
  loss = lmbda * 255.0**2 * dist + bpp
  return loss, {"loss": loss, "bpp": bpp, "bpp_y": bpp_y, "bpp_z": bpp_z, "l1": l1,
                "mse": mse, "psnr": psnr}
