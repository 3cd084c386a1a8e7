"""The verdict of `r2lcm bench overfit`: computed criteria, no hand-written conclusions.

A model trained on one crop and nothing else should code that crop better than SAM (raw
samples on a grid, `baselines/sam.py`) at SAM's rate or lower. `diagnose` decides, from
the measured numbers only, which of these holds:

  pass                    the rate-constrained run beats SAM's PSNR at SAM's bpp or lower
                          (some real-codec point at the end: bpp <= SAM's, PSNR > SAM's),
                          and no bug indicator fired.
  likely_bug              a bug indicator fired (below), whatever the PSNR.
  capacity_or_optimisation  the distortion-only probe (same model, same steps, rate weight
                          0) cannot reach SAM's PSNR at any rate on the image it trains on.
  too_few_steps           the probe reaches SAM's PSNR, the rate-constrained run does not,
                          and its eval loss was still falling over the last quarter.
  rate_distortion_tradeoff  the probe reaches SAM's PSNR, the rate-constrained run does not,
                          and its eval loss has levelled off: the operating point of this
                          lmbda (a larger lmbda moves it towards distortion).
  undiagnosed             SAM not beaten and no probe was run (--probe never).

Bug indicators (each computed on the rate-constrained run, and on the probe when run):

  loss_not_decreasing     mean training loss of the last eval window is not at least
                          LOSS_DROP_MIN (relative) below that of the first window;
  worse_than_base         (models with a base) the final eval PSNR of the crop it trained on
                          is more than BASE_MARGIN_DB below the base alone (the network can
                          output zero and get the base);
  codec_mismatch          the real codec's PSNR (gamma 0, same parameters) is more than
                          CODEC_GAP_DB below the eval forward's: encoder/decoder and
                          training model disagree;
  nonfinite_steps         more than NONFINITE_MAX of the steps had a non-finite loss or
                          gradient (skipped by the train step).

Every input is a plain number or dict (this file is loaded by path, without a package).
"""

from __future__ import annotations

import math

__all__ = ["LOSS_DROP_MIN", "BASE_MARGIN_DB", "CODEC_GAP_DB", "NONFINITE_MAX", "TAIL_FRACTION",
           "TAIL_LOSS_DROP", "run_indicators", "beats_reference", "still_improving",
           "best_psnr", "diagnose"]

LOSS_DROP_MIN = 0.05  # relative drop of the training loss, first window -> last window
BASE_MARGIN_DB = 0.1  # final eval PSNR may sit this far below the base alone
CODEC_GAP_DB = 1.0  # codec PSNR (gamma 0) may sit this far below the eval forward's
NONFINITE_MAX = 0.01  # fraction of steps with a non-finite loss or gradient
TAIL_FRACTION = 0.25  # "the last quarter" of the steps
TAIL_LOSS_DROP = 0.02  # relative eval-loss drop over the tail that counts as still improving


def _finite(v) -> bool:
  return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def run_indicators(run: dict, base_psnr: float | None) -> dict:
  """Bug indicators of one training run.

  Args:
    run: {"train_loss_first", "train_loss_last": mean training loss of the first / last
      eval window; "eval_psnr_final": eval PSNR (dB) at the last step; "codec_psnr_final":
      real-codec PSNR at gamma 0 at the last step (None if not measured); "nonfinite":
      steps with a non-finite loss or gradient; "steps": steps run}.
    base_psnr: PSNR of the base alone (the fitted map) for models with a base, else None.

  Returns:
    {name: {"fired": bool, "value": measured number, "threshold": the limit, "rule": text}}.
  """
  out = {}
  first, last = run["train_loss_first"], run["train_loss_last"]
  drop = (first - last) / abs(first) if _finite(first) and _finite(last) and first else float("nan")
  out["loss_not_decreasing"] = {
    "fired": not (_finite(drop) and drop >= LOSS_DROP_MIN), "value": drop,
    "threshold": LOSS_DROP_MIN,
    "rule": "relative drop of the mean training loss, first eval window -> last, below the "
            "threshold (or not finite)"}
  if base_psnr is not None:
    gap = run["eval_psnr_final"] - base_psnr if _finite(run["eval_psnr_final"]) else float("nan")
    out["worse_than_base"] = {
      "fired": not (_finite(gap) and gap >= -BASE_MARGIN_DB), "value": gap,
      "threshold": -BASE_MARGIN_DB,
      "rule": "final eval PSNR minus the base alone (dB) below the threshold"}
  codec = run.get("codec_psnr_final")
  if codec is not None:
    gap = codec - run["eval_psnr_final"] if _finite(run["eval_psnr_final"]) else float("nan")
    out["codec_mismatch"] = {
      "fired": not (_finite(gap) and gap >= -CODEC_GAP_DB), "value": gap,
      "threshold": -CODEC_GAP_DB,
      "rule": "real-codec PSNR (gamma 0) minus eval-forward PSNR at the last step (dB) "
              "below the threshold"}
  frac = run["nonfinite"] / max(1, run["steps"])
  out["nonfinite_steps"] = {
    "fired": frac > NONFINITE_MAX, "value": frac, "threshold": NONFINITE_MAX,
    "rule": "fraction of steps with a non-finite loss or gradient above the threshold"}
  return out


def beats_reference(points: list[dict], reference: dict) -> dict | None:
  """The best codec point at the reference's bpp or lower with a higher PSNR, or None.

  points: [{"bpp", "psnr", ...}] (real-codec measurements); reference: {"bpp", "psnr"}.
  "Best" = highest PSNR among the qualifying points.
  """
  ok = [p for p in points if p["bpp"] <= reference["bpp"] and p["psnr"] > reference["psnr"]]
  return max(ok, key=lambda p: p["psnr"]) if ok else None


def still_improving(steps: list[int], eval_loss: list[float]) -> dict:
  """Whether the eval loss still fell over the last TAIL_FRACTION of the steps.

  steps, eval_loss: the eval points (step 0 included), in order.

  Returns:
    {"value": relative drop over the tail, "threshold": TAIL_LOSS_DROP, "improving": bool,
    "from_step": the step the tail starts at}.
  """
  end = steps[-1]
  start = end - TAIL_FRACTION * end
  i = max((k for k, s in enumerate(steps) if s <= start), default=0)
  a, b = eval_loss[i], eval_loss[-1]
  drop = (a - b) / abs(a) if _finite(a) and _finite(b) and a else float("nan")
  return {"value": drop, "threshold": TAIL_LOSS_DROP, "from_step": steps[i],
          "improving": _finite(drop) and drop >= TAIL_LOSS_DROP}


def best_psnr(run: dict) -> float:
  """The highest PSNR a run reached: eval forward at any eval point, or the real codec."""
  vals = [v for v in [*run["eval_psnr"], *(p["psnr"] for p in run.get("codec_points", []))]
          if _finite(v)]
  return max(vals) if vals else float("nan")


def diagnose(main: dict, sam: dict, base_psnr: float | None, probe: dict | None) -> dict:
  """The verdict (module doc) from the measured numbers.

  Args:
    main: the rate-constrained run: the keys of `run_indicators`, plus "eval_steps",
      "eval_loss", "eval_psnr" (lists over the eval points) and "codec_points" (the real
      codec at the last step, every rate setting: [{"setting", "bpp", "psnr"}]).
    sam: the SAM reference point {"bpp", "psnr", "step"}.
    base_psnr: PSNR of the base alone (models with a base), else None.
    probe: the distortion-only run (same keys as `main`), or None if not run.

  Returns:
    {"verdict", "reason", "beats_sam", "best_point", "indicators", "probe_indicators",
    "probe_best_psnr", "still_improving"}; every criterion with its value and threshold.
  """
  ind = run_indicators(main, base_psnr)
  pind = run_indicators(probe, base_psnr) if probe is not None else {}
  best = beats_reference(main["codec_points"], sam)
  tail = still_improving(main["eval_steps"], main["eval_loss"])
  out = {"beats_sam": best is not None, "best_point": best, "indicators": ind,
         "probe_indicators": pind, "still_improving": tail,
         "probe_best_psnr": best_psnr(probe) if probe is not None else None}
  fired = [k for k, v in ind.items() if v["fired"]]
  # In the probe the rate term is off: only "the loss does not fall" and non-finite steps
  # speak of a bug there (its codec rate is unconstrained, its PSNR is what we measure).
  pfired = [k for k in ("loss_not_decreasing", "nonfinite_steps") if pind.get(k, {}).get("fired")]
  ref = f"SAM step {sam['step']} ({sam['psnr']:.2f} dB at {sam['bpp']:.3f} bpp)"
  if fired or pfired:
    names = ", ".join(fired + [f"probe:{k}" for k in pfired])
    out.update(verdict="likely_bug", reason=f"bug indicator(s) fired: {names}")
  elif best is not None:
    out.update(verdict="pass", reason=(
      f"beats {ref}: {best['psnr']:.2f} dB at {best['bpp']:.3f} bpp (rate setting "
      f"{best['setting']})"))
  elif probe is None:
    out.update(verdict="undiagnosed", reason=f"does not beat {ref}; the distortion-only probe "
               "was not run")
  elif not out["probe_best_psnr"] > sam["psnr"]:
    out.update(verdict="capacity_or_optimisation", reason=(
      f"does not beat {ref}, and even without the rate term the same model reaches only "
      f"{out['probe_best_psnr']:.2f} dB on the crop it trains on"))
  elif tail["improving"]:
    out.update(verdict="too_few_steps", reason=(
      f"does not beat {ref}; without the rate term it reaches {out['probe_best_psnr']:.2f} dB, "
      f"and the rate-constrained eval loss still fell {100 * tail['value']:.1f} % over the "
      f"last quarter (>= {100 * TAIL_LOSS_DROP:.0f} %)"))
  else:
    out.update(verdict="rate_distortion_tradeoff", reason=(
      f"does not beat {ref}; without the rate term it reaches {out['probe_best_psnr']:.2f} dB, "
      f"but the rate-constrained eval loss has levelled off ({100 * tail['value']:.1f} % over "
      f"the last quarter, < {100 * TAIL_LOSS_DROP:.0f} %): the operating point of this lmbda"))
  return out
