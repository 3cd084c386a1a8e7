"""Serial coding of the raster-order baseline (`R2LCMConfig(context="serial")`).

The decoder of a PixelCNN-style context model cannot predict position (i, j) before
every position before it is decoded, so coding is one position at a time, in raster
order, on both sides:

    for (i, j) in raster order:
      sigma, mu = window_params(u_hat[i-2:i+3, j-2:j+3], P[i, j])   (jitted, 5x5 window)
      sigma, mu rounded through float16; index k = scale_indexes(sigma, q=0)
      encoder: s = round(u[i, j] - mu)  -> symbols;  decoder: s <- rANS stream (C symbols)
      u_hat[i, j] = f16(mu + s)

The symbols of a level form one single-lane rANS stream (`coding.rans_stream`), decoded
symbol by symbol. A serial bitstream is `u32 len(hyper stream) | hyper stream | main
stream`; it carries no header (the caller knows the image size and the model): this
module exists to measure what the parallel context model buys, not as a file format.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

from r2lcm_jax.coding import rans_format, rans_numpy
from r2lcm_jax.coding.rans_stream import StreamDecoder, encode_stream
from r2lcm_jax.entropy import indexes as entropy_indexes
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import BitstreamError, ConfigError, ShapeMismatchError
from r2lcm_jax.models.config import R2LCMConfig
from r2lcm_jax.models.r2lcm import R2LCM
from r2lcm_jax.models.serial_context import RADIUS

__all__ = ["SerialRunner", "SerialResult", "code_level_serial", "serial_compress",
           "serial_decompress"]


def _f16(a) -> np.ndarray:
  return np.asarray(a, np.float32).astype(np.float16).astype(np.float32)


class SerialRunner:
  """Jitted pieces of a serial-context model.

  Args:
    config: a configuration with context "serial".
    params: its parameters ("params" collection).
    scale_table: float32 (S,) the coding tables' scale table.
  """

  def __init__(self, config: R2LCMConfig, params, scale_table: np.ndarray):
    if config.context != "serial":
      raise ConfigError(f"SerialRunner needs context 'serial', got {config.context!r}")
    self.config = config
    self.scale_table = np.asarray(scale_table, np.float32)
    model = R2LCM(config)
    params = jax.tree_util.tree_map(jnp.asarray, params)

    def call(method, *args):
      return model.apply({"params": params}, *args, method=method)

    self.analysis = jax.jit(functools.partial(call, R2LCM.analysis))
    self.hyper_synthesis = jax.jit(functools.partial(call, R2LCM.hyper_synthesis))
    self.synthesis = jax.jit(functools.partial(call, R2LCM.synthesis))
    table = self.scale_table

    def step(m, w, p, level):
      sigma, mu = getattr(m, level).window_params(w, p)
      sigma = sigma.reshape(-1).astype(jnp.float16).astype(jnp.float32)
      mu = mu.reshape(-1).astype(jnp.float16).astype(jnp.float32)
      return entropy_indexes.scale_indexes(sigma, jnp.zeros_like(sigma), table), mu

    self._window = {
      level: jax.jit(functools.partial(
        call, lambda m, w, p, level=level: step(m, w, p, level)))
      for level in ("hyper", "main")
    }
    self._rans: dict[bytes, rans_format.RansTables] = {}

  def rans_tables(self, tables: CodingTables) -> rans_format.RansTables:
    """The coder's view of `tables`, built once per runner."""
    if tables.fingerprint not in self._rans:
      self._rans[tables.fingerprint] = rans_numpy.as_rans_tables(tables)
    return self._rans[tables.fingerprint]

  def window_params(self, level: str, window: np.ndarray, P_ij: np.ndarray):
    """(1, 5, 5, C), (1, 1, 1, 2C) -> (table indexes int32 (C,), mu float32 (C,)), the
    parameters rounded through float16 first (the same arrays on both sides)."""
    idx, mu = self._window[level](window, P_ij)
    return np.asarray(idx, np.int32), np.asarray(mu, np.float32)


def code_level_serial(runner: SerialRunner, level: str, P: np.ndarray, symbols_at,
                      clock: dict | None = None) -> np.ndarray:
  """Runs the raster scan of one level; `symbols_at(i, j, idx, mu)` returns the C int32
  symbols of position (i, j) (encoder: computes them; decoder: decodes them).

  Args:
    P: float32 (1, h, w, 2C) conditioning.
    clock: optional {"network": s, "coding": s} accumulator.

  Returns:
    float32 (1, h, w, C) the decoded latent, identical on both sides.
  """
  _, h, w, _ = P.shape
  c = runner.config.latent_channels
  r = RADIUS
  u_pad = np.zeros((1, h + 2 * r, w + 2 * r, c), np.float32)
  zero_q = np.zeros(c, np.float32)
  P = np.asarray(P, np.float32)
  t_net = t_code = 0.0
  for i in range(h):
    for j in range(w):
      t0 = time.perf_counter()
      idx, mu = runner.window_params(level, u_pad[:, i : i + 2 * r + 1, j : j + 2 * r + 1],
                                     P[:, i : i + 1, j : j + 1])
      t1 = time.perf_counter()
      s = symbols_at(i, j, idx, mu)
      u_pad[0, i + r, j + r] = _f16(entropy_indexes.dequantize(s, mu, zero_q))
      t_net += t1 - t0
      t_code += time.perf_counter() - t1
  if clock is not None:
    clock["network"] = clock.get("network", 0.0) + t_net
    clock["coding"] = clock.get("coding", 0.0) + t_code
  return u_pad[:, r : r + h, r : r + w].copy()


@dataclasses.dataclass
class SerialResult:
  """data: the serial bitstream (None when decoding); z_hat, y_hat: float32 latents
  (1, h, w, C); x_hat: float32 (1, H, W, 3); seconds: {"transforms", "network",
  "coding"} (network = the per-position context steps)."""

  data: bytes | None
  z_hat: np.ndarray
  y_hat: np.ndarray
  x_hat: np.ndarray
  seconds: dict


def _check_image(runner: SerialRunner, x: np.ndarray) -> None:
  m = runner.config.size_multiple
  if x.ndim != 4 or x.shape[0] != 1 or x.shape[-1] != 3 or x.shape[1] % m or x.shape[2] % m:
    raise ShapeMismatchError(f"serial coding takes (1, H, W, 3) with H, W multiples of {m}, "
                             f"got {x.shape}")


def _code_levels(runner: SerialRunner, x_srgb: np.ndarray, P: np.ndarray, code_one, clock: dict):
  """Both levels in order, shared by the two directions: the hyper level with P = 0, h_s
  of its û as the main level's P, then g_s.

  Args:
    P: float32 (1, h/4, w/4, 2C) zeros, the hyper level's conditioning.
    code_one: `(level, P) -> û` (1, h, w, C), one level coded or decoded.

  Returns:
    ({"hyper": ẑ, "main": ŷ}, x_hat (1, H, W, 3)).
  """
  u_hat = {}
  for level in ("hyper", "main"):
    u_hat[level] = code_one(level, P)
    if level == "hyper":
      t1 = time.perf_counter()
      P = np.asarray(runner.hyper_synthesis(u_hat["hyper"], x_srgb))
      clock["transforms"] += time.perf_counter() - t1
  t1 = time.perf_counter()
  x_hat = np.asarray(runner.synthesis(u_hat["main"], x_srgb))
  clock["transforms"] += time.perf_counter() - t1
  return u_hat, x_hat


def serial_compress(runner: SerialRunner, x_raw: np.ndarray, x_srgb: np.ndarray,
                    tables: CodingTables) -> SerialResult:
  """Encodes one image (x_raw, x_srgb float32 (1, H, W, 3)) position by position."""
  _check_image(runner, x_raw)
  clock: dict = {}
  t0 = time.perf_counter()
  y, z = (np.asarray(a) for a in runner.analysis(x_raw, x_srgb))
  clock["transforms"] = time.perf_counter() - t0
  c = runner.config.latent_channels
  latents = {"hyper": z, "main": y}
  streams = []

  def encode_level(level, P):
    u, syms, idxs = latents[level], [], []

    def encode_at(i, j, idx, mu):
      s = np.asarray(entropy_indexes.quantize_symbols(u[0, i, j], mu, np.zeros_like(mu)),
                     np.int32)
      syms.append(s)
      idxs.append(idx)
      return s

    u_hat = code_level_serial(runner, level, P, encode_at, clock)
    t1 = time.perf_counter()
    streams.append(encode_stream(np.concatenate(syms), np.concatenate(idxs),
                                 runner.rans_tables(tables)))
    clock["coding"] += time.perf_counter() - t1
    return u_hat

  P = np.zeros(z.shape[:3] + (2 * c,), np.float32)
  u_hat, x_hat = _code_levels(runner, x_srgb, P, encode_level, clock)
  data = np.uint32(len(streams[0])).astype("<u4").tobytes() + streams[0] + streams[1]
  return SerialResult(data, u_hat["hyper"], u_hat["main"], x_hat, clock)


def serial_decompress(runner: SerialRunner, x_srgb: np.ndarray, data: bytes,
                      tables: CodingTables) -> SerialResult:
  """Decodes what `serial_compress` wrote for the sRGB x_srgb (1, H, W, 3)."""
  _check_image(runner, x_srgb)
  cfg = runner.config
  c = cfg.latent_channels
  h, w = x_srgb.shape[1] // cfg.upscale, x_srgb.shape[2] // cfg.upscale
  if len(data) < 4:
    raise BitstreamError("serial bitstream is truncated")
  n_hyper = int(np.frombuffer(data, "<u4", count=1)[0])
  if 4 + n_hyper > len(data):
    raise BitstreamError("serial bitstream is truncated")
  streams = {"hyper": data[4 : 4 + n_hyper], "main": data[4 + n_hyper :]}
  clock: dict = {"transforms": 0.0}

  def decode_level(level, P):
    dec = StreamDecoder(streams[level], P.shape[1] * P.shape[2] * c,
                        runner.rans_tables(tables))
    u_hat = code_level_serial(runner, level, P,
                              lambda i, j, idx, mu: dec.decode(idx), clock)
    dec.finish()
    return u_hat

  P = np.zeros((1, h // 4, w // 4, 2 * c), np.float32)
  u_hat, x_hat = _code_levels(runner, x_srgb, P, decode_level, clock)
  return SerialResult(None, u_hat["hyper"], u_hat["main"], x_hat, clock)
