"""The XLA flag r2lcm_jax sets for itself before JAX starts a backend.

XLA:CPU hands every convolution to YNNPACK by default, which is slow for this model's
convolutions (its weight-gradient convolutions ran 6x slower than PyTorch's). With

    XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=-individual_convolution

XLA:CPU uses its own convolution kernels instead: training steps are ~1.7x faster and
encoding/decoding ~1.5x (1024x1536, packaged default model). `import r2lcm_jax` calls
`configure()` once, so every entry point gets the flag: the `r2lcm` script,
`python -m r2lcm_jax`, library use and the tests (their subprocesses inherit it through
the environment). `configure` appends `CPU_CONV_FLAG` to `os.environ["XLA_FLAGS"]`
unless

* `R2LCM_KEEP_XLA_FLAGS` is set (to anything but "" or "0"): XLA_FLAGS stays as it is;
* XLA_FLAGS already mention `xla_cpu_experimental_ynn_fusion_type`: the user's choice
  wins, whatever its value;
* an XLA library of this installation would not know the flag (XLA aborts the process on
  an unknown flag or enum value): every shared library of `jaxlib`, of each PJRT plugin
  under `jax_plugins` and of `libtpu` parses XLA_FLAGS, so each of these packages must
  contain the flag's name as a C string (NUL-terminated) and the enum value's name
  `LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION`. Searching the memory-mapped files costs
  13-50 ms with jaxlib 0.10.2 on a 2-core CPU, idle to busy (both names lie in the first
  40 MB of libjax_common.so; `import jax` takes ~1.4 s); no version list is assumed,
  so newer jaxlibs (e.g. 0.11) are checked the same way;
* JAX's backends are already running (XLA has read XLA_FLAGS): nothing is changed, and
  one INFO message says so.

The flag only concerns XLA:CPU; GPU and TPU compilers share XLA's option list and ignore
it. It changes the last bits of XLA:CPU's convolution results, hence some of the codec's
float16-rounded μ, σ, q: encoder and decoder should run with the same setting. A
bitstream written under the other setting decodes to the same result on small images,
but on a 12 MP image some table indexes differ and decoding fails
(`tests/codec/cross_flags_test.py`, measured counts in its docstring).
"""

from __future__ import annotations

import importlib.util
import logging
import mmap
import os
import pathlib
import sys
from collections.abc import Iterable, MutableMapping

__all__ = [
  "CPU_CONV_FLAG",
  "FLAG_NAME",
  "OPT_OUT_ENV",
  "Outcome",
  "configure",
  "flag_is_known",
  "xla_library_packages",
]

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
CPU_CONV_FLAG = f"--{FLAG_NAME}=-individual_convolution"
OPT_OUT_ENV = "R2LCM_KEEP_XLA_FLAGS"
# What must be in a library for it to accept CPU_CONV_FLAG.
_NEEDED = (FLAG_NAME.encode() + b"\0", b"LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION")

_log = logging.getLogger(__name__)


class Outcome:
  """What `configure` did (string constants)."""

  SET = "set"  # the flag was appended to XLA_FLAGS
  OPTED_OUT = "opted-out"  # R2LCM_KEEP_XLA_FLAGS
  USER_SETTING = "user-setting"  # XLA_FLAGS already mention the flag
  UNKNOWN_FLAG = "unknown-flag"  # some XLA library of this installation lacks it
  BACKEND_STARTED = "backend-started"  # too late: XLA already read XLA_FLAGS


def _package_dirs(name: str) -> list[pathlib.Path]:
  """Folders of an installed (possibly namespace) package, without importing it."""
  try:
    spec = importlib.util.find_spec(name)
  except (ImportError, ValueError):
    return []
  if spec is None or spec.submodule_search_locations is None:
    return []
  return [pathlib.Path(p) for p in spec.submodule_search_locations]


def xla_library_packages() -> list[list[pathlib.Path]]:
  """The shared libraries that parse XLA_FLAGS, grouped by package.

  Returns:
    One list of `.so` paths per package: jaxlib, each `jax_plugins.<name>` (PJRT plugins
    such as CUDA's) and libtpu, for those installed. jaxlib always comes first (an empty
    list when jaxlib is missing or has no shared library).
  """
  jaxlib = [so for d in _package_dirs("jaxlib") for so in sorted(d.glob("*.so"))]
  groups = [jaxlib]
  for d in _package_dirs("jax_plugins"):
    for plugin in sorted(p for p in d.iterdir() if p.is_dir()):
      libs = sorted(plugin.glob("*.so"))
      if libs:
        groups.append(libs)
  libtpu = [so for d in _package_dirs("libtpu") for so in sorted(d.glob("*.so"))]
  if libtpu:
    groups.append(libtpu)
  return groups


def _file_contains(path: pathlib.Path, needles: Iterable[bytes]) -> bool:
  try:
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
      return all(m.find(n) >= 0 for n in needles)
  except (OSError, ValueError):  # unreadable, or empty (mmap of 0 bytes)
    return False


def flag_is_known(packages: list[list[pathlib.Path]] | None = None) -> bool:
  """True when every package's libraries include one that knows `CPU_CONV_FLAG`.

  Args:
    packages: `.so` paths grouped by package (default `xla_library_packages()`); a
      package with no library at all (e.g. jaxlib missing) counts as not knowing it.
  """
  packages = xla_library_packages() if packages is None else packages
  return bool(packages) and all(
    any(_file_contains(so, _NEEDED) for so in libs) for libs in packages
  )


def _backend_started() -> bool:
  """True when JAX has created a backend in this process (XLA has read XLA_FLAGS)."""
  bridge = sys.modules.get("jax._src.xla_bridge")
  if bridge is None:
    return False
  started = getattr(bridge, "backends_are_initialized", None)
  if callable(started):
    return bool(started())
  return bool(getattr(bridge, "_backends", None))


def configure(environ: MutableMapping[str, str] | None = None) -> str:
  """Appends `CPU_CONV_FLAG` to XLA_FLAGS when allowed (see the module docstring).

  Args:
    environ: the environment to edit (default `os.environ`).

  Returns:
    One of the `Outcome` constants.
  """
  env = os.environ if environ is None else environ
  if env.get(OPT_OUT_ENV, "") not in ("", "0"):
    return Outcome.OPTED_OUT
  flags = env.get("XLA_FLAGS", "")
  if FLAG_NAME in flags:
    return Outcome.USER_SETTING
  if _backend_started():
    _log.info("r2lcm_jax imported after JAX started its backends: XLA_FLAGS left as is, "
              "so XLA:CPU keeps its default convolutions (import r2lcm_jax first, or set "
              "XLA_FLAGS=%s yourself)", CPU_CONV_FLAG)
    return Outcome.BACKEND_STARTED
  if not flag_is_known():
    _log.debug("this jaxlib does not know --%s: XLA_FLAGS left as is", FLAG_NAME)
    return Outcome.UNKNOWN_FLAG
  env["XLA_FLAGS"] = f"{flags} {CPU_CONV_FLAG}".strip()
  return Outcome.SET
