"""compress / decompress: (RAW, sRGB) <-> `.r2lcm` metadata bitstream.

    encoder                                         decoder
    base: x = raw, or the residual over a base      base rebuilt from sRGB + header
          image made from the sRGB (base_residual)
    x, sRGB ─ pad to 16 ─► g_a (tiled) ─► y         sRGB ─ pad ─┐
                               h_a ─► z             header ◄─ bitstream
    hyper level: code z with P = 0  ──────────────► decode ẑ (same loop)
    P_main = h_s(ẑ; sRGB)                           P_main = h_s(ẑ; sRGB)
    main level: code y with P_main ───────────────► decode ŷ (same loop)
    (optional) x̂ = g_s(bicubic×4(ŷ)) (tiled)        x̂ = g_s(bicubic×4(ŷ)) (tiled), crop
    [models with a base, optional] residual gate: per-tile/channel scale s of the
      residual chosen against the RAW, coded as group "gate" ───► decode s
    raw estimate = base + gated residual (base_residual.Base.reconstruct, both sides)

CVPR'23 models (arch "cvpr23"): images are padded to multiples of 64, the hyper level
is one group coded with the factorized bottleneck's tables (+ the saved channel mean,
`codec.bottleneck_coding`), the main level runs the same loop with the jointly
predicted order masks, and g_s upsamples y_hat itself (no bicubic).

Nothing but the sRGB image and the bitstream reaches the decoder: order masks come from
fixed Gumbel keys and the decoded state, the header carries geometry, rate settings and
the fingerprints of the tables, the model and the sRGB image (decoding with another
sRGB, model or tables is refused).

Timings are split into "network" (compiled model calls, blocking) and "coding"
(symbol/index gathering and entropy coding).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import numpy as np

from r2lcm_jax.codec import geometry, residual_gate, tiling
from r2lcm_jax.codec.base_residual import Base
from r2lcm_jax.codec.bottleneck_coding import code_bottleneck
from r2lcm_jax.codec.latent_coding import RateSettings, code_level
from r2lcm_jax.codec.runner import ModelRunner
from r2lcm_jax.codec.step_coders import DecodingStepCoder, EncodingStepCoder, GroupRate
from r2lcm_jax.coding import backends, bitstream, substreams
from r2lcm_jax.coding.fingerprint import sha256_fingerprint
from r2lcm_jax.entropy.tables import CodingTables
from r2lcm_jax.errors import (
  BitstreamError,
  CheckpointError,
  InputError,
  ShapeMismatchError,
)
from r2lcm_jax.io.images import srgb_to_float
from r2lcm_jax.io.sensor_layout import SensorLayout
from r2lcm_jax.isp.pipeline import IspParams
from r2lcm_jax.models import isp_base
from r2lcm_jax.models.coding_order import DEFAULT_ORDER, check_order

__all__ = [
  "CompressResult",
  "GroupRate",
  "DecompressResult",
  "compress",
  "compress_image",
  "decompress",
  "decompress_image",
  "compress_batch",
  "gate_for",
  "srgb_fingerprint",
  "DEFAULT_TILE",
  "DEFAULT_HALO",
]

DEFAULT_TILE = 128  # latent pixels per tile core (512 image pixels)
DEFAULT_HALO = 8  # latent pixels of context around a core (see codec.tiling)


@dataclasses.dataclass
class CompressResult:
  """Bitstream plus the encoder-side quantities (for tests, metrics and reports).

  Attributes:
    data: the `.r2lcm` bytes.
    y_hat: float32 (1, h, w, C) main latent as the decoder will see it.
    z_hat: float32 (1, h/4, w/4, C) hyper latent as the decoder will see it.
    x_hat: float32 (H, W, 3) encoder-side reconstruction (None unless requested).
    estimated_bits: sum of -log2 likelihood of every transmitted symbol.
    seconds: {"network": s, "coding": s}.
    groups: per coding group ("hyper/0", ...): its symbol count, estimated bits and
      real substream bytes (the container adds its header and group table).
    gate_symbols: int32 (rows, cols, 3) residual-gate symbols (None without a gate).
    gate: the gate's GateSpec (None without a gate).
    delta: float32 (H, W, 3) the network's residual in raw units, before the gate and
      the clip (ISP-base models, when x_hat was computed; else None).
  """

  data: bytes
  y_hat: np.ndarray
  z_hat: np.ndarray
  x_hat: np.ndarray | None
  estimated_bits: float
  seconds: dict[str, float]
  groups: dict[str, GroupRate] = dataclasses.field(default_factory=dict)
  gate_symbols: np.ndarray | None = None
  gate: residual_gate.GateSpec | None = None
  delta: np.ndarray | None = None


@dataclasses.dataclass
class DecompressResult:
  """Decoded RAW plus the decoded latents and timings (see CompressResult)."""

  raw: np.ndarray
  y_hat: np.ndarray
  z_hat: np.ndarray
  header: bitstream.Header
  seconds: dict[str, float]


def srgb_fingerprint(srgb_f32: np.ndarray) -> bytes:
  """SHA-256 of the float32 sRGB (H, W, 3) exactly as fed to the model."""
  return sha256_fingerprint(np.ascontiguousarray(srgb_f32, np.float32))


class _Clock:
  """Accumulates wall time per category."""

  def __init__(self):
    self.seconds = {"network": 0.0, "coding": 0.0}

  def timed(self, category, fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    self.seconds[category] += time.perf_counter() - t0
    return out


class _TimedRunner:
  """Forwards ModelRunner calls, charging their time to "network"."""

  def __init__(self, runner: ModelRunner, clock: _Clock):
    self._runner = runner
    self._clock = clock

  def __getattr__(self, name):
    attr = getattr(self._runner, name)
    if not callable(attr):
      return attr
    return lambda *a: self._clock.timed("network", attr, *a)


def gate_for(runner: ModelRunner, tile: int | None = None) -> residual_gate.GateSpec | None:
  """The residual gate of a `--gate_tile` value, as the command-line tools use it.

  None: the default (GateSpec(), 64-pixel tiles, for models with a base; no gate
  for the others); 0: no gate; > 0: a gate with that tile side.
  """
  if tile is None:
    return residual_gate.GateSpec() if isp_base.has_base(runner.config) else None
  if int(tile) == 0:
    return None
  return residual_gate.GateSpec(tile=int(tile))


def _as_backend(backend) -> backends.CoderBackend:
  return backends.get_backend(backend) if isinstance(backend, str) else backend


def _analysis_tiled(runner, x, s, tile, halo):
  scale = runner.scale
  h, w = x.shape[1] // scale, x.shape[2] // scale
  return tiling.apply_tiled(
    runner.analysis_main, [(x, scale), (s, scale)], (h, w), 1,
    runner.latent_channels, tile=tile, halo=halo,
  )


def _synthesis_tiled(runner, y_hat, s, tile, halo):
  scale = runner.scale
  h, w = y_hat.shape[1:3]
  return tiling.apply_tiled(
    runner.synthesis, [(y_hat, 1), (s, scale)], (h, w), scale, 3, tile=tile, halo=halo
  )


def compress_image(
  raw: np.ndarray,
  srgb: np.ndarray,
  runner: ModelRunner,
  tables: CodingTables,
  *,
  drop_steps: int = 0,
  gamma: float = 0.0,
  backend: str | backends.CoderBackend = "auto",
  lanes: int = substreams.DEFAULT_LANES,
  reconstruct: bool = False,
  tile: int = DEFAULT_TILE,
  halo: int = DEFAULT_HALO,
  isp: IspParams | None = None,
  gate: residual_gate.GateSpec | None = None,
  sensor: SensorLayout | None = None,
  order: str = DEFAULT_ORDER,
) -> CompressResult:
  """Encodes the metadata of one image.

  Args:
    raw: float32 (H, W, 3) raw-RGB in [0, 1].
    srgb: uint8 or float32 (H, W, 3) sRGB (the image stored next to the metadata).
    runner: compiled model.
    tables: integer coding tables.
    drop_steps: main-level steps not sent (0..T-1).
    gamma: coarser step (2^(q+gamma)) on the last sent main step; stored as gamma*1000.
    backend: coder backend name or object ("auto", "native", "jax", "numpy", "tfc";
      "auto": native on a CPU, jax on an accelerator).
    lanes: rANS lanes per substream.
    reconstruct: also run the decoder network on the encoder side (x_hat).
    tile, halo: tiling of the full-resolution networks, in latent pixels.
    isp: the ISP parameters the sRGB was rendered with; required by (and only used
      for) models with base "isp_inverse", which store them in the header. The sRGB
      must be that ISP's render of `raw` (`isp_base.check_rendered_by`).
    gate: add a residual gate with this tile and denominator (models with a base only;
      `codec.residual_gate`). Costs one synthesis pass on the encoder side.
    sensor: the source's sensor layout (`io.sensor_layout`), stored in the header so
      that the decoder can write the reconstruction as a DNG; None stores nothing.
    order: the context model's coding order (`models.coding_order.ORDERS`: "learned",
      "argmax", "random", "checkerboard"), recorded in the header; the decoder rebuilds
      the same order map from it. With "checkerboard" only steps 0 and 1 code anything,
      so drop_steps < T - 1 and gamma (on step T - 1 - drop_steps) change nothing.

  Models with base "fitted" fit their sRGB -> raw map to (sRGB, raw) here and store it
  in the header; they need nothing else.

  Returns:
    CompressResult (x_hat in raw-RGB units).

  Raises:
    InputError: bad settings, an ISP-base model without `isp` or with an sRGB that ISP
      did not make, or a gate for a model without a base.
  """
  raw = np.asarray(raw, np.float32)
  s = srgb_to_float(srgb)
  if raw.ndim != 3 or raw.shape[2] != 3:
    raise ShapeMismatchError(f"raw must be (H, W, 3), got {raw.shape}")
  if raw.shape != s.shape:
    raise ShapeMismatchError(f"raw {raw.shape[:2]} and sRGB {s.shape[:2]} differ in size")
  rate = RateSettings.from_request(drop_steps, gamma, runner.num_steps)
  check_order(order, runner.num_steps)
  base = Base.for_encoder(runner.config, s, raw, isp)
  base.check_gate(gate)
  pad = geometry.plan_padding(*raw.shape[:2], runner.config.size_multiple)
  x_p = geometry.pad(base.target(raw), pad)[None]
  s_p = geometry.pad(s, pad)[None]
  clock = _Clock()
  run = _TimedRunner(runner, clock)
  coder_backend = _as_backend(backend)
  coder = EncodingStepCoder(tables, coder_backend, lanes=lanes, clock=clock)
  # Analysis, then both levels through the shared coding loop.
  y = _analysis_tiled(run, x_p, s_p, tile, halo)
  z = run.analysis_hyper(y, s_p)
  z_hat, y_hat = _code_levels(run, z, y, s_p, rate, coder, order)
  # Optional encoder-side synthesis; the residual gate needs it.
  x_hat = symbols = delta = None
  if reconstruct or gate is not None:
    x_hat = geometry.crop(_synthesis_tiled(run, y_hat, s_p, tile, halo)[0], pad)
    delta = base.delta(x_hat)
  if gate is not None:
    symbols = base.choose_gate(raw, x_hat, gate)
    coder.symbols(residual_gate.GROUP,
                  residual_gate.table_indexes(symbols.size, tables.scale_table),
                  lambda: symbols.ravel(), residual_gate.estimate_bits)
  if x_hat is not None:
    x_hat = base.reconstruct(x_hat, gate, symbols)
  header = bitstream.Header(
    coder_id=coder_backend.coder_id,
    table_fingerprint=tables.fingerprint,
    model_fingerprint=runner.model_fingerprint,
    srgb_fingerprint=srgb_fingerprint(s),
    image_hw=raw.shape[:2],
    padded_hw=(pad.padded_height, pad.padded_width),
    crop=pad.crop,
    latent_shapes=(tuple(z.shape[1:]), tuple(y.shape[1:])),
    num_steps=runner.num_steps,
    drop_steps=rate.drop_steps,
    gamma_milli=rate.gamma_milli,
    lanes=lanes,
    flags=base.flags | (bitstream.FLAG_GATE if gate is not None else 0) | (
      bitstream.FLAG_SENSOR if sensor is not None else 0) | (
      bitstream.FLAG_ORDER if order != DEFAULT_ORDER else 0),
    isp=base.isp,
    gate_tile=gate.tile if gate is not None else 0,
    gate_denominator=gate.denominator if gate is not None else 0,
    fitted=base.fitted,
    sensor=sensor.to_bytes() if sensor is not None else None,
    order=order,
  )
  groups = [bitstream.Group(name, subs) for name, subs in coder.groups.items()]
  data = bitstream.pack(header, groups)
  return CompressResult(data, y_hat, z_hat, x_hat, coder.estimated_bits, clock.seconds,
                        dict(coder.rates), symbols, gate, delta)


def _code_levels(run, z, y, s_p, rate, coder,
                 order: str = DEFAULT_ORDER) -> tuple[np.ndarray, np.ndarray]:
  """Codes (or, with z = y = None, decodes) the hyper level, then the main level given it.

  Args: z (1, h/4, w/4, C), y (1, h, w, C) or None; s_p (1, H, W, 3) padded sRGB.
  Returns z_hat, y_hat float32, identical on both sides.
  """
  h, w = s_p.shape[1] // run.scale, s_p.shape[2] // run.scale
  if run.config.arch == "cvpr23":  # factorized hyper level, one step (bottleneck_coding)
    z_hat = code_bottleneck(run, z, (h // 4, w // 4, run.latent_channels), coder)
  else:
    P_hyper = np.zeros((1, h // 4, w // 4, 2 * run.latent_channels), np.float32)
    z_hat = code_level(run, "hyper", z, P_hyper, s_p, rate, coder, order)
  P_main = run.hyper_synthesis(z_hat, s_p)
  y_hat = code_level(run, "main", y, P_main, s_p, rate, coder, order)
  return z_hat, y_hat


def compress(
  raw: np.ndarray,
  srgb: np.ndarray,
  model: ModelRunner,
  tables: CodingTables,
  drop_steps: int = 0,
  gamma: float = 0.0,
  **options,
) -> bytes:
  """Encodes one image's metadata; returns the `.r2lcm` bytes (see compress_image)."""
  return compress_image(
    raw, srgb, model, tables, drop_steps=drop_steps, gamma=gamma, **options
  ).data


def _check_header(header: bitstream.Header, runner: ModelRunner, tables: CodingTables,
                  s: np.ndarray) -> None:
  if header.table_fingerprint != tables.fingerprint:
    raise CheckpointError(
      "bitstream was written with other coding tables "
      f"({header.table_fingerprint.hex()[:12]} != {tables.fingerprint.hex()[:12]})"
    )
  if header.model_fingerprint != runner.model_fingerprint:
    raise CheckpointError(
      "bitstream was written by another model "
      f"({header.model_fingerprint.hex()[:12]} != {runner.model_fingerprint.hex()[:12]})"
    )
  if tuple(header.image_hw) != s.shape[:2]:
    raise ShapeMismatchError(
      f"sRGB is {s.shape[0]}x{s.shape[1]} but the metadata belongs to a "
      f"{header.image_hw[0]}x{header.image_hw[1]} image"
    )
  if header.srgb_fingerprint != srgb_fingerprint(s):
    raise InputError(
      "this sRGB image is not the one the metadata was encoded with (fingerprint "
      "mismatch); decode with the exact sRGB/JPEG file written by the encoder"
    )
  T = runner.num_steps
  pad = geometry.plan_padding(*header.image_hw, runner.config.size_multiple)
  expected = (
    (pad.padded_height, pad.padded_width),
    pad.crop,
    T,
  )
  if (tuple(header.padded_hw), tuple(header.crop), header.num_steps) != expected:
    raise BitstreamError("bitstream geometry is inconsistent with the image size/model")
  if not 0 <= header.drop_steps < T:
    raise BitstreamError(f"bitstream drop_steps {header.drop_steps} out of range")
  if header.order == "checkerboard" and T < 2:
    raise BitstreamError("bitstream uses the checkerboard order, which needs T >= 2 steps")


def decompress_image(
  srgb: np.ndarray,
  data: bytes,
  runner: ModelRunner,
  tables: CodingTables,
  *,
  backend: str | backends.CoderBackend | None = None,
  workers: int = 0,
  tile: int = DEFAULT_TILE,
  halo: int = DEFAULT_HALO,
) -> DecompressResult:
  """Decodes the RAW of one image from its sRGB and its `.r2lcm` bytes.

  Args:
    srgb: uint8 or float32 (H, W, 3), the exact image the encoder was given.
    data: the bitstream.
    runner, tables: the model and tables the bitstream was written with.
    backend: coder backend; None picks one that reads the header's coder id.
    workers: threads for decoding substreams (the result is identical for any value).
    tile, halo: tiling of the synthesis network (latent pixels).

  Returns:
    DecompressResult with raw float32 (H, W, 3) (not clamped).

  Raises:
    BitstreamError, CheckpointError, InputError (see `_check_header`).
  """
  s = srgb_to_float(srgb)
  header, groups = bitstream.unpack(bytes(data))
  _check_header(header, runner, tables, s)
  base = Base.from_header(runner.config, s, header)
  coder_backend = (
    backends.backend_for_coder(header.coder_id) if backend is None else _as_backend(backend)
  )
  if coder_backend.coder_id != header.coder_id:
    raise BitstreamError(
      f"bitstream was written by coder {header.coder_id}, backend reads {coder_backend.coder_id}"
    )
  pad = geometry.plan_padding(*header.image_hw, runner.config.size_multiple)
  s_p = geometry.pad(s, pad)[None]
  clock = _Clock()
  run = _TimedRunner(runner, clock)
  coder = DecodingStepCoder(
    {g.name: g.substreams for g in groups}, tables, coder_backend, workers=workers,
    clock=clock, wide_scales=header.version >= 3,
  )
  rate = RateSettings(drop_steps=header.drop_steps, gamma_milli=header.gamma_milli)
  scale = runner.scale
  h, w = pad.padded_height // scale, pad.padded_width // scale
  C = runner.latent_channels
  expected_shapes = ((h // 4, w // 4, C), (h, w, C))
  if tuple(tuple(x) for x in header.latent_shapes) != expected_shapes:
    raise BitstreamError(
      f"latent shapes {header.latent_shapes} do not match the model ({expected_shapes})"
    )
  z_hat, y_hat = _code_levels(run, None, None, s_p, rate, coder, header.order)
  symbols = gate = None
  if header.flags & bitstream.FLAG_GATE:
    gate = residual_gate.GateSpec(header.gate_tile, header.gate_denominator)
    grid = residual_gate.grid_shape(tuple(header.image_hw), gate)
    symbols = residual_gate.check_symbols(coder.symbols(
      residual_gate.GROUP,
      residual_gate.table_indexes(int(np.prod(grid)), tables.scale_table), None, None),
      gate).reshape(grid)
  unused = set(coder.unused_groups())
  if unused:
    raise BitstreamError(f"bitstream has unexpected coding groups {sorted(unused)}")
  x_hat = geometry.crop(_synthesis_tiled(run, y_hat, s_p, tile, halo)[0], pad)
  x_hat = base.reconstruct(x_hat, gate, symbols)
  return DecompressResult(x_hat, y_hat, z_hat, header, clock.seconds)


def decompress(srgb: np.ndarray, data: bytes, model: ModelRunner, tables: CodingTables,
               **options) -> np.ndarray:
  """Decodes the raw-RGB float32 (H, W, 3) (see decompress_image)."""
  return decompress_image(srgb, data, model, tables, **options).raw


def compress_batch(raws: Sequence[np.ndarray], srgbs: Sequence[np.ndarray],
                   model: ModelRunner, tables: CodingTables, **options) -> list[bytes]:
  """Encodes a batch of images (one bitstream each; compiled functions are reused)."""
  if len(raws) != len(srgbs):
    raise ShapeMismatchError(f"{len(raws)} RAW images but {len(srgbs)} sRGB images")
  return [compress(r, s, model, tables, **options) for r, s in zip(raws, srgbs, strict=True)]
