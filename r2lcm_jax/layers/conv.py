"""Convolutions with PyTorch semantics and initialisation (NHWC activations, HWIO kernels).

* `Conv` with `padding="reflect"` is the official `conv3x3` (numpy-style reflect padding,
  the edge is not repeated); `padding="zero"` is PyTorch's default zero padding;
  `kernel_size=1` is `conv1x1` (no padding).
* `SubpelConv` is `subpel_conv3x3`: a zero-padded 3x3 conv to `features * r**2` channels
  followed by `pixel_shuffle` in PyTorch channel order, so official weights port without
  any channel reordering.
* Initialisation matches PyTorch's default (kaiming-uniform with a=sqrt(5)):
  weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_ch * k * k.

Speed (XLA:CPU, see experiments/results/train_speed.md): a reflect-padded conv is the
convolution with its own zero padding plus a correction computed from the padding ring
only (thin strips, added onto the border outputs). Materialising `jnp.pad(...,
"reflect")` of the whole tensor and convolving it with VALID padding gives the same
numbers (up to float summation order) but costs a full copy forward and a slower
gradient backward; zero-padded convs likewise pass the padding to the convolution.
1x1 convs are matrix products (`einsum`): inside the context model's `scan` loops XLA:CPU
runs the gradients of convolutions with a slow generic loop (20x slower than the same
convolutions outside a loop), but dots at full speed.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array, stride: tuple[int, int], padding) -> jax.Array:
  return jax.lax.conv_general_dilated(x, kernel, stride, padding, dimension_numbers=_DN)


def _reflect_index(n: int, p: int, rows: np.ndarray) -> np.ndarray:
  """Source index of padded positions `rows` (0..n+2p-1) under reflect padding p."""
  j = rows - p
  j = np.where(j < 0, -j, j)
  return np.where(j > n - 1, 2 * (n - 1) - j, j).astype(np.int32)


def _edge_outputs(n: int, k: int, s: int, p: int) -> tuple[int, int]:
  """Numbers of leading / trailing outputs along an axis whose window reads padding."""
  n_out = (n + 2 * p - k) // s + 1
  lead = sum(1 for i in range(n_out) if i * s < p)
  trail = sum(1 for i in range(lead, n_out) if i * s + k - 1 > n + p - 1)
  return lead, trail


def _pad_only(x: jax.Array, axis: int, pos: np.ndarray, p: int, other: str) -> jax.Array:
  """Padded positions `pos` along `axis` (1 or 2) with the real ones set to zero.

  Positions < p or >= n + p (the padding) hold their reflect-padded values, the others
  0; the other spatial axis is padded by p with `other` ("reflect" or "zero").
  """
  n = x.shape[axis]
  strip = jnp.take(x, jnp.asarray(_reflect_index(n, p, pos)), axis=axis)
  is_pad = ((pos < p) | (pos >= n + p)).astype(x.dtype)
  shape = [1, 1, 1, 1]
  shape[axis] = len(pos)
  strip = strip * jnp.asarray(is_pad).reshape(shape)
  widths = [(0, 0)] * 4
  widths[3 - axis] = (p, p)
  return jnp.pad(strip, widths, mode="reflect") if other == "reflect" else jnp.pad(strip, widths)


def _reflect_conv(x: jax.Array, kernel: jax.Array, stride: int) -> jax.Array:
  """VALID conv of reflect-padded x (pad k // 2), without padding the whole tensor.

  conv(reflect_pad(x)) = conv(zero_pad(x)) + conv(reflect_pad(x) - zero_pad(x)); the
  difference is non-zero only on the padding ring, so the second term is a few thin
  convolutions: the padded rows (full padded width, corners included) and the padded
  columns (real rows only), added onto the output rows / columns that read them.
  x (B, H, W, Ci), kernel (k, k, Ci, Co) -> (B, ceil(H/s), ceil(W/s), Co).
  """
  k, s = kernel.shape[0], stride
  p = k // 2
  h, w = x.shape[1], x.shape[2]
  if p == 0:
    return _conv(x, kernel, (s, s), "VALID")
  if min(h, w) <= p + 1:  # strips would be most of the tensor: pad it whole
    xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), mode="reflect")
    return _conv(xp, kernel, (s, s), "VALID")
  y = _conv(x, kernel, (s, s), ((p, p), (p, p)))
  ho, wo = y.shape[1], y.shape[2]
  for axis, n, n_out, other in ((1, h, ho, "reflect"), (2, w, wo, "zero")):
    lead, trail = _edge_outputs(n, k, s, p)
    for first, count in ((0, lead), (n_out - trail, trail)):
      if count == 0:
        continue
      pos = np.arange(first * s, (first + count - 1) * s + k)
      delta = _conv(_pad_only(x, axis, pos, p, other), kernel, (s, s), "VALID")
      widths = [(0, 0)] * 4
      widths[axis] = (first, n_out - first - count)
      y = y + jnp.pad(delta.astype(y.dtype), widths)
  return y


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
  x = x.astype(mdl.dtype)
  kernel = kernel.astype(mdl.dtype)
  if k == 1:  # a matrix product per pixel (see the module doc)
    y = jnp.einsum("bhwi,io->bhwo", x[:, ::stride, ::stride], kernel[0, 0])
  elif padding == "reflect":
    y = _reflect_conv(x, kernel, stride)
  elif padding == "zero":
    p = k // 2
    y = _conv(x, kernel, (stride, stride), ((p, p), (p, p)))
  else:
    raise ValueError(f"unknown padding mode {padding!r}")
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
