"""`import r2lcm_jax` sets XLA:CPU's convolution flag (r2lcm_jax.xla_setup).

Fresh interpreters check what the package does to XLA_FLAGS before JAX starts: the flag is
appended (and XLA accepts it), other user flags are kept, a user's own setting of the flag
wins, R2LCM_KEEP_XLA_FLAGS opts out, and importing after JAX started changes nothing and
does not fail. In-process tests cover the library check on fake libraries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from r2lcm_jax import xla_setup

FLAG = xla_setup.CPU_CONV_FLAG

_PROBE = """
import json, logging, os, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
if "--jax-first" in sys.argv:
  import jax
  jax.numpy.ones(1).block_until_ready()
import r2lcm_jax  # noqa: F401
import jax
x = float(jax.numpy.arange(4.0).sum())  # XLA parsed XLA_FLAGS and did not abort
print(json.dumps({"XLA_FLAGS": os.environ.get("XLA_FLAGS"), "devices": jax.device_count(),
                  "x": x}))
"""


def _probe(xla_flags: str | None, *args: str, **extra_env: str) -> tuple[dict, str]:
  env = {k: v for k, v in os.environ.items()
         if k not in ("XLA_FLAGS", xla_setup.OPT_OUT_ENV)}
  env["JAX_PLATFORMS"] = "cpu"
  if xla_flags is not None:
    env["XLA_FLAGS"] = xla_flags
  env.update(extra_env)
  proc = subprocess.run([sys.executable, "-c", _PROBE, *args], env=env,
                        capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


@pytest.fixture(scope="module")
def known():
  return xla_setup.flag_is_known()


def test_import_appends_the_flag_and_xla_accepts_it(known):
  out, _ = _probe(None)
  assert out["x"] == 6.0
  assert out["XLA_FLAGS"] == (FLAG if known else None)


def test_other_user_flags_are_kept(known):
  out, _ = _probe("--xla_force_host_platform_device_count=2")
  assert out["devices"] == 2
  expected = "--xla_force_host_platform_device_count=2" + (f" {FLAG}" if known else "")
  assert out["XLA_FLAGS"] == expected


@pytest.mark.parametrize("value", ["", "-individual_dot"])
def test_a_user_setting_of_the_flag_wins(value):
  if value and not xla_setup.flag_is_known():
    pytest.skip("this jaxlib does not know the flag")
  flags = f"--{xla_setup.FLAG_NAME}={value} --xla_force_host_platform_device_count=2"
  out, _ = _probe(flags)
  assert out["XLA_FLAGS"] == flags and out["devices"] == 2


def test_opt_out_leaves_xla_flags_alone():
  out, _ = _probe(None, **{xla_setup.OPT_OUT_ENV: "1"})
  assert out["XLA_FLAGS"] is None
  out, _ = _probe("--xla_force_host_platform_device_count=2", **{xla_setup.OPT_OUT_ENV: "1"})
  assert out["XLA_FLAGS"] == "--xla_force_host_platform_device_count=2"


def test_import_after_jax_started_changes_nothing_and_says_so_once():
  out, err = _probe(None, "--jax-first")
  assert out["XLA_FLAGS"] is None and out["x"] == 6.0
  assert err.count("r2lcm_jax imported after JAX started its backends") == 1
  assert "Traceback" not in err


def test_configure_decisions(monkeypatch):
  monkeypatch.setattr(xla_setup, "_backend_started", lambda: False)
  monkeypatch.setattr(xla_setup, "flag_is_known", lambda packages=None: True)
  env = {"XLA_FLAGS": "--xla_dump_to=x"}
  assert xla_setup.configure(env) == xla_setup.Outcome.SET
  assert env["XLA_FLAGS"] == f"--xla_dump_to=x {FLAG}"
  assert xla_setup.configure(env) == xla_setup.Outcome.USER_SETTING  # idempotent
  assert xla_setup.configure(env := {}) == xla_setup.Outcome.SET and env["XLA_FLAGS"] == FLAG
  for opt_out, outcome in (("1", xla_setup.Outcome.OPTED_OUT),
                           ("0", xla_setup.Outcome.SET), ("", xla_setup.Outcome.SET)):
    env = {xla_setup.OPT_OUT_ENV: opt_out}
    assert xla_setup.configure(env) == outcome, opt_out
  monkeypatch.setattr(xla_setup, "flag_is_known", lambda packages=None: False)
  assert xla_setup.configure(env := {}) == xla_setup.Outcome.UNKNOWN_FLAG and not env
  monkeypatch.setattr(xla_setup, "_backend_started", lambda: True)
  assert xla_setup.configure(env := {}) == xla_setup.Outcome.BACKEND_STARTED and not env


def test_flag_is_known_needs_the_flag_and_its_value_in_every_package(tmp_path):
  def lib(name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(b"\x7fELF" + content)
    return path

  name = xla_setup.FLAG_NAME.encode()
  good = lib("good.so", b"\0" + name + b"\0..LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION")
  proto_only = lib("proto.so", b"$" + name + b"\x18..LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION")
  no_value = lib("novalue.so", b"\0" + name + b"\0 LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT")
  stub = lib("stub.so", b"")
  empty = tmp_path / "empty.so"
  empty.write_bytes(b"")
  assert xla_setup.flag_is_known([[stub, empty, good]])
  assert xla_setup.flag_is_known([[good], [stub, good]])
  assert not xla_setup.flag_is_known([[good], [proto_only]])  # a plugin without it
  assert not xla_setup.flag_is_known([[no_value]])
  assert not xla_setup.flag_is_known([[]])  # no jaxlib library found
  assert not xla_setup.flag_is_known([])


def test_the_installed_jaxlib_is_searched():
  packages = xla_setup.xla_library_packages()
  assert packages and any(p.suffix == ".so" for p in packages[0])
