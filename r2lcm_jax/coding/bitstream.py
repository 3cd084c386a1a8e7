"""The `.r2lcm` container: header, per-group substream table, payload, CRC32 checks.

Layout (all integers little-endian):

    magic      8 bytes  b"\\x89R2LCM\\r\\n"
    version    u16      FORMAT_VERSION (a larger value is a future version)
    hlen       u16      length of the header body (<= MAX_HEADER_BYTES)
    body       hlen bytes:
        coder_id u8 | flags u8 | table_fp 32 | model_fp 32 | srgb_fp 32 |
        image_hw 2 x u32 | padded_hw 2 x u32 | crop (top, left, h, w) 4 x u32 |
        num_steps u16 | drop_steps u16 | gamma_milli i32 | lanes u32 |
        num_levels u8 | latent_shapes num_levels x (h u32, w u32, c u32) |
        [flags & FLAG_ISP] isp 14 x f32: wb (3), ccm (3x3, row-major), exposure,
          tone_strength: the ISP the sRGB was rendered with, for models that
          reconstruct over its naive inverse (`models.isp_base`)
        [flags & FLAG_GATE] gate_tile u16 | gate_denominator u8: the residual gate's
          tile side and denominator (`codec.residual_gate`; needs a base block)
        [flags & FLAG_FITTED] fitted_len u16 | fitted_len bytes: the parameters of the
          sRGB -> raw map the encoder fitted (`isp.fitted_map`), for models that
          reconstruct over it; opaque here, parsed by the codec
        [flags & FLAG_SENSOR] sensor_len u16 | sensor_len bytes: the sensor layout
          (CFA and phase, levels, colour matrix, neutral, orientation, camera) that a
          DNG of the reconstruction needs (`io.sensor_layout`, versioned there); opaque
        [flags & FLAG_ORDER] order u8: the context model's coding order, an index into
          ORDER_IDS (`models.coding_order`); absent = "learned"
    hcrc       u32      CRC32 of magic..body
    num_groups u32
    per group: name_len u8 | name (ASCII) | K u32 | payload crc32 u32 | K x u32 lengths
    tcrc       u32      CRC32 of the group table (num_groups .. last length)
    payload    the substreams of group 0 (in order), then group 1, ...

Flags: bit 0 (FLAG_ISP) = the ISP block is present; bit 1 (FLAG_GATE) = the gate block
is present and the payload has a "gate" group; bit 2 (FLAG_FITTED) = the fitted-map
block is present (never together with FLAG_ISP); bit 3 (FLAG_SENSOR) = the sensor-layout
block is present (any base); bit 4 (FLAG_ORDER) = the coding-order byte is present
(written only for an order other than the default "learned", so default bitstreams are
unchanged; a decoder that predates it refuses such a file); other bits are refused (a
reader that predates a flag refuses the file instead of misreading it).

Versions: 1 stored rANS escape values as raw int32; 2 stores them as zig-zag varints
(`rans_format`); 3 (current) codes symbols whose scale lies beyond the coding tables as
a table-coded high part plus raw low bits, the low bits as the group's last substream
(`entropy.indexes.wide_scale_indexes`, `coding.low_bits`), where version 2 clamped them to
the largest table. Version-1 files are refused with a message that says so
(`RETIRED_VERSIONS`); re-encode them from the RAW. Version-2 files are still read (the
header's `version` tells the codec which rule they were coded with).

Parsing is strict and bounded: every count is checked against the bytes that remain
before anything is allocated, the substream lengths must add up to exactly the
remaining payload, and each group's payload CRC is verified. Every failure raises
`BitstreamError` with the reason (bad magic, future version, truncated at byte N, CRC
mismatch in group G, bound exceeded).

API:
  Header(...) dataclass (fields below), Group(name, substreams)
  pack(header, groups) -> bytes
  unpack(data) -> (Header, list[Group])
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib

from r2lcm_jax.coding.backends import CODER_NAMES
from r2lcm_jax.errors import BitstreamError

__all__ = [
  "MAGIC",
  "FORMAT_VERSION",
  "READ_VERSIONS",
  "Header",
  "Group",
  "pack",
  "unpack",
  "MAX_IMAGE_SIDE",
  "MAX_GROUPS",
  "MAX_SUBSTREAMS_PER_GROUP",
  "FLAG_ISP",
  "FLAG_GATE",
  "FLAG_FITTED",
  "FLAG_SENSOR",
  "FLAG_ORDER",
  "ORDER_IDS",
  "ISP_VALUES",
  "MAX_FITTED_BYTES",
  "MAX_SENSOR_BYTES",
]

MAGIC = b"\x89R2LCM\r\n"
FORMAT_VERSION = 3
READ_VERSIONS = (2, 3)
RETIRED_VERSIONS = {
  1: "rANS escape values as raw int32; version 2 codes them as varints",
}
MAX_HEADER_BYTES = 4096
MAX_IMAGE_SIDE = 1 << 16
MAX_LEVELS = 8
MAX_CHANNELS = 4096
MAX_STEPS = 256
MAX_LANES = 65535
MAX_GROUPS = 4096
MAX_SUBSTREAMS_PER_GROUP = 65536
MAX_NAME = 64
FLAG_ISP = 1
FLAG_GATE = 2
FLAG_FITTED = 4
FLAG_SENSOR = 8
FLAG_ORDER = 16
KNOWN_FLAGS = FLAG_ISP | FLAG_GATE | FLAG_FITTED | FLAG_SENSOR | FLAG_ORDER
# Coding orders by header id; the same names as models.coding_order.ORDERS (a test checks).
ORDER_IDS = ("learned", "argmax", "random", "checkerboard")
MAX_FITTED_BYTES = 2048
MAX_SENSOR_BYTES = 512
MIN_GATE_TILE = 8
MAX_GATE_TILE = 4096
MAX_GATE_DENOMINATOR = 64
ISP_VALUES = 14
_FIXED = struct.Struct("<BB32s32s32s8IHHiI")
_SHAPE = struct.Struct("<3I")
_ISP = struct.Struct(f"<{ISP_VALUES}f")
_GATE = struct.Struct("<HB")
_FITTED_LEN = struct.Struct("<H")
_BLOCK_LEN = _FITTED_LEN  # u16 length of an opaque block


@dataclasses.dataclass(frozen=True)
class Header:
  """Everything the decoder needs besides the payload.

  Attributes:
    coder_id: entropy coder that wrote the payload (backends.CODER_*).
    table_fingerprint: 32-byte SHA-256 of the CodingTables.
    model_fingerprint: 32-byte fingerprint of the model parameters.
    srgb_fingerprint: 32-byte fingerprint of the sRGB image the metadata belongs to.
    image_hw: (H, W) of the RAW image.
    padded_hw: (H', W') after padding to the model's stride (>= image_hw).
    crop: (top, left, h, w) of the image inside the padded array.
    latent_shapes: ((h, w, c), ...) per level (hyper first).
    num_steps: context-model steps per level.
    drop_steps: dropped main-level steps (rate setting beta).
    gamma_milli: gamma * 1000 (rate setting).
    lanes: maximum rANS lanes per substream the encoder allowed (informational: every
      rANS substream records the lanes it uses, chosen from its payload).
    flags: FLAG_ISP or 0 (other bits reserved).
    isp: ISP_VALUES float32-representable values (wb 3, ccm 9 row-major, exposure,
      tone_strength) when flags has FLAG_ISP, else None.
    gate_tile, gate_denominator: the residual gate's tile side (pixels) and denominator
      when flags has FLAG_GATE, else 0.
    fitted: the fitted-map block (1..MAX_FITTED_BYTES bytes) when flags has
      FLAG_FITTED, else None.
    sensor: the sensor-layout block (1..MAX_SENSOR_BYTES bytes) when flags has
      FLAG_SENSOR, else None.
    order: the coding order (one of ORDER_IDS); stored (with FLAG_ORDER) unless it is
      "learned".
    version: container format version.
  """

  coder_id: int
  table_fingerprint: bytes
  model_fingerprint: bytes
  srgb_fingerprint: bytes
  image_hw: tuple[int, int]
  padded_hw: tuple[int, int]
  crop: tuple[int, int, int, int]
  latent_shapes: tuple[tuple[int, int, int], ...]
  num_steps: int
  drop_steps: int
  gamma_milli: int
  lanes: int
  flags: int = 0
  isp: tuple[float, ...] | None = None
  gate_tile: int = 0
  gate_denominator: int = 0
  fitted: bytes | None = None
  sensor: bytes | None = None
  order: str = "learned"
  version: int = FORMAT_VERSION


@dataclasses.dataclass(frozen=True)
class Group:
  """One coding group: its name (ASCII, <= 64 chars) and its substreams."""

  name: str
  substreams: list[bytes]


def _check_header(h: Header) -> None:
  """Raises BitstreamError if any header field is out of bounds or inconsistent."""
  def bad(msg):
    raise BitstreamError(f"invalid header: {msg}")

  if h.coder_id not in CODER_NAMES:
    bad(f"unknown coder id {h.coder_id}")
  for name in ("table_fingerprint", "model_fingerprint", "srgb_fingerprint"):
    v = getattr(h, name)
    if not isinstance(v, bytes) or len(v) != 32:
      bad(f"{name} must be 32 bytes")
  (ih, iw), (ph, pw) = h.image_hw, h.padded_hw
  if not (1 <= ih <= MAX_IMAGE_SIDE and 1 <= iw <= MAX_IMAGE_SIDE):
    bad(f"image size {ih}x{iw} out of [1, {MAX_IMAGE_SIDE}]")
  if not (ih <= ph <= MAX_IMAGE_SIDE and iw <= pw <= MAX_IMAGE_SIDE):
    bad(f"padded size {ph}x{pw} smaller than image or above {MAX_IMAGE_SIDE}")
  top, left, ch, cw = h.crop
  if min(h.crop) < 0 or top + ch > ph or left + cw > pw or (ch, cw) != (ih, iw):
    bad(f"crop {h.crop} does not fit the padded {ph}x{pw} image of {ih}x{iw}")
  if not 1 <= len(h.latent_shapes) <= MAX_LEVELS:
    bad(f"{len(h.latent_shapes)} latent levels (1..{MAX_LEVELS})")
  for lh, lw, lc in h.latent_shapes:
    if not (1 <= lh <= ph and 1 <= lw <= pw and 1 <= lc <= MAX_CHANNELS):
      bad(f"latent shape {(lh, lw, lc)} out of bounds")
  if not 1 <= h.num_steps <= MAX_STEPS or not 0 <= h.drop_steps <= h.num_steps:
    bad(f"num_steps {h.num_steps} / drop_steps {h.drop_steps} out of bounds")
  if not -(1 << 31) <= h.gamma_milli < (1 << 31):
    bad("gamma_milli out of int32 range")
  if not 1 <= h.lanes <= MAX_LANES:
    bad(f"lanes {h.lanes} out of [1, {MAX_LANES}]")
  if h.flags & ~KNOWN_FLAGS:
    bad(f"unknown flags {h.flags & ~KNOWN_FLAGS:#x}")
  if bool(h.flags & FLAG_ISP) != (h.isp is not None):
    bad("ISP flag and ISP block disagree")
  if h.isp is not None:
    v = h.isp
    if len(v) != ISP_VALUES or not all(math.isfinite(x) for x in v):
      bad(f"ISP block must hold {ISP_VALUES} finite values")
    if min(v[0:3]) <= 0 or v[12] <= 0 or not 0 <= v[13] <= 1:
      bad("ISP block: white balance and exposure must be positive, tone strength in [0, 1]")
  if bool(h.flags & FLAG_FITTED) != (h.fitted is not None):
    bad("fitted-map flag and fitted-map block disagree")
  if h.fitted is not None:
    if not isinstance(h.fitted, bytes) or not 1 <= len(h.fitted) <= MAX_FITTED_BYTES:
      bad(f"fitted-map block must be 1..{MAX_FITTED_BYTES} bytes")
    if h.flags & FLAG_ISP:
      bad("a bitstream has one base: the ISP block or the fitted-map block, not both")
  if bool(h.flags & FLAG_SENSOR) != (h.sensor is not None):
    bad("sensor-layout flag and sensor-layout block disagree")
  if h.sensor is not None and (not isinstance(h.sensor, bytes)
                               or not 1 <= len(h.sensor) <= MAX_SENSOR_BYTES):
    bad(f"sensor-layout block must be 1..{MAX_SENSOR_BYTES} bytes")
  if h.order not in ORDER_IDS:
    bad(f"unknown coding order {h.order!r}")
  if bool(h.flags & FLAG_ORDER) != (h.order != "learned"):
    bad("order flag and coding order disagree (the flag is set for non-default orders only)")
  if h.flags & FLAG_GATE:
    if not h.flags & (FLAG_ISP | FLAG_FITTED):
      bad("the residual gate needs a base block (ISP or fitted map)")
    if not (MIN_GATE_TILE <= h.gate_tile <= MAX_GATE_TILE
            and 1 <= h.gate_denominator <= MAX_GATE_DENOMINATOR):
      bad(f"gate tile {h.gate_tile} / denominator {h.gate_denominator} out of bounds")
  elif h.gate_tile or h.gate_denominator:
    bad("gate fields set without the gate flag")


def _encode_name(name: str) -> bytes:
  try:
    raw = str(name).encode("ascii")
  except UnicodeEncodeError as e:
    raise ValueError(f"group name {name!r} is not ASCII") from e
  if not 1 <= len(raw) <= MAX_NAME:
    raise ValueError(f"group name {name!r} must have 1..{MAX_NAME} characters")
  return raw


def pack(header: Header, groups: list[Group]) -> bytes:
  """Serialises a header and its groups (ValueError/BitstreamError on invalid input)."""
  if header.version != FORMAT_VERSION:
    raise ValueError(f"can only write format version {FORMAT_VERSION}")
  _check_header(header)
  if len(groups) > MAX_GROUPS:
    raise ValueError(f"{len(groups)} groups exceed {MAX_GROUPS}")
  body = _FIXED.pack(
    header.coder_id, header.flags, header.table_fingerprint, header.model_fingerprint,
    header.srgb_fingerprint, *header.image_hw, *header.padded_hw, *header.crop,
    header.num_steps, header.drop_steps, header.gamma_milli, header.lanes,
  ) + bytes([len(header.latent_shapes)]) + b"".join(
    _SHAPE.pack(*s) for s in header.latent_shapes)
  if header.isp is not None:
    body += _ISP.pack(*header.isp)
  if header.flags & FLAG_GATE:
    body += _GATE.pack(header.gate_tile, header.gate_denominator)
  if header.fitted is not None:
    body += _FITTED_LEN.pack(len(header.fitted)) + header.fitted
  if header.sensor is not None:
    body += _BLOCK_LEN.pack(len(header.sensor)) + header.sensor
  if header.flags & FLAG_ORDER:
    body += bytes([ORDER_IDS.index(header.order)])
  head = MAGIC + struct.pack("<HH", FORMAT_VERSION, len(body)) + body
  table = [struct.pack("<I", len(groups))]
  for g in groups:
    name = _encode_name(g.name)
    if not 1 <= len(g.substreams) <= MAX_SUBSTREAMS_PER_GROUP:
      raise ValueError(f"group {g.name!r}: {len(g.substreams)} substreams")
    crc = 0
    for s in g.substreams:
      crc = zlib.crc32(s, crc)
    table.append(bytes([len(name)]) + name + struct.pack("<II", len(g.substreams), crc))
    table.append(struct.pack(f"<{len(g.substreams)}I", *map(len, g.substreams)))
  table_bytes = b"".join(table)
  return b"".join([
    head, struct.pack("<I", zlib.crc32(head)), table_bytes,
    struct.pack("<I", zlib.crc32(table_bytes)),
    *(s for g in groups for s in g.substreams),
  ])


class _Reader:
  """Bounded reader over bytes; every read past the end is a BitstreamError."""

  def __init__(self, data: bytes):
    self.data = data
    self.pos = 0

  def take(self, n: int, what: str) -> bytes:
    if n < 0 or self.pos + n > len(self.data):
      raise BitstreamError(
        f"truncated at byte {len(self.data)}: {what} needs bytes "
        f"{self.pos}..{self.pos + n} of a {len(self.data)}-byte file")
    out = self.data[self.pos : self.pos + n]
    self.pos += n
    return out

  def u32(self, what: str) -> int:
    return struct.unpack("<I", self.take(4, what))[0]


def unpack(data: bytes) -> tuple[Header, list[Group]]:
  """Parses a `.r2lcm` file; BitstreamError with the reason if anything is wrong."""
  data = bytes(data)
  r = _Reader(data)
  if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
    raise BitstreamError("not an r2lcm bitstream (bad magic; foreign or damaged file)")
  r.take(len(MAGIC), "magic")
  version, hlen = struct.unpack("<HH", r.take(4, "version"))
  if version > FORMAT_VERSION:
    raise BitstreamError(f"bitstream format version {version} is newer than this "
                         f"decoder's {FORMAT_VERSION} (future version)")
  if version in RETIRED_VERSIONS:
    raise BitstreamError(
      f"bitstream format version {version} ({RETIRED_VERSIONS[version]}) is no longer "
      f"read by this decoder (version {FORMAT_VERSION}); re-encode it from the RAW")
  if version not in READ_VERSIONS:
    raise BitstreamError(f"unsupported bitstream format version {version}")
  if not _FIXED.size + 1 <= hlen <= MAX_HEADER_BYTES:
    raise BitstreamError(f"header length {hlen} out of bounds")
  body = r.take(hlen, "header")
  head_end = r.pos
  if r.u32("header CRC") != zlib.crc32(data[:head_end]):
    raise BitstreamError("CRC mismatch in header")
  header = dataclasses.replace(_parse_header(body), version=version)
  table_start = r.pos
  num_groups = r.u32("group count")
  if num_groups > MAX_GROUPS:
    raise BitstreamError(f"{num_groups} groups exceed the bound {MAX_GROUPS}")
  entries = []
  for g in range(num_groups):
    name_len = r.take(1, f"group {g} name length")[0]
    if not 1 <= name_len <= MAX_NAME:
      raise BitstreamError(f"group {g}: name length {name_len} out of bounds")
    raw = r.take(name_len, f"group {g} name")
    if not raw.isascii():
      raise BitstreamError(f"group {g}: name is not ASCII")
    k = r.u32(f"group {g} substream count")
    crc = r.u32(f"group {g} CRC")
    if not 1 <= k <= MAX_SUBSTREAMS_PER_GROUP:
      raise BitstreamError(f"group {g}: {k} substreams out of [1, "
                           f"{MAX_SUBSTREAMS_PER_GROUP}]")
    lengths = struct.unpack(f"<{k}I", r.take(4 * k, f"group {g} substream lengths"))
    entries.append((raw.decode("ascii"), crc, lengths))
  table_end = r.pos
  if r.u32("group table CRC") != zlib.crc32(data[table_start:table_end]):
    raise BitstreamError("CRC mismatch in group table")
  total = sum(sum(e[2]) for e in entries)
  remaining = len(data) - r.pos
  if total != remaining:
    raise BitstreamError(
      f"substream lengths add up to {total} bytes but {remaining} payload bytes follow"
      + (" (truncated)" if total > remaining else " (trailing data)"))
  groups = []
  for g, (name, crc, lengths) in enumerate(entries):
    start = r.pos
    subs = [r.take(n, f"group {g} payload") for n in lengths]
    if zlib.crc32(data[start : r.pos]) != crc:
      raise BitstreamError(f"CRC mismatch in group {g} ({name!r})")
    groups.append(Group(name=name, substreams=subs))
  return header, groups


def _opaque_block(body: bytes, start: int, present: int, what: str) -> tuple[bytes | None, int]:
  """(block, end) of a `len u16 | bytes` header block at `start`; (None, start) if absent."""
  if not present:
    return None, start
  if len(body) < start + _BLOCK_LEN.size:
    raise BitstreamError(f"header length {len(body)} leaves no room for the {what} block")
  (n,) = _BLOCK_LEN.unpack_from(body, start)
  end = start + _BLOCK_LEN.size + n
  return body[start + _BLOCK_LEN.size:end], end


def _order_block(body: bytes, start: int, present: int) -> tuple[str, int]:
  """(order name, end) of the coding-order byte at `start`; ("learned", start) if absent."""
  if not present:
    return "learned", start
  if len(body) < start + 1:
    raise BitstreamError(f"header length {len(body)} leaves no room for the order byte")
  if body[start] >= len(ORDER_IDS):
    raise BitstreamError(
      f"unknown coding order id {body[start]} (this decoder knows {len(ORDER_IDS)}: "
      f"{', '.join(ORDER_IDS)}); written by a newer encoder?")
  return ORDER_IDS[body[start]], start + 1


def _parse_header(body: bytes) -> Header:
  fields = _FIXED.unpack_from(body)
  num_levels = body[_FIXED.size]
  flags = fields[1]
  end = _FIXED.size + 1 + num_levels * _SHAPE.size
  isp_end = end + (_ISP.size if flags & FLAG_ISP else 0)
  gate_end = isp_end + (_GATE.size if flags & FLAG_GATE else 0)
  fitted, fitted_end = _opaque_block(body, gate_end, flags & FLAG_FITTED, "fitted-map")
  sensor, sensor_end = _opaque_block(body, fitted_end, flags & FLAG_SENSOR, "sensor-layout")
  order, sensor_end = _order_block(body, sensor_end, flags & FLAG_ORDER)
  if len(body) != sensor_end:
    raise BitstreamError(f"header length {len(body)} does not match {num_levels} levels"
                         f"{' and the ISP block' if flags & FLAG_ISP else ''}"
                         f"{' and the gate block' if flags & FLAG_GATE else ''}"
                         f"{' and the fitted-map block' if flags & FLAG_FITTED else ''}"
                         f"{' and the sensor-layout block' if flags & FLAG_SENSOR else ''}"
                         f"{' and the order byte' if flags & FLAG_ORDER else ''}")
  isp = tuple(float(x) for x in _ISP.unpack_from(body, end)) if flags & FLAG_ISP else None
  gate_tile, gate_den = _GATE.unpack_from(body, isp_end) if flags & FLAG_GATE else (0, 0)
  shapes = tuple(
    _SHAPE.unpack_from(body, _FIXED.size + 1 + i * _SHAPE.size) for i in range(num_levels))
  (coder_id, flags, table_fp, model_fp, srgb_fp, ih, iw, ph, pw, top, left, ch, cw,
   num_steps, drop_steps, gamma_milli, lanes) = fields
  header = Header(
    coder_id=coder_id, table_fingerprint=table_fp, model_fingerprint=model_fp,
    srgb_fingerprint=srgb_fp, image_hw=(ih, iw), padded_hw=(ph, pw),
    crop=(top, left, ch, cw), latent_shapes=shapes, num_steps=num_steps,
    drop_steps=drop_steps, gamma_milli=gamma_milli, lanes=lanes, flags=flags, isp=isp,
    gate_tile=gate_tile, gate_denominator=gate_den, fitted=fitted, sensor=sensor,
    order=order,
  )
  _check_header(header)
  return header
