"""Jit-compiled pieces of an R2LCM model, as the codec calls them.

One `ModelRunner` holds the parameters and one compiled function per model method; the
level argument is static, so each (method, level, shape) compiles once and is reused for
every step, every tile and every image of that size.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax import xla_setup
from r2lcm_jax.models.coding_order import DEFAULT_ORDER
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.params_io import model_fingerprint
from r2lcm_jax.models.r2lcm import R2LCM

__all__ = ["ModelRunner", "CODEC_COMPILER_OPTIONS"]

# XLA:CPU convolution path of every codec network, whatever XLA_FLAGS say: the same as
# --xla_cpu_experimental_ynn_fusion_type=-individual_convolution (r2lcm_jax.xla_setup), so
# encoder and decoder compute the same floats under either flag setting.
CODEC_COMPILER_OPTIONS = {xla_setup.FLAG_NAME: "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT"}


class ModelRunner:
  """Compiled analysis / synthesis / order-map / context-step functions of one model.

  Args:
    config: the model configuration.
    params: the model's parameter pytree (the "params" collection).
    scale_table: float32 (S,) the coding tables' scale table (for index selection).

  A cvpr23 model's tables end with its C factorized-bottleneck rows
  (`entropy.factorized.with_bottleneck_rows`): `scale_table` here keeps only the
  Gaussian rows, `bottleneck_row` is the first bottleneck row and `bottleneck_params`
  the bottleneck's float64 parameters (for rate estimates; `codec.bottleneck_coding`).
  """

  def __init__(self, config: R2LCMConfig, params, scale_table: np.ndarray):
    self.config = config
    self.model = R2LCM(config)
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self.model_fingerprint = model_fingerprint(
      jax.tree_util.tree_map(np.asarray, params)
    )
    self.scale_table = np.asarray(scale_table, np.float32)
    if config.arch == "cvpr23":
      from r2lcm_jax.entropy import factorized

      self.bottleneck_row = factorized.bottleneck_row_base(
        len(self.scale_table), config.latent_channels)
      self.scale_table = self.scale_table[: self.bottleneck_row]
      self.bottleneck_params = {k: np.asarray(v, np.float64)
                                for k, v in params["entropy_bottleneck"].items()}
    model = self.model

    def call(method, *args):
      return model.apply({"params": self.params}, *args, method=method)

    options = CODEC_COMPILER_OPTIONS if xla_setup.flag_is_known() else None
    jit = functools.partial(jax.jit, compiler_options=options)
    self._analysis_main = jit(functools.partial(call, lambda m, x, s: m.g_a(x, s)))
    self._analysis_hyper = jit(functools.partial(call, lambda m, y, s: m.h_a(y, s)))
    self._hyper_synthesis = jit(functools.partial(call, R2LCM.hyper_synthesis))
    self._synthesis = jit(functools.partial(call, R2LCM.synthesis))
    self._order_map = jit(
      lambda level, P, s, order: call(R2LCM.order_map, level, P, s, order),
      static_argnums=(0, 3),
    )
    self._entropy_parameters = jit(
      lambda level, *a: call(R2LCM.entropy_parameters, level, *a), static_argnums=0
    )

  @property
  def latent_channels(self) -> int:
    return self.config.latent_channels

  @property
  def num_steps(self) -> int:
    return self.config.num_steps

  @property
  def scale(self) -> int:
    """Image pixels per main-latent pixel (stride ** down_num)."""
    return self.config.stride ** self.config.down_num

  def analysis_main(self, x_raw: np.ndarray, x_srgb: np.ndarray) -> np.ndarray:
    """g_a: (1,H,W,3), (1,H,W,3) -> y float32 (1,H/4,W/4,C)."""
    return np.asarray(self._analysis_main(x_raw, x_srgb), np.float32)

  def analysis_hyper(self, y: np.ndarray, x_srgb: np.ndarray) -> np.ndarray:
    """h_a: y (1,H/4,W/4,C), sRGB (1,H,W,3) -> z float32 (1,H/16,W/16,C)."""
    return np.asarray(self._analysis_hyper(y, x_srgb), np.float32)

  def hyper_synthesis(self, z_hat: np.ndarray, x_srgb: np.ndarray) -> np.ndarray:
    """ẑ (1,H/16,W/16,C) -> P_main (1,H/4,W/4,2C)."""
    return np.asarray(self._hyper_synthesis(z_hat, x_srgb))

  def synthesis(self, y_hat: np.ndarray, x_srgb: np.ndarray) -> np.ndarray:
    """ŷ (1,h,w,C) -> x̂ (1,h·4,w·4,3)."""
    return np.asarray(self._synthesis(y_hat, x_srgb))

  def order_map(self, level: str, P: np.ndarray, x_srgb: np.ndarray,
                order: str = DEFAULT_ORDER) -> np.ndarray:
    """-> int32 (1,h,w) coding step of every position for a coding-order option
    (`models.coding_order`)."""
    return np.asarray(self._order_map(level, P, x_srgb, order))

  def entropy_parameters(self, level, u_hat, q_map, known, P, x_srgb):
    """One context step -> (σ, μ, q), each float32 (1,h,w,C)."""
    return tuple(
      np.asarray(a) for a in self._entropy_parameters(level, u_hat, q_map, known, P, x_srgb)
    )
