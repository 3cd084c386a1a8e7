"""r2lcm_jax: learned-metadata RAW image reconstruction in JAX/Flax.

What exists:
- R2LCM as extended in IJCV'24 ("Beyond Learned Metadata-based Raw Image Reconstruction",
  the official `learned_context_journal4`): the asymmetric hybrid-resolution backbone, the
  sRGB-guided context model with learned order masks, sRGB-guided adaptive quantisation
  and variable rate from one model (`models`, forward and training step checked against
  the official code), plus bases for sRGB from any ISP (`models.isp_base`);
- PriorRAW (ACM MM'24): reconstruction without per-image metadata (`prior`);
- a parallel, byte-exact rANS coder for the metadata bitstream (`coding`), with
  tensorflow-compression's range coder as a peer backend;
- baselines (naive inverse ISP, global maps, SAM, a U-Net) and benchmarks.
Not (yet) here: the CVPR'23 conference model (symmetric backbone, factorized hyper prior)
and its context-model ablations.

Importing the package sets XLA:CPU's faster convolution flag in XLA_FLAGS before JAX
starts (`r2lcm_jax.xla_setup`; opt out with R2LCM_KEEP_XLA_FLAGS=1).
"""

from r2lcm_jax import xla_setup as _xla_setup

_xla_setup.configure()

__version__ = "0.1.0"

__all__ = ["__version__"]
