"""`r2lcm bench overfit`: the verdict's criteria branch by branch, and one tiny end-to-end run
on a real darktable crop (real training step, eval forward, codec files, baselines)."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys

import pytest

from r2lcm_jax.io.images import read_image


def _diagnosis(repo_root):
  path = repo_root / "experiments" / "overfit_diagnosis.py"
  spec = importlib.util.spec_from_file_location("overfit_diagnosis_under_test", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


SAM = {"step": 8, "bpp": 0.76, "psnr": 50.0}


def _run(*, loss=(400.0, 200.0), eval_psnr=(42.0, 48.0, 51.0), eval_loss=(700.0, 300.0, 250.0),
         codec=(("d0_g0", 0.9, 51.2), ("d0_g2", 0.6, 50.8)), nonfinite=0):
  return {"train_loss_first": loss[0], "train_loss_last": loss[1], "steps": 200,
          "nonfinite": nonfinite, "eval_steps": [0, 100, 200][-len(eval_psnr):],
          "eval_loss": list(eval_loss), "eval_psnr": list(eval_psnr),
          "eval_psnr_final": eval_psnr[-1], "codec_psnr_final": codec[0][2] if codec else None,
          "codec_points": [{"setting": k, "bpp": b, "psnr": p} for k, b, p in codec]}


def test_verdict_branches(repo_root):
  d = _diagnosis(repo_root)
  # Beats SAM at gamma 2 (0.6 bpp <= 0.76, 50.8 dB > 50): pass, with that point.
  v = d.diagnose(_run(), SAM, base_psnr=47.0, probe=None)
  assert v["verdict"] == "pass" and v["best_point"]["setting"] == "d0_g2"
  # Higher PSNR but only at a higher rate: not a pass; without a probe, undiagnosed.
  slow = _run(codec=(("d0_g0", 0.9, 51.2),))
  assert d.diagnose(slow, SAM, 47.0, None)["verdict"] == "undiagnosed"
  # The probe cannot reach SAM's PSNR at any rate: capacity or optimisation.
  weak = _run(eval_psnr=(42.0, 48.0, 49.0), codec=(("d0_g0", 3.0, 49.5),))
  v = d.diagnose(slow, SAM, 47.0, weak)
  assert v["verdict"] == "capacity_or_optimisation" and v["probe_best_psnr"] == 49.5
  # The probe reaches it; the rate-constrained eval loss still falls: too few steps ...
  strong = _run(eval_psnr=(42.0, 50.0, 53.0), codec=(("d0_g0", 3.0, 53.5),))
  assert d.diagnose(slow, SAM, 47.0, strong)["verdict"] == "too_few_steps"
  # ... or has levelled off (< 2 % over the last quarter): the rate-distortion trade-off.
  flat = _run(eval_loss=(700.0, 250.0, 249.0), codec=(("d0_g0", 0.9, 51.2),))
  v = d.diagnose(flat, SAM, 47.0, strong)
  assert v["verdict"] == "rate_distortion_tradeoff"
  assert v["still_improving"]["from_step"] == 100 and not v["still_improving"]["improving"]


def test_bug_indicators_win_over_everything(repo_root):
  d = _diagnosis(repo_root)
  cases = {
    "loss_not_decreasing": _run(loss=(400.0, 390.0)),  # 2.5 % < 5 %
    "worse_than_base": _run(eval_psnr=(42.0, 46.0, 46.5)),  # base 47 dB, margin 0.1
    "codec_mismatch": _run(codec=(("d0_g0", 0.9, 49.0), ("d0_g2", 0.6, 50.8))),  # 2 dB < eval
    "nonfinite_steps": _run(nonfinite=5),  # 2.5 % of 200 steps
  }
  for name, run in cases.items():
    v = d.diagnose(run, SAM, 47.0, None)
    assert v["verdict"] == "likely_bug" and name in v["reason"], (name, v["reason"])
    assert [k for k, i in v["indicators"].items() if i["fired"]] == [name]
  # A model without a base has no worse_than_base criterion.
  assert "worse_than_base" not in d.diagnose(_run(), SAM, None, None)["indicators"]
  # A probe whose loss does not fall is a bug too, even if the main run is fine otherwise.
  v = d.diagnose(_run(codec=(("d0_g0", 0.9, 51.2),)), SAM, 47.0, _run(loss=(400.0, 399.0)))
  assert v["verdict"] == "likely_bug" and "probe:loss_not_decreasing" in v["reason"]
  # A non-finite loss never counts as a drop.
  assert d.run_indicators(_run(loss=(400.0, math.nan)), None)["loss_not_decreasing"]["fired"]


def _bench(args: list, repo_root, timeout: int) -> subprocess.CompletedProcess:
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", "bench", "overfit",
                         *map(str, args)], capture_output=True, text=True, env=env,
                        timeout=timeout, cwd=repo_root)


def test_bad_crop_is_refused_with_one_line(repo_root, tmp_path):
  r = _bench(["--crop", "100x100", "--out", tmp_path], repo_root, 120)
  assert r.returncode == 2 and "--crop='100x100'" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_tiny_end_to_end_run_on_a_real_darktable_crop(real_data, tmp_path, repo_root):
  # 4-5 min on the busy 2-core machine, ~2 min of CPU time, mostly XLA compilation (train
  # and eval steps of both runs, the codec's model functions twice): hence `slow`.
  if shutil.which("darktable-cli") is None:
    pytest.skip("darktable-cli not installed (run `make isp-tools`)")
  out = tmp_path / "out"
  r = _bench(["--data", real_data, "--config.model.N=8", "--config.model.latent_channels=4",
              "--crop", "64x64", "--steps", "4", "--eval_every", "2", "--codec_every", "0",
              "--end_gammas", "4", "--end_drops", "2", "--probe", "always", "--out", out],
             repo_root, 900)
  assert r.returncode == 0, r.stderr[-3000:]
  assert "darktable" in r.stdout and "**Verdict: `" in r.stdout

  with open(out / "curve.csv") as f:
    rows = list(csv.DictReader(f))
  evals = [(x["run"], int(x["step"])) for x in rows if x["eval_psnr"]]
  assert evals == [(run, s) for run in ("rate", "distortion_only") for s in (0, 2, 4)]
  codec = {(x["run"], x["codec_setting"]): x for x in rows if x["codec_psnr"]}
  assert set(codec) == {("rate", "d0_g0"), ("rate", "d0_g4"), ("rate", "d2_g0"),
                        ("distortion_only", "d0_g0")}
  for x in codec.values():  # bpp from the real file's bytes
    assert int(x["step"]) == 4
    assert float(x["codec_bpp"]) == pytest.approx(8 * int(x["codec_bytes"]) / (64 * 64), rel=1e-5)
    assert math.isfinite(float(x["codec_psnr"])) and float(x["codec_psnr"]) > 20
  by = {(x["run"], int(x["step"])): x for x in rows if x["eval_psnr"]}
  rate0, probe0 = by[("rate", 0)], by[("distortion_only", 0)]
  # Same initialisation, same deterministic eval: the probe's loss is the loss minus bpp.
  assert float(probe0["eval_psnr"]) == pytest.approx(float(rate0["eval_psnr"]), abs=1e-4)
  assert float(probe0["eval_loss"]) == pytest.approx(
    float(rate0["eval_loss"]) - float(rate0["eval_bpp"]), rel=1e-4)
  assert all(float(by[("rate", s)]["train_loss"]) > 0 for s in (2, 4))

  summary = json.loads((out / "summary.json").read_text())
  base = {(b["method"], b["setting"]): b for b in summary["baselines"]}
  assert base[("SAM", "step8")]["bytes"] == 20 + 6 * 8 * 8
  assert base[("fitted map", "K17")]["bytes"] == 310
  assert summary["sam_reference"]["step"] == 8
  assert summary["setup"]["model"]["base"] == "fitted" and summary["setup"]["init_from"] == "fresh"
  # The verdict is the diagnosis of the recorded numbers, not a separate opinion.
  d = _diagnosis(repo_root)
  again = d.diagnose(summary["runs"]["rate"], summary["sam_reference"],
                     base[("fitted map", "K17")]["psnr"], summary["runs"]["distortion_only"])
  assert again["verdict"] == summary["verdict"] and again["reason"] == summary["reason"]
  assert str(tmp_path) not in json.dumps(summary["setup"])  # no machine paths in the setup
  plot = read_image(out / "curve.png")
  assert plot.ndim == 3 and plot.std() > 0
  assert "| criterion | run | value | threshold | fired |" in (out / "summary.md").read_text()
