"""The application layer over the codec: files, evaluation, reports, export.

`r2lcm_jax.codec` is the algorithm a library user calls (arrays in, bytes out and back);
this package is what the command-line tools and the benchmarks do with it:

| module | job |
|---|---|
| `files` | RAW/DNG/sRGB files <-> `.r2lcm` files (atomic outputs, DNG on decode) |
| `evaluation` | a checkpoint over a dataset through real bitstreams on disk |
| `results` | the one measurement row (`Row`) and its CSV file |
| `figures` | the figure writer (atomic PNG) and the error-map figure |
| `export` | a training run's parameters -> a codec checkpoint folder |
"""
