"""The CVPR'23 model as a configuration (`R2LCMConfig(arch="cvpr23")`) of the same code.

Tiny sizes keep compilation short: N=16, C=4, T=4, 64x64 crops (y 4x4, z 1x1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from r2lcm_jax.errors import ConfigError, ShapeMismatchError
from r2lcm_jax.layers.factorized_bottleneck import FactorizedBottleneck
from r2lcm_jax.models import param_init
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.joint_order import joint_codec_gumbel, joint_masks
from r2lcm_jax.models.r2lcm import R2LCM
from r2lcm_jax.train import config as train_config

pytestmark = pytest.mark.usefixtures("fast_compilation")

CVPR = dict(arch="cvpr23", down_num=4, adaptive_quant=False, scale_bound=0.11,
            channel_mean=True)
TINY = R2LCMConfig(N=16, latent_channels=4, num_steps=4, **CVPR)

# Parameters per network of the official conference backbone (`raw_checkboard.py`,
# `RawCheckboardContext(demosaic=True, stride=2, down_num=4, sampling_num=4)`), counted
# by building it with PyTorch 2.13; the EntropyBottleneck without its `quantiles`
# (3 C values only used by CompressAI's auxiliary median loss, which we do not need).
OFFICIAL_COUNTS = {
  (64, 8): {"g_a": 544104, "g_s": 1428376, "h_a": 127200, "h_s": 575808, "h_mask": 72560,
            "entropy_bottleneck": 464},
  (16, 4): {"g_a": 37612, "g_s": 101372, "h_a": 9968, "h_s": 41536, "h_mask": 6704,
            "entropy_bottleneck": 232},
}


@pytest.fixture(scope="module")
def params():
  return param_init.init_params(TINY, jax.random.key(0))


def _counts(cfg: R2LCMConfig) -> dict[str, int]:
  out: dict[str, int] = {}
  for path, shape in param_init.param_shapes(cfg).items():
    top = path.split("/")[0]
    out[top] = out.get(top, 0) + int(np.prod(shape))
  return out


@pytest.mark.parametrize("n,c", sorted(OFFICIAL_COUNTS))
def test_layer_shapes_match_the_official_conference_backbone(n, c):
  counts = _counts(R2LCMConfig(N=n, latent_channels=c, **CVPR))
  assert {k: counts[k] for k in OFFICIAL_COUNTS[(n, c)]} == OFFICIAL_COUNTS[(n, c)]
  # The main level's context model is the journal's (same builders, 2C outputs without
  # adaptive quantisation); no hyper context model and no sequential g_mask.
  assert set(counts) == {"g_a", "g_s", "h_a", "h_s", "h_mask", "entropy_bottleneck", "main"}
  shapes = param_init.param_shapes(R2LCMConfig(N=n, latent_channels=c, **CVPR))
  assert not any(p.startswith("main/g_mask") for p in shapes)
  assert shapes["main/entropy_parameters/layers_7/kernel"] == (1, 1, 2 * n + 3, 2 * c)
  assert shapes["h_mask/layers_4/kernel"] == (3, 3, 3 * n // 2 + 3, 4)
  assert shapes["h_mask/layers_0/kernel"] == (3, 3, 2 * c + 3, n)


def test_every_module_has_the_documented_shape(params):
  m = R2LCM(TINY)
  x = jnp.full((2, 64, 64, 3), 0.5)
  apply = lambda method, *a, **k: m.apply({"params": params}, *a, method=method, **k)  # noqa: E731
  # Shapes by abstract evaluation (no compilation); values below where they matter.
  shape = lambda method, *a, **k: jax.eval_shape(  # noqa: E731
    lambda *a: apply(method, *a, **k), *a)
  y, z = shape(R2LCM.analysis, x, x)
  assert y.shape == (2, 4, 4, 4) and z.shape == (2, 1, 1, 4)
  hb = shape(R2LCM.hyper_bottleneck, z, mode="dequantize")
  assert hb["u_hat"].shape == z.shape and hb["channel_mean"].shape == (2, 1, 1, 4)
  P = shape(R2LCM.hyper_synthesis, hb["u_hat"], x)
  assert P.shape == (2, 4, 4, 8)
  assert shape(R2LCM.joint_mask_logits, P, x).shape == (2, 4, 4, 4)
  assert shape(R2LCM.synthesis, y, x).shape == (2, 64, 64, 3)
  P = jax.random.normal(jax.random.key(0), P.shape)
  y = jax.random.normal(jax.random.key(1), y.shape)
  sigma, mu, q = apply(R2LCM.entropy_parameters, "main", y, y, jnp.zeros((2, 4, 4, 1)), P, x)
  assert sigma.shape == mu.shape == (2, 4, 4, 4) and not np.asarray(q).any()
  order = apply(R2LCM.order_map, "main", P, x)
  assert order.shape == (2, 4, 4) and order.min() >= 0 and order.max() < 4
  assert not np.asarray(apply(R2LCM.order_map, "hyper", jnp.zeros((2, 1, 1, 8)), x)).any()
  with pytest.raises(ValueError):
    apply(R2LCM.entropy_parameters, "hyper", jnp.zeros(z.shape), jnp.zeros(z.shape), jnp.zeros((2, 1, 1, 1)), P, x)


def test_forward_keeps_the_output_contract_and_eval_is_deterministic(params):
  m = R2LCM(TINY)
  x = jax.random.uniform(jax.random.key(1), (2, 64, 64, 3))
  rngs = {"gumbel": jax.random.key(2), "noise": jax.random.key(3)}
  tr = m.apply({"params": params}, x, x, training=True, rngs=rngs)
  ev = m.apply({"params": params}, x, x, training=False)
  ev2 = m.apply({"params": params}, x, x, training=False)
  for out in (tr, ev):
    assert set(out) == {"x_hat", "likelihoods", "y", "z", "y_hat", "z_hat", "q_map", "order"}
    assert set(out["likelihoods"]) == set(out["order"]) == {"hyper", "main"}
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["hyper"].shape == out["z"].shape
    assert out["likelihoods"]["main"].shape == out["y"].shape
    lik = np.concatenate([np.ravel(out["likelihoods"][k]) for k in ("hyper", "main")])
    assert lik.min() > 0 and lik.max() <= 1
    # The joint masks cover every main position exactly once: nothing is left uncoded.
    assert np.asarray(out["order"]["main"]).max() < TINY.num_steps
  np.testing.assert_array_equal(ev["x_hat"], ev2["x_hat"])
  # Eval: z_hat - m(z) is integer (factorized bottleneck rounding around the channel
  # mean); the main level is rounded around its mean.
  mean = np.asarray(ev["z"]).mean(axis=(1, 2), keepdims=True)
  r = np.asarray(ev["z_hat"]) - mean
  np.testing.assert_allclose(r, np.round(r), atol=1e-5)
  # Training: z_hat is the straight-through rounding (same forward value as eval).
  np.testing.assert_allclose(tr["z_hat"], ev["z_hat"], atol=1e-5)
  # Injected draws: the joint masks' Gumbel draw is (B, 1, h, w, T).
  g = jax.random.gumbel(jax.random.key(4), (2, 1, 4, 4, 4))
  a = m.apply({"params": params}, x, x, training=True, rngs=rngs, draws={"gumbel_main": g})
  b = m.apply({"params": params}, x, x, training=True, rngs={"gumbel": jax.random.key(9),
              "noise": jax.random.key(3)}, draws={"gumbel_main": g})
  np.testing.assert_array_equal(a["order"]["main"], b["order"]["main"])
  with pytest.raises(ShapeMismatchError):
    m.apply({"params": params}, x, x, training=True, rngs=rngs,
            draws={"gumbel_main": g[..., :2]})
  with pytest.raises(ValueError):
    m.apply({"params": params}, x, x, training=True, rngs=rngs,
            draws={"gumbel_hyper": jnp.zeros((2, 4, 1, 1, 2))})


def test_factorized_bottleneck_rounding_modes():
  fb = FactorizedBottleneck(3)
  z = jnp.asarray(np.random.default_rng(0).normal(0, 3, (2, 5, 5, 3)), jnp.float32)
  v = fb.init(jax.random.key(0), z, mode="dequantize")
  # "ste": forward exactly round(z), gradient of the identity.
  zt, lik = fb.apply(v, z, mode="ste")
  np.testing.assert_array_equal(zt, jnp.round(z))
  g = jax.grad(lambda z: jnp.sum(fb.apply(v, z, mode="ste")[0] * 3.0))(z)
  np.testing.assert_allclose(g, 3.0)
  # The rate gradient reaches z (through the likelihood of the rounded value) and the
  # density parameters.
  rate = lambda v, z: -jnp.sum(jnp.log2(fb.apply(v, z, mode="ste")[1]))  # noqa: E731
  gv, gz = jax.grad(rate, argnums=(0, 1))(v, z)
  assert np.abs(np.asarray(gz)).sum() > 0
  assert all(np.abs(np.asarray(a)).sum() > 0 for a in jax.tree_util.tree_leaves(gv))
  # "noise": z + U(-1/2, 1/2), drawn from rng "noise" or given.
  zn, _ = fb.apply(v, z, mode="noise", rngs={"noise": jax.random.key(5)})
  d = np.asarray(zn - z)
  assert np.all(np.abs(d) <= 0.5) and d.std() > 0.2
  u = jnp.full(z.shape, 0.25)
  np.testing.assert_allclose(fb.apply(v, z, mode="noise", noise=u)[0], z + 0.25)
  # "dequantize": hard rounding; likelihoods bounded to [1e-9, 1].
  zd, ld = fb.apply(v, z, mode="dequantize")
  np.testing.assert_array_equal(zd, jnp.round(z))
  assert float(ld.min()) >= 1e-9 and float(ld.max()) <= 1
  with pytest.raises(ValueError):
    fb.apply(v, z, mode="gumbel")


def test_joint_masks_are_disjoint_cover_everything_and_pass_softmax_gradients():
  logits = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
  g = joint_codec_gumbel(4, 6, 6)
  m = joint_masks(logits, g)
  assert m.shape == (4, 2, 6, 6, 1)
  np.testing.assert_array_equal(np.asarray(m).sum(0), 1.0)
  assert set(np.unique(np.asarray(m))) <= {0.0, 1.0}
  # Deterministic variant (g = 0): the supplement's argmax mapping.
  m0 = joint_masks(logits, jnp.zeros_like(logits))
  np.testing.assert_array_equal(np.argmax(np.asarray(m0)[..., 0], 0), np.argmax(logits, -1))
  # Same key, same noise; other sizes, other noise.
  np.testing.assert_array_equal(g, joint_codec_gumbel(4, 6, 6))
  assert joint_codec_gumbel(4, 6, 8).shape == (1, 6, 8, 4)
  # Straight-through: the gradient is the softmax's.
  w = jax.random.normal(jax.random.key(1), (4, 2, 6, 6, 1))
  got = jax.grad(lambda a: jnp.sum(joint_masks(a, g) * w))(logits)
  want = jax.grad(lambda a: jnp.sum(jnp.moveaxis(jax.nn.softmax(a + g), -1, 0)[..., None] * w))(logits)
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_config_defaults_and_arguments():
  # Old configs (no arch key) load as the journal model; nothing of its defaults moved.
  d = R2LCMConfig().to_dict()
  del d["arch"], d["channel_mean"]
  cfg = R2LCMConfig.from_dict(d)
  assert cfg == R2LCMConfig() and cfg.arch == "ijcv24" and not cfg.channel_mean
  assert R2LCMConfig.from_dict(TINY.to_dict()) == TINY
  with pytest.raises(ConfigError):
    R2LCMConfig(arch="cvpr22")
  with pytest.raises(ConfigError):
    R2LCMConfig(channel_mean=True)
  assert TINY.size_multiple == 64 and TINY.upscale == 16
  c = train_config.load_file("experiments/configs/cvpr23.py:arch=ijcv24,T=2")
  assert c.model.arch == "ijcv24" and c.model.num_steps == 2
  c = train_config.load_file("experiments/configs/cvpr23.py")
  assert R2LCMConfig(**dict(c.model)).arch == "cvpr23"
  journal = "experiments/configs/small_real.py"  # its model config does not name arch
  with pytest.raises(ConfigError):
    train_config.load_file(journal + ":arch=cvpr23")


@pytest.mark.slow  # ~2 min of compilation; the CVPR forward, shapes and coding stay in the default run
def test_a_few_training_steps_on_a_real_crop_lower_the_loss(real_data):
  from r2lcm_jax.data.sources import load_source
  from r2lcm_jax.isp.pipeline import render_srgb
  from r2lcm_jax.train.task import create_model_and_loss

  src = load_source(real_data / "inteltau" / "S_IMX135_BLCCSC_field_018_sensorname_sony_imx135.png")
  srgb = np.asarray(render_srgb(src.raw_rgb, src.params), np.float32)
  raw = np.asarray(src.raw_rgb, np.float32)
  crops = [(slice(64 * i, 64 * i + 64), slice(64 * j, 64 * j + 64)) for i, j in ((0, 0), (1, 2))]
  batch = {"raw": jnp.asarray(np.stack([raw[c] for c in crops])),
           "srgb": jnp.asarray(np.stack([srgb[c] for c in crops]))}
  init, loss_fn = create_model_and_loss(TINY.to_dict(), 64, lmbda=0.24)
  p = init(jax.random.key(0))
  opt = optax.adam(1e-3)
  state = opt.init(p)

  @jax.jit
  def step(p, state, key):
    k1, k2 = jax.random.split(key)
    (loss, metrics), g = jax.value_and_grad(loss_fn, has_aux=True)(
      p, batch, {"gumbel": k1, "noise": k2}, True)
    upd, state = opt.update(g, state, p)
    return optax.apply_updates(p, upd), state, loss, metrics["bpp"]

  losses = []
  for i in range(12):
    p, state, loss, bpp = step(p, state, jax.random.key(i))
    assert np.isfinite(float(loss)) and float(bpp) > 0
    losses.append(float(loss))
  assert np.mean(losses[-3:]) < 0.7 * losses[0], losses
  # Every network of the CVPR tree receives gradient (all of them are in the loss; single
  # leaves may not, e.g. a bias behind a dead ReLU of a 2-channel attention unit).
  _, g = jax.value_and_grad(loss_fn, has_aux=True)(p, batch, {"gumbel": jax.random.key(0),
                                                              "noise": jax.random.key(1)}, True)
  for name in ("g_a", "h_a", "h_s", "g_s", "h_mask", "entropy_bottleneck", "main"):
    total = sum(float(np.abs(np.asarray(a)).sum()) for a in jax.tree_util.tree_leaves(g[name]))
    assert total > 0, name
  for name in ("context_prediction", "entropy_parameters"):
    assert any(np.abs(np.asarray(a)).sum() > 0 for a in jax.tree_util.tree_leaves(g["main"][name]))
