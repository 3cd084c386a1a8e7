"""Integer Gaussian-conditional tables: geometry, validity, fingerprint, storage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import special

from r2lcm_jax.entropy import tables as tables_lib
from r2lcm_jax.errors import CheckpointError


@pytest.fixture(scope="module")
def default_tables():
  return tables_lib.build_gaussian_tables()


def test_default_tables_have_the_official_geometry(default_tables):
  t = default_tables
  expected = np.exp(np.linspace(np.log(0.01), np.log(32.0), 64)).astype(np.float32)
  np.testing.assert_array_equal(t.scale_table, expected)
  mult = -special.ndtri(1e-9 / 2)
  c = np.ceil(t.scale_table.astype(np.float64) * mult).astype(np.int32)
  np.testing.assert_array_equal(t.offset, -c)
  np.testing.assert_array_equal(t.cdf_length, 2 * c + 3)
  assert t.cdf.shape == (64, 395)
  assert t.precision == 16


def test_every_symbol_has_frequency_at_least_one_and_rows_sum_to_precision(
    default_tables):
  t = default_tables
  tables_lib.validate_tables(t)
  for k in range(t.num_scales):
    row = t.cdf[k, : t.cdf_length[k]]
    assert row[0] == 0 and row[-1] == 1 << 16
    assert np.all(np.diff(row) >= 1)


def test_quantised_probabilities_cost_little_over_the_gaussian(default_tables):
  t = default_tables
  for k in (0, 10, 20, 30, 40, 50, 63):
    s = float(t.scale_table[k])
    support = np.arange(t.offset[k], t.offset[k] + t.cdf_length[k] - 2)
    p = tables_lib.gaussian_bin_pmf(s, support)
    q = np.diff(t.cdf[k, : t.cdf_length[k] - 1]) / 2.0**16
    entropy = special.entr(p).sum() / np.log(2)
    cross = -(special.xlogy(p, q)).sum() / np.log(2)
    assert cross - entropy < 1e-3 * max(entropy, 0.05) + 2e-4


def test_rebuilding_gives_identical_integers_and_fingerprint(default_tables):
  again = tables_lib.build_gaussian_tables()
  np.testing.assert_array_equal(again.cdf, default_tables.cdf)
  assert again.fingerprint == default_tables.fingerprint
  assert len(default_tables.fingerprint) == 32


def test_fingerprint_changes_when_any_coded_value_changes(default_tables):
  t = default_tables
  cdf = t.cdf.copy()
  cdf[5, 2] += 1
  changed = [
    dataclasses.replace(t, cdf=cdf),
    dataclasses.replace(t, offset=t.offset + np.int32(1)),
    dataclasses.replace(t, scale_table=np.nextafter(t.scale_table, np.float32(99))),
    tables_lib.build_gaussian_tables(precision=15),
  ]
  assert len({c.fingerprint for c in changed} | {t.fingerprint}) == 5


def test_small_precision_and_other_scales_build_valid_tables():
  t = tables_lib.build_gaussian_tables(0.11, 8.0, 16, tail_mass=2**-8, precision=10)
  tables_lib.validate_tables(t)
  assert t.cdf.shape[0] == 16 and t.precision == 10


def test_save_then_load_returns_identical_tables(tmp_path, default_tables):
  path = tmp_path / "tables.npz"
  tables_lib.save_tables(path, default_tables)
  loaded = tables_lib.load_tables(path)
  assert loaded.fingerprint == default_tables.fingerprint
  np.testing.assert_array_equal(loaded.cdf, default_tables.cdf)
  assert loaded.tail_mass == default_tables.tail_mass
  assert not (tmp_path / "tables.npz.tmp").exists()


def test_load_rejects_missing_garbled_and_tampered_files(tmp_path, default_tables):
  with pytest.raises(CheckpointError, match="not found"):
    tables_lib.load_tables(tmp_path / "absent.npz")
  garbled = tmp_path / "garbled.npz"
  garbled.write_bytes(b"PK\x03\x04 definitely not a zip")
  with pytest.raises(CheckpointError, match="garbled.npz"):
    tables_lib.load_tables(garbled)
  tampered = tmp_path / "tampered.npz"
  t = default_tables
  cdf = t.cdf.copy()
  cdf[3, 1], cdf[3, 2] = cdf[3, 1] + 1, cdf[3, 2]
  np.savez(tampered, cdf=cdf, cdf_length=t.cdf_length, offset=t.offset,
           scale_table=t.scale_table, precision=np.int32(16),
           tail_mass=np.float64(1e-9), fingerprint=np.frombuffer(t.fingerprint, np.uint8))
  with pytest.raises(CheckpointError, match="fingerprint mismatch"):
    tables_lib.load_tables(tampered)
  broken = tmp_path / "broken.npz"
  cdf[3, 2] = cdf[3, 1]  # zero-frequency symbol
  np.savez(broken, cdf=cdf, cdf_length=t.cdf_length, offset=t.offset,
           scale_table=t.scale_table, precision=np.int32(16),
           tail_mass=np.float64(1e-9), fingerprint=np.frombuffer(t.fingerprint, np.uint8))
  with pytest.raises(CheckpointError, match="invalid coding tables"):
    tables_lib.load_tables(broken)
