"""The dataset manifest (data/manifest.py): one schema, old formats still read."""

from __future__ import annotations

import json

import numpy as np
import pytest

from r2lcm_jax.data import manifest
from r2lcm_jax.errors import InputError
from r2lcm_jax.isp import pipeline

_PARAMS = pipeline.params_for_illuminant(np.array([0.5, 1.0, 0.8], np.float32)).to_dict()
_TOOL = {"tool": "darktable", "version": "4.2.1", "style": "local", "alignment": {},
         "settings": {}}


def _entry(name: str, isp=None, **optional) -> dict:
  return manifest.make_entry(
    name=name, camera="cam", split="test", raw=f"cam/test/raw/{name}.tif",
    srgb=f"cam/test/sRGB/{name}.png", height=4, width=6, crop=(0, 0, 4, 6), full_size=(4, 6),
    jpeg_quality=0, srgb_bytes=99, isp=isp or _PARAMS, project_isp=_PARAMS,
    source=f"in/{name}.dng", **optional)


def test_written_entries_read_back_and_merge_keeps_other_files(tmp_path):
  manifest.write_manifest(tmp_path, [_entry("a"), _entry("b", isp=_TOOL)], {"split": "test"})
  doc = json.loads((tmp_path / "manifest.json").read_text())
  assert doc["format"] == manifest.FORMAT and doc["last_run"] == {"split": "test"}
  assert [e["name"] for e in manifest.read_entries(tmp_path)] == ["a", "b"]
  manifest.merge_manifest(tmp_path, [_entry("b", seed=3), _entry("c")], {"split": "val"})
  entries = manifest.read_entries(tmp_path / "manifest.json")
  assert [(e["name"], e.get("seed")) for e in entries] == [("a", None), ("b", 3), ("c", None)]
  assert entries[0]["jpeg_quality"] is None  # 0 (PNG) is stored as null


def test_isp_parameters_and_project_parameters(tmp_path):
  manifest.write_manifest(tmp_path, [_entry("a"), _entry("b", isp=_TOOL)], {})
  np.testing.assert_allclose(manifest.params_from_manifest(tmp_path, "a").wb, _PARAMS["wb"])
  with pytest.raises(InputError, match="darktable"):
    manifest.params_from_manifest(tmp_path, "b")
  np.testing.assert_allclose(manifest.project_isp_params(tmp_path, "b").wb, _PARAMS["wb"])
  with pytest.raises(InputError, match="0 entries named 'z'"):
    manifest.project_isp_params(tmp_path, "z")


def test_entries_of_earlier_formats_are_upgraded(tmp_path):
  old = {"format": "r2lcm-render/1", "images": [
    {"camera": "Canon EOS Kiss X4", "name": "chart", "kind": "raw",
     "raw": "CanonEOSKissX4/test/raw/chart.tif", "srgb": "CanonEOSKissX4/test/sRGB/chart.jpg",
     "height": 4, "width": 6, "crop": [0, 0, 4, 6], "jpeg_quality": 90, "jpeg_bytes": 1234,
     "isp": _PARAMS, "source": {"source": "in/chart.dng", "cfa": "RGGB"}}]}
  (tmp_path / "manifest.json").write_text(json.dumps(old))
  (e,) = manifest.read_entries(tmp_path)
  assert (e["camera"], e["camera_model"], e["split"]) == ("CanonEOSKissX4", "Canon EOS Kiss X4",
                                                          "test")
  assert e["source"] == "in/chart.dng" and e["source_facts"]["cfa"] == "RGGB"
  assert e["srgb_bytes"] == 1234 and "jpeg_bytes" not in e
  assert e["project_isp"] == _PARAMS and e["full_size"] == [4, 6]
  # Merging rewrites the old entries in the current format.
  manifest.merge_manifest(tmp_path, [_entry("new")], {})
  doc = json.loads((tmp_path / "manifest.json").read_text())
  assert doc["format"] == manifest.FORMAT and doc["images"][0]["camera"] == "CanonEOSKissX4"
  bench = {"format": "r2lcm-bench-rd/2", "variant": "q90", "images": [_entry("a")]}
  (tmp_path / "manifest.json").write_text(json.dumps(bench))
  assert manifest.read_entries(tmp_path) == [_entry("a")]


def test_foreign_missing_or_broken_manifests_are_refused(tmp_path):
  with pytest.raises(InputError, match="not found"):
    manifest.read_entries(tmp_path)
  assert manifest.read_entries(tmp_path, strict=False) == []
  path = tmp_path / "manifest.json"
  for text, match in [('{"format": "other/1", "images": []}', "not a dataset manifest"),
                      ('{"format": "r2lcm-dataset/1"}', "no 'images' list"),
                      ("{broken", "unreadable")]:
    path.write_text(text)
    with pytest.raises(InputError, match=match):
      manifest.read_entries(tmp_path)
    assert manifest.read_entries(tmp_path, strict=False) == []
  manifest.merge_manifest(tmp_path, [_entry("a")], {})  # a broken manifest is replaced
  assert [e["name"] for e in manifest.read_entries(tmp_path)] == ["a"]
  with pytest.raises(ValueError, match="unknown manifest entry keys"):
    _entry("a", colour="red")
