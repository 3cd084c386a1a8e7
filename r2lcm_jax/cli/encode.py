"""`r2lcm encode`: RAW -> sRGB/JPEG + `.r2lcm` metadata.

    r2lcm encode --raw IMG.dng [--checkpoint CKPT|default] --out STEM [--jpeg_quality Q]
                 [--drop_steps D] [--gamma G] [--srgb FILE] [--backend auto|native|jax|numpy|tfc]
                 [--profile DIR] [--manifest ROOT/manifest.json] [--gate_tile PIXELS]
                 [--order learned|argmax|random|checkerboard]

Models that reconstruct over the naive inverse ISP (base "isp_inverse") store the ISP
parameters in the metadata: those of the RAW file, or of its `--manifest` entry when the
sRGB given with --srgb was rendered by `r2lcm render` with other settings. They also get a
residual gate by default (`codec.residual_gate`: a per-tile scale on the decoded residual
that the encoder picks against the RAW; `--gate_tile 0` turns it off).

`--order` picks the context model's coding order (`models.coding_order`): the learned
sRGB-guided masks (default), their noise-free argmax, a random balanced partition, or the
two-pass checkerboard. It is recorded in the metadata; `r2lcm decode` reads it from there.
"""

from __future__ import annotations

from absl import flags

from r2lcm_jax.app.files import encode_file, load_runner
from r2lcm_jax.cli.flag_checks import define_gate_tile, profiler_trace, require
from r2lcm_jax.codec import residual_gate
from r2lcm_jax.models.coding_order import DEFAULT_ORDER, ORDERS

__all__ = ["main"]

_RAW = flags.DEFINE_string("raw", None, "Camera RAW (DNG, ...) or 16-bit raw-RGB TIFF.")
_CKPT = flags.DEFINE_string(
  "checkpoint", "default", "Codec checkpoint folder, or a packaged model's name (default).")
_OUT = flags.DEFINE_string("out", None, "Output stem: writes STEM.jpg|png and STEM.r2lcm.")
_SRGB = flags.DEFINE_string("srgb", None, "Use this 8-bit sRGB/JPEG instead of rendering.")
_JPEG = flags.DEFINE_integer("jpeg_quality", 0, "0: PNG sRGB; 1..100: JPEG quality.")
_DROP = flags.DEFINE_integer(
  "drop_steps", None, "Main-level context steps not sent (default: the model's rate.json, else 0).")
_GAMMA = flags.DEFINE_float(
  "gamma", None, "Coarser step 2^(q+gamma) on the last sent step (default: rate.json, else 0).")
_BACKEND = flags.DEFINE_enum(
  "backend", "auto", ["auto", "native", "jax", "numpy", "tfc"],
  "Entropy coder (auto: native on a CPU, jax on an accelerator; same bytes).")
_PROFILE = flags.DEFINE_string("profile", None, "Write a jax.profiler trace to this folder.")
_MANIFEST = flags.DEFINE_string(
  "manifest", None, "r2lcm render manifest holding the ISP parameters of the --srgb image.")
_GATE = define_gate_tile()
_ORDER = flags.DEFINE_enum(
  "order", DEFAULT_ORDER, list(ORDERS),
  "Coding order of the context model (recorded in the metadata; decode needs no flag).")


def main(argv: list[str]) -> None:
  del argv
  require(_RAW, _OUT)
  ckpt, runner = load_runner(_CKPT.value)
  drop_steps = ckpt.rate[0] if _DROP.value is None else _DROP.value
  gamma = ckpt.rate[1] if _GAMMA.value is None else _GAMMA.value
  if _ORDER.value == "checkerboard" and (gamma or drop_steps):
    print("note       the checkerboard order codes in steps 0 and 1 only; drop_steps and "
          "gamma act on the last steps and change little or nothing")
  with profiler_trace(_PROFILE.value):
    files = encode_file(
      _RAW.value, _OUT.value, ckpt, runner, srgb_path=_SRGB.value,
      jpeg_quality=_JPEG.value,
      drop_steps=drop_steps, gamma=gamma,
      backend=_BACKEND.value, manifest=_MANIFEST.value, gate_tile=_GATE.value,
      order=_ORDER.value,
    )
  r = files.result
  print(f"image      {files.width}x{files.height}")
  if files.alignment is not None:
    top, left, h, w = files.alignment["crop"]
    print(f"aligned    the sRGB covers RAW rows {top}-{top + h - 1}, columns {left}-{left + w - 1}"
          f" ({files.alignment['transform']}, correlation {files.alignment['peak']}); the "
          "metadata describes that part")
  print(f"sRGB       {files.srgb_path} ({files.srgb_bytes} bytes)")
  print(f"metadata   {files.metadata_path} ({files.metadata_bytes} bytes, "
        f"{files.bpp_metadata:.4f} bpp; estimated {r.estimated_bits / 8:.0f} bytes)")
  if r.gate is not None:
    print(f"gate       {residual_gate.summary(r.gate_symbols, r.gate)}; "
          f"{r.groups[residual_gate.GROUP].bytes} bytes")
  print(f"total      {files.bpp_total:.4f} bpp (sRGB + metadata)")
  print(f"seconds    network {r.seconds['network']:.2f}, coding {r.seconds['coding']:.2f}")


if __name__ == "__main__":  # python -m r2lcm_jax.cli.encode [flags]
  from r2lcm_jax.cli.main import run_subcommand

  run_subcommand("encode", main)
