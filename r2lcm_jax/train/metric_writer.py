"""Scalar metrics to TensorBoard event files (tensorboardX) and the log."""

from __future__ import annotations

import os
import pathlib
import struct
from collections.abc import Mapping

from absl import logging

__all__ = ["MetricWriter", "read_scalars"]


class MetricWriter:
  """Writes scalars to `<logdir>` as TensorBoard events; no-op when disabled.

  Keys are slash-grouped (`train/loss`, `val/bpp`) as TensorBoard expects.
  """

  def __init__(self, logdir: str | os.PathLike, enabled: bool = True):
    """Opens the event file.

    Args:
      logdir: folder for `events.out.tfevents.*` files (created if missing).
      enabled: False on non-primary processes: nothing is written.
    """
    self._writer = None
    if enabled:
      from tensorboardX import SummaryWriter

      self._writer = SummaryWriter(logdir=os.fspath(logdir))

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Writes each `name -> value` at `step` and logs one line."""
    if self._writer is None:
      return
    for name, value in scalars.items():
      self._writer.add_scalar(name, float(value), global_step=int(step))
    logging.info("step %d: %s", step, ", ".join(f"{k}={float(v):.5g}" for k, v in sorted(scalars.items())))

  def write_text(self, step: int, name: str, text: str) -> None:
    """Writes a text summary (e.g. the config)."""
    if self._writer is not None:
      self._writer.add_text(name, text, global_step=int(step))

  def flush(self) -> None:
    """Flushes pending events to disk."""
    if self._writer is not None:
      self._writer.flush()

  def close(self) -> None:
    """Flushes and closes the event file."""
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def read_scalars(logdir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
  """Reads back every scalar of the event files in `logdir` (no TensorBoard needed).

  Parses the TFRecord framing (u64 length, u32 crc, payload, u32 crc) and the
  `Event` protos of tensorboardX.

  Returns:
    `tag -> [(step, value), ...]` in file order.
  """
  from tensorboardX.proto import event_pb2

  out: dict[str, list[tuple[int, float]]] = {}
  for path in sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
    data = path.read_bytes()
    pos = 0
    while pos + 12 <= len(data):
      (length,) = struct.unpack("<Q", data[pos : pos + 8])
      event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
      pos += 12 + length + 4
      for value in event.summary.value:
        if value.HasField("simple_value"):
          out.setdefault(value.tag, []).append((event.step, value.simple_value))
  return out
