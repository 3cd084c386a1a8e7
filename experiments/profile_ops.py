"""Top XLA:CPU ops of a `jax.profiler` trace (perfetto JSON), by self time.

XLA:CPU records one trace event per executed thunk, named after its HLO instruction
(`args.hlo_op`); thunks of a `while` body (our `nn.scan` loops) nest inside the while
thunk. `top_ops` sums each instruction's self time (its time minus the thunks nested in
it) over the traced run and labels it from the optimised HLO text when given:
convolutions as `conv fwd` (output in the input's layout, HWIO kernel), `conv dW`
(output = a kernel: the weight gradient) or `conv dX` (the input gradient), with their
shapes.

  rows = top_ops("prof_dir", 25, hlo_text=compiled.as_text())
  print(format_table(rows))
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import os
import re

__all__ = ["top_ops", "format_table", "conv_labels"]

_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(\S+)\s+(\w[\w\-]*)\(")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")
_DIMS = re.compile(r"dim_labels=(\S+?)[,\s]")


def _load_events(trace_dir: str) -> list[dict]:
  paths = sorted(glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"),
                           recursive=True), key=os.path.getmtime)
  if not paths:
    raise FileNotFoundError(f"no perfetto_trace.json.gz under {trace_dir}")
  with gzip.open(paths[-1]) as f:
    data = json.load(f)
  events = data["traceEvents"] if isinstance(data, dict) else data
  return [e for e in events
          if e.get("ph") == "X" and "hlo_op" in (e.get("args") or {})]


_CONTAINERS = ("while", "conditional", "call")


def _self_times(events: list[dict]) -> dict[str, list[float]]:
  """hlo_op -> [self microseconds, calls].

  Nesting is resolved per thread; control-flow thunks (`while`, `conditional`, `call`),
  whose bodies may run on other threads, are left out (their bodies are counted).
  """
  out: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0])
  by_thread = collections.defaultdict(list)
  for e in events:
    if e["args"]["hlo_op"].split(".")[0] in _CONTAINERS:
      continue
    by_thread[(e.get("pid"), e.get("tid"))].append(e)
  for evs in by_thread.values():
    evs.sort(key=lambda e: (float(e["ts"]), -float(e.get("dur", 0.0))))
    stack: list[tuple[float, str]] = []  # (end, name) of the enclosing thunks
    for e in evs:
      start, dur = float(e["ts"]), float(e.get("dur", 0.0))
      while stack and stack[-1][0] <= start:
        stack.pop()
      name = e["args"]["hlo_op"]
      out[name][0] += dur
      out[name][1] += 1
      if stack:
        out[stack[-1][1]][0] -= dur
      stack.append((start + dur, name))
  return out


def conv_labels(hlo_text: str) -> dict[str, str]:
  """Instruction name -> short description, for the instructions of `hlo_text`.

  Fusions are described by the convolution or dot they contain (if any), else by their
  root opcode; a convolution by `conv fwd|dW|dX in x kernel -> out (dim_labels)`.
  """
  comps: dict[str, list[str]] = {}
  current = None
  for line in hlo_text.splitlines():
    m = re.match(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$", line)
    if m and "=" not in line.split("{")[0]:
      current = m.group(1)
      comps[current] = []
      continue
    if current is not None:
      comps[current].append(line)

  def describe(line: str, shapes: dict[str, str]) -> str | None:
    m = _INSTR.match(line)
    if not m:
      return None
    shape, op = m.group(2), m.group(3)
    if op == "convolution":
      dims = _DIMS.search(line + " ")
      window = re.search(r"window=\{size=(\d+)x(\d+)", line)
      args = line.split("convolution(", 1)[1].split(")", 1)[0]
      operands = [shapes.get(a.strip().lstrip("%"), "?").split("{")[0] for a in args.split(",")]
      backward = "transpose(" in line
      big_window = window is not None and int(window.group(1)) > 7
      kind = "dW" if big_window else "dX" if backward else "fwd"
      return (f"conv {kind} {' * '.join(operands)} -> {shape.split('{')[0]}"
              f" ({dims.group(1) if dims else '?'})")
    if op == "dot":
      return f"dot -> {shape.split('{')[0]}"
    return None

  shapes = {}
  for lines in comps.values():
    for line in lines:
      m = _INSTR.match(line)
      if m:
        shapes[m.group(1)] = m.group(2)
  names: dict[str, str] = {}
  for lines in comps.values():
    for line in lines:
      m = _INSTR.match(line)
      if not m:
        continue
      name, shape, op = m.groups()
      desc = describe(line, shapes)
      if desc is None and op in ("fusion", "custom-call", "call"):
        called = _CALLS.search(line)
        inner = comps.get(called.group(1), []) if called else []
        found = [d for d in (describe(x, shapes) for x in inner) if d]
        desc = f"{op}: " + "; ".join(found[:2]) if found else f"{op} -> {shape}"
      names[name] = desc or f"{op} -> {shape}"
  return names


def top_ops(trace_dir: str, top: int = 25, hlo_text: str | None = None) -> list[dict]:
  """The `top` instructions by summed self time in the newest trace of `trace_dir`.

  Returns:
    list of {"op", "what", "self_s", "calls", "share"} (share of all thunk self time),
    plus a last row {"op": "TOTAL", ...} and per-kind sums {"op": "ALL conv dW", ...}.
  """
  times = _self_times(_load_events(trace_dir))
  labels = conv_labels(hlo_text) if hlo_text else {}
  total = sum(v[0] for v in times.values()) or 1.0
  rows = [
    {"op": k, "what": labels.get(k, ""), "self_s": round(v[0] / 1e6, 3), "calls": v[1],
     "share": round(v[0] / total, 4)}
    for k, v in sorted(times.items(), key=lambda kv: -kv[1][0])
  ]
  kinds = collections.defaultdict(float)
  for r in rows:
    w = r["what"]
    kind = ("conv dW" if "conv dW" in w else "conv dX" if "conv dX" in w
            else "conv fwd" if "conv fwd" in w else "dot" if "dot" in w else "other")
    kinds[kind] += r["self_s"]
  sums = [{"op": f"ALL {k}", "what": "", "self_s": round(v, 3), "calls": 0,
           "share": round(v * 1e6 / total, 4)} for k, v in sorted(kinds.items(),
                                                                   key=lambda kv: -kv[1])]
  return rows[:top] + sums + [{"op": "TOTAL", "what": "", "self_s": round(total / 1e6, 3),
                               "calls": sum(v[1] for v in times.values()), "share": 1.0}]


def format_table(rows: list[dict]) -> str:
  """Markdown table of `top_ops` rows."""
  lines = ["| op | self s | share | calls | what |", "|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['op']} | {r['self_s']:.3f} | {100 * r['share']:.1f} % | "
                 f"{r['calls']} | {r['what']} |")
  return "\n".join(lines)
