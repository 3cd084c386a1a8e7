"""Format freeze: a committed version-1 bitstream decodes and re-encodes byte for byte."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from r2lcm_jax.coding import backends, bitstream, substreams
from r2lcm_jax.entropy.tables import CodingTables, build_gaussian_tables

GOLDEN = pathlib.Path(__file__).with_name("golden") / "rans_v1.npz"


@pytest.fixture(scope="module")
def golden():
  with np.load(GOLDEN, allow_pickle=False) as z:
    data = {k: np.asarray(z[k]) for k in z.files}
  tables = CodingTables(cdf=data["cdf"], cdf_length=data["cdf_length"],
                        offset=data["offset"], scale_table=data["scale_table"],
                        precision=16, tail_mass=1e-9)
  return data, tables


def test_default_tables_are_still_built_bit_identically(golden):
  _, tables = golden
  assert build_gaussian_tables().fingerprint == tables.fingerprint


@pytest.mark.parametrize("name", ["numpy", "jax"])
def test_golden_bitstream_decodes_and_reencodes_identically(golden, name):
  data, tables = golden
  blob = data["bitstream"].tobytes()
  header, groups = bitstream.unpack(blob)
  assert header.table_fingerprint == tables.fingerprint
  assert header.version == 1 and header.coder_id == backends.CODER_RANS
  backend = backends.backend_for_coder(header.coder_id, prefer=name)
  rebuilt = []
  for g in groups:
    sym, idx = data[f"{g.name}/symbols"], data[f"{g.name}/indexes"]
    out = substreams.decode_group(g.substreams, idx, tables, backend=backend)
    np.testing.assert_array_equal(out, sym)
    lanes = [int.from_bytes(s[:2], "little") for s in g.substreams if s]
    again = backend.encode_substreams(
      [(sym[a:b], idx[a:b]) for a, b in zip(
        substreams.split_indices(sym.size, len(g.substreams))[:-1],
        substreams.split_indices(sym.size, len(g.substreams))[1:], strict=True)],
      tables, lanes=max(lanes, default=1))
    rebuilt.append(bitstream.Group(g.name, again))
  assert bitstream.pack(header, rebuilt) == blob
