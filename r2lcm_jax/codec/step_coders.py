"""What happens to the symbols of one context step: encode them, or decode them.

The level loop (`latent_coding.code_level`) is written once and drives both directions;
only the step coder differs. This is what makes the encoder's quantised latents equal the
decoder's by construction: both run the same loop on the same inputs, and the only
branch is where the integer symbols come from.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable

import numpy as np

from r2lcm_jax.coding import low_bits, substreams
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError

__all__ = ["StepCoder", "EncodingStepCoder", "DecodingStepCoder", "GroupRate"]


def _wide(shifts) -> bool:
  return shifts is not None and bool(np.any(shifts))


@dataclasses.dataclass(frozen=True)
class GroupRate:
  """Size of one coding group: symbols, the model's estimate (bits), real bytes."""

  symbols: int
  estimated_bits: float
  bytes: int


class StepCoder(abc.ABC):
  """Produces the integer symbols of one coding group and records/consumes its bytes.

  Time spent here (gathering aside) is charged to the "coding" category of `clock`.
  """

  def __init__(self, clock=None):
    self._clock = clock

  def _timed(self, fn, *args):
    if self._clock is None:
      return fn(*args)
    return self._clock.timed("coding", fn, *args)

  @abc.abstractmethod
  def symbols(
    self,
    group: str,
    indexes: np.ndarray,
    compute: Callable[[], np.ndarray],
    estimate: Callable[[np.ndarray], float],
    shifts: np.ndarray | None = None,
  ) -> np.ndarray:
    """Returns the int32 symbols (n,) of `group`.

    Args:
      group: the group's name, e.g. "main/2".
      indexes: int32 (n,) table indexes of the group's symbols, coding order.
      compute: computes the symbols from the latent (only the encoder can call it).
      estimate: symbols -> the model's estimate of their size in bits (-log2 p).
      shifts: int32 (n,) raw low bits per symbol (`entropy.indexes.wide_scale_indexes`)
        or None (none): where any is > 0, the tables code the high parts and the low
        bits follow as one more substream of the group, after the rANS substreams
        (`coding.low_bits`; the decoder knows it is there from the same shifts).
    """

  @property
  def wide_scales(self) -> bool:
    """Whether symbols beyond the tables are split (format version >= 3)."""
    return True


class EncodingStepCoder(StepCoder):
  """Quantises with `compute()` and entropy-codes every group into substreams.

  `lanes` is the maximum rANS lanes per substream.
  """

  def __init__(self, tables: CodingTables, backend, *, lanes: int, clock=None):
    super().__init__(clock)
    self._tables = tables
    self._backend = backend
    self._lanes = lanes
    self.groups: dict[str, list[bytes]] = {}
    self.rates: dict[str, GroupRate] = {}

  @property
  def estimated_bits(self) -> float:
    """The model's estimate (sum of -log2 p) over every group coded so far."""
    return sum(r.estimated_bits for r in self.rates.values())

  def symbols(self, group, indexes, compute, estimate, shifts=None):
    symbols = np.asarray(compute(), np.int32)
    bits = float(estimate(symbols))
    coded, table_bits, low = symbols, bits, None
    if _wide(shifts):
      coded, lo = low_bits.split(symbols, shifts)
      table_bits = max(bits - float(np.sum(shifts)), 0.0)
      low = low_bits.pack(lo, shifts)
    # The one lane planner (coding.substreams): K and the lanes follow from the
    # group's size and estimated payload; both are written into the bitstream.
    num = substreams.choose_num_substreams(coded.size, table_bits, lanes=self._lanes)
    subs = self._timed(
      lambda: substreams.encode_group(
        coded, indexes, self._tables, num_substreams=num, backend=self._backend,
        lanes=self._lanes, est_bits=table_bits,
      )
    )
    self.groups[group] = subs if low is None else subs + [low]
    self.rates[group] = GroupRate(int(symbols.size), bits, sum(map(len, self.groups[group])))
    return symbols


class DecodingStepCoder(StepCoder):
  """Decodes each group from the substreams read out of the bitstream."""

  def __init__(self, groups: dict[str, list[bytes]], tables: CodingTables, backend,
               *, workers: int = 0, clock=None, wide_scales: bool = True):
    super().__init__(clock)
    self._wide_scales = wide_scales
    self._groups = groups
    self._used: set[str] = set()
    self._tables = tables
    self._backend = backend
    self._workers = workers

  @property
  def wide_scales(self) -> bool:
    return self._wide_scales

  def symbols(self, group, indexes, compute, estimate, shifts=None):
    del compute, estimate  # the decoder has no latent
    if group not in self._groups:
      raise BitstreamError(f"bitstream has no coding group {group!r}")
    self._used.add(group)
    subs = self._groups[group]
    lo = None
    if _wide(shifts):
      if len(subs) < 2:
        raise BitstreamError(f"group {group!r} lacks its low-bit substream")
      lo = low_bits.unpack(subs[-1], shifts)
      subs = subs[:-1]
    try:
      symbols = self._timed(
        lambda: substreams.decode_group(
          subs, indexes, self._tables, backend=self._backend,
          workers=self._workers,
        )
      )
    except BitstreamError as e:
      # The container verified this group's CRC before decoding started.
      raise BitstreamError(
        f"group {group!r} does not decode ({e}). Its bytes passed their CRC, so the "
        "decoder most likely derived other table indexes than the encoder: the same "
        "model computing different floats (another jaxlib build or hardware; see "
        "r2lcm_jax.entropy.indexes), or a file written by another implementation"
      ) from None
    symbols = np.asarray(symbols, np.int32)
    return symbols if lo is None else low_bits.join(symbols, lo, shifts)

  def unused_groups(self) -> list[str]:
    """Groups present in the bitstream that decoding never asked for."""
    return sorted(set(self._groups) - self._used)
