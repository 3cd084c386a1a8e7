"""Convolutions with PyTorch semantics and initialisation (NHWC activations, HWIO kernels).

* `Conv` with `padding="reflect"` is the official `conv3x3` (numpy-style reflect padding,
  the edge is not repeated); `padding="zero"` is PyTorch's default zero padding;
  `kernel_size=1` is `conv1x1` (no padding).
* `SubpelConv` is `subpel_conv3x3`: a zero-padded 3x3 conv to `features * r**2` channels
  followed by `pixel_shuffle` in PyTorch channel order, so official weights port without
  any channel reordering.
* Initialisation matches PyTorch's default (kaiming-uniform with a=sqrt(5)):
  weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_ch * k * k.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["Conv", "SubpelConv", "pixel_shuffle", "torch_uniform_init", "leaky_relu"]

Dtype = Any


def torch_uniform_init(fan_in: int):
  """Initializer drawing U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's conv default)."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key: jax.Array, shape, dtype=jnp.float32) -> jax.Array:
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


def leaky_relu(x: jax.Array) -> jax.Array:
  """LeakyReLU with PyTorch's default slope 0.01 (used everywhere in the model)."""
  return jax.nn.leaky_relu(x, negative_slope=0.01)


def _pad(x: jax.Array, p: int, mode: str) -> jax.Array:
  if p == 0:
    return x
  widths = ((0, 0), (p, p), (p, p), (0, 0))
  if mode == "reflect":
    return jnp.pad(x, widths, mode="reflect")
  if mode == "zero":
    return jnp.pad(x, widths)
  raise ValueError(f"unknown padding mode {mode!r}")


class Conv(nn.Module):
  """2-D convolution, 'same'-style padding (k // 2), PyTorch init.

  Attributes:
    features: output channels.
    kernel_size: square kernel size (1, 3 or 5).
    stride: spatial stride; with padding k//2 the output is ceil(H / stride).
    padding: "reflect" (official conv3x3) or "zero".
    dtype: compute dtype (params stay `param_dtype`).
    param_dtype: parameter dtype.

  Params: `kernel` (k, k, in, features) HWIO, `bias` (features,).
  """

  features: int
  kernel_size: int = 3
  stride: int = 1
  padding: str = "reflect"
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, H, W, in) -> (B, ceil(H/s), ceil(W/s), features)."""
    return _conv_params(self, x, self.features, self.kernel_size, self.stride, self.padding)


def _conv_params(
  mdl: nn.Module, x: jax.Array, features: int, k: int, stride: int, padding: str
) -> jax.Array:
  """Declares `kernel`/`bias` on `mdl` (PyTorch init) and applies the convolution."""
  cin = x.shape[-1]
  init = torch_uniform_init(cin * k * k)
  kernel = mdl.param("kernel", init, (k, k, cin, features), mdl.param_dtype)
  bias = mdl.param("bias", init, (features,), mdl.param_dtype)
  x = _pad(x.astype(mdl.dtype), k // 2, padding)
  y = jax.lax.conv_general_dilated(
    x,
    kernel.astype(mdl.dtype),
    window_strides=(stride, stride),
    padding="VALID",
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
  )
  return y + bias.astype(mdl.dtype)


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
  """PyTorch `PixelShuffle(r)` in NHWC.

  Input channel `c*r*r + i*r + j` at (h, w) goes to output channel c at (r*h+i, r*w+j).

  Args:
    x: (B, H, W, C*r*r).
    r: upscale factor.

  Returns:
    (B, H*r, W*r, C).
  """
  if r == 1:
    return x
  b, h, w, c = x.shape
  co = c // (r * r)
  x = x.reshape(b, h, w, co, r, r)
  x = x.transpose(0, 1, 4, 2, 5, 3)
  return x.reshape(b, h * r, w * r, co)


class SubpelConv(nn.Module):
  """`subpel_conv3x3`: zero-padded 3x3 conv to features*r^2, then PyTorch pixel shuffle.

  Params: `kernel` (3, 3, in, features*r*r), `bias` (features*r*r,), channel order as in
  PyTorch (so ported weights need no reordering).
  """

  features: int
  r: int = 1
  dtype: Dtype = jnp.float32
  param_dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x: (B, H, W, in) -> (B, H*r, W*r, features)."""
    y = _conv_params(self, x, self.features * self.r * self.r, 3, 1, "zero")
    return pixel_shuffle(y, self.r)
