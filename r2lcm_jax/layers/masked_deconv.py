"""MaskedDeconv: the first layer of the context-prediction network.

Input (B, h, w, n+1) = cat[U (n channels: sRGB, u_hat*K, Q*K), K (known mask)].
`D = ConvTranspose5x5(U)` (stride 1, pad 2, bias included), computed here as a zero-padded
5x5 cross-correlation with kernel `kernel` (HWIO; the PyTorch ConvTranspose weight
[in, out, 5, 5] ported as `W.transpose(2, 3, 0, 1)[::-1, ::-1]`).
`cnt` = 5x5 box sum of K (zero padding, no gradient); `D <- D / max(cnt, 1)`.
`R = U @ centre_tap + bias`; `out = D * (1 - K) + R * K`; returns cat[out, K].
Decoded positions keep a pointwise transform of their own value; undecoded positions get
the neighbour sum normalised by the number of decoded neighbours.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.layers.conv import torch_uniform_init

__all__ = ["MaskedDeconv"]


class MaskedDeconv(nn.Module):
  """Attributes: features (N), kernel_size (5).

  Params: `kernel` (k, k, n, features), `bias` (features,). PyTorch init of a
  ConvTranspose2d: fan_in = features * k * k.
  """

  features: int
  kernel_size: int = 5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, h, w, n+1) -> (B, h, w, features+1) (last channel = K)."""
    k = self.kernel_size
    u = x[..., :-1].astype(self.dtype)
    known = x[..., -1:].astype(self.dtype)
    n = u.shape[-1]
    init = torch_uniform_init(self.features * k * k)
    kernel = self.param("kernel", init, (k, k, n, self.features), self.param_dtype)
    bias = self.param("bias", init, (self.features,), self.param_dtype)
    kernel = kernel.astype(self.dtype)
    bias = bias.astype(self.dtype)
    p = k // 2
    dn = ("NHWC", "HWIO", "NHWC")
    d = jax.lax.conv_general_dilated(
      u, kernel, (1, 1), ((p, p), (p, p)), dimension_numbers=dn
    ) + bias
    box = jnp.ones((k, k, 1, 1), self.dtype)
    cnt = jax.lax.conv_general_dilated(
      jax.lax.stop_gradient(known), box, (1, 1), ((p, p), (p, p)), dimension_numbers=dn
    )
    d = d / jnp.maximum(cnt, 1.0)
    r = jnp.einsum("bhwi,io->bhwo", u, kernel[p, p],
                   precision=jax.lax.Precision.HIGHEST) + bias
    out = d * (1.0 - known) + r * known
    return jnp.concatenate([out, known], axis=-1)
