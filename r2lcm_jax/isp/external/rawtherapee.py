"""rawtherapee-cli, headless: a raw file + a style -> 8-bit display sRGB.

RawTherapee keeps its settings in a folder named by `RT_SETTINGS` (and `RT_CACHE`); each
run points them, and HOME / XDG folders, into the caller's work folder, so the user's
options and profiles are neither read nor changed and `-d` means the bundled default raw
profile. The style is a partial profile (`styles.rawtherapee_pp3`) applied on top with
`-p`. Flags: `-q` (no cache), `-Y` (overwrite), `-t -b16` (16-bit uncompressed TIFF in
RawTherapee's default output profile, sRGB), read back with `tools.read_tiff_srgb`
(uint8 = round(x / 257)), and `-O` (write the complete profile used beside the output):
`render` checks that every value the style sets is in it.
"""

from __future__ import annotations

import configparser
import os
import pathlib

from r2lcm_jax.errors import InputError
from r2lcm_jax.isp.external import styles as styles_lib
from r2lcm_jax.isp.external import tools

__all__ = ["PROGRAM", "version", "render"]

PROGRAM = "rawtherapee-cli"


def _env(work: pathlib.Path) -> dict[str, str]:
  home = work / "rawtherapee"
  for sub in ("home", "config", "cache", "settings", "rtcache"):
    (home / sub).mkdir(parents=True, exist_ok=True)
  return {"HOME": str(home / "home"), "XDG_CONFIG_HOME": str(home / "config"),
          "XDG_CACHE_HOME": str(home / "cache"), "RT_SETTINGS": str(home / "settings"),
          "RT_CACHE": str(home / "rtcache")}


def _same(a: str, b: str) -> bool:
  try:
    return abs(float(a) - float(b)) <= 1e-6 * max(1.0, abs(float(a)))
  except ValueError:
    return a.strip().lower() == b.strip().lower()


def _check_profile(used: pathlib.Path, style: styles_lib.Style) -> None:
  """Every key the style sets has that value in the profile RawTherapee used."""
  parser = configparser.ConfigParser(interpolation=None, strict=False)
  parser.optionxform = str
  try:
    parser.read_string(used.read_text(errors="replace"))
  except (OSError, configparser.Error) as e:
    raise InputError(f"{PROGRAM} wrote an unreadable profile {used.name} ({e})") from e
  for section, items in style.pp3:
    for key, value in items:
      got = parser.get(section, key, fallback=None)
      if got is None or not _same(got, value):
        raise InputError(f"{PROGRAM} did not apply [{section}] {key}={value} of style"
                         f" {style.spec} (profile has {got!r})")


def version(workdir: str | os.PathLike) -> str:
  """rawtherapee-cli's version, e.g. "5.9", from its banner (settings go below `workdir`).

  rawtherapee-cli has no version flag (`-v` is an unknown option, exit status 255); run
  without arguments it prints the banner and exits 0.

  Raises:
    ToolNotFoundError: rawtherapee-cli is not installed.
  """
  run = tools.run_tool([tools.find_tool(PROGRAM)], timeout_s=60,
                       env=_env(pathlib.Path(workdir)))
  return tools.tool_version(run.stdout + run.stderr, PROGRAM)


def render(raw_path: str | os.PathLike, style: styles_lib.Style, workdir: str | os.PathLike, *,
           timeout_s: float = tools.DEFAULT_TIMEOUT_S) -> tools.ToolRender:
  """Renders a raw file with rawtherapee-cli.

  Args:
    raw_path: a raw file RawTherapee opens (camera raw or DNG).
    style: a RawTherapee style.
    workdir: scratch folder (created); settings, profile and output go below it.
    timeout_s: seconds before rawtherapee-cli is killed.

  Returns:
    ToolRender: the (H, W, 3) uint8 sRGB as written; `details["profile"]` is the
    partial profile applied over the default.

  Raises:
    ToolNotFoundError: rawtherapee-cli is not installed.
    InputError: rawtherapee-cli failed, wrote nothing, or did not apply the style.
  """
  if style.tool != "rawtherapee":
    raise ValueError(f"{style.spec} is not a RawTherapee style")
  program = tools.find_tool(PROGRAM)
  work = pathlib.Path(workdir)
  env = _env(work)
  profile = work / f"rawtherapee-{style.name}.pp3"
  profile.write_text(styles_lib.rawtherapee_pp3(style))
  out = work / f"rawtherapee-{style.name}.tif"
  if out.exists():
    out.unlink()
  argv = [program, "-q", "-Y", "-O", str(out), "-d", "-p", str(profile), "-t", "-b16",
          "-c", str(raw_path)]
  run = tools.run_tool(argv, timeout_s=timeout_s, env=env)
  srgb, orientation, _ = tools.read_tiff_srgb(out, PROGRAM)
  _check_profile(out.with_name(out.name + ".pp3"), style)
  return tools.ToolRender(srgb=srgb, orientation=orientation, seconds=run.seconds,
                          details={"profile": "-d + " + profile.name})
