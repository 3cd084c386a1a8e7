"""The R2LCM models as one Flax Linen module: IJCV'24 (official `learned_context_journal4`,
`cfg.arch = "ijcv24"`, the default) and CVPR'23 (`cfg.arch = "cvpr23"`).

Levels are named by what they hold: "hyper" (z, H/16) and "main" (y, H/4), processed
hyper first. All arrays are NHWC float32; x_raw / x_srgb are (B, H, W, 3) in [0, 1] with
H, W multiples of `cfg.size_multiple` (16 by default).

Parameter tree ("params" collection): `g_a`, `h_a`, `h_s`, `g_s` (transforms) and
`hyper` / `main` (each: `g_mask`, `context_prediction`, `entropy_parameters`).

CVPR'23 (arch "cvpr23", SPEC section 14): the transforms of `models.transforms_cvpr`
(symmetric backbone; `synthesis` is g_s alone, no bicubic); the hyper latent z is coded
by `entropy_bottleneck` (a factorized density, `layers.factorized_bottleneck`; training
rounds it straight-through like the journal's hyper level), optionally after removing
its per-image channel mean (`cfg.channel_mean`, added back to z_hat); the main level
keeps the learned-context model `main` (`context_prediction`, `entropy_parameters`, no
`g_mask`) but its T step masks come jointly from `h_mask(P; S)` (`models.joint_order`).
Tree: `g_a`, `h_a`, `h_s`, `g_s`, `h_mask`, `entropy_bottleneck`, `main`. The output
dict has the same keys; for the hyper level `q_map` is 0 and `order` is 0 (one step).

Randomness: training uses rngs {"gumbel", "noise"} given to `apply`; outside training
the order masks use fixed Gumbel keys (see `order_masks.codec_gumbel`) and quantisation
is hard rounding around the mean, so `__call__(training=False)` is deterministic and
gives the decoder's result (up to the codec's float16 rounding of u_hat).

Injected draws (`__call__(..., draws=...)`): the training forward has exactly two random
sources, the Gumbel noise of the hard order masks (one draw per level and step) and the
additive uniform noise of the main level (one dense draw per step). Either may be given
instead of drawn, batch-major so that a data-parallel split of the batch splits them too:

    draws["gumbel_hyper"]  (B, T, H/16, W/16, 2)   Gumbel(0, 1)
    draws["gumbel_main"]   (B, T, H/4,  W/4,  2)   Gumbel(0, 1)
    draws["noise_main"]    (B, T, H/4,  W/4,  C)   U(-1/2, 1/2)

(cvpr23: "gumbel_main" is (B, 1, h, w, T), the joint masks' draw; "gumbel_hyper" is
not used.)

Nothing else changes: the same arrays drawn from the rngs give the same result. This is
how the official training step is reproduced (`tests/train/train_step_parity_test.py`).
"""

from __future__ import annotations

from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from r2lcm_jax.errors import ConfigError, ShapeMismatchError
from r2lcm_jax.layers.bicubic import bicubic_upsample
from r2lcm_jax.layers.factorized_bottleneck import FactorizedBottleneck
from r2lcm_jax.models.coding_order import DEFAULT_ORDER, coding_order
from r2lcm_jax.models.config import LEVELS, R2LCMConfig
from r2lcm_jax.models.context_model import LevelEntropyModel
from r2lcm_jax.models.joint_order import joint_codec_gumbel, joint_masks
from r2lcm_jax.models.order_masks import codec_gumbel, order_from_masks
from r2lcm_jax.models.serial_context import level_model
from r2lcm_jax.models.transforms import (
  make_g_a,
  make_g_mask,
  make_g_s,
  make_h_a,
  make_h_s,
)
from r2lcm_jax.models.transforms_cvpr import make_g_s_cvpr, make_h_a_cvpr, make_h_s_cvpr

__all__ = ["R2LCM", "DRAW_KEYS"]

DRAW_KEYS = ("gumbel_hyper", "gumbel_main", "noise_main")


def _step_major(a: jax.Array) -> jax.Array:
  """(B, T, ...) batch-major draws -> (T, B, ...)."""
  return jnp.swapaxes(jnp.asarray(a, jnp.float32), 0, 1)


class R2LCM(nn.Module):
  """Learned-metadata RAW reconstruction model. Attribute: cfg (R2LCMConfig)."""

  cfg: R2LCMConfig = R2LCMConfig()

  def setup(self):
    if self.cfg.arch == "cvpr23":
      c = self.cfg
      self.g_a, self.h_a = make_g_a(c), make_h_a_cvpr(c)
      self.h_s, self.g_s = make_h_s_cvpr(c), make_g_s_cvpr(c)
      self.h_mask = make_g_mask(c, outputs=c.num_steps)
      self.entropy_bottleneck = FactorizedBottleneck(c.latent_channels)
    else:
      self.g_a = make_g_a(self.cfg)
      self.h_a = make_h_a(self.cfg)
      self.h_s = make_h_s(self.cfg)
      self.g_s = make_g_s(self.cfg)
      self.hyper = level_model(self.cfg)(self.cfg, "hyper")
    self.main = level_model(self.cfg)(self.cfg, "main")  # context "serial": serial_context

  @property
  def cvpr(self) -> bool:
    """True for the CVPR'23 architecture."""
    return self.cfg.arch == "cvpr23"

  def _level(self, level: str) -> LevelEntropyModel:
    if level not in LEVELS:
      raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    if self.cvpr and level == "hyper":
      raise ValueError("the cvpr23 hyper level is a factorized bottleneck (hyper_bottleneck)")
    return self.hyper if level == "hyper" else self.main

  # --- transforms -------------------------------------------------------------------

  def analysis(self, x_raw: jax.Array, x_srgb: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Encoders: returns y float32 (B, H/4, W/4, C) and z float32 (B, H/16, W/16, C)."""
    y = self.g_a(x_raw, x_srgb).astype(jnp.float32)
    z = self.h_a(y, x_srgb).astype(jnp.float32)
    return y, z

  def hyper_synthesis(self, z_hat: jax.Array, x_srgb: jax.Array) -> jax.Array:
    """h_s: z_hat (B, H/16, W/16, C) -> P_main float32 (B, H/4, W/4, 2C)."""
    return self.h_s(z_hat, x_srgb).astype(jnp.float32)

  def synthesis(self, y_hat: jax.Array, x_srgb: jax.Array) -> jax.Array:
    """Bicubic x4 of y_hat (B, H/4, W/4, C), then g_s -> x_hat float32 (B, H, W, 3).

    cvpr23: g_s alone (its sub-pixel convolutions upsample by `cfg.upscale`).
    """
    if self.cvpr:
      return self.g_s(y_hat, x_srgb).astype(jnp.float32)
    up = bicubic_upsample(y_hat, self.cfg.upscale)
    return self.g_s(up, x_srgb).astype(jnp.float32)

  # --- CVPR'23 pieces ---------------------------------------------------------------

  def hyper_bottleneck(self, z: jax.Array, *, mode: str,
                       noise: jax.Array | None = None) -> dict[str, jax.Array]:
    """cvpr23 hyper level: optional channel mean, then the factorized bottleneck.

    Args:
      z: (B, h, w, C) hyper latent.
      mode: "ste" | "noise" | "dequantize" (`layers.factorized_bottleneck`).
      noise: optional U(-1/2, 1/2) (B, h, w, C) for mode "noise".

    Returns:
      dict: u_hat (B, h, w, C) = quantised (z - m) + m, likelihoods (B, h, w, C), and
      channel_mean m (B, 1, 1, C) (zeros without `cfg.channel_mean`).
    """
    z = z.astype(jnp.float32)
    if self.cfg.channel_mean:
      mean = jnp.mean(z, axis=(1, 2), keepdims=True)
    else:
      mean = jnp.zeros(z.shape[:1] + (1, 1) + z.shape[3:], jnp.float32)
    z_t, lik = self.entropy_bottleneck(z - mean, mode=mode, noise=noise)
    return {"u_hat": z_t + mean, "likelihoods": lik, "channel_mean": mean}

  def joint_mask_logits(self, P: jax.Array, x_srgb: jax.Array) -> jax.Array:
    """cvpr23 h_mask(P; S): P (B, h, w, 2C) -> float32 (B, h, w, T) order logits."""
    return self.h_mask(P, x_srgb).astype(jnp.float32)

  # --- entropy model pieces (the codec calls these) --------------------------------

  def order_map(self, level: str, P: jax.Array, x_srgb: jax.Array,
                order: str = DEFAULT_ORDER) -> jax.Array:
    """Coding order of a level (`models.coding_order`; "learned": fixed codec Gumbel keys).

    Args:
      level: "hyper" or "main".
      P: (B, h, w, 2C) conditioning (zeros for "hyper").
      x_srgb: (B, H, W, 3).
      order: coding-order option, one of `coding_order.ORDERS`.

    Returns:
      int32 (B, h, w): step 0..T-1 at which each position is coded, T = never.
    """
    if self.cfg.context == "serial":
      raise ConfigError("the serial context model codes one position at a time "
                        "(models.serial_coding), not in parallel steps")
    b, h, w, _ = P.shape
    if self.cvpr and level == "hyper":
      return jnp.zeros((b, h, w), jnp.int32)  # the bottleneck codes z in one step
    if self.cvpr and order in ("learned", "argmax"):
      t = self.cfg.num_steps
      g = (joint_codec_gumbel(t, h, w, self.cfg.codec_seed) if order == "learned"
           else jnp.zeros((1, h, w, t), jnp.float32))
      return order_from_masks(joint_masks(self.joint_mask_logits(P, x_srgb), g))
    return coding_order(order, level, self.cfg.num_steps, (b, h, w),
                        lambda g: self._level(level).masks(P, x_srgb, g), self.cfg.codec_seed)

  def entropy_parameters(
    self,
    level: str,
    u_hat: jax.Array,
    q_map: jax.Array,
    known: jax.Array,
    P: jax.Array,
    x_srgb: jax.Array,
  ) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One context step (CP then EP) on the decoded state; see LevelEntropyModel.step.

    Args: u_hat, q_map (B, h, w, C); known (B, h, w, 1) in {0,1}; P (B, h, w, 2C);
    x_srgb (B, H, W, 3). Returns sigma, mu, q: float32 (B, h, w, C).
    """
    return self._level(level).step(u_hat, q_map, known, P, x_srgb)

  def mask_logits(
    self, level: str, P: jax.Array, known: jax.Array, x_srgb: jax.Array
  ) -> jax.Array:
    """g_mask logits float32 (B, h, w, 2) for conditioning P and known mask K.

    cvpr23 (main level): the joint h_mask logits (B, h, w, T); `known` is not used.
    """
    if self.cvpr and level == "main":
      return self.joint_mask_logits(P, x_srgb)
    return self._level(level).mask_logits(P, known, x_srgb)

  def level_forward(
    self,
    level: str,
    u: jax.Array,
    P: jax.Array,
    x_srgb: jax.Array,
    masks: jax.Array,
    *,
    training: bool,
    drop_steps: int | jax.Array = 0,
    gamma: float | jax.Array = 0.0,
    noise: jax.Array | None = None,
  ) -> dict[str, jax.Array]:
    """Context loop of one level with given masks (T, B, h, w, 1); see LevelEntropyModel.

    `noise` (T, B, h, w, C), U(-1/2, 1/2): the main level's training noise, drawn from
    rng "noise" when None (ignored outside the "noise" mode).
    """
    t = self.cfg.num_steps
    if training:
      mode = "noise" if level == "main" else "ste"
    else:
      mode = "dequantize"
    if mode == "noise":
      if noise is None:
        noise = jax.random.uniform(self.make_rng("noise"), (t,) + u.shape, jnp.float32,
                                   -0.5, 0.5)
      elif noise.shape != (t,) + u.shape:
        raise ShapeMismatchError(f"injected noise {noise.shape}, expected {(t,) + u.shape}")
    else:
      noise = jnp.zeros((t,) + u.shape, jnp.float32)
    return self._level(level)(
      u, P, x_srgb, masks, noise, mode=mode, drop_steps=drop_steps, gamma=gamma
    )

  def _masks(self, level: str, P: jax.Array, x_srgb: jax.Array, training: bool,
             gumbel: jax.Array | None = None):
    """Step masks (T, B, h, w, 1); `gumbel` (T, B, h, w, 2) replaces the training draw.

    cvpr23 (main level): joint masks; `gumbel` is (1, B, h, w, T).
    """
    b, h, w, _ = P.shape
    t = self.cfg.num_steps
    if self.cvpr:
      if training and gumbel is not None:
        if gumbel.shape != (1, b, h, w, t):
          raise ShapeMismatchError(f"injected Gumbel noise {gumbel.shape}, expected {(1, b, h, w, t)}")
        g = gumbel[0]
      elif training:
        g = jax.random.gumbel(self.make_rng("gumbel"), (b, h, w, t), jnp.float32)
      else:
        g = joint_codec_gumbel(t, h, w, self.cfg.codec_seed)
      return joint_masks(self.joint_mask_logits(P, x_srgb), g)
    if training and gumbel is not None:
      if gumbel.shape != (t, b, h, w, 2):
        raise ShapeMismatchError(f"injected Gumbel noise {gumbel.shape}, expected {(t, b, h, w, 2)}")
      g = gumbel
    elif training:
      g = jax.random.gumbel(self.make_rng("gumbel"), (t, b, h, w, 2), jnp.float32)
    else:
      g = codec_gumbel(level, t, h, w, self.cfg.codec_seed)
    return self._level(level).masks(P, x_srgb, g)

  # --- full forward -----------------------------------------------------------------

  def __call__(
    self,
    x_raw: jax.Array,
    x_srgb: jax.Array,
    *,
    training: bool,
    drop_steps: int | jax.Array = 0,
    gamma: float | jax.Array = 0.0,
    draws: Mapping[str, jax.Array] | None = None,
  ) -> dict:
    """Full forward (training: rngs "gumbel" and "noise"; eval: deterministic).

    `draws`: optional injected training noise (module doc; keys in `DRAW_KEYS`), used
    instead of the rngs; only read when `training`.

    Returns:
      dict: x_hat (B, H, W, 3) not clamped; y, y_hat (B, H/4, W/4, C); z, z_hat
      (B, H/16, W/16, C); likelihoods {"hyper", "main"} float32 in [1e-7, 1] shaped like
      z / y; order {"hyper", "main"} int32 (B, h, w) (T = never coded).
    """
    m = self.cfg.size_multiple
    if x_raw.shape[1] % m or x_raw.shape[2] % m:
      raise ShapeMismatchError(
        f"H and W must be multiples of {m}, got {tuple(x_raw.shape[1:3])}")
    if x_srgb.shape != x_raw.shape:
      raise ShapeMismatchError(
        f"raw {tuple(x_raw.shape)} and sRGB {tuple(x_srgb.shape)} shapes differ")
    draws = dict(draws or {}) if training else {}
    if set(draws) - set(DRAW_KEYS):
      raise ValueError(f"unknown draws {sorted(set(draws) - set(DRAW_KEYS))}; expected {DRAW_KEYS}")
    draws = {k: _step_major(v) for k, v in draws.items()}
    c = self.cfg.latent_channels
    y, z = self.analysis(x_raw, x_srgb)
    if self.cvpr:
      if "gumbel_hyper" in draws:
        raise ValueError("cvpr23 has no hyper-level masks: gumbel_hyper cannot be injected")
      hyp = self.hyper_bottleneck(z, mode="ste" if training else "dequantize")
      hyp["q_map"] = jnp.zeros_like(z)
      order_h = jnp.zeros(z.shape[:3], jnp.int32)
    else:
      P_hyper = jnp.zeros(z.shape[:3] + (2 * c,), jnp.float32)
      masks_h = self._masks("hyper", P_hyper, x_srgb, training, draws.get("gumbel_hyper"))
      hyp = self.level_forward("hyper", z, P_hyper, x_srgb, masks_h, training=training)
      order_h = order_from_masks(masks_h)
    P_main = self.hyper_synthesis(hyp["u_hat"], x_srgb)
    masks_m = self._masks("main", P_main, x_srgb, training, draws.get("gumbel_main"))
    mn = self.level_forward(
      "main", y, P_main, x_srgb, masks_m,
      training=training, drop_steps=drop_steps, gamma=gamma, noise=draws.get("noise_main"),
    )
    x_hat = self.synthesis(mn["u_hat"], x_srgb)
    return {
      "x_hat": x_hat,
      "likelihoods": {"hyper": hyp["likelihoods"], "main": mn["likelihoods"]},
      "y": y,
      "z": z,
      "y_hat": mn["u_hat"],
      "z_hat": hyp["u_hat"],
      "q_map": {"hyper": hyp["q_map"], "main": mn["q_map"]},
      "order": {"hyper": order_h, "main": order_from_masks(masks_m)},
    }
