"""The one atomic writer (io/atomic.py): complete files or none, usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from r2lcm_jax.io.atomic import (
  atomic_dir,
  atomic_path,
  atomic_write_bytes,
  atomic_write_text,
  new_file_mode,
)


def _mode(path) -> int:
  return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_create_folders_replace_old_content_and_leave_no_temporary(tmp_path):
  path = tmp_path / "sub" / "a.json"
  atomic_write_text(path, "first")
  atomic_write_bytes(path, b"second")
  assert path.read_bytes() == b"second"
  assert sorted(os.listdir(path.parent)) == ["a.json"]
  assert _mode(path) == new_file_mode()


def test_a_failing_writer_keeps_the_old_file_and_leaves_nothing_else(tmp_path):
  path = tmp_path / "a.csv"
  path.write_text("old")
  with pytest.raises(RuntimeError), atomic_path(path) as tmp:
    tmp.write_text("half")
    raise RuntimeError("writer failed")
  assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.csv"]
  with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.csv") as tmp:
    raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ["a.csv"]


def test_the_temporary_path_keeps_the_suffix_and_lies_in_the_destination_folder(tmp_path):
  with atomic_path(tmp_path / "fig.png") as tmp:
    assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.name.startswith(".fig.png.")
    tmp.write_bytes(b"x")
  assert (tmp_path / "fig.png").read_bytes() == b"x"


def test_a_folder_is_replaced_whole_or_not_at_all(tmp_path):
  dest = tmp_path / "ckpt"
  dest.mkdir()
  (dest / "old.txt").write_text("old")
  with pytest.raises(ValueError), atomic_dir(dest) as tmp:
    (tmp / "params").write_text("half")
    raise ValueError("export failed")
  assert sorted(os.listdir(tmp_path)) == ["ckpt"] and os.listdir(dest) == ["old.txt"]
  with atomic_dir(dest) as tmp:
    (tmp / "params").write_text("new")
  assert os.listdir(dest) == ["params"] and sorted(os.listdir(tmp_path)) == ["ckpt"]
  (tmp_path / "plain").mkdir()
  assert _mode(dest) == _mode(tmp_path / "plain")  # as readable as a folder made directly
