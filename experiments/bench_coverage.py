"""Coverage rule of never-selected latent positions: "official" vs "full".

`r2lcm bench coverage [--steps 300] [--N 16] [--patch 32] [--batch 4]`

Trains one small model per rule from the same initialisation on the same synthetic
RAW/sRGB patches (smooth random fields, sRGB = 8-bit gamma 1/2.2 of the raw), then
evaluates both in eval mode (the codec's masks and rounding) on a held-out synthetic
batch. Reported per rule: the final training loss (mean of the last 20 steps), the
training-view bpp (official: unselected positions charged -log2(1e-7) bits per element),
the bpp that a codec actually sends (only selected positions), the fraction of
never-coded positions per level, and the PSNR of the eval reconstruction.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags

from r2lcm_jax.losses import rate_distortion
from r2lcm_jax.models import R2LCM, R2LCMConfig
from r2lcm_jax.models.param_init import init_params

__all__ = ["main"]

_STEPS = flags.DEFINE_integer("steps", 300, "Training steps per rule.")
_N = flags.DEFINE_integer("N", 16, "Base width N.")
_PATCH = flags.DEFINE_integer("patch", 32, "Patch side (multiple of 16).")
_BATCH = flags.DEFINE_integer("batch", 4, "Patches per step.")
_LR = flags.DEFINE_float("lr", 1e-3, "Adam learning rate.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of data, init and training noise.")
_JSON = flags.DEFINE_string("json", "", "Also write the results as JSON here.")


def _bilinear(u: np.ndarray, h: int, w: int) -> np.ndarray:
  return np.asarray(jax.image.resize(jnp.asarray(u), (u.shape[0], h, w, 3), "linear"))


def synthetic_batch(rng: np.random.Generator, b: int, p: int) -> tuple[np.ndarray, np.ndarray]:
  """Raw (B,p,p,3) float32 in [0,1] and its 8-bit-grid sRGB."""
  x = 0.8 * _bilinear(rng.uniform(size=(b, p // 8, p // 8, 3)), p, p)
  x += 0.2 * _bilinear(rng.uniform(size=(b, p // 2, p // 2, 3)), p, p)
  x = np.clip(x, 0.0, 1.0).astype(np.float32)
  s = (np.round(255 * np.clip(x, 0, 1) ** (1 / 2.2)) / 255).astype(np.float32)
  return x, s


def _run(coverage: str, data, eval_batch) -> dict:
  cfg = R2LCMConfig(N=_N.value, coverage=coverage)
  model = R2LCM(cfg)
  params = init_params(cfg, jax.random.key(_SEED.value))
  tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(_LR.value, eps=1e-6))
  opt = tx.init(params)

  def loss_fn(p, x, s, key):
    out = model.apply({"params": p}, x, s, training=True,
                      rngs={"gumbel": jax.random.fold_in(key, 0),
                            "noise": jax.random.fold_in(key, 1)})
    return rate_distortion(out, x)

  @jax.jit
  def step(p, o, x, s, key):
    (loss, m), g = jax.value_and_grad(loss_fn, has_aux=True)(p, x, s, key)
    upd, o = tx.update(g, o, p)
    return optax.apply_updates(p, upd), o, m

  key = jax.random.key(_SEED.value + 1)
  t0 = time.time()
  losses = []
  for i in range(_STEPS.value):
    x, s = data[i % len(data)]
    params, opt, m = step(params, opt, x, s, jax.random.fold_in(key, i))
    losses.append(float(m["loss"]))
  train_s = time.time() - t0

  x, s = eval_batch
  out = jax.jit(lambda p: model.apply({"params": p}, x, s, training=False))(params)
  _, m = rate_distortion(out, jnp.asarray(x))
  T, pixels = cfg.num_steps, x.shape[0] * x.shape[1] * x.shape[2]
  coded_bits, never = 0.0, {}
  for lvl in ("hyper", "main"):
    order = np.asarray(out["order"][lvl])
    lik = np.asarray(out["likelihoods"][lvl], np.float64)
    sel = order < T
    coded_bits += float(-np.log2(lik[sel]).sum())
    never[lvl] = float((~sel).mean())
  return {
    "coverage": coverage,
    "final_train_loss": float(np.mean(losses[-20:])),
    "eval_train_view_bpp": float(m["bpp"]),
    "eval_coded_bpp": coded_bits / pixels,
    "never_coded_fraction": never,
    "eval_psnr": float(m["psnr"]),
    "eval_l1": float(m["l1"]),
    "train_seconds_incl_compile": train_s,
  }


def main(argv: list[str]) -> None:
  """Runs both rules and prints one JSON line per rule."""
  del argv
  rng = np.random.default_rng(_SEED.value)
  data = [synthetic_batch(rng, _BATCH.value, _PATCH.value) for _ in range(64)]
  eval_batch = synthetic_batch(np.random.default_rng(_SEED.value + 100), 8, _PATCH.value)
  results = [_run(c, data, eval_batch) for c in ("official", "full")]
  for r in results:
    print(json.dumps(r))
  if _JSON.value:
    with open(_JSON.value, "w") as fh:
      json.dump(results, fh, indent=2)
