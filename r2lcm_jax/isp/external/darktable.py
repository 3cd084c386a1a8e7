"""darktable-cli, headless: a raw file + a style -> 8-bit display sRGB.

Each run gets fresh config, cache and temp folders under the caller's work folder, an
in-memory library (`--library :memory:`) and no custom presets (`--apply-custom-presets
false`), so the user's darktable settings, presets and database are neither read nor
changed, and "default" means darktable's defaults. The
style is an XMP sidecar (`styles.darktable_xmp`) given as darktable-cli's second
argument; darktable applies its default pipeline, then the style's modules. OpenCL is
off (same result on every machine). The output is a 16-bit TIFF in sRGB (darktable's
default output profile) read back with `tools.read_tiff_srgb` (uint8 = round(x / 257)).

darktable embeds the history it applied in the TIFF's XMP packet. `applied_modules`
reads it back, and `render` checks it: every module of the style must be there with
the style's parameters (darktable silently drops an item whose params version or size
does not match), and no geometry module may be on (flip other than "no rotation",
lens correction, crop, rotation/perspective, liquify, framing, pixel rotation/scaling).
"""

from __future__ import annotations

import os
import pathlib
import re

from r2lcm_jax.errors import InputError
from r2lcm_jax.isp.external import styles as styles_lib
from r2lcm_jax.isp.external import tools

__all__ = ["PROGRAM", "GEOMETRY_MODULES", "version", "render", "applied_modules"]

PROGRAM = "darktable-cli"
GEOMETRY_MODULES = frozenset(
  {"flip", "lens", "clipping", "crop", "ashift", "liquify", "borders", "rotatepixels",
   "scalepixels"})
_NO_ROTATION = styles_lib.dt_flip_params().hex()


def version() -> str:
  """darktable-cli's version, e.g. "4.2.1".

  Raises:
    ToolNotFoundError: darktable-cli is not installed.
  """
  run = tools.run_tool([tools.find_tool(PROGRAM), "--version"], timeout_s=60)
  return tools.tool_version(run.stdout + run.stderr, PROGRAM)


def applied_modules(xmp: str) -> dict[str, tuple[bool, str]]:
  """The history darktable applied, from the XMP packet it embeds in its output.

  Returns:
    {operation (with "#<multi_priority>" for instances > 0): (enabled, params hex)}, the
    last history item of each module before `history_end`.
  """
  end_m = re.search(r'darktable:history_end="(\d+)"', xmp)
  end = int(end_m.group(1)) if end_m else None
  out: dict[str, tuple[bool, str]] = {}
  for item in re.findall(r"<rdf:li\b([^>]*?)/?>", xmp, flags=re.S):
    attrs = dict(re.findall(r'darktable:(\w+)="([^"]*)"', item))
    if "operation" not in attrs:
      continue
    if end is not None and int(attrs.get("num", "0")) >= end:
      continue
    key = attrs["operation"]
    if attrs.get("multi_priority", "0") != "0":
      key += f"#{attrs['multi_priority']}"
    out[key] = (attrs.get("enabled") == "1", attrs.get("params", ""))
  return out


def _check_history(modules: dict[str, tuple[bool, str]], style: styles_lib.Style) -> None:
  if not modules:
    raise InputError(f"{PROGRAM} reported no processing history; cannot check the style")
  for m in style.dt_modules:
    got = modules.get(m.operation)
    if got is None or got[0] != m.enabled or (m.enabled and got[1] != m.params.hex()):
      raise InputError(f"{PROGRAM} did not apply module {m.operation!r} of style {style.spec}"
                       f" (params version {m.version} not accepted by this darktable?)")
  moved = sorted(op for op, (on, params) in modules.items()
                 if on and op.split("#")[0] in GEOMETRY_MODULES
                 and not (op == "flip" and params == _NO_ROTATION))
  if moved:
    raise InputError(f"{PROGRAM} applied geometry module(s) {', '.join(moved)}: the render"
                     " would not lie on the raw grid")


def render(raw_path: str | os.PathLike, style: styles_lib.Style, workdir: str | os.PathLike, *,
           timeout_s: float = tools.DEFAULT_TIMEOUT_S) -> tools.ToolRender:
  """Renders a raw file with darktable-cli.

  Args:
    raw_path: a raw file darktable opens (camera raw or DNG).
    style: a darktable style.
    workdir: scratch folder (created); config, sidecar and output go below it.
    timeout_s: seconds before darktable-cli is killed.

  Returns:
    ToolRender: the (H, W, 3) uint8 sRGB as written; `details["modules"]` lists the
    modules darktable had switched on.

  Raises:
    ToolNotFoundError: darktable-cli is not installed.
    InputError: darktable-cli failed, wrote nothing, or did not apply the style.
  """
  if style.tool != "darktable":
    raise ValueError(f"{style.spec} is not a darktable style")
  program = tools.find_tool(PROGRAM)
  work = pathlib.Path(workdir)
  for sub in ("config", "cache", "tmp"):
    (work / "darktable" / sub).mkdir(parents=True, exist_ok=True)
  sidecar = work / f"darktable-{style.name}.xmp"
  sidecar.write_text(styles_lib.darktable_xmp(style))
  out = work / f"darktable-{style.name}.tif"
  if out.exists():
    out.unlink()  # darktable-cli would write <name>_01.tif instead
  argv = [program, str(raw_path), str(sidecar), str(out),
          "--width", "0", "--height", "0", "--hq", "true", "--upscale", "false",
          "--apply-custom-presets", "false",
          "--core", "--configdir", str(work / "darktable" / "config"),
          "--cachedir", str(work / "darktable" / "cache"),
          "--tmpdir", str(work / "darktable" / "tmp"),
          "--library", ":memory:", "--disable-opencl",
          "--conf", "plugins/imageio/format/tiff/bpp=16",
          "--conf", "write_sidecar_files=never"]
  run = tools.run_tool(argv, timeout_s=timeout_s)
  srgb, orientation, xmp = tools.read_tiff_srgb(out, PROGRAM)
  modules = applied_modules(xmp)
  _check_history(modules, style)
  enabled = [op for op, (on, _) in modules.items() if on]
  return tools.ToolRender(srgb=srgb, orientation=orientation, seconds=run.seconds,
                          details={"modules": enabled})
