"""Behaviour of the full forward: training / eval modes, order masks, coverage, variable
rate, and agreement between the compiled loop and a step-by-step (codec-style) decode."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.errors import ShapeMismatchError
from r2lcm_jax.losses import rate_distortion
from r2lcm_jax.models import R2LCM, R2LCMConfig
from r2lcm_jax.models.param_init import init_params

SMALL = dict(N=8, latent_channels=4, num_steps=4)
_JIT: dict = {}  # compiled per-step functions, shared by the tests of this module


def _inputs(b=2, h=32, w=32):
  x = jax.random.uniform(jax.random.key(11), (b, h, w, 3))
  return x, jnp.round(255 * x ** (1 / 2.2)) / 255


def _compiled(cfg: R2LCMConfig):
  model = R2LCM(cfg)
  params = init_params(cfg, jax.random.key(0))
  evaluate = jax.jit(
    lambda p, x, s, d, g: model.apply({"params": p}, x, s, training=False,
                                      drop_steps=d, gamma=g)
  )
  return model, params, evaluate


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def small():
  cfg = R2LCMConfig(**SMALL)
  model, params, evaluate = _compiled(cfg)
  return cfg, model, params, evaluate


def _grad_norms(g: dict) -> dict[str, float]:
  return {"/".join(str(k.key) for k in p): float(jnp.linalg.norm(v))
          for p, v in jax.tree_util.tree_leaves_with_path(g)}


def test_entropy_model_gradients_reach_mask_context_and_parameter_networks(small):
  """Straight-through Gumbel masks: the rate gradient reaches g_mask; the likelihood
  lower bound lets it through at never-selected positions too."""
  cfg, model, params, _ = small
  _, s = _inputs()
  y = 3 * jax.random.normal(jax.random.key(1), (2, 8, 8, 4))
  P = jax.random.normal(jax.random.key(2), (2, 8, 8, 8))

  def rate(p, key):
    def fn(mdl, y, P, s):
      masks = mdl._masks("main", P, s, True)
      out = mdl.level_forward("main", y, P, s, masks, training=True)
      return -jnp.sum(jnp.log2(out["likelihoods"]))
    return model.apply({"params": p}, y, P, s, method=fn,
                       rngs={"gumbel": key, "noise": jax.random.fold_in(key, 1)})

  grad = jax.jit(jax.value_and_grad(rate))
  (r1, g1), (r2, g2) = grad(params, jax.random.key(5)), grad(params, jax.random.key(5))
  assert float(r1) == float(r2)
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  norms = _grad_norms(g1["main"])
  for net in ("g_mask", "context_prediction", "entropy_parameters"):
    sub = [v for k, v in norms.items() if k.startswith(net)]
    assert sub and all(np.isfinite(sub)) and max(sub) > 0, (net, sub)
  assert all(v == 0 for v in _grad_norms(g1["hyper"]).values())
  assert float(grad(params, jax.random.key(6))[0]) != float(r1)  # fresh noise per key


@pytest.mark.slow
def test_full_training_step_is_deterministic_and_trains_every_network():
  cfg = R2LCMConfig(**SMALL)
  model = R2LCM(cfg)
  params = init_params(cfg, jax.random.key(0))
  x, s = _inputs()

  def loss(p, key):
    out = model.apply({"params": p}, x, s, training=True,
                      rngs={"gumbel": jax.random.fold_in(key, 0),
                            "noise": jax.random.fold_in(key, 1)})
    return rate_distortion(out, x)

  step = jax.jit(jax.value_and_grad(loss, has_aux=True))
  (l1, m1), g1 = step(params, jax.random.key(5))
  (l2, _), g2 = step(params, jax.random.key(5))
  assert float(l1) == float(l2) and np.isfinite(float(l1))
  for a, b in zip(jax.tree_util.tree_leaves(g1), jax.tree_util.tree_leaves(g2), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  for top in ("g_a", "h_a", "h_s", "g_s", "hyper", "main"):
    assert max(_grad_norms(g1[top]).values()) > 0, top
  assert float(m1["bpp_z"]) > 0 and float(m1["bpp_y"]) > 0


@pytest.mark.slow  # codec vs eval forward: tests/codec/coding_loop_vs_forward_test.py
def test_eval_forward_is_deterministic_and_its_order_equals_the_codec_order_map(small):
  cfg, model, params, evaluate = small
  x, s = _inputs()
  a = evaluate(params, x, s, 0, 0.0)
  b = evaluate(params, x, s, 0, 0.0)
  np.testing.assert_array_equal(np.asarray(a["x_hat"]), np.asarray(b["x_hat"]))
  v = {"params": params}
  c = 2 * cfg.latent_channels
  P0 = jnp.zeros(a["z"].shape[:3] + (c,))
  order_map = _JIT.setdefault(
    id(model), (_jitted(model, "order_map"), _jitted(model, "entropy_parameters")))[0]
  o_h = order_map(v, "hyper", P0, s)
  P = _jitted(model, "hyper_synthesis")(v, a["z_hat"], s)
  o_m = order_map(v, "main", P, s)
  np.testing.assert_array_equal(np.asarray(o_h), np.asarray(a["order"]["hyper"]))
  np.testing.assert_array_equal(np.asarray(o_m), np.asarray(a["order"]["main"]))
  # The order of one image does not depend on the rest of the batch.
  single = evaluate(params, x[1:], s[1:], 0, 0.0)
  np.testing.assert_array_equal(np.asarray(single["order"]["main"][0]),
                                np.asarray(a["order"]["main"][1]))
  assert a["order"]["main"].dtype == jnp.int32
  assert a["x_hat"].shape == x.shape and a["y"].shape == (2, 8, 8, 4)
  assert a["z"].shape == (2, 2, 2, 4)


def test_unselected_positions_are_charged_the_bound_and_never_coded_officially(small):
  cfg, _, params, evaluate = small
  x, s = _inputs()
  out = evaluate(params, x, s, 0, 0.0)
  T = cfg.num_steps
  for lvl, u_hat in (("hyper", out["z_hat"]), ("main", out["y_hat"])):
    order = np.asarray(out["order"][lvl])
    lik = np.asarray(out["likelihoods"][lvl])
    never = order == T
    np.testing.assert_allclose(lik[never], cfg.likelihood_bound, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(u_hat)[never], 0.0)
    # R = LB(R + p * M): a position selected at step i >= 1 carries an extra 1e-7.
    assert (lik[~never] >= cfg.likelihood_bound).all() and (lik <= 1.0 + 1e-6).all()
  assert (np.asarray(out["order"]["main"]) == T).any()  # at init some are unselected


def test_full_coverage_makes_the_last_step_take_every_remaining_position():
  official = R2LCMConfig(**SMALL)
  full = R2LCMConfig(**SMALL, coverage="full")
  params = init_params(official, jax.random.key(0))
  _, s = _inputs()
  P = jax.random.normal(jax.random.key(3), (2, 8, 8, 8))
  orders = {}
  for cfg in (official, full):
    m = R2LCM(cfg)
    fn = jax.jit(lambda p, P, m=m: m.apply({"params": p}, "main", P, s,
                                           method=R2LCM.order_map))
    orders[cfg.coverage] = np.asarray(fn(params, P))
  T = official.num_steps
  a, b = orders["official"], orders["full"]
  assert (a == T).any() and not (b == T).any()
  np.testing.assert_array_equal(b[a < T], a[a < T])  # earlier steps unchanged
  np.testing.assert_array_equal(b[a == T], T - 1)


def _jitted(model, name):
  fn = getattr(R2LCM, name)
  static = (1,) if name in ("order_map", "entropy_parameters") else ()
  return jax.jit(lambda v, *a: model.apply(v, *a, method=fn), static_argnums=static)


def _stepwise_decode(model, params, cfg, level, u, P, s, drop, gamma):
  """What the codec does: order map, then per step entropy_parameters + update."""
  v = {"params": params}
  T = cfg.num_steps
  order_map, entropy_parameters = _JIT.setdefault(
    id(model), (_jitted(model, "order_map"), _jitted(model, "entropy_parameters")))
  order = np.asarray(order_map(v, level, P, s))
  u_hat = np.zeros(u.shape, np.float32)
  q_map = np.zeros(u.shape, np.float32)
  for i in range(T):
    known = (order < i).astype(np.float32)[..., None]
    sigma, mu, q = (np.asarray(a) for a in entropy_parameters(
      v, level, u_hat, q_map, known, P, s))
    sel = order == i
    main = level == "main"
    if main and i >= T - drop:
      val = mu
    else:
      qc = q + (gamma if main and i == T - 1 - drop else 0.0)
      val = np.round((np.asarray(u) - mu) * np.exp2(-qc)) * np.exp2(qc) + mu
    u_hat[sel] = val[sel]
    q_map[sel] = q[sel]
  return u_hat, order


@pytest.mark.parametrize("drop,gamma", [(0, 0.0), (1, 1.0)])
def test_compiled_loop_equals_step_by_step_decoding_with_drop_and_gamma(small, drop, gamma):
  cfg, model, params, evaluate = small
  x, s = _inputs(b=1)
  out = evaluate(params, x, s, drop, gamma)
  v = {"params": params}
  z_hat, _ = _stepwise_decode(model, params, cfg, "hyper", out["z"],
                              jnp.zeros(out["z"].shape[:3] + (8,)), s, drop, gamma)
  np.testing.assert_allclose(z_hat, np.asarray(out["z_hat"]), atol=1e-5)
  P = jax.jit(lambda v, z: model.apply(v, z, s, method=R2LCM.hyper_synthesis))(
    v, jnp.asarray(z_hat))
  y_hat, order = _stepwise_decode(model, params, cfg, "main", out["y"], P, s, drop, gamma)
  np.testing.assert_allclose(y_hat, np.asarray(out["y_hat"]), atol=1e-5)
  x_hat = jax.jit(lambda v, y: model.apply(v, y, s, method=R2LCM.synthesis))(
    v, jnp.asarray(y_hat))
  np.testing.assert_allclose(np.asarray(x_hat), np.asarray(out["x_hat"]), atol=1e-4)
  if drop:
    lik = np.asarray(out["likelihoods"]["main"])
    dropped = order >= cfg.num_steps - drop
    dropped &= order < cfg.num_steps
    assert dropped.any()
    np.testing.assert_allclose(lik[dropped], 1.0, atol=2e-7)  # nothing sent: zero bits


def test_dropping_steps_lowers_the_rate_monotonically(small):
  cfg, _, params, evaluate = small
  x, s = _inputs()
  bpp = []
  for d in range(cfg.num_steps + 1):
    out = evaluate(params, x, s, d, 0.0)
    bpp.append(float(-jnp.sum(jnp.log2(out["likelihoods"]["main"]))))
  assert all(a >= b for a, b in zip(bpp[:-1], bpp[1:], strict=True)), bpp
  assert bpp[0] > bpp[-1]


def test_inputs_not_multiple_of_16_are_rejected(small):
  _, model, params, _ = small
  x = jnp.zeros((1, 24, 32, 3))
  with pytest.raises(ShapeMismatchError, match="multiples of 16"):
    model.apply({"params": params}, x, x, training=False)
  with pytest.raises(ShapeMismatchError, match="differ"):
    model.apply({"params": params}, jnp.zeros((1, 32, 32, 3)), jnp.zeros((1, 32, 48, 3)),
                training=False)


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_outputs_and_entropy_math():
  cfg = R2LCMConfig(**SMALL, compute_dtype="bfloat16")
  model = R2LCM(cfg)
  params = init_params(cfg, jax.random.key(0))
  x, s = _inputs()
  out = jax.jit(lambda p: model.apply({"params": p}, x, s, training=False))(params)
  assert params["g_s"]["layers_9"]["kernel"].dtype == jnp.float32
  for k in ("x_hat", "y", "z", "y_hat", "z_hat"):
    assert out[k].dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(out[k]))), k
  for lik in out["likelihoods"].values():
    assert lik.dtype == jnp.float32 and bool(jnp.all(lik >= cfg.likelihood_bound))


@pytest.mark.slow  # the clip itself: tests/entropy/gaussian_test.py
def test_a_diverged_log2_step_does_not_turn_the_loss_into_nan():
  """Regression: a diverging network predicted q = -210 / +133 at positions a context
  step does not select (reproduced at lr 1e-3 and 1e-2); 2**-q overflowed float32 in
  the hyper level's straight-through quantisation there and `u_t * mask` spread NaN over
  the whole loss. q is now clipped to the codec's range [-64, 64] where it is
  exponentiated. (A q of +64 everywhere still overflows the synthesis honestly: that is
  a diverged model, which the training loop stops on.)"""
  cfg = R2LCMConfig(**SMALL)
  model = R2LCM(cfg)
  params = init_params(cfg, jax.random.key(0))
  c = cfg.latent_channels
  for level in ("hyper", "main"):
    last = params[level]["entropy_parameters"]["layers_7"]
    last["bias"] = last["bias"].at[2 * c :].set(-200.0)
  x, s = _inputs()

  def loss(p):
    out = model.apply({"params": p}, x, s, training=True,
                      rngs={"gumbel": jax.random.key(1), "noise": jax.random.key(2)})
    return rate_distortion(out, x)[0]

  value, grads = jax.jit(jax.value_and_grad(loss))(params)
  assert np.isfinite(float(value))
  assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree_util.tree_leaves(grads))
