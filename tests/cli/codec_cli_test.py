"""`r2lcm encode / decode / eval` as a user runs them: files, exit codes, no debris."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from r2lcm_jax.app.evaluation import RateSetting, evaluate_pairs
from r2lcm_jax.app.files import decode_file, encode_file, load_runner
from r2lcm_jax.codec.checkpoint import save_checkpoint
from r2lcm_jax.data.nus import find_pairs
from r2lcm_jax.io import images
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.param_init import init_params

INTELTAU = "S_IMX135_BLCCSC_field_{:03d}_sensorname_sony_imx135.png"


pytestmark = pytest.mark.usefixtures("fast_compilation")


def _r2lcm(*args, cwd=None):
  env = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1")
  return subprocess.run([sys.executable, "-m", "r2lcm_jax.cli.main", *args], cwd=cwd,
                        env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  cfg = R2LCMConfig(N=8, latent_channels=4)
  d = tmp_path_factory.mktemp("ckpt")
  save_checkpoint(d, init_params(cfg, jax.random.key(0)), cfg)
  return d


def test_encode_then_decode_files_round_trip(checkpoint, real_data, tmp_path):
  ckpt, runner = load_runner(checkpoint)
  src = real_data / "inteltau" / INTELTAU.format(1)
  files = encode_file(str(src), str(tmp_path / "img"), ckpt, runner, jpeg_quality=90)
  assert files.srgb_path.name == "img.jpg" and files.metadata_path.name == "img.r2lcm"
  assert files.metadata_bytes == files.metadata_path.stat().st_size > 0
  assert files.bpp_total > files.bpp_metadata > 0
  result = decode_file(str(files.srgb_path), str(files.metadata_path),
                       str(tmp_path / "rec.tiff"), ckpt, runner)
  np.testing.assert_array_equal(result.y_hat, files.result.y_hat)
  rec = images.read_image(tmp_path / "rec.tiff")
  assert rec.dtype == np.uint16 and rec.shape == (256, 384, 3)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["img.jpg", "img.r2lcm", "rec.tiff"]


@pytest.mark.parametrize("case", ["missing_checkpoint", "corrupt_metadata", "wrong_srgb",
                                  "missing_metadata", "unwritable_output"])
def test_decode_cli_rejects_bad_input_with_exit_2_and_no_output(case, checkpoint, tmp_path):
  srgb = tmp_path / "img.png"
  images.write_png(srgb, np.full((64, 64, 3), 128, np.uint8))
  meta = tmp_path / "img.r2lcm"
  meta.write_bytes(b"\x89R2LCM\r\n" + b"\x01\x00" + os.urandom(100))
  out = tmp_path / "out" / "rec.tiff"
  out.parent.mkdir()
  ck = checkpoint
  if case == "missing_checkpoint":
    ck = tmp_path / "nope"
  elif case == "wrong_srgb":
    meta.write_bytes(b"not a bitstream at all")
  elif case == "missing_metadata":
    meta = tmp_path / "absent.r2lcm"
  elif case == "unwritable_output":
    out = tmp_path / "no_such_folder" / "rec.tiff"
  proc = _r2lcm("decode", f"--srgb={srgb}", f"--metadata={meta}", f"--checkpoint={ck}",
                f"--out={out}")
  assert proc.returncode == 2, proc.stderr
  assert "error:" in proc.stderr and "Traceback" not in proc.stderr
  assert not list((tmp_path / "out").iterdir())


def test_encode_cli_writes_files_reports_bpp_and_profiles(checkpoint, real_data, tmp_path):
  src = real_data / "inteltau" / INTELTAU.format(2)
  # The residual gate needs a model with an ISP base: a typed refusal, no files.
  proc = _r2lcm("encode", f"--raw={src}", f"--checkpoint={checkpoint}",
                f"--out={tmp_path / 'g'}", "--gate_tile=32")
  assert proc.returncode == 2 and "residual gate" in proc.stderr, proc.stderr
  assert "Traceback" not in proc.stderr
  assert not list(tmp_path.glob("g.*"))
  proc = _r2lcm("encode", f"--raw={src}", f"--checkpoint={checkpoint}",
                f"--out={tmp_path / 'a'}", "--drop_steps=1", f"--profile={tmp_path / 'trace'}")
  assert proc.returncode == 0, proc.stderr
  assert "bpp" in proc.stdout
  assert list((tmp_path / "trace").rglob("*.xplane.pb")), "no profiler trace written"
  assert (tmp_path / "a.png").is_file() and (tmp_path / "a.r2lcm").is_file()
  bad = _r2lcm("encode", f"--raw={tmp_path / 'a.r2lcm'}", f"--checkpoint={checkpoint}",
               f"--out={tmp_path / 'b'}")
  assert bad.returncode == 2 and "Traceback" not in bad.stderr
  assert not (tmp_path / "b.r2lcm").exists()


def test_eval_writes_csv_summary_plots_and_error_maps(checkpoint, real_data, tmp_path):
  root = tmp_path / "ds" / "imx135" / "test"
  for sub in ("raw", "sRGB"):
    (root / sub).mkdir(parents=True)
  from r2lcm_jax.data.sources import load_source
  from r2lcm_jax.isp.pipeline import render_srgb

  for i in (4, 5):
    s = load_source(real_data / "inteltau" / INTELTAU.format(i))
    raw = s.raw_rgb[:96, :128]
    images.write_tiff16(root / "raw" / f"{i}.tif", raw)
    images.write_png(root / "sRGB" / f"{i}.png", render_srgb(raw, s.params))
  ckpt, runner = load_runner(checkpoint)
  out = tmp_path / "eval"
  rows = evaluate_pairs(find_pairs(tmp_path / "ds", "test"), runner, ckpt.tables, out,
                        settings=[RateSetting(0, 0.0), RateSetting(2, 0.0),
                                  RateSetting(0, 2.0)])
  assert len(rows) == 6
  with open(out / "results.csv") as f:
    table = list(csv.DictReader(f))
  assert len(table) == 6
  assert {r["setting"] for r in table} == {"d0_g0", "d2_g0", "d0_g2"}
  for row in table:
    assert row["method"] == "R2LCM"
    size = (out / "bitstreams" / f"imx135_{row['name']}_{row['setting']}.r2lcm").stat().st_size
    assert int(row["bytes"]) == size
    assert float(row["bpp_metadata"]) == pytest.approx(8 * size / (96 * 128))
  assert (out / "rd_curves.png").stat().st_size > 1000
  assert len(list((out / "error_maps").glob("*.png"))) == 2
  assert "PSNR on [0,1]" in (out / "summary.md").read_text()
  shutil.rmtree(out)


@pytest.fixture(scope="module")
def isp_checkpoint(tmp_path_factory):
  cfg = R2LCMConfig(N=8, latent_channels=4, base="isp_inverse", coverage="full")
  d = tmp_path_factory.mktemp("isp_ckpt")
  save_checkpoint(d, init_params(cfg, jax.random.key(0)), cfg)
  return d


@pytest.mark.slow  # ~1 min of CLI runs for the ISP-known special case (`isp_known`)
def test_isp_base_model_through_the_cli_uses_the_raw_or_manifest_isp(
    isp_checkpoint, real_data, tmp_path):
  from r2lcm_jax.coding import bitstream
  from r2lcm_jax.data.render import render_inputs
  from r2lcm_jax.isp.pipeline import IspParams
  from r2lcm_jax.models import isp_base

  src = real_data / "inteltau" / INTELTAU.format(2)
  r = _r2lcm("encode", f"--raw={src}", f"--checkpoint={isp_checkpoint}",
             f"--out={tmp_path / 'a'}", "--jpeg_quality=90")
  assert r.returncode == 0, r.stderr
  # ISP-base models get the residual gate by default (64-px tiles: 4x6 over 256x384).
  assert "gate       4x6 tiles of 64 px" in r.stdout
  header, groups = bitstream.unpack((tmp_path / "a.r2lcm").read_bytes())
  assert header.flags & bitstream.FLAG_GATE and header.gate_tile == 64
  r = _r2lcm("encode", f"--raw={src}", f"--checkpoint={isp_checkpoint}",
             f"--out={tmp_path / 'nogate'}", "--jpeg_quality=90", "--gate_tile=0")
  assert r.returncode == 0, r.stderr
  assert "gate " not in r.stdout
  assert not bitstream.unpack((tmp_path / "nogate.r2lcm").read_bytes())[0].flags & (
    bitstream.FLAG_GATE)
  r = _r2lcm("decode", f"--srgb={tmp_path / 'a.jpg'}", f"--metadata={tmp_path / 'a.r2lcm'}",
             f"--checkpoint={isp_checkpoint}", f"--out={tmp_path / 'a.tiff'}")
  assert r.returncode == 0, r.stderr
  assert images.read_image(tmp_path / "a.tiff").shape == (256, 384, 3)
  # The sRGB of a render with other settings: the manifest's ISP is what is stored.
  ds = tmp_path / "ds"
  entries = render_inputs([str(src)], ds, camera="imx135", split="test", jpeg_quality=90,
                          tone_strength=0.2, progress=False)
  raw_tif = next((ds / "imx135" / "test" / "raw").iterdir())
  srgb_jpg = next((ds / "imx135" / "test" / "sRGB").iterdir())
  args = [f"--raw={raw_tif}", f"--srgb={srgb_jpg}", f"--checkpoint={isp_checkpoint}",
          f"--out={tmp_path / 'b'}"]
  r = _r2lcm("encode", *args)
  assert r.returncode == 2 and "naive inverse ISP" in r.stderr
  assert not (tmp_path / "b.r2lcm").exists()
  r = _r2lcm("encode", *args, f"--manifest={ds / 'manifest.json'}")
  assert r.returncode == 0, r.stderr
  header, _ = bitstream.unpack((tmp_path / "b.r2lcm").read_bytes())
  assert header.isp == isp_base.header_values(IspParams.from_dict(entries[0]["isp"]))
  assert header.isp[13] == pytest.approx(0.2)
  # eval finds the dataset's manifest by itself.
  r = _r2lcm("eval", f"--dataset={ds}", f"--checkpoint={isp_checkpoint}",
             f"--out={tmp_path / 'eval'}")
  assert r.returncode == 0, r.stderr
  assert (tmp_path / "eval" / "results.csv").is_file()


@pytest.fixture(scope="module")
def fitted_checkpoint(tmp_path_factory):
  cfg = R2LCMConfig(N=8, latent_channels=4, base="fitted", coverage="full")
  d = tmp_path_factory.mktemp("fitted_ckpt")
  save_checkpoint(d, init_params(cfg, jax.random.key(0)), cfg)
  return d


@pytest.mark.skipif(shutil.which("darktable-cli") is None,
                    reason="darktable-cli not installed (make isp-tools)")
def test_third_party_srgb_refused_by_isp_models_and_coded_by_fitted_models(
    isp_checkpoint, fitted_checkpoint, real_data, tmp_path):
  from r2lcm_jax.coding import bitstream
  from r2lcm_jax.data.render import render_inputs

  src = real_data / "inteltau" / INTELTAU.format(2)
  ds = tmp_path / "dt"
  render_inputs([str(src)], ds, camera="imx135", split="test", jpeg_quality=90,
                isp="darktable:default", progress=False)
  raw_tif = next((ds / "imx135" / "test" / "raw").iterdir())
  srgb_jpg = next((ds / "imx135" / "test" / "sRGB").iterdir())
  # The RAW's own ISP parameters are not what made this sRGB: refused, one line, no file.
  r = _r2lcm("encode", f"--raw={src}", f"--srgb={srgb_jpg}", f"--checkpoint={isp_checkpoint}",
             f"--out={tmp_path / 'isp'}")
  assert r.returncode == 2, r.stderr
  assert "not rendered by the project's ISP" in r.stderr and "Traceback" not in r.stderr
  assert len(r.stderr.strip().splitlines()) == 1
  assert not list(tmp_path.glob("isp.*"))
  # A fitted-base model codes the same pair and decodes it exactly as the encoder did.
  r = _r2lcm("encode", f"--raw={raw_tif}", f"--srgb={srgb_jpg}",
             f"--checkpoint={fitted_checkpoint}", f"--out={tmp_path / 'fit'}")
  assert r.returncode == 0, r.stderr
  header, _ = bitstream.unpack((tmp_path / "fit.r2lcm").read_bytes())
  assert header.flags & bitstream.FLAG_FITTED and header.flags & bitstream.FLAG_GATE
  r = _r2lcm("decode", f"--srgb={tmp_path / 'fit.jpg'}", f"--metadata={tmp_path / 'fit.r2lcm'}",
             f"--checkpoint={fitted_checkpoint}", f"--out={tmp_path / 'fit.tiff'}")
  assert r.returncode == 0, r.stderr
  assert images.read_image(tmp_path / "fit.tiff").shape == images.read_image(srgb_jpg).shape


@pytest.mark.skipif(shutil.which("rawtherapee-cli") is None,
                    reason="rawtherapee-cli not installed (make isp-tools)")
def test_encode_places_an_srgb_of_another_size_and_orientation_on_the_raw(
    fitted_checkpoint, real_data, tmp_path):
  """A converter's sRGB lacks a border and may be rotated: the RAW is cut and turned."""
  from r2lcm_jax.data.sources import load_source
  from r2lcm_jax.errors import ShapeMismatchError
  from r2lcm_jax.io.dng import dng_from_raw
  from r2lcm_jax.io.raw import read_raw
  from r2lcm_jax.isp.external import render_external

  dng = tmp_path / "crop.dng"
  dng_from_raw(dng, read_raw(real_data / "canon" / "colorchart.dng"), crop=(256, 512, 192, 256))
  src = load_source(dng)
  render = render_external(src, "rawtherapee:default", tmp_path / "work")
  assert render.srgb.shape[:2] == (184, 248)  # RawTherapee drops a 4-px border
  turned = np.ascontiguousarray(np.rot90(render.srgb))  # as a portrait camera JPEG would be
  images.write_png(tmp_path / "cam.png", turned)
  ckpt, runner = load_runner(fitted_checkpoint)
  files = encode_file(str(dng), str(tmp_path / "out"), ckpt, runner,
                      srgb_path=str(tmp_path / "cam.png"))
  assert files.alignment["crop"] == [4, 4, 184, 248]
  assert files.alignment["transform"] != "identity"
  assert (files.height, files.width) == turned.shape[:2]
  dec = decode_file(str(files.srgb_path), str(files.metadata_path), str(tmp_path / "o.tiff"),
                    ckpt, runner)
  assert dec.raw.shape == turned.shape
  np.testing.assert_allclose(dec.raw, files.result.x_hat, atol=1e-6)  # gate on: x_hat known
  # The RAW under the sRGB, in the sRGB's frame, is what was coded.
  want = np.rot90(src.raw_rgb[4:188, 4:252])
  fitted_psnr = 10 * np.log10(1 / np.mean((dec.raw - want) ** 2))
  assert fitted_psnr > 30
  # An unrelated sRGB of another size is refused, nothing written.
  images.write_png(tmp_path / "other.png", np.zeros((100, 120, 3), np.uint8))
  with pytest.raises(ShapeMismatchError, match="could not be placed"):
    encode_file(str(dng), str(tmp_path / "bad"), ckpt, runner, srgb_path=str(tmp_path / "other.png"))
  assert not list(tmp_path.glob("bad.*"))
