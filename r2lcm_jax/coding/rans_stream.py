"""Symbol-at-a-time rANS decoding, for coders whose next table index depends on the
symbols decoded before it (the serial context model, `models.serial_coding`).

The substream is the project's rANS format (`rans_format`) with one lane, written by the
ordinary encoder (`rans_numpy.encode(..., lanes=1)`). Its escape values sit after the
coder words, where a decoder only finds them once every word is read; a stream therefore
starts with the byte length of that escape region:

    u32 escape_bytes | substream (u16 L=1 | u32 state | u16 words | escape varints)

so the escape list is parsed up front and each escape bin takes the next value as it is
decoded. `StreamDecoder.finish` checks what the batch decoder checks at the end: final
state 2^16, every word and every escape value consumed.
"""

from __future__ import annotations

import numpy as np

from r2lcm_jax.coding import rans_format as fmt
from r2lcm_jax.coding import rans_numpy
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = ["encode_stream", "StreamDecoder"]


def encode_stream(symbols: np.ndarray, indexes: np.ndarray,
                  tables: CodingTables | fmt.RansTables) -> bytes:
  """int32 symbols (n,) with table rows `indexes` (n,) -> one serial stream (module doc)."""
  rt = rans_numpy.as_rans_tables(tables)
  idx = fmt.check_indexes(indexes, rt.support.size)
  _, codes = fmt.to_bins(np.asarray(symbols), idx, rt)
  esc = len(fmt.escape_varints(codes))
  return np.uint32(esc).astype("<u4").tobytes() + rans_numpy.encode(symbols, idx, rt, lanes=1)


class StreamDecoder:
  """Decodes the symbols of one serial stream a few at a time, in coding order.

  Args:
    data: the stream bytes.
    n: total number of symbols in it.
    tables: the coding tables it was written with.
  """

  def __init__(self, data: bytes, n: int, tables: CodingTables | fmt.RansTables):
    self._rt = rt = rans_numpy.as_rans_tables(tables)
    self._n, self._done = int(n), 0
    data = bytes(data)
    if len(data) < 4:
      raise BitstreamError("serial stream is truncated")
    esc = int(np.frombuffer(data, "<u4", count=1)[0])
    body = data[4:]
    if n == 0:
      if body or esc:
        raise BitstreamError("serial stream has bytes for zero symbols")
      self._x, self._words, self._codes = fmt.RANS_L, [], []
      return
    view = fmt.parse_substream(body, n, 1)
    if esc > len(view.body) or (len(view.body) - esc) % 2:
      raise BitstreamError("serial stream escape region does not fit")
    words = view.body[: len(view.body) - esc]
    region = view.body[len(view.body) - esc :]
    self._codes = fmt.read_escape_varints(region, int(np.count_nonzero(
      np.frombuffer(region, np.uint8) < 0x80))).tolist()
    self._words = np.frombuffer(words, "<u2").tolist()
    self._x = int(view.states[0])
    self._ptr = self._eptr = 0
    self._p = rt.precision
    self._mask = (1 << rt.precision) - 1

  def decode(self, indexes: np.ndarray) -> np.ndarray:
    """The next len(indexes) symbols (int32) given their table rows."""
    rt = self._rt
    idx = fmt.check_indexes(indexes, rt.support.size)
    if self._done + idx.size > self._n:
      raise BitstreamError("serial stream asked for more symbols than it holds")
    out = np.empty(idx.size, np.int32)
    x, p, mask = self._x, self._p, self._mask
    for j, k in enumerate(idx.tolist()):
      slot = x & mask
      b = int(rt.lut[k, slot])
      x = int(rt.freq[k, b]) * (x >> p) + slot - int(rt.start[k, b])
      if x < fmt.RANS_L:
        if self._ptr >= len(self._words):
          raise BitstreamError("serial stream words exhausted (truncated or corrupt)")
        x = (x << 16) | self._words[self._ptr]
        self._ptr += 1
      sup = int(rt.support[k])
      if b == sup:
        if self._eptr >= len(self._codes):
          raise BitstreamError("serial stream escape values exhausted (corrupt)")
        u = int(self._codes[self._eptr])
        self._eptr += 1
        b = -((u + 1) >> 1) if u & 1 else sup + (u >> 1)
      out[j] = b + int(rt.offset[k])
    self._x = x
    self._done += idx.size
    return out

  def finish(self) -> None:
    """BitstreamError unless the stream was decoded completely and consistently."""
    if self._done != self._n:
      raise BitstreamError(f"serial stream decoded {self._done} of {self._n} symbols")
    if self._n and (self._x != fmt.RANS_L or self._ptr != len(self._words)
                    or self._eptr != len(self._codes)):
      raise BitstreamError("serial stream did not end in the initial coder state (corrupt)")
