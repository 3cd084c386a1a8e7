"""Baselines of raw reconstruction from sRGB: SAM metadata, global mapping, naive inverse,
U-Net, PriorRAW.

Every baseline follows `base.Baseline`: `encode(raw_rgb, srgb) -> bytes` (the metadata,
b"" for 0-bpp methods) and `reconstruct(srgb, metadata) -> raw_rgb`.
"""
