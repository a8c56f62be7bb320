"""A tiny nbgrader course (no TensorFlow) to exercise the grading machinery fast.

``make_toy_course(root)`` writes ``nbgrader_config.py`` and ``source/toy/toy.ipynb``
(two solution cells, three graded test cells -- one with visible and hidden tests, one
hidden-only -- 6 points -- and a last cell that no test follows) and runs nbgrader's ``generate_assignment`` (gradebook +
release).  :func:`toy_class` is a class of toy submissions covering every broken and
hostile case, as :class:`autograder.example_classes.cases.Case` (the same model as the real assignment's
example classes); :func:`write_cases` puts cases into ``submitted/``.
Used by tests/test_autograder_grade.py, tests/test_nbgrader_exchange.py, tests/test_autograder_sandbox.py.
"""

from __future__ import annotations

import os

import nbformat

from autograder.example_classes import cases
from autograder.example_classes.cases import Case, Context
from autograder.config import course_config, coursedir_for, venv_on_path
from autograder.example_classes.submissions import delete_cell, duplicate_cell, edit_cell, fill
from autograder.notebooks import read

ASSIGNMENT = "toy"
NOTEBOOK = "toy.ipynb"
COURSE_ID = "toy-course"
TIMESTAMP = "2030-01-01 12:00:00.000000 UTC"  # of every toy submission

SOLUTIONS = {
    "square": "def square(x):\n    return x * x\n",
    "add_one": "def add_one(x):\n    return x + 1\n",
}
#: points per graded test cell
POINTS = {"test_square": 2.0, "test_add_one": 3.0, "test_add_one_hidden": 1.0}
MAX_SCORE = sum(POINTS.values())
#: the code of the notebook's last cell, after its last test cell: grading does not run it
AFTER_THE_LAST_TEST = 'print("after the last test: run by students, not by grading")'
#: a line of hidden-test code that must never reach a student's feedback
HIDDEN_MARKERS = ("square(-4) == 16", "np.arange(3)", "add_one(-1) == 0")

CONFIG = '''\
import os
c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course_id}"
c.Execute.timeout = {timeout}
c.Execute.kernel_name = "python3"
c.OverwriteCells.add_missing_cells = True
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
{extra}
'''


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def source_notebook() -> nbformat.NotebookNode:
    v4 = nbformat.v4
    cells = [
        v4.new_markdown_cell("# Toy assignment\nTwo tiny functions.", metadata=_meta("intro", locked=True)),
        v4.new_code_cell("import numpy as np"),
        v4.new_markdown_cell("## Exercise 1: `square`"),
        v4.new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
                         metadata=_meta("square", solution=True)),
        v4.new_code_cell('assert square(3) == 9, "square(3) should be 9"\n'
                         "### BEGIN HIDDEN TESTS\n"
                         'assert square(-4) == 16, "square fails on negative numbers"\n'
                         "### END HIDDEN TESTS\n"
                         'print("square: tests passed")',
                         metadata=_meta("test_square", grade=True, locked=True, points=2)),
        v4.new_markdown_cell("## Exercise 2: `add_one`"),
        v4.new_code_cell("def add_one(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION",
                         metadata=_meta("add_one", solution=True)),
        v4.new_code_cell('assert add_one(1) == 2, "add_one(1) should be 2"\n'
                         "### BEGIN HIDDEN TESTS\n"
                         'assert add_one(-1) == 0, "add_one fails on -1"\n'
                         "### END HIDDEN TESTS\n"
                         'print("add_one: tests passed")',
                         metadata=_meta("test_add_one", grade=True, locked=True, points=3)),
        v4.new_code_cell("### BEGIN HIDDEN TESTS\n"
                         'assert np.allclose(add_one(np.arange(3)), [1, 2, 3]), "add_one must work on arrays"\n'
                         "### END HIDDEN TESTS",
                         metadata=_meta("test_add_one_hidden", grade=True, locked=True, points=1)),
        v4.new_code_cell(AFTER_THE_LAST_TEST),  # grading does not run it (autograder.sandbox)
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def make_toy_course(root: str, *, timeout: int = 20, extra_config: str = "") -> str:
    """Create the toy course in ``root`` (config, source, gradebook and release)."""
    root = os.path.abspath(root)
    os.makedirs(os.path.join(root, "source", ASSIGNMENT), exist_ok=True)
    with open(os.path.join(root, "nbgrader_config.py"), "w") as fh:
        fh.write(CONFIG.format(course_id=COURSE_ID, timeout=timeout, extra=extra_config))
    nbformat.write(source_notebook(), os.path.join(root, "source", ASSIGNMENT, NOTEBOOK))
    generate_assignment(root)
    return root


def generate_assignment(root: str) -> None:
    """nbgrader generate_assignment (gradebook entries + release/), in-process."""
    from nbgrader.converters import GenerateAssignment

    venv_on_path()
    cfg = course_config(root)
    cd = coursedir_for(cfg, root)
    cd.assignment_id = ASSIGNMENT
    app = GenerateAssignment(coursedir=cd, config=cfg)
    app.force = True
    app.create_assignment = True
    app.start()


def context(root: str) -> Context:
    """Toy cases are built from the toy course's release notebook and :data:`SOLUTIONS`."""
    return Context(dict(SOLUTIONS), read(os.path.join(root, "release", ASSIGNMENT, NOTEBOOK)), os.path.abspath(root))


def write_cases(root: str, toy_cases: list[Case]) -> list[str]:
    """Put the cases' submissions in ``submitted/<name>/toy/`` of the toy course at ``root``."""
    return cases.write(root, ASSIGNMENT, toy_cases, context(root), NOTEBOOK, timestamp=TIMESTAMP)


def earned(*cells: str) -> dict[str, float]:
    """Expected points: full points for these test cells, 0 for the others."""
    return cases.points(POINTS, cells)


ALL = tuple(POINTS)
WRONG_SQUARE = "def square(x):\n    return x * 2\n"
WRONG_ADD_ONE = "def add_one(x):\n    return x - 1\n"


def answers(**code: str):
    """A builder: the release notebook with these solution cells' code (the others untouched)."""
    return lambda c: fill(c.release, code)


def toy_class(course_root: str) -> list[Case]:
    """A class of toy submissions covering every broken and hostile case (paths of the
    cheaters' attempts: in the course at ``course_root``)."""
    course = os.path.abspath(course_root)
    source = os.path.join(course, "source", ASSIGNMENT, NOTEBOOK)
    bomb = "def _bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 2**20))\n_bomb()\n"
    flood = "for _i in range(20000):\n    print('spam ' * 200)\n"
    cheat_read = (
        "import json, os\n"
        "def add_one(x):\n    return x - 1\n"
        "for _p in [%r, '../../../source/toy/toy.ipynb', '/proc/1/root' + %r]:\n"
        "    try:\n"
        "        _nb = json.load(open(_p))\n"
        "        for _c in _nb['cells']:\n"
        "            if 'def add_one' in ''.join(_c['source']):\n"
        "                exec(''.join(_c['source']).replace('### BEGIN SOLUTION', ''))\n"
        "    except Exception as _e:\n"
        "        print('no luck:', type(_e).__name__)\n"
    ) % (source, source)
    cheat_write = (
        SOLUTIONS["add_one"] +
        "import sqlite3, subprocess\n"
        "for _f in [lambda: open(%r, 'ab').write(b'garbage'),\n"
        "           lambda: sqlite3.connect(%r).execute('delete from grade'),\n"
        "           lambda: open(%r, 'w').write('hacked'),\n"
        "           lambda: subprocess.run(['cat', %r])]:\n"
        "    try:\n"
        "        _f()\n"
        "    except Exception as _e:\n"
        "        print('blocked:', type(_e).__name__)\n"
    ) % (os.path.join(course, "gradebook.db"), os.path.join(course, "gradebook.db"),
         os.path.join(course, "nbgrader_config.py"), os.path.join(course, "gradebook.db"))
    stuck = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    square_only = earned("test_square")
    add_one_only = earned("test_add_one", "test_add_one_hidden")
    return [
        Case("t01_correct", "the solution", lambda c: c.filled(), earned(*ALL)),
        Case("t02_partial", "square wrong", answers(square=WRONG_SQUARE, add_one=SOLUTIONS["add_one"]),
             add_one_only),
        Case("t03_empty", "the release notebook", lambda c: c.release, earned()),
        Case("t04_syntax_error", "syntax error in square",
             answers(square="def square(x)\n    return x * x\n", add_one=SOLUTIONS["add_one"]), add_one_only,
             ("syntax error",)),
        Case("t05_exception", "add_one raises",
             answers(square=SOLUTIONS["square"], add_one="def add_one(x):\n    raise ValueError('oops')\n"),
             square_only),
        Case("t06_hidden_fails", "add_one fails the hidden test on arrays only",
             answers(square=SOLUTIONS["square"], add_one="def add_one(x):\n    return int(x) + 1\n"),
             earned("test_square", "test_add_one")),
        Case("t07_infinite_loop", "an endless loop after square",
             lambda c: c.filled(square="while True:\n    pass\n"), earned(*ALL), ("timeout in cell 'square'",)),
        Case("t08_deleted_test_cell", "test_square deleted (nbgrader restores it)",
             lambda c: delete_cell(c.filled(), "test_square"), earned(*ALL), ("test cell 'test_square' deleted",)),
        Case("t09_deleted_solution_cell", "add_one's solution cell deleted",
             lambda c: delete_cell(c.filled(), "add_one"), square_only, ("solution cell 'add_one' deleted",)),
        Case("t10_edited_test_cell", "square wrong and test_square emptied",
             lambda c: edit_cell(fill(c.release, {"square": WRONG_SQUARE, "add_one": SOLUTIONS["add_one"]}),
                                 "test_square", "pass"),
             add_one_only, ("test cell 'test_square' edited",)),
        Case("t11_duplicated_cell", "add_one wrong and test_add_one duplicated into a cell that passes",
             lambda c: duplicate_cell(fill(c.release, {"square": SOLUTIONS["square"], "add_one": WRONG_ADD_ONE}),
                                      "test_add_one", "print('all good')", cell_id="duplicate-of-test-add-one"),
             square_only, ("duplicated cell 'test_add_one'",)),
        Case("t12_renamed_notebook", "the notebook renamed", lambda c: c.filled(), earned(), ("notebook missing",),
             filename="toy (1).ipynb"),
        Case("t13_invalid_json", "not notebook JSON", lambda c: b'{"cells": [ this is not json', earned(),
             ("not a readable notebook",)),
        Case("t14_kernel_dies", "os._exit() after add_one",
             lambda c: c.filled(add_one="import os\nos._exit(1)\n"), square_only, ("kernel died in cell 'add_one'",)),
        Case("t15_sys_exit", "sys.exit() after add_one (IPython survives it)",
             lambda c: c.filled(add_one="import sys\nsys.exit(3)\n"), earned(*ALL)),
        Case("t16_memory_bomb", "a memory bomb after add_one", lambda c: c.filled(add_one=bomb), earned(*ALL),
             ("memory cap hit",)),
        Case("t17_output_flood", "4 MB of output after square", lambda c: c.filled(square=flood), earned(*ALL),
             ("output flood truncated",)),
        Case("t18_cheat_read_source", "add_one wrong, reads the source notebook for the solution",
             answers(square=SOLUTIONS["square"], add_one=cheat_read), square_only, ("tampering blocked",)),
        Case("t19_cheat_write", "writes the gradebook and the config, runs a process",
             answers(square=SOLUTIONS["square"], add_one=cheat_write), earned(*ALL), ("tampering blocked",)),
        Case("t20_ignores_interrupt", "an endless loop that ignores the timeout's interrupt",
             lambda c: c.filled(add_one=stuck), square_only,
             ("timeout in cell 'add_one'", "kernel stopped responding in cell 'add_one'")),
    ]
