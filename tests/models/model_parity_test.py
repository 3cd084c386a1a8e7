"""Numerical parity with the official PyTorch model (fixtures in ../shared/data/reference).

Weights come from `weights.npz` through `port_state_dict` (so the porter is exercised);
NCHW fixtures are transposed to NHWC. Tolerance: 1e-4 absolute in float32.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r2lcm_jax.layers.bicubic import bicubic_upsample
from r2lcm_jax.models import R2LCM, R2LCMConfig
from r2lcm_jax.port.torch_checkpoint import port_state_dict

ATOL = 1e-4
LEVEL = {0: "main", 1: "hyper"}  # official list index -> our level name


def nhwc(a: np.ndarray) -> np.ndarray:
  return np.transpose(a, (0, 2, 3, 1)) if a.ndim == 4 else a


pytestmark = pytest.mark.usefixtures("fast_compilation")


@pytest.fixture(scope="module")
def ref(reference_data):
  io = dict(np.load(reference_data / "io.npz"))
  weights = dict(np.load(reference_data / "weights.npz"))
  cfg = R2LCMConfig()
  model = R2LCM(cfg)
  variables = {"params": port_state_dict(weights, cfg)}

  def method(fn, static=()):
    f = jax.jit(lambda v, *a: model.apply(v, *a, method=fn), static_argnums=static)

    def call(*args):
      with jax.default_matmul_precision("highest"):
        return f(variables, *args)

    return call

  return {
    "io": io,
    "S": jnp.asarray(nhwc(io["in_srgb"])),
    "X": jnp.asarray(nhwc(io["in_raw"])),
    "model": model,
    "variables": variables,
    "analysis": method(R2LCM.analysis),
    "hyper_synthesis": method(R2LCM.hyper_synthesis),
    "synthesis": method(R2LCM.synthesis),
    "mask_logits": method(R2LCM.mask_logits, (1,)),
    "entropy_parameters": method(R2LCM.entropy_parameters, (1,)),
  }


def close(got, expected, atol=ATOL):
  np.testing.assert_allclose(np.asarray(got), nhwc(expected), rtol=0, atol=atol)


def test_bicubic_x4_matches_torch_interpolate(ref):
  io = ref["io"]
  close(bicubic_upsample(jnp.asarray(nhwc(io["bicubic_test_in"])), 4), io["bicubic_test_out"])
  close(bicubic_upsample(jnp.asarray(nhwc(io["g_s0_in_yhat"])), 4), io["g_s0_upsampled"])


def test_raw_encoder_and_hyper_encoder_match_reference(ref):
  io = ref["io"]
  y, z = ref["analysis"](ref["X"], ref["S"])
  close(y, io["g_a0_out_y"])
  close(z, io["g_a1_out_z"])


def test_raw_encoder_intermediate_layers_match_reference(ref):
  io = ref["io"]
  model, v = ref["model"], ref["variables"]

  def layers(mdl, x, s):
    return mdl.g_a(x, s, return_intermediates=True)[1]

  outs = jax.jit(lambda v, x, s: model.apply(v, x, s, method=layers))(v, ref["X"], ref["S"])
  for i in range(8):
    close(outs[i], io[f"g_a0_layer{i}"])


def test_hyper_synthesis_matches_reference_for_zero_and_integer_inputs(ref):
  io = ref["io"]
  for tag in ("g_s1", "g_s1_alt"):
    P = ref["hyper_synthesis"](jnp.asarray(nhwc(io[f"{tag}_in_zhat"])), ref["S"])
    close(P, io[f"{tag}_out_params"])


def test_raw_decoder_matches_reference_including_layer_crops(ref):
  io = ref["io"]
  for tag in ("g_s0", "g_s0_alt"):
    x_hat = ref["synthesis"](jnp.asarray(nhwc(io[f"{tag}_in_yhat"])), ref["S"])
    close(x_hat, io[f"{tag}_out_xhat"])
  model, v = ref["model"], ref["variables"]

  def layers(mdl, y, s):
    return mdl.g_s(bicubic_upsample(y, 4), s, return_intermediates=True)[1]

  outs = jax.jit(lambda v, y, s: model.apply(v, y, s, method=layers))(
    v, jnp.asarray(nhwc(io["g_s0_in_yhat"])), ref["S"])
  for i in range(9):
    close(outs[i][:, :16, :16], io[f"g_s0_layer{i}_tl16"])
    close(outs[i][:, -16:, -16:], io[f"g_s0_layer{i}_br16"])


@pytest.mark.parametrize("l", [0, 1])
def test_mask_network_logits_match_reference(ref, l):  # noqa: E741
  io = ref["io"]
  logits = ref["mask_logits"](
    LEVEL[l],
    jnp.asarray(nhwc(io[f"g_mask{l}_in_params"])),
    jnp.asarray(nhwc(io[f"g_mask{l}_in_known"])),
    ref["S"],
  )
  close(logits, io[f"g_mask{l}_out_logits"])


@pytest.mark.parametrize("l", [0, 1])
def test_context_and_entropy_parameter_networks_match_reference(ref, l):  # noqa: E741
  io = ref["io"]
  model, v = ref["model"], ref["variables"]
  known = jnp.asarray(nhwc(io[f"cp{l}_in_known"]))
  u_hat = jnp.asarray(nhwc(io[f"cp{l}_in_uhat"]))
  q_map = jnp.asarray(nhwc(io[f"cp{l}_in_qmap"]))

  def pieces(mdl, u_hat, q_map, known, P, s):
    lvl = mdl.main if l == 0 else mdl.hyper
    x = jnp.concatenate([u_hat * known, q_map * known, known], -1)
    ctx, cp_layers = lvl.context_prediction(x, s, return_intermediates=True)
    ep_in = jnp.concatenate([P, ctx, known], -1)
    _, ep_layers = lvl.entropy_parameters(ep_in, s, return_intermediates=True)
    return ctx, cp_layers[0], ep_layers[0]

  P = jnp.asarray(nhwc(io[f"ep{l}_in_params"]))
  ctx, deconv, pca = jax.jit(lambda v, *a: model.apply(v, *a, method=pieces))(
    v, u_hat, q_map, known, P, ref["S"])
  close(deconv, io[f"cp{l}_layer0_maskeddeconv"])
  close(ctx, io[f"cp{l}_out_ctx"])
  close(pca, io[f"ep{l}_layer0_pca"])
  sigma, mu, q = ref["entropy_parameters"](LEVEL[l], u_hat, q_map, known, P, ref["S"])
  close(sigma, io[f"ep{l}_out_sigma"])
  close(mu, io[f"ep{l}_out_mu"])
  close(q, io[f"ep{l}_out_q"])


def _masks(order: np.ndarray, t: int = 4) -> jnp.ndarray:
  o = nhwc(order)[..., 0]
  return jnp.stack([jnp.asarray(o == i, jnp.float32)[..., None] for i in range(t)])


def test_full_context_loop_with_fixed_order_matches_reference(ref):
  io = ref["io"]
  model, v = ref["model"], ref["variables"]

  def loop(v, x, s, masks_h, masks_m):
    y, z = model.apply(v, x, s, method=R2LCM.analysis)
    P0 = jnp.zeros(z.shape[:3] + (16,))
    fwd = R2LCM.level_forward
    h = model.apply(v, "hyper", z, P0, s, masks_h, training=False, method=fwd)
    P = model.apply(v, h["u_hat"], s, method=R2LCM.hyper_synthesis)
    m = model.apply(v, "main", y, P, s, masks_m, training=False, method=fwd)
    x_hat = model.apply(v, m["u_hat"], s, method=R2LCM.synthesis)
    return h, P, m, x_hat

  with jax.default_matmul_precision("highest"):
    h, P, m, x_hat = jax.jit(loop)(
      v, ref["X"], ref["S"], _masks(io["loop_order_l1"]), _masks(io["loop_order_l0"])
    )
  for tag, out in (("l1", h), ("l0", m)):
    close(out["u_hat"], io[f"loop_{tag}_uhat"])
    close(out["q_map"], io[f"loop_{tag}_qmap"])
    close(out["likelihoods"], io[f"loop_{tag}_likelihoods"], atol=1e-6)
  close(P, io["loop_params_main"])
  close(x_hat, io["loop_xhat"])
  bits_main = -np.sum(np.log2(np.asarray(m["likelihoods"], np.float64)))
  bits_hyper = -np.sum(np.log2(np.asarray(h["likelihoods"], np.float64)))
  np.testing.assert_allclose(bits_main, io["loop_bits_l0"][0], rtol=1e-5)
  np.testing.assert_allclose(bits_hyper, io["loop_bits_l1"][0], rtol=1e-5)
  np.testing.assert_allclose((bits_main + bits_hyper) / (64 * 96), io["loop_bpp"][0], rtol=1e-5)


def test_mask_logits_at_every_loop_step_match_reference(ref):
  io = ref["io"]
  order = {1: nhwc(io["loop_order_l1"])[..., 0], 0: nhwc(io["loop_order_l0"])[..., 0]}
  P = {1: jnp.zeros((1, 4, 6, 16)), 0: jnp.asarray(nhwc(io["loop_params_main"]))}
  for l in (1, 0):  # noqa: E741
    for i in range(4):
      known = jnp.asarray(order[l] < i, jnp.float32)[..., None]
      logits = ref["mask_logits"](LEVEL[l], P[l], known, ref["S"])
      close(logits, io[f"loop_l{l}_s{i}_gmask_logits"])


def test_context_steps_called_one_by_one_reproduce_every_loop_step(ref):
  """The codec's per-step call (entropy_parameters) gives the loop's sigma/mu/q."""
  io = ref["io"]
  y, _ = ref["analysis"](ref["X"], ref["S"])
  P = jnp.asarray(nhwc(io["loop_params_main"]))
  order = nhwc(io["loop_order_l0"])[..., 0]
  u_hat = np.zeros((1, 16, 24, 8), np.float32)
  q_map = np.zeros_like(u_hat)
  for i in range(4):
    known = (order < i).astype(np.float32)[..., None]
    sigma, mu, q = ref["entropy_parameters"]("main", u_hat, q_map, known, P, ref["S"])
    close(sigma, io[f"loop_l0_s{i}_sigma"])
    close(mu, io[f"loop_l0_s{i}_mu"])
    close(q, io[f"loop_l0_s{i}_q"])
    sel = order == i
    u_t = np.round((np.asarray(y) - mu) * np.exp2(-q)) * np.exp2(q) + mu
    u_hat[sel] = np.asarray(u_t)[sel]
    q_map[sel] = np.asarray(q)[sel]
  close(u_hat, io["loop_l0_uhat"])
