"""Format freeze: a committed bitstream of the current version decodes and re-encodes
byte for byte; the version-2 file (same rANS payload, older container) still reads; the
committed version-1 file (raw int32 escapes) is refused clearly."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from r2lcm_jax.coding import backends, bitstream, rans_format, substreams
from r2lcm_jax.entropy.tables import CodingTables, build_gaussian_tables
from r2lcm_jax.errors import BitstreamError

FOLDER = pathlib.Path(__file__).with_name("golden")
GOLDEN = FOLDER / f"rans_v{bitstream.FORMAT_VERSION}.npz"


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


@pytest.mark.parametrize("name", ["numpy", "native", "jax"])
def test_golden_bitstream_decodes_and_reencodes_identically(golden, name):
  data, tables = golden
  blob = data["bitstream"].tobytes()
  header, groups = bitstream.unpack(blob)
  assert header.table_fingerprint == tables.fingerprint
  assert header.version == bitstream.FORMAT_VERSION
  assert header.coder_id == backends.CODER_RANS
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


def test_golden_exercises_escapes_of_every_varint_length(golden):
  data, tables = golden
  assert bitstream.FORMAT_VERSION >= 2  # varint escapes since version 2
  rt = rans_format.rans_tables(tables)
  codes = np.concatenate([
    rans_format.to_bins(data[f"{g}/symbols"], data[f"{g}/indexes"], rt)[1]
    for g in ("hyper/0", "main/0", "main/2")])
  lengths = {len(rans_format.escape_varints(np.array([c], np.uint64))) for c in codes}
  assert {1, 2, 3, 4, 5} <= lengths


def test_version_1_file_is_refused_with_the_reason():
  with np.load(FOLDER / "rans_v1.npz", allow_pickle=False) as z:
    blob = np.asarray(z["bitstream"]).tobytes()
  with pytest.raises(BitstreamError, match="version 1 .*no longer read"):
    bitstream.unpack(blob)


def test_version_2_file_still_reads_with_the_same_payload(golden):
  """Version 3 changed what the codec puts in groups (low bits beyond the tables), not
  the rANS substreams: the version-2 freeze of the same groups unpacks to the same ones."""
  data, _ = golden
  with np.load(FOLDER / "rans_v2.npz", allow_pickle=False) as z:
    old = np.asarray(z["bitstream"]).tobytes()
  header2, groups2 = bitstream.unpack(old)
  header3, groups3 = bitstream.unpack(data["bitstream"].tobytes())
  assert (header2.version, header3.version) == (2, 3)
  assert groups2 == groups3
