"""Atomic file output: a file appears complete under its name, or not at all.

Every writer goes through `atomic_path`: the content is written to a temporary file in
the destination folder (`.NAME.XXXX.tmp.SUFFIX`, same file system, so the rename is
atomic), given the permission bits an ordinary `open(path, "w")` would have, and
`os.replace`d onto the destination when the writer succeeded; on any exception
(KeyboardInterrupt included) the temporary file is removed and the destination keeps its
old content. `atomic_dir` does the same for a folder built in one go.

    atomic_write_bytes(path, data)          bytes
    atomic_write_text(path, text)           UTF-8 text
    with atomic_path(path) as tmp: ...      writers that need a path (savefig, np.savez,
                                            csv through open(tmp, "w", newline=""))
    with atomic_dir(folder) as tmp: ...     a folder, replacing an existing one
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator

__all__ = ["atomic_path", "atomic_dir", "atomic_write_bytes", "atomic_write_text",
           "new_file_mode"]


def _umask() -> int:
  mask = os.umask(0)
  os.umask(mask)
  return mask


def new_file_mode() -> int:
  """Permission bits an ordinary `open(path, "w")` would give (0o666 minus the umask).

  `tempfile.mkstemp` creates files with mode 0o600 (`mkdtemp` folders 0o700); the atomic
  writers restore the usual mode before renaming, so outputs are as readable as files
  written directly.
  """
  return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Yields a temporary path beside `path` that becomes `path` when the block succeeds.

  The temporary name ends with `path`'s suffix, so writers that infer the format from it
  (matplotlib's `savefig`) write the right one. The parent folder is created.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                              dir=path.parent)
  os.close(fd)
  tmp = pathlib.Path(name)
  try:
    yield tmp
    os.chmod(tmp, new_file_mode())
    os.replace(tmp, path)
  except BaseException:
    tmp.unlink(missing_ok=True)
    raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[pathlib.Path]:
  """Yields an empty temporary folder beside `path` that replaces `path` on success.

  An existing `path` is removed just before the rename (a folder cannot be replaced in
  one step); on failure the temporary folder is removed and `path` is left untouched.
  """
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
  try:
    yield tmp
    os.chmod(tmp, 0o777 & ~_umask())
    if path.is_dir() and not path.is_symlink():
      shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
      path.unlink()
    os.replace(tmp, path)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
  """Writes `data` to `path` atomically (see module doc)."""
  with atomic_path(path) as tmp:
    tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
  """Writes `text` (UTF-8) to `path` atomically (see module doc)."""
  atomic_write_bytes(path, text.encode("utf-8"))
