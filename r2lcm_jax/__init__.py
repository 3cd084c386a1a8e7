"""r2lcm_jax: learned-metadata RAW image reconstruction in JAX/Flax.

Reimplements R2LCM (CVPR'23) and its IJCV'24 extension, PriorRAW (ACM MM'24), and a
parallel, byte-exact entropy coder for the metadata bitstream.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
