"""experiments/colab/quickstart.ipynb: every code cell runs (reduced mode, CPU)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "experiments" / "colab" / "quickstart.ipynb"


def notebook_script(path: pathlib.Path) -> str:
  """The code cells as one Python script; IPython shell/magic lines (! and %) dropped."""
  nb = json.loads(path.read_text())
  assert nb["nbformat"] == 4
  chunks = []
  for cell in nb["cells"]:
    if cell["cell_type"] != "code":
      continue
    src = "".join(cell["source"])
    kept = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("!", "%"))]
    chunks.append("\n".join(kept))
  return "\n\n".join(chunks) + "\n"


def test_script_extraction_drops_only_shell_lines():
  script = notebook_script(NOTEBOOK)
  assert "pip install" not in script and "git clone" not in script
  compile(script, str(NOTEBOOK), "exec")  # every cell is valid Python
  for needle in ("run_demo(", "train_and_evaluate(", "gamma=g", "jax.profiler.trace"):
    assert needle in script


@pytest.mark.slow  # ~1 min; the demo, CLI and training tests cover its calls
def test_notebook_cells_run_in_quick_mode(tmp_path, real_data):
  script = tmp_path / "quickstart.py"
  script.write_text(notebook_script(NOTEBOOK))
  env = dict(os.environ, JAX_PLATFORMS="cpu", R2LCM_NOTEBOOK_QUICK="1",
             R2LCM_NOTEBOOK_WORKDIR=str(tmp_path / "work"), MPLBACKEND="Agg",
             JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             R2LCM_NOTEBOOK_DNG=str(real_data / "gopro" / "HERO7_GOPR9231.DNG"))
  proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=900)
  assert proc.returncode == 0, textwrap.shorten(proc.stderr[-3000:], 3000)
  out = proc.stdout
  assert "RAW       R2LCM reconstruction" in out and "HERO7_GOPR9231.DNG" in out
  assert "trained to step 2" in out
  assert len(re.findall(r"gamma=[\d.]+: [\d.]+ bpp, [\d.]+ dB", out)) == 2
  work = tmp_path / "work"
  assert (work / "demo" / "demo.png").is_file() and (work / "rd.png").is_file()
  assert list((work / "trace").rglob("*.xplane.pb"))
