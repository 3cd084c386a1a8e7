"""The residual gate: a per-tile, per-channel scale on the decoded residual, chosen by the encoder.

Only for models that reconstruct over a base (the naive inverse ISP or the fitted map,
`models.isp_base`). The decoder of such a model returns

    x_hat = clip(x_base + delta, 0, 1),    delta = r_hat / residual_gain   (H, W, 3)

where `r_hat = g_s(y_hat)`. A network trained on a few images can be wrong in a
systematic way on content it has not seen (on a held-back frame it overshoots the
residual by about a quarter, and by much more in a bright sky), and only the encoder,
which has the RAW, can tell. The gate lets it correct this for about 7 bits per 64x64
tile (~0.002 bpp): the image is cut into `tile` x `tile` tiles (the last row and column
may be smaller), and channel c of tile t gets an integer symbol s in [-D, D]:

    x_hat[..., c] = clip(x_base[..., c] + (1 + s / D) * delta[..., c], 0, 1)   on tile t

so s = 0 is the network as trained, s = -D is the base alone and s = +D
doubles the residual. The encoder picks, per tile and channel, the s with the smallest
squared error against the RAW (ties go to the smaller |s|, the cheaper symbol); the
gated image is therefore never worse than the ungated one nor than the base,
tile by tile. (One scale per tile for all three channels was measured too: on the
held-back HERO7 frame it gives 0.5 dB less; see experiments/README.md.)

The symbols, an int32 (rows, cols, 3) array in C order, are entropy-coded as the coding
group "gate" with one fixed table row (a Gaussian of scale 2 at step 1: ~2.3 bits for
s = 0, ~6 bits for |s| = 4), through the same step coder and substreams as the latents,
so every coder backend writes and reads them. The bitstream header stores (tile, D)
(`coding.bitstream`, FLAG_GATE).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from r2lcm_jax.coding import bitstream
from r2lcm_jax.entropy import gaussian
from r2lcm_jax.entropy import indexes as entropy_indexes
from r2lcm_jax.errors import BitstreamError, InputError

__all__ = ["GateSpec", "DEFAULT_TILE", "DEFAULT_DENOMINATOR", "GROUP", "grid_shape",
           "scale_map", "choose", "apply", "table_indexes", "estimate_bits", "check_symbols", "summary"]

DEFAULT_TILE = 64
DEFAULT_DENOMINATOR = 4
GROUP = "gate"
MIN_TILE, MAX_TILE = bitstream.MIN_GATE_TILE, bitstream.MAX_GATE_TILE
MAX_DENOMINATOR = bitstream.MAX_GATE_DENOMINATOR
_SIGMA = np.float32(2.0)  # the symbols' coding distribution: N(0, 2^2) at step 1


@dataclasses.dataclass(frozen=True)
class GateSpec:
  """Tile side (pixels) and denominator D: tile t is scaled by 1 + s_t / D, |s_t| <= D."""

  tile: int = DEFAULT_TILE
  denominator: int = DEFAULT_DENOMINATOR

  def __post_init__(self):
    if not MIN_TILE <= int(self.tile) <= MAX_TILE:
      raise InputError(f"gate tile must be in [{MIN_TILE}, {MAX_TILE}] pixels, got {self.tile}")
    if not 1 <= int(self.denominator) <= MAX_DENOMINATOR:
      raise InputError(f"gate denominator must be in [1, {MAX_DENOMINATOR}], "
                       f"got {self.denominator}")


def grid_shape(image_hw: tuple[int, int], spec: GateSpec) -> tuple[int, int, int]:
  """(rows, cols, 3): the symbols' shape over an (H, W) image (ceil division)."""
  h, w = image_hw
  return -(-h // spec.tile), -(-w // spec.tile), 3


def scale_map(symbols: np.ndarray, image_hw: tuple[int, int], spec: GateSpec) -> np.ndarray:
  """float32 (H, W, 3): 1 + s/D of each pixel's tile and channel, for (rows, cols, 3) s."""
  h, w = image_hw
  scales = (np.float32(1.0) + np.asarray(symbols, np.float32) / np.float32(spec.denominator))
  full = np.repeat(np.repeat(scales, spec.tile, axis=0), spec.tile, axis=1)
  return full[:h, :w].astype(np.float32)


def apply(x_base: np.ndarray, delta: np.ndarray, symbols: np.ndarray,
          spec: GateSpec) -> np.ndarray:
  """clip(x_base + scale * delta, 0, 1): float32 (H, W, 3) from (H, W, 3) inputs."""
  scale = scale_map(symbols, x_base.shape[:2], spec)
  return np.clip(x_base + scale * np.asarray(delta, np.float32), 0.0, 1.0).astype(np.float32)


def _tile_sums(a: np.ndarray, spec: GateSpec) -> np.ndarray:
  """float64 (rows, cols, 3): the sum of (H, W, 3) `a` over each tile, per channel."""
  h, w = a.shape[:2]
  rows, cols, _ = grid_shape((h, w), spec)
  t = spec.tile
  padded = np.zeros((rows * t, cols * t, 3), np.float64)
  padded[:h, :w] = a
  return padded.reshape(rows, t, cols, t, 3).sum(axis=(1, 3))


def choose(x_raw: np.ndarray, x_base: np.ndarray, delta: np.ndarray,
           spec: GateSpec, *, per_channel: bool = True) -> np.ndarray:
  """int32 (rows, cols, 3): per tile and channel, the s in [-D, D] with the least error.

  Args:
    x_raw: float32 (H, W, 3) the RAW (the encoder's target).
    x_base: float32 (H, W, 3) the naive inverse.
    delta: float32 (H, W, 3) the network's residual in raw units (r_hat / gain).
    spec: tile and denominator.
    per_channel: False picks one s per tile for all three channels (the error summed
      over the channels; repeated along the last axis). The codec uses True;
      `r2lcm bench gate` compares both.

  Ties go to the smallest |s| (then the negative one), the cheapest symbol.
  """
  x_raw = np.asarray(x_raw, np.float32)
  if x_raw.shape != x_base.shape or delta.shape != x_base.shape:
    raise InputError(f"gate: raw {x_raw.shape}, base {x_base.shape} and residual "
                     f"{delta.shape} differ")
  d = spec.denominator
  # Candidates in order of cost: 0, -1, +1, -2, +2, ... (argmin keeps the first minimum).
  candidates = [0] + [v for k in range(1, d + 1) for v in (-k, k)]
  best_sse = best = None
  for s in candidates:
    scale = np.float32(1.0) + np.float32(s) / np.float32(d)
    x_hat = np.clip(x_base + scale * delta, 0.0, 1.0)
    sse = _tile_sums(np.square(x_hat - x_raw, dtype=np.float32), spec)
    if not per_channel:
      sse = np.repeat(sse.sum(axis=-1, keepdims=True), 3, axis=-1)
    if best is None:
      best_sse, best = sse, np.zeros(sse.shape, np.int32)
    else:
      better = sse < best_sse
      best_sse = np.where(better, sse, best_sse)
      best = np.where(better, np.int32(s), best)
  return best.astype(np.int32)


def table_indexes(n: int, scale_table: np.ndarray) -> np.ndarray:
  """int32 (n,): the table row every gate symbol is coded with (N(0, 2^2), step 1)."""
  idx = entropy_indexes.scale_indexes(np.full((1,), _SIGMA, np.float32),
                                      np.zeros((1,), np.float32), scale_table)
  return np.full((n,), int(np.asarray(idx)[0]), np.int32)


def estimate_bits(symbols: np.ndarray) -> float:
  """The coding model's size estimate (bits, -log2 p) of int symbols (n,)."""
  s = np.asarray(symbols, np.float32)
  zero = np.zeros_like(s)
  return gaussian.code_length_bits(s, zero, np.full_like(s, _SIGMA), zero)


def check_symbols(symbols: np.ndarray, spec: GateSpec) -> np.ndarray:
  """The decoded symbols, or BitstreamError if any lies outside [-D, D]."""
  symbols = np.asarray(symbols, np.int32)
  if symbols.size and int(np.abs(symbols).max()) > spec.denominator:
    raise BitstreamError(
      f"gate symbol {int(np.abs(symbols).max())} outside [-{spec.denominator}, "
      f"{spec.denominator}] (corrupt or foreign bitstream)")
  return symbols


def summary(symbols: np.ndarray, spec: GateSpec) -> str:
  """One line for reports: grid, mean residual scale per channel, share left at 1."""
  s = np.asarray(symbols)
  scale = 1.0 + s.astype(np.float64) / spec.denominator
  means = "/".join(f"{m:.2f}" for m in scale.reshape(-1, 3).mean(axis=0))
  return (f"{s.shape[0]}x{s.shape[1]} tiles of {spec.tile} px; residual scale mean "
          f"R/G/B {means} (min {scale.min():.2f}, max {scale.max():.2f}); "
          f"{100.0 * np.mean(s == 0):.0f}% at 1")
