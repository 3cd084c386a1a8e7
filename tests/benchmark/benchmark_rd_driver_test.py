"""`r2lcm bench rd` end to end on small INTEL-TAU crops (subprocess, as a user runs it)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from r2lcm_jax.io.images import read_image


@pytest.mark.slow  # bench rd end to end: tests/experiments/bench_rd_isps_test.py
def test_quick_driver_writes_table_plots_and_error_maps_from_real_runs(real_data, tmp_path, repo_root):
  out = tmp_path / "out"
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  args = ["bench", "rd", "--quick", "--data", real_data, "--out", out, "--cameras", "imx135",
          "--crop", "64x96", "--isps", "project", "--variants", "png,q50", "--max_test", "1",
          "--drop_steps", "0,3",
          "--gammas", "", "--sam_steps", "8,16", "--unet_steps", "2", "--unet_features", "4"]
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *map(str, args)],
                     capture_output=True, text=True, env=env, timeout=600, cwd=repo_root)
  assert r.returncode == 0, r.stderr[-3000:]

  with open(out / "results.csv") as f:
    rows = list(csv.DictReader(f))
  got = {(r["variant"], r["method"], r["setting"]) for r in rows}
  for v in ("png", "q50"):
    assert {(v, "R2LCM", "d0_g0"), (v, "R2LCM", "d3_g0"), (v, "SAM", "step8"), (v, "SAM", "step16"),
            (v, "global map", "step8"), (v, "fitted map", "K17"), (v, "naive inverse", ""),
            (v, "U-Net", "")} == {
      k for k in got if k[0] == v}
  assert all(r["camera"] == "imx135" and r["name"].endswith("field_018_sensorname_sony_imx135")
             and r["isp"] == "project" for r in rows)
  by = {(r["variant"], r["method"], r["setting"]): r for r in rows}
  # Rates come from real files: SAM step 8 on 64x96 = 8x12 samples x 6 B + 20 B of header/CRC.
  assert int(by[("png", "SAM", "step8")]["bytes"]) == 8 * 12 * 6 + 20
  # (On a 64x96 crop the tiny model's bitstream is mostly container overhead, so dropping
  # steps may not shrink it; it must not grow.)
  assert int(by[("png", "R2LCM", "d0_g0")]["bytes"]) >= int(by[("png", "R2LCM", "d3_g0")]["bytes"]) > 0
  assert float(by[("png", "naive inverse", "")]["bpp_metadata"]) == 0.0
  # The fitted map: 9 x 17 int16 + its 4-byte header, whatever the ISP.
  assert int(by[("png", "fitted map", "K17")]["bytes"]) == 310
  # The JPEG variant stores fewer sRGB bytes, and every reconstruction is a real estimate.
  assert (float(by[("q50", "naive inverse", "")]["bpp_with_srgb"])
          < float(by[("png", "naive inverse", "")]["bpp_with_srgb"]))
  assert all(20 < float(r["psnr"]) < 100 for r in rows)

  report = (out / "report.md").read_text()
  assert "| R2LCM | d0_g0 |" in report and "| SAM | step8 |" in report
  assert "BD-rate" in report and "target" in report
  for v in ("png", "q50"):
    plot = read_image(out / f"rd_{v}.png")
    assert plot.ndim == 3 and plot.shape[0] > 200 and plot.std() > 0
  maps = sorted(p.name for p in (out / "error_maps").iterdir())
  assert len(maps) == 7 and all(m.startswith("png_imx135_") for m in maps), maps


@pytest.mark.slow
def test_driver_trains_r2lcm_without_checkpoint_and_exports_it(real_data, tmp_path, repo_root):
  # ~2.5 min on 2 CPU cores (compiling the training step dominates).
  out = tmp_path / "out"
  # The model over the naive inverse ISP, trained on two sRGB variants at once.
  args = ["bench", "rd", "--data", real_data, "--out", out, "--cameras", "imx135",
          "--crop", "128x192", "--isps", "project", "--variants", "png,q50",
          "--train_variant", "png,q50",
          "--max_test", "1",
          "--r2lcm_config", "experiments/configs/rd_real.py:N=8,latent_channels=4,patch_size=48,"
          "batch_size=4,base=isp_inverse,coverage=full", "--r2lcm_steps", "4",
          "--drop_steps", "0", "--gammas", "",
          "--sam_steps", "8", "--unet_steps", "0"]
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *map(str, args)],
                     capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                     timeout=900, cwd=repo_root)
  assert r.returncode == 0, r.stderr[-3000:]
  assert {p.name for p in (out / "r2lcm_checkpoint").iterdir()} >= {
    "config.json", "params.msgpack", "tables.npz"}
  report = (out / "report.md").read_text()
  assert "R2LCM trained here" in report and "4 steps (N=8, C=4, T=4" in report
  assert "base isp_inverse) on the train split of `png`, `q50`" in report
  assert json.loads((out / "r2lcm_checkpoint" / "config.json").read_text())[
    "config"]["base"] == "isp_inverse"
  with open(out / "results.csv") as f:
    methods = {r["method"] for r in csv.DictReader(f)}
  assert methods == {"R2LCM", "SAM", "global map", "fitted map", "naive inverse"}


@pytest.mark.slow
def test_driver_trains_prior_raw_on_the_train_split_and_scores_it_on_every_variant(
    real_data, tmp_path, repo_root):
  out, work = tmp_path / "out", tmp_path / "work"
  args = ["bench", "rd", "--quick", "--data", real_data, "--out", out, "--work", work,
          "--cameras", "imx135", "--crop", "64x96", "--isps", "project", "--variants", "png,q50",
          "--max_test", "1", "--drop_steps", "0", "--gammas", "", "--sam_steps", "8",
          "--unet_steps", "0",
          "--prior_config", "experiments/configs/prior_small_real.py:clusters=300,group_size=50",
          "--prior_steps", "2"]
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *map(str, args)],
                     capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                     timeout=900, cwd=repo_root)
  assert r.returncode == 0, r.stderr[-3000:]
  # The three stages wrote their files into the work folder.
  assert {"encoder.msgpack", "prior.npz", "model.msgpack", "encoder", "reconstructor"} <= {
    p.name for p in (work / "prior").iterdir()}
  with open(out / "results.csv") as f:
    rows = list(csv.DictReader(f))
  prior = [r for r in rows if r["method"] == "PriorRAW"]
  assert sorted(r["variant"] for r in prior) == ["png", "q50"]
  for row in prior:
    assert row["setting"] == "" and row["bytes"] == "0" and float(row["bpp_metadata"]) == 0.0
    assert 10 < float(row["psnr"]) < 100 and 0 < float(row["ssim"]) <= 1
  assert {r["method"] for r in rows} == {"R2LCM", "SAM", "global map", "fitted map",
                                         "naive inverse", "PriorRAW"}
  report = (out / "report.md").read_text()
  assert "| PriorRAW | - |" in report
  # 14 train images (001-014), 3 val (015-017); 2 steps per stage; <= 300 prior entries.
  assert ("PriorRAW trained here: config `experiments/configs/prior_small_real.py:clusters=300,"
          "group_size=50`, on 14 train images (`png` variant; validation 3 images); encoder 2 "
          "steps") in report
  assert "reconstructor 2 steps" in report and "k-means 300, groups of 50" in report
  assert any(p.name.endswith("_priorraw.png") for p in (out / "error_maps").iterdir())


@pytest.mark.parametrize("flags, message", [
  (["--prior_steps", "3"], "needs --prior_config"),
  (["--prior_config", "experiments/configs/prior_small_real.py", "--prior_steps", "-1"],
   "must be >= 0"),
  (["--prior_config", "experiments/configs/absent.py"], "absent.py not found"),
  (["--prior_config", "experiments/configs/rd_real.py"], "not a PriorRAW config"),
  (["--isps", "darktable:local,gimp"], "--isps='darktable:local,gimp': ISP 'gimp': unknown; "
   "valid: project, darktable:default"),
  (["--checkpoints", "fitted"], "--checkpoints='fitted': expected NAME=DIR,NAME=DIR"),
  (["--train_variant", "darktable-loc_q90"], "expected png, qNN or TOOL-STYLE_FORMAT"),
])
def test_prior_flags_are_checked_before_anything_runs(tmp_path, repo_root, flags, message):
  args = ["bench", "rd", "--data", tmp_path / "no_data", "--out", tmp_path / "out", *flags]
  r = subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *map(str, args)],
                     capture_output=True, text=True, env=dict(os.environ, JAX_PLATFORMS="cpu"),
                     timeout=120, cwd=repo_root)
  assert r.returncode == 2 and message in r.stderr, r.stderr[-2000:]
  assert len(r.stderr.strip().splitlines()) == 1
  assert not (tmp_path / "out").exists()
