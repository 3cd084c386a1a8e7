"""Static checks of the package's structure (the rules of the developers' guide).

- no grab-bag modules (utils/helpers/common) inside the package;
- no dated or deprecated JAX/Flax APIs (pmap, pjit, experimental shard_map, PRNGKey,
  flax.training.checkpoints);
- import direction: the entropy coder never imports models or training code, training
  never imports the coder, and no package module imports TensorFlow at module scope;
- no absolute filesystem paths in the sources.
"""

from __future__ import annotations

import ast
import pathlib
import re

import pytest

PKG = pathlib.Path(__file__).resolve().parents[1] / "r2lcm_jax"
SOURCES = sorted(PKG.rglob("*.py"))


def _imports(path: pathlib.Path) -> list[tuple[str, bool]]:
  """(module, at_module_scope) for every import in `path`."""
  tree = ast.parse(path.read_text(), str(path))
  top = set(id(n) for n in tree.body)
  out = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out += [(a.name, id(node) in top) for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      out.append((node.module, id(node) in top))
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


@pytest.mark.parametrize(
  "layer,forbidden",
  [
    ("coding", ("r2lcm_jax.models", "r2lcm_jax.train", "r2lcm_jax.codec", "r2lcm_jax.data")),
    ("entropy", ("r2lcm_jax.models", "r2lcm_jax.train", "r2lcm_jax.codec", "r2lcm_jax.coding")),
    ("layers", ("r2lcm_jax.models", "r2lcm_jax.train", "r2lcm_jax.codec", "r2lcm_jax.coding")),
    ("train", ("r2lcm_jax.coding", "r2lcm_jax.codec")),
    ("io", ("r2lcm_jax.models", "r2lcm_jax.train", "r2lcm_jax.coding", "jax", "flax")),
  ],
)
def test_imports_point_downward(layer, forbidden):
  folder = PKG / layer
  if not folder.is_dir():
    pytest.skip(f"r2lcm_jax/{layer} not present")
  bad = []
  for path in folder.rglob("*.py"):
    for module, _ in _imports(path):
      if any(module == f or module.startswith(f + ".") for f in forbidden):
        bad.append(f"{_rel(path)} imports {module}")
  assert not bad, bad


def test_no_module_imports_tensorflow_at_module_scope():
  bad = [
    f"{_rel(p)} imports {m}"
    for p in SOURCES
    for m, top in _imports(p)
    if top and (m == "tensorflow" or m.startswith("tensorflow"))
  ]
  assert not bad, bad


def test_sources_contain_no_absolute_paths():
  pattern = re.compile(r"['\"](/(home|work|root|Users|tmp)/[^'\"]*)['\"]")
  roots = [PKG, PKG.parent / "experiments", PKG.parent / "third_party"]
  bad = []
  for root in roots:
    for p in root.rglob("*.py"):
      for m in pattern.finditer(p.read_text()):
        bad.append(f"{p.relative_to(PKG.parent)}: {m.group(1)}")
  assert not bad, bad
