"""Residual gate ablation: tile size, one scale per tile vs one per channel, no gate.

`r2lcm bench gate --raw FILE.dng [--checkpoint default] [--jpeg_quality 90]
                  [--drop_steps D] [--gamma G] [--tiles 16,32,64,128,256] [--json OUT]`

Renders the RAW with the project's ISP (JPEG at --jpeg_quality), encodes it once
without a gate and with the encoder-side reconstruction (`compress_image(...,
reconstruct=True)`), then applies every gate variant to that same decoded residual:

  per channel   `residual_gate.choose` (what the codec does): 3 symbols per tile;
  per tile      `choose(..., per_channel=False)`: one symbol per tile for all channels
                (the same candidates, the error summed over the channels).

For each it reports the PSNR (on [0, 1], as `r2lcm eval`), the gate's size from the
coding model's estimate (`residual_gate.estimate_bits`, bits -> bpp) and the total
metadata bpp (the ungated bitstream's real bytes + the gate estimate). The gated
bitstreams of the codec are exercised by the tests and `r2lcm eval`; this script only
compares variants on one decoded residual, so every row shares the same latents.
"""

from __future__ import annotations

import json
import time

from absl import flags

from r2lcm_jax.app.files import load_runner, read_encoder_inputs
from r2lcm_jax.codec import codec, residual_gate
from r2lcm_jax.errors import ConfigError, InputError
from r2lcm_jax.io import images
from r2lcm_jax.metrics import score_pair
from r2lcm_jax.models import isp_base

__all__ = ["main"]

_RAW = flags.DEFINE_string("raw", None, "Camera RAW (DNG, ...) to render and encode.")
_CKPT = flags.DEFINE_string("checkpoint", "default", "A codec checkpoint with a base (isp_inverse or fitted).")
_JPEG = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the sRGB (0: PNG).")
_DROP = flags.DEFINE_integer("drop_steps", 0, "Main-level steps not sent.")
_GAMMA = flags.DEFINE_float("gamma", 4.0, "Coarser step on the last sent step.")
_TILES = flags.DEFINE_string("tiles", "16,32,64,128,256", "Gate tile sides to compare.")
_JSON = flags.DEFINE_string("json", "", "Also write the rows as JSON here.")


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise ConfigError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not _RAW.value:
    raise ConfigError("--raw is required")
  try:
    tiles = [int(v) for v in _TILES.value.split(",") if v.strip()]
  except ValueError as e:
    raise ConfigError(f"bad --tiles: {e}") from e
  ckpt, runner = load_runner(_CKPT.value)
  cfg = runner.config
  if not isp_base.has_base(cfg):
    raise InputError("the residual gate needs a model with a base ('isp_inverse' or 'fitted')")
  inputs = read_encoder_inputs(_RAW.value, None, _JPEG.value, None)
  x, srgb, isp = inputs.raw, inputs.srgb, inputs.isp
  h, w = x.shape[:2]
  t0 = time.perf_counter()
  enc = codec.compress_image(x, srgb, runner, ckpt.tables, drop_steps=_DROP.value,
                             gamma=_GAMMA.value, isp=isp, reconstruct=True)
  seconds = time.perf_counter() - t0
  base = isp_base.base_image(cfg, images.srgb_to_float(srgb),
                             isp_base.params_from_header(isp_base.header_values(isp)))
  delta = enc.delta  # the network's residual before the clip, as the codec's gate sees it
  bpp0 = 8.0 * len(enc.data) / (h * w)
  rows = [{"variant": "naive inverse", "tile": 0, "psnr": score_pair(x, base)[0],
           "gate_bpp": 0.0, "bpp": 0.0},
          {"variant": "no gate", "tile": 0, "psnr": score_pair(x, enc.x_hat)[0],
           "gate_bpp": 0.0, "bpp": bpp0}]
  for tile in tiles:
    spec = residual_gate.GateSpec(tile=tile)
    for variant, per_channel in (("per tile", False), ("per channel", True)):
      s = residual_gate.choose(x, base, delta, spec, per_channel=per_channel)
      bits = residual_gate.estimate_bits((s if per_channel else s[..., 0]).ravel())
      rows.append({"variant": variant, "tile": tile,
                   "psnr": score_pair(x, residual_gate.apply(base, delta, s, spec))[0],
                   "gate_bpp": bits / (h * w), "bpp": bpp0 + bits / (h * w)})
  print(f"{_RAW.value}: {w}x{h}, JPEG q{_JPEG.value}, drop_steps {_DROP.value}, gamma "
        f"{_GAMMA.value:g}; encode with reconstruction {seconds:.1f} s")
  print("| variant | tile | PSNR (dB) | gate bpp (estimate) | metadata bpp |")
  print("|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['variant']} | {r['tile'] or '-'} | {r['psnr']:.2f} | {r['gate_bpp']:.4f} | "
          f"{r['bpp']:.4f} |")
  if _JSON.value:
    with open(_JSON.value, "w") as f:
      json.dump(rows, f, indent=1)
