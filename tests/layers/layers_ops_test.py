"""Layer semantics: LowerBound gradient, GDN, pixel shuffle, nearest resize, bicubic,
MaskedDeconv, reflect padding and the sRGB conditioning rule."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.entropy.lower_bound import lower_bound
from r2lcm_jax.layers.bicubic import bicubic_upsample, cubic_taps
from r2lcm_jax.layers.conditioning import ConditionedSequential, resize_nearest
from r2lcm_jax.layers.conv import Conv, leaky_relu, pixel_shuffle
from r2lcm_jax.layers.gdn import GDN
from r2lcm_jax.layers.masked_deconv import MaskedDeconv
from r2lcm_jax.layers.pca import PCALayer


def nhwc(a):
  return np.transpose(a, (0, 2, 3, 1))


def test_lower_bound_passes_gradient_above_bound_or_when_it_would_raise_the_value():
  x = jnp.array([0.5, 2.0, 0.5, 2.0])
  g = jnp.array([1.0, 1.0, -1.0, -1.0])
  _, vjp = jax.vjp(lambda v: lower_bound(v, 1.0), x)
  (dx,) = vjp(g)
  # Clamped (0.5 < 1) with positive grad: blocked; everything else passes.
  np.testing.assert_array_equal(np.asarray(dx), [0.0, 1.0, -1.0, -1.0])
  np.testing.assert_array_equal(np.asarray(lower_bound(x, 1.0)), [1.0, 2.0, 1.0, 2.0])


@pytest.mark.parametrize("inverse,key", [(False, "gdn_test_out_gdn"), (True, "gdn_test_out_igdn")])
def test_gdn_matches_reference_with_asymmetric_gamma_and_clamped_parameters(
  reference_data, inverse, key
):
  io = np.load(reference_data / "io.npz")
  params = {"params": {"beta": io["gdn_test_beta_stored"],
                       "gamma": io["gdn_test_gamma_stored"]}}
  out = GDN(inverse=inverse).apply(params, jnp.asarray(nhwc(io["gdn_test_in"])))
  np.testing.assert_allclose(np.asarray(out), nhwc(io[key]), atol=1e-5, rtol=1e-6)


def test_pixel_shuffle_uses_pytorch_channel_order():
  r, c = 2, 3
  x = np.arange(1 * 2 * 2 * c * r * r, dtype=np.float32).reshape(1, 2, 2, c * r * r)
  out = np.asarray(pixel_shuffle(jnp.asarray(x), r))
  for ch in range(c):
    for i in range(r):
      for j in range(r):
        np.testing.assert_array_equal(out[0, i::r, j::r, ch], x[0, :, :, ch * r * r + i * r + j])


def test_nearest_resize_is_top_left_strided_sampling(reference_data):
  io = np.load(reference_data / "io.npz")
  s = jnp.asarray(nhwc(io["in_srgb"]))
  for k in (2, 4, 8, 16):
    got = resize_nearest(s, 64 // k, 96 // k)
    np.testing.assert_array_equal(np.asarray(got), nhwc(io[f"srgb_d{k}"]))
  # Non-integer ratio: src = floor(dst * in / out).
  x = jnp.arange(10.0).reshape(1, 10, 1, 1) * jnp.ones((1, 10, 3, 3))
  got = np.asarray(resize_nearest(x, 4, 3))[0, :, 0, 0]
  np.testing.assert_array_equal(got, np.floor(np.arange(4) * 10 / 4))


def test_bicubic_weights_sum_to_one_and_clamp_borders():
  idx, w = cubic_taps(5, 4)
  np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-6)
  assert idx.min() == 0 and idx.max() == 4
  np.testing.assert_allclose(w[0], [-0.065918, 0.426270, 0.749512, -0.109863], atol=1e-6)
  np.testing.assert_allclose(w[1], [-0.010254, 0.114746, 0.967285, -0.071777], atol=1e-6)
  x = jnp.full((1, 3, 4, 2), 0.7)
  np.testing.assert_allclose(np.asarray(bicubic_upsample(x, 4)), 0.7, atol=1e-6)


def test_reflect_padded_conv_differs_from_zero_padding_only_at_borders():
  x = jax.random.normal(jax.random.key(0), (1, 8, 8, 2))
  refl = Conv(3, 3, padding="reflect")
  zero = Conv(3, 3, padding="zero")
  v = refl.init(jax.random.key(1), x)
  a, b = np.asarray(refl.apply(v, x)), np.asarray(zero.apply(v, x))
  np.testing.assert_allclose(a[:, 1:-1, 1:-1], b[:, 1:-1, 1:-1], atol=1e-6)
  assert np.abs(a[:, 0] - b[:, 0]).max() > 1e-3
  # numpy reflect (edge not repeated) by hand at one corner.
  k, bias = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
  xp = np.pad(np.asarray(x), ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
  ref = np.einsum("hwi,hwio->o", xp[0, :3, :3], k) + bias
  np.testing.assert_allclose(a[0, 0, 0], ref, atol=1e-5)
  # Stride 2 gives ceil(H / 2).
  y = Conv(3, 3, 2).apply(v, jnp.zeros((1, 7, 9, 2)))
  assert y.shape == (1, 4, 5, 3)


def test_masked_deconv_keeps_known_positions_pointwise_and_normalises_unknown():
  mdl = MaskedDeconv(4, 5)
  u = jax.random.normal(jax.random.key(0), (1, 6, 7, 3))
  known = (jax.random.uniform(jax.random.key(1), (1, 6, 7, 1)) > 0.5).astype(jnp.float32)
  x = jnp.concatenate([u, known], -1)
  v = mdl.init(jax.random.key(2), x)
  out = np.asarray(mdl.apply(v, x))
  k, b = np.asarray(v["params"]["kernel"]), np.asarray(v["params"]["bias"])
  assert out.shape == (1, 6, 7, 5)
  np.testing.assert_array_equal(out[..., -1], np.asarray(known)[..., 0])
  kn = np.asarray(known)[0, :, :, 0]
  un = np.asarray(u)[0]
  up = np.pad(un, ((2, 2), (2, 2), (0, 0)))
  kp = np.pad(kn, 2)
  for yy in range(6):
    for xx in range(7):
      if kn[yy, xx]:
        want = un[yy, xx] @ k[2, 2] + b
      else:
        d = np.einsum("hwi,hwio->o", up[yy:yy + 5, xx:xx + 5], k) + b
        want = d / max(kp[yy:yy + 5, xx:xx + 5].sum(), 1.0)
      np.testing.assert_allclose(out[0, yy, xx, :4], want, atol=1e-5)


def test_conditioning_concatenates_srgb_first_except_for_activations_pca_and_flagged():
  seen = []

  class Probe(nn.Module):
    @nn.compact
    def __call__(self, x):
      seen.append(x.shape[-1])
      return x[..., :2]

  net = ConditionedSequential(layers=(Probe(), leaky_relu, PCALayer(), Probe(), Probe()),
                              no_srgb=(4,))
  x = jnp.ones((1, 4, 4, 2))
  s = jnp.full((1, 8, 8, 3), 0.5)
  v = net.init(jax.random.key(0), x, s)
  seen.clear()
  out = net.apply(v, x, s)
  assert seen == [5, 5, 2]
  assert out.shape == (1, 4, 4, 2)
  # The sRGB channels come first: the first probe returns them.
  seen.clear()
  first = Probe()
  net2 = ConditionedSequential(layers=(first,))
  np.testing.assert_allclose(np.asarray(net2.apply({}, x, s)), 0.5)
