"""R2LCM models: configuration, transforms, order masks, context model, full model."""

from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.r2lcm import R2LCM

__all__ = ["R2LCMConfig", "R2LCM"]
