"""Building blocks of the R2LCM networks (NHWC, PyTorch-compatible semantics)."""

__all__: list[str] = []
