"""Rate-distortion loss: bpp over both levels, distortions, PSNR."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.losses import rate_distortion


def test_loss_is_lambda_255sq_distortion_plus_bpp_of_both_levels():
  x = jnp.zeros((2, 16, 16, 3))
  x_hat = x + 0.01
  lik = {"hyper": jnp.full((2, 1, 1, 8), 0.5), "main": jnp.full((2, 4, 4, 8), 0.25)}
  loss, m = rate_distortion({"x_hat": x_hat, "likelihoods": lik}, x, lmbda=0.24)
  pixels = 2 * 16 * 16
  np.testing.assert_allclose(m["bpp_z"], 2 * 8 * 1 / pixels, rtol=1e-6)
  np.testing.assert_allclose(m["bpp_y"], 2 * 16 * 8 * 2 / pixels, rtol=1e-6)
  np.testing.assert_allclose(m["l1"], 0.01, rtol=1e-5)
  np.testing.assert_allclose(m["mse"], 1e-4, rtol=1e-4)
  np.testing.assert_allclose(m["psnr"], 40.0, rtol=1e-4)
  np.testing.assert_allclose(loss, 0.24 * 255**2 * 0.01 + m["bpp"], rtol=1e-5)
  loss_mse, _ = rate_distortion({"x_hat": x_hat, "likelihoods": lik}, x, distortion="mse")
  np.testing.assert_allclose(loss_mse, 0.24 * 255**2 * 1e-4 + m["bpp"], rtol=1e-4)
  with pytest.raises(ValueError):
    rate_distortion({"x_hat": x_hat, "likelihoods": lik}, x, distortion="ssim")
