"""The metadata codec: compress (RAW, sRGB) into a `.r2lcm` bitstream and back.

The algorithm a library user calls, arrays in and bytes out (`codec.compress_image`,
`codec.decompress_image`); files, evaluation, reports and export live one layer up in
`r2lcm_jax.app`.
"""
