"""The fixed split rule of the real RAWs (r2lcm_jax/benchmark/splits.py)."""

from __future__ import annotations

import pathlib

import pytest

from r2lcm_jax.benchmark.splits import plan_splits, split_of
from r2lcm_jax.errors import InputError


def _tau(n: int) -> str:
  return f"inteltau/S_IMX135_BLCCSC_field_{n:03d}_sensorname_sony_imx135.png"


@pytest.mark.parametrize("number,split", [(1, "train"), (14, "train"), (15, "val"), (17, "val"),
                                          (18, "test"), (20, "test")])
def test_inteltau_by_file_number(number, split):
  assert split_of(_tau(number)) == ("imx135", split)


def test_gopro_canon_and_unused_files():
  assert split_of("gopro/Fusion_GPFR7066.DNG") == ("gopro", "train")
  assert split_of("gopro/Fusion_GPBK7066.DNG") == ("gopro", "train")
  assert split_of("gopro/HERO7_GOPR9231.DNG") == ("gopro", "test")
  assert split_of("canon/colorchart.dng") == ("canon", "test")
  assert split_of(_tau(21)) is None
  assert split_of("inteltau/S_IMX135_BLCCSC_field_001_sensorname_sony_imx135_metadata.json") is None
  assert split_of("halide/bayer_small.png") is None
  assert split_of("gopro/OTHER.DNG") is None


def test_plan_of_the_real_folder(real_data):
  plan = plan_splits(real_data)
  by: dict[tuple[str, str], list[str]] = {}
  for e in plan:
    by.setdefault((e.camera, e.split), []).append(e.path.name)
  assert {k: len(v) for k, v in by.items()} == {
    ("imx135", "train"): 14, ("imx135", "val"): 3, ("imx135", "test"): 3,
    ("gopro", "train"): 2, ("gopro", "test"): 1, ("canon", "test"): 1}
  assert [n[22:25] for n in by[("imx135", "test")]] == ["018", "019", "020"]
  assert by[("gopro", "test")] == ["HERO7_GOPR9231.DNG"]
  # no file in two splits, the Canon never trained on
  assert len({e.path for e in plan}) == len(plan)
  assert all(e.split == "test" for e in plan if e.camera == "canon")


def test_missing_or_empty_folder(tmp_path: pathlib.Path):
  with pytest.raises(InputError, match="not found"):
    plan_splits(tmp_path / "absent")
  with pytest.raises(InputError, match="no test image"):
    plan_splits(tmp_path)
