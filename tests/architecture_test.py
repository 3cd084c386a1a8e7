"""Static checks of the package's structure (the rules of the developers' guide).

- no grab-bag modules (utils/helpers/common) inside the package;
- no dated or deprecated JAX/Flax APIs (pmap, pjit, experimental shard_map, PRNGKey,
  flax.training.checkpoints);
- layers: every import of a package module (module scope or inside a function,
  `import r2lcm_jax.x`, `from r2lcm_jax import x`, relative imports) points down or
  sideways in `LAYERS`, and no modules import each other in a cycle;
- the entropy coder never imports training code, training never imports the coder, io
  uses no JAX/Flax, and no package module imports TensorFlow at module scope;
- no block of more than `MAX_REPEATED_LINES` lines appears twice in the package;
- no absolute filesystem paths in the sources.

The checkers (`package_modules`, `import_graph`, `layer_violations`, `import_cycles`,
`repeated_blocks`) take any folder, so the tests below also show that they catch planted
violations.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import pathlib
import re
import textwrap

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "r2lcm_jax"
SOURCES = sorted(PKG.rglob("*.py"))

# Bottom to top; a module may import its own package, lower layers and its own layer.
# "" is the package's own __init__; root modules are named by their stem.
LAYERS = (
  ("", "errors", "metrics", "losses", "parallel", "xla_setup"),
  ("io",),
  ("entropy",),
  ("coding",),
  ("layers",),
  ("isp",),
  ("data",),
  ("models",),
  ("train",),
  ("codec",),
  ("prior",),
  ("baselines",),
  ("app",),
  ("benchmark",),
  ("port",),
  ("cli", "demo", "__main__"),
)
MAX_REPEATED_LINES = 10


@dataclasses.dataclass(frozen=True)
class Import:
  """One import of a package module: `source` imports `target` at `path:line`."""

  source: str
  target: str
  path: pathlib.Path
  line: int
  top_level: bool


def package_modules(pkg: pathlib.Path) -> dict[str, pathlib.Path]:
  """Dotted module name -> file, for every .py under `pkg` (named `pkg.name`)."""
  out = {}
  for path in sorted(pkg.rglob("*.py")):
    parts = (pkg.name,) + path.relative_to(pkg).with_suffix("").parts
    if parts[-1] == "__init__":
      parts = parts[:-1]
    out[".".join(parts)] = path
  return out


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
                    modules: dict[str, pathlib.Path]) -> list[str]:
  """Dotted names `node` imports: `from a import b` gives `a.b` when that is a module."""
  if isinstance(node, ast.Import):
    return [a.name for a in node.names]
  if node.level:  # relative: resolve against the importing module's package
    here = module.split(".") if is_package else module.split(".")[:-1]
    base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else []))
  else:
    base = node.module or ""
  return [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]


def import_graph(pkg: pathlib.Path) -> list[Import]:
  """Every import of a module of `pkg` by a module of `pkg`, wherever it is written.

  A name is resolved to the longest package module it starts with (`from pkg.a import f`
  imports `pkg.a`). The implicit import of a module's parent packages is not an edge.
  """
  modules = package_modules(pkg)
  out = []
  for name, path in modules.items():
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
      if not isinstance(node, ast.Import | ast.ImportFrom):
        continue
      for target in _imported_names(node, name, path.name == "__init__.py", modules):
        while target not in modules and "." in target:
          target = target.rsplit(".", 1)[0]
        if target in modules and target != name:
          out.append(Import(name, target, path, node.lineno, id(node) in top))
  return out


def _component(module: str) -> str:
  """The first name below the package: "pkg.codec.files" -> "codec", "pkg" -> ""."""
  parts = module.split(".")
  return parts[1] if len(parts) > 1 else ""


def layer_violations(pkg: pathlib.Path, layers=LAYERS) -> list[str]:
  """Imports that point up the layers, and modules in no layer."""
  rank = {c: i for i, layer in enumerate(layers) for c in layer}
  bad = sorted({f"{m}: not in any layer" for m in package_modules(pkg)
                if _component(m) not in rank})
  for imp in import_graph(pkg):
    a, b = _component(imp.source), _component(imp.target)
    if a in rank and b in rank and rank[b] > rank[a]:
      bad.append(f"{imp.path.relative_to(pkg.parent)}:{imp.line}: {imp.source} imports "
                 f"{imp.target} (layer {b!r} is above {a!r})")
  return bad


def import_cycles(pkg: pathlib.Path) -> list[list[str]]:
  """Groups of modules that import each other (strongly connected components > 1)."""
  edges = collections.defaultdict(set)
  for imp in import_graph(pkg):
    edges[imp.source].add(imp.target)
  index: dict[str, int] = {}
  low: dict[str, int] = {}
  stack: list[str] = []
  on_stack: set[str] = set()
  cycles = []

  def visit(v: str) -> None:  # Tarjan; the graph is small, recursion is fine
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges[v]):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      group = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        group.append(w)
        if w == v:
          break
      if len(group) > 1:
        cycles.append(sorted(group))

  for v in sorted(package_modules(pkg)):
    if v not in index:
      visit(v)
  return cycles


def _normalised_lines(path: pathlib.Path) -> list[tuple[str, int]]:
  """(stripped text, line number) of the lines that are not blank or comments."""
  return [(s, i) for i, line in enumerate(path.read_text().splitlines(), 1)
          if (s := line.strip()) and not s.startswith("#")]


def repeated_blocks(paths: list[pathlib.Path], max_lines: int = MAX_REPEATED_LINES
                    ) -> list[str]:
  """Blocks of more than `max_lines` normalised lines (stripped, blank and comment lines
  dropped) that occur twice, as "a.py:L1-L2 == b.py:L3-L4" (longest runs, once each)."""
  window = max_lines + 1
  lines = {p: _normalised_lines(p) for p in paths}
  where = collections.defaultdict(list)
  for p, ls in lines.items():
    for k in range(len(ls) - window + 1):
      where["\n".join(s for s, _ in ls[k:k + window])].append((p, k))
  pairs = set()
  for locs in where.values():
    for i, (pa, ka) in enumerate(locs):
      for pb, kb in locs[i + 1:]:
        if pa != pb or kb - ka >= window:  # the same file: only non-overlapping copies
          pairs.add((pa, ka, pb, kb))
  out = []
  for pa, ka, pb, kb in sorted(pairs, key=lambda t: (str(t[0]), t[1], str(t[2]), t[3])):
    if (pa, ka - 1, pb, kb - 1) in pairs:
      continue  # inside a run reported from its start
    n = 0
    while (pa, ka + n + 1, pb, kb + n + 1) in pairs:
      n += 1
    end_a, end_b = ka + n + window - 1, kb + n + window - 1
    out.append(f"{pa}:{lines[pa][ka][1]}-{lines[pa][end_a][1]} == "
               f"{pb}:{lines[pb][kb][1]}-{lines[pb][end_b][1]}")
  return out


def _rel(path: pathlib.Path) -> str:
  return path.relative_to(PKG.parent).as_posix()


def test_package_has_no_grab_bag_modules():
  bad = [_rel(p) for p in SOURCES if p.stem in {"utils", "helpers", "common", "misc"}]
  assert not bad, f"grab-bag modules: {bad}"


@pytest.mark.parametrize(
  "pattern",
  [r"\bjax\.pmap\b", r"\bpjit\b", r"jax\.experimental\.shard_map", r"\bPRNGKey\b",
   r"flax\.training\.checkpoints", r"flax\.training\.train_state"],
)
def test_package_uses_no_dated_jax_apis(pattern):
  bad = [_rel(p) for p in SOURCES if re.search(pattern, p.read_text())]
  assert not bad, f"{pattern} used in {bad}"


def test_every_package_module_is_in_a_layer_and_imports_point_down():
  bad = layer_violations(PKG)
  assert not bad, "\n".join(bad)


def test_no_import_cycles_between_package_modules():
  cycles = import_cycles(PKG)
  assert not cycles, cycles


def _all_imports(path: pathlib.Path) -> list[tuple[str, bool]]:
  """(dotted name, at module scope) of every import in `path`, third-party included;
  `from a import b` gives both "a" and "a.b"."""
  tree = ast.parse(path.read_text(), str(path))
  top = {id(n) for n in tree.body}
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out += [(a.name, id(node) in top) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      out.append((node.module, id(node) in top))
      out += [(f"{node.module}.{a.name}", id(node) in top) for a in node.names]
  return out


@pytest.mark.parametrize(
  "layer,forbidden",
  [
    ("coding", ("r2lcm_jax.train",)),
    ("entropy", ("r2lcm_jax.train",)),
    ("train", ("r2lcm_jax.coding", "r2lcm_jax.codec")),
    ("io", ("jax", "flax")),
  ],
)
def test_coder_and_training_stay_apart_and_io_needs_no_jax(layer, forbidden):
  bad = []
  for path in (PKG / layer).rglob("*.py"):
    for module, _ in _all_imports(path):
      if any(module == f or module.startswith(f + ".") for f in forbidden):
        bad.append(f"{_rel(path)} imports {module}")
  assert not bad, bad


def test_no_module_imports_tensorflow_at_module_scope():
  bad = [
    f"{_rel(p)} imports {m}"
    for p in SOURCES
    for m, top in _all_imports(p)
    if top and (m == "tensorflow" or m.startswith("tensorflow"))
  ]
  assert not bad, bad


def test_no_block_of_more_than_ten_lines_is_repeated_in_the_package():
  repeats = repeated_blocks(SOURCES)
  assert not repeats, "\n".join(repeats)


def test_sources_contain_no_absolute_paths():
  pattern = re.compile(r"['\"](/(home|work|root|Users|tmp)/[^'\"]*)['\"]")
  roots = [PKG, PKG.parent / "experiments", PKG.parent / "third_party"]
  bad = []
  for root in roots:
    for p in root.rglob("*.py"):
      for m in pattern.finditer(p.read_text()):
        bad.append(f"{p.relative_to(PKG.parent)}: {m.group(1)}")
  assert not bad, bad


def _readme_layout() -> tuple[set[str], list[str]]:
  """(package folders named in the README's Layout table, its layer order sentence)."""
  text = (PKG.parent / "README.md").read_text()
  section = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
  table = [ln for ln in section.splitlines() if ln.startswith("| `")]
  folders = set()
  for ln in table:
    if not ln.startswith("| `r2lcm_jax/"):
      continue
    for cell in re.findall(r"`([^`]+)`", ln.split("|")[1]):
      cell = cell.removeprefix("r2lcm_jax/")
      if cell.endswith("/") and "/" not in cell[:-1]:
        folders.add(cell[:-1])
  order = section.split("bottom to top:", 1)[1].split(";", 1)[0]
  return folders, re.findall(r"`([a-z_]+)`", order)


def test_readme_layout_table_matches_the_package():
  folders, order = _readme_layout()
  packages = {p.name for p in PKG.iterdir() if (p / "__init__.py").is_file()}
  assert folders >= packages, f"packages missing from the README Layout: {packages - folders}"
  assert folders - {"assets"} <= packages, f"README names no such package: {folders - packages}"
  assert (PKG / "assets").is_dir() == ("assets" in folders)
  ranked = [c for layer in LAYERS for c in layer if c in packages or c in order]
  assert [c for c in order if c in packages] == [c for c in ranked if c in packages], (
    "the README's layer order differs from LAYERS")


# --- the checkers catch planted violations -------------------------------------------

def _tree(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
  """Writes a package `r2lcm_jax` with `files` (path -> source) under `root`."""
  pkg = root / "r2lcm_jax"
  for rel, text in files.items():
    path = pkg / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
  return pkg


_CLEAN = {
  "__init__.py": "",
  "errors.py": "",
  "io/__init__.py": "",
  "io/raw.py": "from r2lcm_jax import errors\n",
  "codec/__init__.py": "",
  "codec/files.py": "from r2lcm_jax.io import raw\nfrom . import tiling\n",
  "codec/tiling.py": "import r2lcm_jax.io.raw\n",
}


def test_checkers_pass_a_clean_tree(tmp_path):
  pkg = _tree(tmp_path, _CLEAN)
  assert layer_violations(pkg) == []
  assert import_cycles(pkg) == []
  targets = {(i.source, i.target) for i in import_graph(pkg)}
  assert ("r2lcm_jax.io.raw", "r2lcm_jax.errors") in targets  # from r2lcm_jax import x
  assert ("r2lcm_jax.codec.files", "r2lcm_jax.codec.tiling") in targets  # relative


@pytest.mark.parametrize("source", [
  "from r2lcm_jax import codec\n",  # the package-name form
  "import r2lcm_jax.codec.files\n",
  "from r2lcm_jax.codec.files import encode\n",
  "from ..codec import files\n",  # relative
  "def f():\n  from r2lcm_jax.codec import tiling\n  return tiling\n",  # function-local
])
def test_an_upward_import_is_reported_in_every_spelling(tmp_path, source):
  pkg = _tree(tmp_path, _CLEAN | {"io/planted.py": source})
  bad = layer_violations(pkg)
  assert len(bad) == 1 and "r2lcm_jax/io/planted.py" in bad[0], bad
  assert "r2lcm_jax.io.planted imports r2lcm_jax.codec" in bad[0]


def test_a_module_outside_the_layers_is_reported(tmp_path):
  pkg = _tree(tmp_path, _CLEAN | {"gadgets/__init__.py": ""})
  assert layer_violations(pkg) == ["r2lcm_jax.gadgets: not in any layer"]


def test_a_cycle_inside_a_package_is_reported(tmp_path):
  pkg = _tree(tmp_path, _CLEAN | {
    "codec/a.py": "from r2lcm_jax.codec import b\n",
    "codec/b.py": "def f():\n  from r2lcm_jax.codec.a import g\n  return g\n",
  })
  assert import_cycles(pkg) == [["r2lcm_jax.codec.a", "r2lcm_jax.codec.b"]]
  # A package __init__ that imports a module which imports a name of that __init__.
  pkg = _tree(tmp_path / "two", _CLEAN | {
    "io/__init__.py": "from r2lcm_jax.io.raw import read\n",
    "io/raw.py": "from r2lcm_jax.io import CONSTANT\n",
  })
  assert import_cycles(pkg) == [["r2lcm_jax.io", "r2lcm_jax.io.raw"]]


def test_repeated_blocks_are_found_across_and_within_files(tmp_path):
  block = "".join(f"x{i} = {i}\n" for i in range(11))
  a, b, c = (tmp_path / n for n in ("a.py", "b.py", "c.py"))
  a.write_text("def f():\n" + textwrap.indent(block, "  ") + "  return 0\n")
  # Indentation, blank lines and comment lines do not hide a copy.
  b.write_text("import os\n\n" + "".join(f"x{i} = {i}\n# note\n\n" for i in range(11)))
  c.write_text("".join(f"x{i} = {i}\n" for i in range(10)) + "changed = 1\n")
  found = repeated_blocks([a, b, c])
  assert found == [f"{a}:2-12 == {b}:3-33"], found
  c.write_text(block + "y = 0\n" + block)
  assert repeated_blocks([c]) == [f"{c}:1-11 == {c}:13-23"]
  assert repeated_blocks([c], max_lines=11) == []
  c.write_text("pass\n" * 30)  # overlapping windows of one run are not copies
  assert repeated_blocks([c], max_lines=20) == []
