"""Porting official PyTorch checkpoints: torch-free reader, key mapping, CLI, errors."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from r2lcm_jax.errors import CheckpointError
from r2lcm_jax.models import R2LCMConfig
from r2lcm_jax.models.params_io import load_params, model_fingerprint
from r2lcm_jax.port.torch_checkpoint import load_official_state_dict, port_state_dict

CKPT = "official_checkpoint.pth.tar"


@pytest.fixture(scope="module")
def weights(reference_data):
  return dict(np.load(reference_data / "weights.npz"))


def test_builtin_reader_returns_exactly_the_fixture_weights(reference_data, weights):
  sd = load_official_state_dict(reference_data / CKPT, use_torch=False)
  assert set(sd) == set(weights)  # used modules only: dead Cheng2020 modules dropped
  for k, v in weights.items():
    assert sd[k].dtype == v.dtype and sd[k].shape == v.shape
    np.testing.assert_array_equal(sd[k], v)


def test_ported_checkpoint_equals_ported_weights_npz(reference_data, weights):
  cfg = R2LCMConfig()
  a = port_state_dict(load_official_state_dict(reference_data / CKPT, use_torch=False), cfg)
  b = port_state_dict(weights, cfg)
  assert model_fingerprint(a) == model_fingerprint(b)


def test_port_maps_layouts_and_names(weights):
  p = port_state_dict(weights, R2LCMConfig())
  w = weights["g_a_list.0.0.conv1.weight"]  # OIHW
  np.testing.assert_array_equal(p["g_a"]["layers_0"]["conv1"]["kernel"], w.transpose(2, 3, 1, 0))
  d = weights["context_prediction_list.1.0.deconv.weight"]  # [in, out, 5, 5]
  k = p["hyper"]["context_prediction"]["layers_0"]["kernel"]
  assert k.shape == (5, 5, 19, 64)
  np.testing.assert_array_equal(k[0, 1], d[:, :, 4, 3])  # flipped taps
  np.testing.assert_array_equal(
    p["h_s"]["layers_2"]["subpel_conv"]["kernel"],
    weights["g_s_list.1.2.subpel_conv.0.weight"].transpose(2, 3, 1, 0),
  )
  np.testing.assert_array_equal(
    p["g_a"]["layers_3"]["conv_b_3"]["kernel"][0, 0],
    weights["g_a_list.0.3.conv_b.3.weight"][:, :, 0, 0].T,
  )
  np.testing.assert_array_equal(p["g_s"]["layers_2"]["act"]["gamma"],
                                weights["g_s_list.0.2.act.gamma"])


def test_dataparallel_prefix_and_bare_state_dict_are_accepted(weights, tmp_path):
  prefixed = {f"module.{k}": v for k, v in weights.items()}
  a = port_state_dict(prefixed, R2LCMConfig())
  b = port_state_dict(weights, R2LCMConfig())
  assert model_fingerprint(a) == model_fingerprint(b)


def test_missing_or_misshaped_parameters_raise_checkpoint_error(weights):
  partial = {k: v for k, v in weights.items() if not k.startswith("g_s_list.0.9")}
  with pytest.raises(CheckpointError, match="missing"):
    port_state_dict(partial, R2LCMConfig())
  with pytest.raises(CheckpointError, match="shape mismatch|missing"):
    port_state_dict(weights, R2LCMConfig(N=32))


def test_corrupt_truncated_or_foreign_files_raise_checkpoint_error(reference_data, tmp_path):
  with pytest.raises(CheckpointError, match="not found"):
    load_official_state_dict(tmp_path / "absent.pth", use_torch=False)
  junk = tmp_path / "junk.pth"
  junk.write_bytes(b"not a checkpoint at all")
  with pytest.raises(CheckpointError, match="junk.pth"):
    load_official_state_dict(junk, use_torch=False)
  data = (reference_data / CKPT).read_bytes()
  cut = tmp_path / "cut.pth"
  cut.write_bytes(data[: len(data) // 2])
  with pytest.raises(CheckpointError):
    load_official_state_dict(cut, use_torch=False)
  # A pickle that asks for an arbitrary global is refused, never executed.
  evil = tmp_path / "evil.pth"
  with zipfile.ZipFile(evil, "w") as zf:
    zf.writestr("evil/data.pkl", b"cos\nsystem\n(S'echo hi'\ntR.")
  with pytest.raises(CheckpointError, match="unsupported object os.system"):
    load_official_state_dict(evil, use_torch=False)
  # A storage member missing from the archive.
  holed = tmp_path / "holed.pth"
  with zipfile.ZipFile(reference_data / CKPT) as src, zipfile.ZipFile(holed, "w") as dst:
    for item in src.infolist():
      if not item.filename.endswith("/data/3"):
        dst.writestr(item, src.read(item.filename))
  with pytest.raises(CheckpointError, match="missing storage"):
    load_official_state_dict(holed, use_torch=False)


def test_cli_port_checkpoint_writes_a_loadable_parameter_folder(reference_data, weights,
                                                                tmp_path):
  out = tmp_path / "sony"
  cmd = [sys.executable, "-m", "r2lcm_jax.cli.main", "port-checkpoint",
         "--input", str(reference_data / CKPT), "--output", str(out), "--reader", "builtin"]
  res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
  assert res.returncode == 0, res.stderr
  params, cfg = load_params(out)
  assert cfg == R2LCMConfig()
  assert model_fingerprint(params) == model_fingerprint(port_state_dict(weights, cfg))
  bad = subprocess.run(
    [sys.executable, "-m", "r2lcm_jax.cli.main", "port-checkpoint",
     "--input", str(tmp_path / "nope.pth"), "--output", str(tmp_path / "x")],
    capture_output=True, text=True, timeout=300)
  assert bad.returncode == 2
  assert "nope.pth" in bad.stderr and "Traceback" not in bad.stderr
  assert not (tmp_path / "x").exists()
