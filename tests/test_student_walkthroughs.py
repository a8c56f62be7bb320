"""The ungraded walkthrough notebooks run top to bottom (fast mode) and draw their figures.

Each notebook in ``notebooks/`` is executed with nbclient in a fresh ``python3`` kernel, with
``notebooks/`` as the working directory and ``RESNET_FAST=1`` (small networks, few steps), as a
student's Jupyter would run it. The tests check that no cell fails, that every figure the lesson
talks about was drawn (``image/png`` outputs), and that the committed notebooks carry no outputs.
Executing the notebooks takes minutes: those tests are marked ``slow``.
Full-mode timings and memory are measured by ``bench/bench_walkthroughs.py`` instead.
"""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"

#: notebook -> number of figures it draws (one image/png output per figure)
FIGURES = {
    "01_vanishing_gradients.ipynb": 6,
    "02_degradation.ipynb": 3,
    "03_inside_a_residual_block.ipynb": 4,
}


def test_every_walkthrough_is_listed():
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_committed_clean(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "a walkthrough needs code"
    for cell in code:
        assert cell.outputs == [], f"{name}: outputs must be stripped"
        assert cell.execution_count is None, f"{name}: execution counts must be stripped"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "RESNET_FAST=1" in first.source
    assert any("Try it yourself" in c.source for c in nb.cells if c.cell_type == "markdown")


def _execute(name):
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    env = dict(os.environ)
    env["RESNET_FAST"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    with client.setup_kernel(env=env, cwd=str(NOTEBOOK_DIR)):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)  # raises CellExecutionError on the first failing cell
    return nb


@pytest.mark.slow  # starts a Jupyter kernel and trains small networks
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_in_fast_mode_and_draws_its_figures(name):
    nb = _execute(name)  # raises on the first cell that fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == FIGURES[name], f"{name}: expected {FIGURES[name]} figures, got {len(pngs)}"
    stdout = "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")
    assert "RESNET_FAST is set" in stdout
    assert "Traceback" not in stdout
