"""`r2lcm bench rd` with sRGB from third-party ISPs (darktable, RawTherapee): real renders,
several checkpoints, the fitted-map row, and the isp_inverse model kept to "ISP known"."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys

import jax
import pytest

from r2lcm_jax.codec.checkpoint import save_checkpoint
from r2lcm_jax.io.images import read_image
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

THIRD = "rawtherapee-default_png"


def _bench(args: list, repo_root, timeout: int) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "rd",
                         *map(str, args)], capture_output=True, text=True, env=env,
                        timeout=timeout, cwd=repo_root)


def _need(program: str) -> None:
  if shutil.which(program) is None:
    pytest.skip(f"{program} not installed (run `make isp-tools`)")


def test_third_party_variant_runs_every_method_but_the_isp_inverse_model(
    real_data, tmp_path, repo_root):
  _need("rawtherapee-cli")
  cfg = R2LCMConfig(N=8, latent_channels=4, num_steps=4, base="isp_inverse", coverage="full")
  save_checkpoint(tmp_path / "isp", init_params(cfg, jax.random.key(0)), cfg)
  out, work = tmp_path / "out", tmp_path / "work"
  tiny = repo_root / "tests" / "fixtures" / "tiny_real_checkpoint"
  r = _bench(["--quick", "--data", real_data, "--out", out, "--work", work, "--cameras", "imx135",
              "--crop", "64x96", "--isps", "rawtherapee,project", "--variants", "png",
              "--drop_steps", "0,3", "--gammas", "", "--sam_steps", "8,16",
              "--checkpoints", f"tiny={tiny},isp={tmp_path / 'isp'}"], repo_root, 600)
  assert r.returncode == 0, r.stderr[-3000:]

  with open(out / "results.csv") as f:
    rows = list(csv.DictReader(f))
  got = {(r["variant"], r["isp"], r["method"], r["setting"]) for r in rows}
  common = {("SAM", "step8"), ("SAM", "step16"), ("global map", "step8"), ("fitted map", "K17"),
            ("R2LCM[tiny]", "d0_g0"), ("R2LCM[tiny]", "d3_g0")}
  assert got == (
    {(THIRD, "rawtherapee:default", *k) for k in common | {("naive inverse (wrong ISP)", "")}}
    | {("png", "project", *k) for k in common | {("naive inverse", ""), ("R2LCM[isp]", "d0_g0"),
                                                 ("R2LCM[isp]", "d3_g0")}})
  assert all(r["name"].endswith("field_018_sensorname_sony_imx135") for r in rows)  # --quick: 1
  by = {(r["variant"], r["method"], r["setting"]): r for r in rows}
  # The fitted map adapts to each ISP: far above inverting the wrong ISP, for 310 bytes.
  fitted = by[(THIRD, "fitted map", "K17")]
  assert int(fitted["bytes"]) == 310
  assert float(fitted["psnr"]) > float(by[(THIRD, "naive inverse (wrong ISP)", "")]["psnr"]) + 3

  report = (out / "report.md").read_text()
  assert "## Headline: sRGB from ISPs the decoder does not know" in report
  assert f"| method | setting | `{THIRD}` |" in report
  assert f"- `{THIRD}`, R2LCM[tiny]: **" in report
  assert f"- `{THIRD}`, R2LCM[isp]: not run on this variant." in report
  assert "`R2LCM[isp]`: checkpoint" in report and "run on the ISP-known (project ISP) variants only" in report
  assert "| project (ISP known) |" in report and "rawtherapee 5." in report
  assert "| R2LCM[tiny] | rawtherapee-default_png | all |" in report or "(no BD-rate" in report
  for v in (THIRD, "png"):
    plot = read_image(out / f"rd_{v}.png")
    assert plot.ndim == 3 and plot.std() > 0
  manifest = json.loads((work / "data" / THIRD / "manifest.json").read_text())
  assert manifest["images"][0]["isp"]["tool"] == "rawtherapee"
  assert {p.name.split("_imx135_")[0] for p in (out / "error_maps").iterdir()} == {THIRD}


@pytest.mark.slow
def test_quick_run_with_every_third_party_style(real_data, tmp_path, repo_root):
  # ~2.5 min on 2 CPU cores: canon + imx135, one test image each, five ISPs at JPEG q90.
  _need("darktable-cli")
  _need("rawtherapee-cli")
  out = tmp_path / "out"
  r = _bench(["--quick", "--data", real_data, "--out", out], repo_root, 900)
  assert r.returncode == 0, r.stderr[-3000:]
  with open(out / "results.csv") as f:
    rows = list(csv.DictReader(f))
  third = ["darktable-default_q90", "darktable-local_q90", "rawtherapee-default_q90",
           "rawtherapee-drc_q90"]
  assert sorted({r["variant"] for r in rows}) == sorted([*third, "q90"])
  assert {r["camera"] for r in rows} == {"canon", "imx135"}
  report = (out / "report.md").read_text()
  for v in third:
    assert f"- `{v}`, R2LCM: **" in report
    assert (out / f"rd_{v}.png").is_file()
  assert "darktable 4." in report and "rawtherapee 5." in report
