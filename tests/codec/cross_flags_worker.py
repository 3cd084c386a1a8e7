"""Subprocess half of `cross_flags_test.py`: codec runs under this process's XLA_FLAGS.

    python cross_flags_worker.py MODEL IMAGE OUTDIR TAG [--encode] [--decode STREAM]
                                 [--replay RECORD]

MODEL is a packaged model name ("default", "isp_known"), IMAGE an INTEL-TAU PNG (the
whole 256x384 frame; sRGB by the project's ISP from its own parameters, which models
with base "isp_inverse" also get). Writes into OUTDIR:

* `--encode`: TAG.r2lcm (the bitstream at the model's `rate.json` operating point),
  TAG.enc.npz (the encoder's y_hat, z_hat), TAG.record.npz (every model call the
  decoder repeats, see `Recorder`) and TAG.self.npz (that bitstream decoded in this
  process: raw, y_hat, z_hat);
* `--decode STREAM`: TAG.cross.npz, STREAM decoded in this process (or, where decoding
  fails with an R2lcmError, its message as "error");
* `--replay RECORD`: TAG.replay.npz, the model calls of another process's record re-run
  here on that record's inputs, so two flag settings are compared on identical inputs.

`tests/gpu/codec_gpu_test.py` uses `Recorder`, `replay` and `differences` in-process to
compare CPU and GPU the same way.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from r2lcm_jax.app.files import load_runner
from r2lcm_jax.codec import codec, geometry
from r2lcm_jax.codec.checkpoint import resolve_checkpoint
from r2lcm_jax.codec.latent_coding import RateSettings
from r2lcm_jax.data.sources import load_source
from r2lcm_jax.entropy import indexes as entropy_indexes
from r2lcm_jax.errors import R2lcmError
from r2lcm_jax.io import images
from r2lcm_jax.isp.pipeline import render_srgb
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.context_model import gamma_applies

_STEP_INPUTS = ("u_hat", "q_map", "known", "P")


def _f16(a) -> np.ndarray:
  return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


class Recorder:
  """A ModelRunner that records the calls whose results both sides must agree on.

  Keys of `calls`: "LEVEL/order" int32 (1, h, w) and its input "LEVEL/order/P";
  "hyper_synthesis" (1, h, w, 2C) and its input "hyper_synthesis/z_hat"; per context
  step "LEVEL/I/{sigma,mu,q}" float32 (1, h, w, C) rounded through float16 as the codec
  does, "LEVEL/I/index" int32 (h, w, C) the scale indexes of the positions coded at that
  step (0 elsewhere), and the step's inputs "LEVEL/I/in/{u_hat,q_map,known,P}".
  """

  def __init__(self, runner, rate: RateSettings, orders: dict | None = None):
    self._runner = runner
    self._rate = rate
    self._orders = dict(orders or {})  # fixed orders (replay) else the computed ones
    self._steps: dict[str, int] = {}
    self.calls: dict[str, np.ndarray] = {}

  def __getattr__(self, name):
    return getattr(self._runner, name)

  def order_map(self, level, P, srgb):
    out = np.asarray(self._runner.order_map(level, P, srgb))
    self.calls[f"{level}/order/P"] = np.asarray(P)
    self.calls[f"{level}/order"] = out
    self._orders.setdefault(level, out[0])
    return out

  def hyper_synthesis(self, z_hat, srgb):
    out = np.asarray(self._runner.hyper_synthesis(z_hat, srgb))
    self.calls["hyper_synthesis/z_hat"] = np.asarray(z_hat)
    self.calls["hyper_synthesis"] = out
    return out

  def entropy_parameters(self, level, u_hat, q_map, known, P, srgb):
    out = self._runner.entropy_parameters(level, u_hat, q_map, known, P, srgb)
    i = self._steps.get(level, 0)
    self._steps[level] = i + 1
    key = f"{level}/{i}"
    for name, a in zip(_STEP_INPUTS, (u_hat, q_map, known, P), strict=True):
      self.calls[f"{key}/in/{name}"] = np.array(a)
    sigma, mu, q = (_f16(a) for a in out)
    self.calls[f"{key}/sigma"], self.calls[f"{key}/mu"] = sigma, mu
    self.calls[f"{key}/q"] = q
    self.calls[f"{key}/index"] = self._indexes(level, i, sigma[0], q[0])
    return out

  def _indexes(self, level, i, sigma, q):
    sel = self._orders[level] == i
    if gamma_applies(level, i, self.num_steps, self._rate.drop_steps):
      q = (q + np.float32(self._rate.gamma)).astype(np.float32)
    idx = np.zeros(q.shape, np.int32)
    idx[sel] = entropy_indexes.scale_indexes(sigma[sel], q[sel], self.scale_table)
    return idx


def _image(path: str):
  """(raw float32 (H, W, 3), sRGB uint8 (H, W, 3), ISP params or None)."""
  src = load_source(pathlib.Path(path))
  return src.raw_rgb, render_srgb(src.raw_rgb, src.params), src.params


def replay(runner, rate: RateSettings, calls: dict, srgb_padded: np.ndarray) -> dict:
  """Re-runs the model calls of a record (`Recorder.calls`) on its inputs.

  Uses the record's order maps to select each step's positions, so the scale indexes
  are compared on the same positions. Returns the new `Recorder.calls`.
  """
  orders = {level: calls[f"{level}/order"][0] for level in ("hyper", "main")}
  rec = Recorder(runner, rate, orders)
  for level in ("hyper", "main"):
    rec.order_map(level, calls[f"{level}/order/P"], srgb_padded)
    if level == "main":
      rec.hyper_synthesis(calls["hyper_synthesis/z_hat"], srgb_padded)
    for i in range(runner.num_steps):
      inputs = (calls[f"{level}/{i}/in/{n}"] for n in _STEP_INPUTS)
      rec.entropy_parameters(level, *inputs, srgb_padded)
  return rec.calls


def differences(record: dict, replayed: dict) -> list[str]:
  """One line per recorded call whose result differs: 'KEY: n of m differ (...)'.

  For σ, μ, q the count over the positions coded at that step is added; for the other
  float results the largest absolute difference.
  """
  lines = []
  for key in sorted(replayed):
    if "/in/" in key or key.endswith(("/P", "/z_hat")):
      continue
    a, b = record[key], replayed[key]
    n = int(np.sum(a != b))
    if not n:
      continue
    extra = ""
    parts = key.split("/")
    if parts[-1] in ("sigma", "mu", "q"):
      sel = record[f"{parts[0]}/order"][0] == int(parts[1])
      coded = int(np.sum(a[0][sel] != b[0][sel]))
      extra = f", {coded} of {int(sel.sum()) * a.shape[-1]} coded"
    elif np.issubdtype(a.dtype, np.floating):
      extra = f", max |diff| {float(np.max(np.abs(a - b))):.3g}"
    lines.append(f"{key}: {n} of {a.size} differ{extra}")
  return lines


def coded_index_differences(record: dict, replayed: dict) -> int:
  """Scale indexes (positions coded at their step, all steps) that differ."""
  return sum(int(np.sum(record[k] != replayed[k])) for k in record if k.endswith("/index"))


def coded_parameter_differences(record: dict, replayed: dict) -> int:
  """float16-rounded σ, μ, q of positions coded at their step (all steps) that differ,
  plus order-map positions that differ."""
  n = 0
  for key in record:
    parts = key.split("/")
    if parts[-1] in ("sigma", "mu", "q"):
      sel = record[f"{parts[0]}/order"][0] == int(parts[1])
      n += int(np.sum(record[key][0][sel] != replayed[key][0][sel]))
    elif parts[-1] == "order":
      n += int(np.sum(record[key] != replayed[key]))
  return n


def main() -> None:
  parser = argparse.ArgumentParser()
  for name in ("model", "image", "outdir", "tag"):
    parser.add_argument(name)
  parser.add_argument("--encode", action="store_true")
  parser.add_argument("--decode")
  parser.add_argument("--replay")
  args = parser.parse_args()
  out = pathlib.Path(args.outdir)
  ckpt, runner = load_runner(resolve_checkpoint(args.model))
  raw, srgb, params = _image(args.image)
  drop_steps, gamma = ckpt.rate
  rate = RateSettings(drop_steps, int(round(gamma * 1000)))

  def decode(data: bytes, name: str) -> None:
    try:
      dec = codec.decompress_image(srgb, data, runner, ckpt.tables)
    except R2lcmError as err:  # e.g. other table indexes: reported by the test
      np.savez(out / f"{args.tag}.{name}.npz", error=f"{type(err).__name__}: {err}")
      return
    np.savez(out / f"{args.tag}.{name}.npz", raw=dec.raw, y_hat=dec.y_hat, z_hat=dec.z_hat)

  if args.encode:
    rec = Recorder(runner, rate)
    isp = params if isp_base.needs_isp(ckpt.config) else None
    enc = codec.compress_image(raw, srgb, rec, ckpt.tables, drop_steps=drop_steps,
                               gamma=gamma, isp=isp)
    (out / f"{args.tag}.r2lcm").write_bytes(enc.data)
    np.savez(out / f"{args.tag}.enc.npz", y_hat=enc.y_hat, z_hat=enc.z_hat)
    np.savez(out / f"{args.tag}.record.npz", **rec.calls)
    decode(enc.data, "self")
  if args.decode:
    decode(pathlib.Path(args.decode).read_bytes(), "cross")
  if args.replay:
    with np.load(args.replay) as z:
      calls = {k: z[k] for k in z.files}
    s = images.srgb_to_float(srgb)
    s_p = geometry.pad(s, geometry.plan_padding(*s.shape[:2]))[None]
    np.savez(out / f"{args.tag}.replay.npz", **replay(runner, rate, calls, s_p))


if __name__ == "__main__":
  main()
