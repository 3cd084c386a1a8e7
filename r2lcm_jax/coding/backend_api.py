"""What every coder backend provides, and the coder ids written into bitstream headers.

A backend (`coding.backends` for "numpy", "native" and "jax", `coding.tfc_backend` for
"tfc") subclasses `CoderBackend`; `coder_id` names the entropy coder whose bytes it writes:
`CODER_RANS` (the project's rANS format, shared by "numpy", "native" and "jax") or `CODER_TFC`
(one tensorflow-compression range-coder string per substream).
"""

from __future__ import annotations

import abc

import numpy as np

from r2lcm_jax.entropy.tables import CodingTables

__all__ = ["CODER_RANS", "CODER_TFC", "CODER_NAMES", "CoderBackend"]

CODER_RANS = 1
CODER_TFC = 2
CODER_NAMES = {CODER_RANS: "rans", CODER_TFC: "tfc"}


class CoderBackend(abc.ABC):
  """A way to run one entropy coder on lists of substreams."""

  name: str = ""
  coder_id: int = 0

  @abc.abstractmethod
  def encode_substreams(self, items: list[tuple[np.ndarray, np.ndarray]],
                        tables: CodingTables, *, lanes: int) -> list[bytes]:
    """Encodes each (symbols int32 (n_k,), indexes int32 (n_k,)) pair into one
    independent substream."""

  @abc.abstractmethod
  def decode_substreams(self, datas: list[bytes], indexes: list[np.ndarray],
                        tables: CodingTables, *, lanes: int | None = None
                        ) -> list[np.ndarray]:
    """Decodes each substream given its int32 indexes into int32 (n_k,) symbols;
    BitstreamError if corrupt."""

  def close(self) -> None:  # noqa: B027 (optional hook, default: nothing to release)
    """Releases resources (worker processes); the default has none."""

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()
