"""`experiments/fitted_map_forms.py`: every form is measured, and on a darktable render the
package's additive K=17 map beats the naive inverse of the project's ISP."""

from __future__ import annotations

import importlib.util
import shutil
import sys

import pytest

from r2lcm_jax.io.dng import dng_from_raw
from r2lcm_jax.io.raw import read_raw


def _load_script(repo_root):
  path = repo_root / "experiments" / "fitted_map_forms.py"
  spec = importlib.util.spec_from_file_location("fitted_map_forms_script", path)
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
  spec.loader.exec_module(module)
  return module


def test_every_form_is_measured_and_additive_beats_the_naive_inverse(real_data, tmp_path,
                                                                     repo_root):
  if shutil.which("darktable-cli") is None:
    pytest.skip("darktable-cli not installed (run `make isp-tools`)")
  script = _load_script(repo_root)
  raw = read_raw(real_data / "canon" / "colorchart.dng")
  h, w = raw.mosaic.shape
  crop = tmp_path / "chart_crop.dng"
  dng_from_raw(crop, raw, crop=((h - 256) // 4 * 2, (w - 384) // 4 * 2, 256, 384))
  forms = script.parse_forms("17", "5", "17")
  rows = script.run([crop], ["darktable:default"], ["png"], forms, tmp_path / "work")

  labels = [f.label for f in forms]
  assert {"additive K=17", "3D LUT 5^3", "curves+3x3 K=17"} <= set(labels)
  assert labels[-1].startswith("naive inverse")
  assert sorted(r["form"] for r in rows) == sorted(labels)
  table = "\n".join(script.report_lines(rows, forms, ["darktable:default"], ["png"]))
  for label in labels:
    assert f"| {label} |" in table
  psnr = {r["form"]: r["psnr"] for r in rows}
  size = {r["form"]: r["bytes"] for r in rows}
  assert size["additive K=17"] == 310 and size["3D LUT 5^3"] == 4 + 2 * 3 * 125
  assert psnr["additive K=17"] > psnr[labels[-1]] + 3.0, psnr

  script.write_results(tmp_path / "out", rows, ["# t", "", table])
  assert (tmp_path / "out" / "results.csv").read_text().count("\n") == len(labels) + 1
