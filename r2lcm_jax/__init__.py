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
- R2LCM as published at CVPR'23, as a configuration of the same code
  (`R2LCMConfig(arch="cvpr23")`: symmetric backbone with learned sub-pixel upsampling,
  factorized hyper prior with optional saved channel mean, order masks predicted jointly
  from the hyper features). The conference class is not in the official repository:
  the backbone and hyper prior follow its shipped relative (`raw_checkboard.py`, layer
  shapes and parameter counts checked); the main level's context networks are the
  journal's;
- the context-model ablations: coding orders chosen at encode time (`--order`: learned,
  argmax, random sparse, checkerboard; `models.coding_order`) and the serial
  masked-convolution baseline (`R2LCMConfig(context="serial")`, measurement only);
- baselines (naive inverse ISP, global maps, SAM, a U-Net) and benchmarks.

Importing the package sets XLA:CPU's faster convolution flag in XLA_FLAGS before JAX
starts (`r2lcm_jax.xla_setup`; opt out with R2LCM_KEEP_XLA_FLAGS=1).
"""

from r2lcm_jax import xla_setup as _xla_setup

_xla_setup.configure()

__version__ = "0.1.0"

__all__ = ["__version__"]
