"""Build example submissions from the assignment itself.

The example submissions (the bundled class, the realistic mistakes) are not written out
by hand: each starts from the *release* notebook, fills its solution cells with the
reference solution taken from the *source* notebook, and then applies small, named
changes (:func:`mutate` to the code, :func:`delete_cell` / :func:`edit_cell` /
:func:`duplicate_cell` to the notebook). If the source notebook changes so that a change
no longer applies, they raise instead of silently producing a correct submission.
(:mod:`autograder.example_classes.cases` says what grade each example must get.)
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from ..notebooks import nbgrader_meta, read

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*### END SOLUTION[^\n]*\n?",
                       re.S | re.M)


def solution_sources(source_nb) -> dict[str, str]:
    """The reference solution of each solution cell, by grade_id, with the
    ``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers removed (their content kept)."""
    nb = read(source_nb) if isinstance(source_nb, (str, Path)) else source_nb
    out = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code":
            out[meta["grade_id"]] = _SOLUTION.sub(lambda m: m.group(2), cell.source)
    return out


#: The imports of the first assignment's setup cell that its graded functions use
#: (:func:`load_functions` without a notebook).
NOTEBOOK_IMPORTS = """
import numpy as np
import keras
from keras.layers import (Input, Add, Dense, Activation, ZeroPadding2D, BatchNormalization,
                          Flatten, Conv2D, AveragePooling2D, MaxPooling2D)
from keras.models import Model
from keras.initializers import glorot_uniform
"""
_FIRST_ASSIGNMENT_CELLS = ("identity_block", "convolutional_block", "ResNet50", "block_parameters", "resnet50_shapes")


def setup_code(source_nb) -> str:
    """The notebook's setup cell (grade_id ``setup``) without its IPython magics and shell
    escapes (lines starting with ``%`` or ``!``); KeyError when the notebook has none."""
    nb = read(source_nb) if isinstance(source_nb, (str, Path)) else source_nb
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == "setup":
            return "\n".join(line for line in cell.source.splitlines()
                             if not line.lstrip().startswith(("%", "!")))
    raise KeyError("the notebook has no setup cell (grade_id 'setup')")


def solution_ids(source_nb) -> list[str]:
    """The grade_ids of the notebook's solution cells, in notebook order."""
    nb = read(source_nb) if isinstance(source_nb, (str, Path)) else source_nb
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells
            if nbgrader_meta(c).get("solution") and c.cell_type == "code"]


def load_functions(answers: dict, source_nb=None) -> dict:
    """Execute solution-cell code (by grade_id) in a fresh namespace, after the notebook's imports.

    With ``source_nb`` (any assignment): its setup cell runs first (magics dropped, what it
    prints discarded), then the answers of its solution cells in notebook order. Without it:
    the first assignment's imports (:data:`NOTEBOOK_IMPORTS`) and its three cells.

    ``load_functions(solution_sources(SOURCE_NB))["ResNet50"]`` is the reference ResNet50;
    ``load_functions(answers, course.source_nb("resnet_cifar"))["resnet_v1"]`` the student's v1.
    """
    import contextlib
    import io

    ns: dict = {}
    if source_nb is None:
        exec(NOTEBOOK_IMPORTS, ns)
        order = _FIRST_ASSIGNMENT_CELLS
    else:
        nb = read(source_nb) if isinstance(source_nb, (str, Path)) else source_nb
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(setup_code(nb), "<setup>", "exec"), ns)
        order = solution_ids(nb)
    for gid in order:
        if gid in answers:
            exec(compile(answers[gid], f"<{gid}>", "exec"), ns)
    return ns


def fill(release_nb, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the release notebook whose solution cells named in ``answers`` hold that code."""
    nb = copy.deepcopy(read(release_nb) if isinstance(release_nb, (str, Path)) else release_nb)
    known = {nbgrader_meta(c).get("grade_id") for c in nb.cells if nbgrader_meta(c).get("solution")}
    unknown = set(answers) - known
    if unknown:
        raise KeyError(f"no solution cell with grade_id {sorted(unknown)}; the notebook has {sorted(known)}")
    for cell in nb.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and gid in answers:
            cell.source = answers[gid]
    return nb


def mutate(code: str, old: str, new: str, count: int = 1) -> str:
    """``code.replace(old, new)`` for the last ``count`` occurrences (all if count=0);
    raises ValueError when ``old`` does not occur, so a stale mutation cannot pass unnoticed."""
    n = code.count(old)
    if n == 0:
        raise ValueError(f"mutation does not apply: {old!r} not found in the solution")
    if count == 0 or count >= n:
        return code.replace(old, new)
    return _replace_last(code, old, new, count)


def _replace_last(code: str, old: str, new: str, count: int) -> str:
    parts = code.rsplit(old, count)
    return parts[0] + "".join(new + p for p in parts[1:])


def cell_index(nb, grade_id: str) -> int:
    """The index of the (first) cell with this nbgrader grade_id; KeyError when there is none."""
    for i, cell in enumerate(nb.cells):
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def delete_cell(nb, grade_id: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` without the cell ``grade_id``."""
    nb = copy.deepcopy(nb)
    del nb.cells[cell_index(nb, grade_id)]
    return nb


def edit_cell(nb, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` in which the cell ``grade_id`` holds ``source``."""
    nb = copy.deepcopy(nb)
    nb.cells[cell_index(nb, grade_id)].source = source
    return nb


def duplicate_cell(nb, grade_id: str, source: str, cell_id: str | None = None) -> nbformat.NotebookNode:
    """A copy of ``nb`` with a second copy of the cell ``grade_id`` (same nbgrader metadata)
    right after it, holding ``source``; ``cell_id``: the notebook id of the copy."""
    nb = copy.deepcopy(nb)
    i = cell_index(nb, grade_id)
    clone = copy.deepcopy(nb.cells[i])
    clone.source = source
    clone["id"] = cell_id or "copy-of-" + grade_id.replace("_", "-")
    nb.cells.insert(i + 1, clone)
    return nb


def test_cells(source_nb) -> list[tuple[str, float, str]]:
    """The graded test cells of the source notebook: ``[(grade_id, points, source), ...]``
    (hidden tests included), in notebook order."""
    nb = read(source_nb) if isinstance(source_nb, (str, Path)) else source_nb
    return [(nbgrader_meta(c)["grade_id"], float(nbgrader_meta(c).get("points", 0)), c.source)
            for c in nb.cells if nbgrader_meta(c).get("grade") and c.cell_type == "code"]


def score_in_process(answers: dict, source_nb) -> dict[str, tuple[float, str]]:
    """Run the source notebook's test cells (hidden ones too) on ``answers`` in this process.

    Returns ``{grade_id: (points earned, message)}``: the cell's points (or its partial
    credit: the value of its last expression, as nbgrader reads an output) and what it printed
    when it passes, 0 and the error message when it raises. This is how nbgrader scores a
    test cell, without a kernel, a sandbox or nbgrader: for the course's own test cases
    (tests and benches) only, never for untrusted submissions. The notebook's setup cell
    runs first, then the solution cells in notebook order (:func:`load_functions`).
    """
    import contextlib
    import io

    ns = load_functions(answers, source_nb)
    results = {}
    for grade_id, points, source in test_cells(source_nb):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                value = _run_cell(source, grade_id, ns)
        except Exception as err:  # noqa: BLE001 - a failing test cell scores 0, whatever it raised
            results[grade_id] = (0.0, f"{type(err).__name__}: {err}")
        else:
            results[grade_id] = (_cell_points(value, points), out.getvalue())
    return results


def costly_messages(results: dict, source_nb) -> list[str]:
    """The messages of the test cells that cost points in ``results`` (:func:`score_in_process`),
    in notebook order: failures and penalties."""
    full = {grade_id: points for grade_id, points, _ in test_cells(source_nb)}
    return [message for grade_id, (points, message) in results.items() if points < full[grade_id]]


def _run_cell(source: str, name: str, ns: dict):
    """Run a cell's code in ``ns``; the value of its last line when that is an expression (what
    a notebook shows as the cell's output), else None."""
    import ast

    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, f"<{name}>", "exec"), ns)
    return None if last is None else eval(compile(ast.Expression(last.value), f"<{name}>", "eval"), ns)


def _cell_points(value, points: float) -> float:
    """A passing test cell's points, as nbgrader scores its output: partial credit when it shows
    a number (``nbgrader.utils.get_partial_grade``), all its points when it shows nothing."""
    if value is None:
        return points
    from nbgrader.utils import get_partial_grade

    return float(get_partial_grade({"data": {"text/plain": repr(value)}}, points))
