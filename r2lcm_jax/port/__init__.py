"""Conversion of official PyTorch R2LCM checkpoints to our parameter pytrees."""

__all__: list[str] = []
