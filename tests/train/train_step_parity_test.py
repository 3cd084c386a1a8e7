"""One official training step, reproduced: loss, every gradient, the updated parameters.

Fixture: `../shared/data/reference/dev/train_step/` (its README): the official PyTorch
`train_one_epoch` on one batch with every random draw of the forward recorded (the hard
Gumbel-softmax noise of the order masks, one array per (level, step), and the main
level's uniform quantisation noise, one dense array per step), the loss terms, the
gradient of every parameter and the parameters after clip + Adam.

The draws are injected through the batch (`batch["draws"]`, `models.r2lcm` module doc)
into the project's own `train.task` loss and `train.step` train step; nothing else is
substituted. Every shape and name is read from the fixture folder (batch, patch, T, C, N,
the latent strides and lambda), so the test runs unchanged on another fixture of the
same layout. Tolerances are the README's.

Quirks of the official step this reproduces (and where the project matches them):
* main level: additive noise u + eps * 2^q, no mean, no rounding (`entropy.gaussian`
  "noise"); hyper level: straight-through rounding around mu (multiplying by exp2(-q));
* hard Gumbel masks with softmax straight-through gradients, ties of
  `maximum(K, b) - K` split 0.5/0.5 (`jnp.maximum`; `models.order_masks`);
* LowerBound passes the gradient where x >= bound or the gradient is negative, also on
  the GDN reparametrisation, whose off-diagonal gamma sit exactly on the bound at init;
* R accumulates as LB(R + p * M_i, 1e-7) after every step (never-selected positions cost
  23.25 bits; likelihoods can be 1 + 1e-7);
* loss = lambda * 255^2 * L1 + bpp over B * H * W, both levels;
* clip c = min(1, 1 / (||g|| + 1e-6)) on the global norm, Adam eps 1e-6
  (`train.optim`); with `amp_loss_scale` the clip of the scaled gradient of the official
  AMP run.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.port.torch_checkpoint import port_state_dict
from r2lcm_jax.train import optim, schedule, state, step, task

# Optimisation passes off (`fast_compilation`): the N=64 step compiles in ~40 % less time;
# the tolerances below are the fixture README's and hold either way.
pytestmark = pytest.mark.usefixtures("fast_compilation")

LEVELS = {"l0": "main", "l1": "hyper"}  # official module-list index -> our level
LR, EPS, MAX_NORM = 1e-4, 1e-6, 1.0  # the official script's optimizer settings


def nhwc(a: np.ndarray) -> np.ndarray:
  return np.transpose(a, (0, 2, 3, 1))


def _stacked(ts: dict, prefix: str) -> np.ndarray:
  """`<prefix>0..T-1` NCHW arrays -> batch-major (B, T, h, w, c)."""
  keys = sorted((k for k in ts if re.fullmatch(re.escape(prefix) + r"\d+", k)),
                key=lambda k: int(k[len(prefix):]))
  return np.stack([nhwc(ts[k]) for k in keys], axis=1)


@pytest.fixture(scope="module")
def fixture(reference_data):
  folder = reference_data / "train_step"
  if not (folder / "train_step.npz").is_file():
    pytest.skip(f"no training-step fixture at {folder}")
  ts = dict(np.load(folder / "train_step.npz"))
  weights = dict(np.load(folder / "weights.npz"))
  b, _, h, w = ts["in_raw"].shape
  draws = {
    "gumbel_hyper": _stacked(ts, "gumbel_l1_s"),
    "gumbel_main": _stacked(ts, "gumbel_l0_s"),
    "noise_main": _stacked(ts, "noise_main_step"),
  }
  t, hy, c = draws["noise_main"].shape[1], draws["noise_main"].shape[2], draws["noise_main"].shape[-1]
  ratio = h // hy  # stride ** down_num
  n = next(v.shape[0] for k, v in weights.items() if k.startswith("g_a_list.0.") and k.endswith(".weight"))
  cfg = dict(N=int(n), latent_channels=int(c), num_steps=int(t), stride=2, down_num=int(np.log2(ratio)))
  R2LCMConfig(**cfg)  # validates
  lmbda = float(np.float64(ts["out_distortion_term"]) / np.float64(ts["out_l1_loss"]) / 255.0**2)
  lmbda = float(f"{lmbda:.5g}")
  batch = {"raw": nhwc(ts["in_raw"]), "srgb": nhwc(ts["in_srgb"]), "draws": draws}
  grads_ref = {k[len("grad/"):]: v for k, v in ts.items() if k.startswith("grad/")}
  return {
    "ts": ts, "weights": weights, "cfg": cfg, "lmbda": lmbda, "batch": batch, "patch": h,
    "params": port_state_dict(weights, R2LCMConfig(**cfg)),
    "grads_ref": port_state_dict(grads_ref, R2LCMConfig(**cfg)),
    "after_ref": {p: port_state_dict({k[len(p) + 1:]: v for k, v in ts.items()
                                      if k.startswith(p + "/")}, R2LCMConfig(**cfg))
                  for p in ("after",)},
  }


@pytest.fixture(scope="module")
def stepped(fixture):
  """The project's train step on the fixture, plus its loss, model output and gradients.

  `train.step.make_train_step` is `make_grad_fn` followed by `make_update` and nothing
  else; the step is run as those two real halves, so that its gradients can be compared
  without compiling the gradient program twice (the whole step beside a second
  `value_and_grad` took 90 s of compilation on a 2-core CPU, the halves ~50 s):
  one program for the loss, gradients and model output, one for clip + Adam.
  """
  from r2lcm_jax.models.r2lcm import R2LCM

  _, loss_fn = task.create_model_and_loss(fixture["cfg"], fixture["patch"], lmbda=fixture["lmbda"],
                                          distortion="l1")
  model = R2LCM(R2LCMConfig(**fixture["cfg"]))
  tx = optim.create_optimizer(learning_rate=LR, grad_clip=MAX_NORM, eps=EPS)
  grad_fn = step.make_grad_fn(loss_fn, jax.random.key(0))
  st = state.create_train_state(fixture["params"], tx, schedule.create_plateau_schedule())

  def forward_and_gradients(st, batch):
    (loss, metrics), grads = grad_fn(st.params, batch, st.step)
    out = model.apply({"params": st.params}, batch["raw"], batch["srgb"], training=True,
                      draws=batch["draws"])
    return {"loss": loss, "metrics": metrics, "grads": grads, "out": out}

  with jax.default_matmul_precision("highest"):
    got = jax.jit(forward_and_gradients)(st, fixture["batch"])
    new, step_metrics = jax.jit(step.make_update(tx))(st, got["grads"], got["loss"], got["metrics"],
                                                      jnp.float32(LR))
  return {**got, "new": new, "step_metrics": step_metrics}


def _order_from_official_masks(ts: dict, tag: str) -> np.ndarray:
  """Order map (B, h, w) from the recorded b_i: M_i = max(K, b_i) - K."""
  keys = sorted((k for k in ts if re.fullmatch(rf"fwd_{tag}_s\d+_mask", k)),
                key=lambda k: int(k.split("_s")[1].split("_")[0]))
  known = np.zeros(ts[keys[0]].shape[:1] + ts[keys[0]].shape[2:], np.float32)
  order = np.full(known.shape, len(keys), np.int32)
  for i, k in enumerate(keys):
    m = np.maximum(known, ts[k][:, 0]) - known
    order[m > 0.5] = i
    known = known + m
  return order


def test_masks_are_exactly_the_official_ones(fixture, stepped):
  out = stepped["out"]
  for tag, level in LEVELS.items():
    np.testing.assert_array_equal(np.asarray(out["order"][level]),
                                  _order_from_official_masks(fixture["ts"], tag))


def test_forward_arrays_and_loss_terms_match(fixture, stepped):
  ts = fixture["ts"]
  loss, metrics, out = stepped["loss"], stepped["metrics"], stepped["out"]
  tol = dict(rtol=1e-4, atol=1e-5)
  for ours, key in ((out["y"], "fwd_l0_u"), (out["z"], "fwd_l1_u"), (out["z_hat"], "fwd_l1_uhat"),
                    (out["y_hat"], "fwd_l0_uhat"), (out["x_hat"], "fwd_xhat"),
                    (out["likelihoods"]["hyper"], "fwd_l1_likelihoods"),
                    (out["likelihoods"]["main"], "fwd_l0_likelihoods")):
    np.testing.assert_allclose(np.asarray(ours), nhwc(ts[key]), **tol, err_msg=key)
  for ours, key in ((loss, "out_loss"), (metrics["l1"], "out_l1_loss"), (metrics["mse"], "out_mse_loss"),
                    (metrics["bpp"], "out_bpp_loss"), (metrics["bpp_y"], "out_bpp_level_1"),
                    (metrics["bpp_z"], "out_bpp_level_0"), (metrics["psnr"], "out_psnr")):
    np.testing.assert_allclose(float(ours), float(ts[key]), **tol, err_msg=key)


def test_every_gradient_matches(fixture, stepped):
  grads = stepped["grads"]
  ref = fixture["grads_ref"]
  ours_l = dict(jax.tree_util.tree_leaves_with_path(grads))
  ref_l = dict(jax.tree_util.tree_leaves_with_path(ref))
  assert ours_l.keys() == ref_l.keys() and len(ref_l) > 0
  num = den = 0.0
  worst = []
  for path, r in ref_l.items():
    g = np.asarray(ours_l[path], np.float64)
    r = np.asarray(r, np.float64)
    assert g.shape == r.shape, jax.tree_util.keystr(path)
    err = np.max(np.abs(g - r))
    if err > 2e-3 * np.max(np.abs(r)):
      worst.append((jax.tree_util.keystr(path), err, np.max(np.abs(r))))
    num += np.sum((g - r) ** 2)
    den += np.sum(r ** 2)
  assert not worst, worst[:5]
  assert np.sqrt(num / den) <= 1e-5
  np.testing.assert_allclose(float(jnp.sqrt(sum(jnp.sum(x ** 2) for x in jax.tree.leaves(grads)))),
                             float(fixture["ts"]["opt_clip_total_norm"]), rtol=1e-5)


def _adam_once(params, grads, **kwargs):
  tx = optim.create_optimizer(learning_rate=LR, grad_clip=MAX_NORM, eps=EPS, **kwargs)

  @jax.jit
  def update(params, grads):
    updates, _ = tx.update(grads, tx.init(params), params)
    return jax.tree.map(lambda p, u: p + u, params, updates)

  return update(params, grads)


def _assert_trees_close(got, want, atol):
  got_l = dict(jax.tree_util.tree_leaves_with_path(got))
  for path, w in jax.tree_util.tree_leaves_with_path(want):
    np.testing.assert_allclose(np.asarray(got_l[path]), np.asarray(w), rtol=0, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


def test_clip_and_adam_alone_match_the_official_update(fixture):
  after = _adam_once(fixture["params"], fixture["grads_ref"])
  _assert_trees_close(after, fixture["after_ref"]["after"], atol=2e-7)


def test_amp_clip_order_reproduces_the_official_amp_update(fixture):
  """`amp_loss_scale` clips the scaled gradient as the official AMP run (a stored subset)."""
  ts = fixture["ts"]
  cfg = R2LCMConfig(**fixture["cfg"])
  after = _adam_once(fixture["params"], fixture["grads_ref"], amp_loss_scale=float(ts["amp_loss_scale"]))
  names = [k[len("after_amp/"):] for k in ts if k.startswith("after_amp/")]
  assert names
  # The stored tensors, ported into our tree; the others are NaN and are not compared.
  want = port_state_dict({**{k: np.full_like(v, np.nan) for k, v in fixture["weights"].items()},
                          **{n: ts["after_amp/" + n] for n in names}}, cfg)
  got = dict(jax.tree_util.tree_leaves_with_path(after))
  checked = 0
  for path, w in jax.tree_util.tree_leaves_with_path(want):
    if np.isnan(np.asarray(w)).any():
      continue
    np.testing.assert_allclose(np.asarray(got[path]), np.asarray(w), rtol=0, atol=2e-7,
                               err_msg=jax.tree_util.keystr(path))
    checked += 1
  assert checked == len(names)
  # The scaled clip moves the parameters far less than the clip of the true gradient.
  plain = _adam_once(fixture["params"], fixture["grads_ref"])
  moved = lambda tree: max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))  # noqa: E731
                           for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(fixture["params"]), strict=True))
  assert moved(after) < 0.8 * moved(plain)


def test_the_project_train_step_reproduces_the_official_step(fixture, stepped):
  """The `train.step` train step end to end (its two jitted halves): clip + Adam on our
  own gradients."""
  new, metrics = stepped["new"], stepped["step_metrics"]
  assert int(metrics["finite"]) == 1 and int(new.step) == 1
  np.testing.assert_allclose(float(metrics["loss"]), float(fixture["ts"]["out_loss"]), rtol=1e-4)
  np.testing.assert_allclose(float(metrics["grad_norm"]), float(fixture["ts"]["opt_clip_total_norm"]),
                             rtol=1e-5)
  _assert_trees_close(new.params, fixture["after_ref"]["after"], atol=5e-6)


def test_injected_draws_replace_the_rngs_and_nothing_else():
  """With every draw injected the rngs do not matter; with some, the others still come from them."""
  from r2lcm_jax.models import param_init
  from r2lcm_jax.models.r2lcm import R2LCM

  cfg = R2LCMConfig(N=8, latent_channels=4, num_steps=2)
  model = R2LCM(cfg)
  v = {"params": param_init.init_params(cfg, jax.random.key(0))}
  rng = np.random.default_rng(0)
  b, p, t, c = 2, 32, cfg.num_steps, cfg.latent_channels
  srgb = rng.random((b, p, p, 3), dtype=np.float32)
  raw = srgb ** 2.2
  draws = {"gumbel_hyper": rng.gumbel(size=(b, t, p // 16, p // 16, 2)).astype(np.float32),
           "gumbel_main": rng.gumbel(size=(b, t, p // 4, p // 4, 2)).astype(np.float32),
           "noise_main": rng.uniform(-0.5, 0.5, (b, t, p // 4, p // 4, c)).astype(np.float32)}

  @jax.jit
  def fwd(seed, d):
    out = model.apply(v, raw, srgb, training=True, rngs=step.step_rngs(jax.random.key(seed), 0), draws=d)
    return out["x_hat"], out["likelihoods"]["main"]

  full_a, full_b = fwd(1, draws), fwd(2, draws)
  jax.tree.map(np.testing.assert_array_equal, full_a, full_b)
  assert not np.array_equal(np.asarray(fwd(1, {})[1]), np.asarray(full_a[1]))
  with pytest.raises(Exception, match="injected noise"):
    fwd(1, {**draws, "noise_main": np.zeros((b, t + 1, p // 4, p // 4, c), np.float32)})


def test_nan_policies(fixture):
  """Official rule: a NaN tensor is zeroed and the step goes on; ours skips the step."""
  params = {"a": jnp.ones(3), "b": jnp.ones(2)}
  grads = {"a": jnp.array([1.0, jnp.nan, 0.0]), "b": jnp.array([3.0, 4.0])}
  tx = optim.create_optimizer(learning_rate=LR, eps=EPS, nan_policy="zero_tensor")
  updates, _ = tx.update(grads, tx.init(params), params)
  assert np.all(np.asarray(updates["a"]) == 0) and np.all(np.isfinite(np.asarray(updates["b"])))
  assert np.all(np.asarray(updates["b"]) < 0)
  with pytest.raises(ValueError, match="nan_policy"):
    optim.create_optimizer(nan_policy="ignore")
