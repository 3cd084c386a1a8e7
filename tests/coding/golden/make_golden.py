"""Writes `rans_v<FORMAT_VERSION>.npz`: a frozen bitstream of the current format version
and what it codes (older files stay in this folder: the tests check they are refused).

Run only when the format version changes on purpose:
  .venv/bin/python tests/coding/golden/make_golden.py
The file holds the coding tables, per group the symbols and indexes, and the `.r2lcm`
bytes written by the NumPy coder; `golden_test.py` checks that today's code decodes it
and re-encodes the symbols to the same bytes.
"""

import pathlib

import numpy as np

from r2lcm_jax.coding import backends, bitstream, substreams
from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.entropy.tables import build_gaussian_tables

GROUPS = {"hyper/0": (96, 1, 1), "main/0": (3000, 2, 8), "main/1": (0, 1, 4),
          "main/2": (5000, 3, 16)}  # name: (symbols, substreams, lanes)


def main() -> None:
  tables = build_gaussian_tables()
  rng = np.random.default_rng(20261122)
  backend = backends.get_backend("numpy")
  arrays, groups = {}, []
  for name, (n, k, lanes) in GROUPS.items():
    idx = rng.integers(0, 64, n).astype(np.int32)
    sym = np.rint(rng.normal(0, tables.scale_table[idx] * 1.2)).astype(np.int32)
    if n:
      sym[:: max(1, n // 7)] = [2**31 - 1, -2**31, 3_000_000, -250, 40000, 7, -9, 1][: sym[
        :: max(1, n // 7)].size]
    arrays[f"{name}/symbols"] = sym
    arrays[f"{name}/indexes"] = idx
    est = lanes * k * substreams.LANE_COST_BITS / substreams.OVERHEAD_BUDGET
    groups.append(bitstream.Group(name, substreams.encode_group(
      sym, idx, tables, num_substreams=k, backend=backend, lanes=lanes, est_bits=est)))
  header = bitstream.Header(
    coder_id=backends.CODER_RANS, table_fingerprint=tables.fingerprint,
    model_fingerprint=sha256_fingerprint(b"golden model"),
    srgb_fingerprint=sha256_fingerprint(b"golden srgb"), image_hw=(250, 333),
    padded_hw=(256, 336), crop=(3, 1, 250, 333), latent_shapes=((4, 6, 4), (64, 84, 8)),
    num_steps=4, drop_steps=1, gamma_milli=500, lanes=16)
  data = bitstream.pack(header, groups)
  out = pathlib.Path(__file__).with_name(f"rans_v{bitstream.FORMAT_VERSION}.npz")
  np.savez_compressed(
    out, bitstream=np.frombuffer(data, np.uint8), cdf=tables.cdf,
    cdf_length=tables.cdf_length, offset=tables.offset, scale_table=tables.scale_table,
    **arrays)
  print(f"wrote {out} ({len(data)} bytes of bitstream)")


if __name__ == "__main__":
  main()
