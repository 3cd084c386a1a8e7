"""The fixed train / validation / test split of the real RAWs in `../shared/data/real`.

One rule, decided before any result was seen, applied by file name only:

* INTEL-TAU (Sony IMX135, camera "imx135"): by the file number `field_NNN`:
  001-014 train, 015-017 val, 018-020 test (as `experiments/configs/small_real.py`).
* GoPro (camera "gopro"; one colour calibration for all three files): the two GoPro
  Fusion fisheye frames `Fusion_GPFR7066` (front) and `Fusion_GPBK7066` (back) train, the
  HERO7 Black frame `HERO7_GOPR9231` tests. The HERO7 frame is the test frame because it
  has no black fisheye corners (the whole frame is image, so metrics need no mask), and the
  two Fusion frames, from the same camera body, stay together on one side.
* Canon (camera "canon", `colorchart.dng`): test only, a cross-camera test (no Canon
  image is ever trained on).
* Anything else in the folder (the Halide Bayer crop, unknown files) is not used.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

from r2lcm_jax.errors import InputError

__all__ = ["SPLITS", "SplitEntry", "split_of", "plan_splits"]

SPLITS = ("train", "val", "test")

_INTELTAU = re.compile(r"field_(\d{3})_.*\.png$", re.IGNORECASE)
_GOPRO = {"Fusion_GPFR7066": "train", "Fusion_GPBK7066": "train", "HERO7_GOPR9231": "test"}
_CANON = {"colorchart": "test"}


@dataclasses.dataclass(frozen=True)
class SplitEntry:
  """One input file and where the rule puts it.

  Attributes:
    path: the RAW (DNG) or INTEL-TAU PNG.
    camera: "imx135", "gopro" or "canon" (the dataset's camera folder name).
    split: "train", "val" or "test".
  """

  path: pathlib.Path
  camera: str
  split: str


def _inteltau_split(number: int) -> str | None:
  if 1 <= number <= 14:
    return "train"
  if 15 <= number <= 17:
    return "val"
  if 18 <= number <= 20:
    return "test"
  return None


def split_of(path: str | os.PathLike) -> tuple[str, str] | None:
  """(camera, split) of one file of the real-data folder, or None if it is not used.

  The folder the file sits in names the source ("inteltau", "gopro", "canon").
  """
  p = pathlib.Path(path)
  folder = p.parent.name.lower()
  if folder == "inteltau":
    m = _INTELTAU.search(p.name)
    if m is None or p.name.endswith("_metadata.json"):
      return None
    split = _inteltau_split(int(m.group(1)))
    return ("imx135", split) if split else None
  if folder == "gopro" and p.suffix.lower() == ".dng" and p.stem in _GOPRO:
    return "gopro", _GOPRO[p.stem]
  if folder == "canon" and p.suffix.lower() == ".dng" and p.stem in _CANON:
    return "canon", _CANON[p.stem]
  return None


def plan_splits(root: str | os.PathLike) -> list[SplitEntry]:
  """Every used file under `root` (the real-data folder) with its camera and split.

  Returns:
    Entries sorted by camera, split, then file name.

  Raises:
    InputError: `root` is not a folder, or it holds no test image.
  """
  root = pathlib.Path(root)
  if not root.is_dir():
    raise InputError(f"{root}: real-data folder not found")
  entries = []
  for sub in ("inteltau", "gopro", "canon"):
    folder = root / sub
    if not folder.is_dir():
      continue
    for f in sorted(folder.iterdir()):
      found = split_of(f) if f.is_file() else None
      if found is not None:
        entries.append(SplitEntry(f, *found))
  if not any(e.split == "test" for e in entries):
    raise InputError(f"{root}: no test image found (expected inteltau/, gopro/, canon/)")
  return sorted(entries, key=lambda e: (e.camera, SPLITS.index(e.split), e.path.name))
