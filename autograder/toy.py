"""A tiny nbgrader course (no TensorFlow) to exercise the grading machinery fast.

``make_toy_course(root)`` writes ``nbgrader_config.py`` and ``source/toy/toy.ipynb``
(two solution cells, three graded test cells -- one with visible and hidden tests, one
hidden-only -- 6 points), runs nbgrader's ``generate_assignment`` (gradebook + release),
and ``toy_submission(answers)`` fills the release notebook like a student would.
Used by the fast tests (tests/test_grade*.py, tests/test_exchange.py, ...).
"""

from __future__ import annotations

import copy
import os

import nbformat

ASSIGNMENT = "toy"
NOTEBOOK = "toy"
COURSE_ID = "toy-course"

SOLUTIONS = {
    "square": "def square(x):\n    return x * x\n",
    "add_one": "def add_one(x):\n    return x + 1\n",
}
#: points per graded test cell
POINTS = {"test_square": 2, "test_add_one": 3, "test_add_one_hidden": 1}
MAX_SCORE = sum(POINTS.values())
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
    ]
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def make_toy_course(root: str, *, timeout: int = 20, extra_config: str = "", generate: bool = True) -> str:
    """Create the toy course in ``root`` (config, source, gradebook and release)."""
    root = os.path.abspath(root)
    os.makedirs(os.path.join(root, "source", ASSIGNMENT), exist_ok=True)
    with open(os.path.join(root, "nbgrader_config.py"), "w") as fh:
        fh.write(CONFIG.format(course_id=COURSE_ID, timeout=timeout, extra=extra_config))
    nbformat.write(source_notebook(), os.path.join(root, "source", ASSIGNMENT, NOTEBOOK + ".ipynb"))
    if generate:
        generate_assignment(root, ASSIGNMENT)
    return root


def generate_assignment(root: str, assignment: str) -> None:
    """nbgrader generate_assignment (gradebook entries + release/), in-process."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory

    from .worker import load_config, venv_on_path

    venv_on_path()
    cfg = load_config(os.path.join(root, "nbgrader_config.py"))
    cfg.CourseDirectory.root = root
    cd = CourseDirectory(config=cfg)
    cd.root = root
    cd.assignment_id = assignment
    app = GenerateAssignment(coursedir=cd, config=cfg)
    app.force = True
    app.create_assignment = True
    app.start()


def release_path(root: str) -> str:
    return os.path.join(root, "release", ASSIGNMENT, NOTEBOOK + ".ipynb")


def toy_submission(root: str, answers: dict[str, str] | None = None) -> nbformat.NotebookNode:
    """The release notebook with the given solution cells' code (default: correct answers)."""
    nb = nbformat.read(release_path(root), as_version=4)
    answers = SOLUTIONS if answers is None else answers
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    return nb


def write_submission(root: str, student: str, nb: nbformat.NotebookNode | str | bytes | None,
                     *, name: str | None = None, timestamp: str | None = "2030-01-01 12:00:00.000000 UTC") -> str:
    """Put a submission in ``submitted/<student>/toy/`` (``nb`` may be raw text/bytes)."""
    d = os.path.join(root, "submitted", student, ASSIGNMENT)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, (name or NOTEBOOK) + ".ipynb")
    if isinstance(nb, (str, bytes)):
        with open(path, "wb") as fh:
            fh.write(nb.encode() if isinstance(nb, str) else nb)
    elif nb is not None:
        nbformat.write(nb, path)
    if timestamp:
        with open(os.path.join(d, "timestamp.txt"), "w") as fh:
            fh.write(timestamp)
    return d


def mutate_cell(nb: nbformat.NotebookNode, grade_id: str, fn) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            fn(cell)
    return nb


def delete_cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


# ------------------------------------------------------------------------ the toy class
def _append(grade_id: str, code: str):
    def fn(cell):
        cell.source = cell.source.rstrip("\n") + "\n" + code
    return fn


def toy_class(root: str, *, course_root_literal: str | None = None) -> dict[str, dict]:
    """Write a class of toy submissions covering every bad case; return
    {student: {"total": expected points, "problems": [substrings expected in the report]}}."""
    good = toy_submission(root)
    wrong_square = "def square(x):\n    return x * 2\n"
    wrong_add_one = "def add_one(x):\n    return x - 1\n"
    course = course_root_literal or os.path.abspath(root)
    expected: dict[str, dict] = {}

    def put(student, nb, total, problems=(), **kw):
        write_submission(root, student, nb, **kw)
        expected[student] = {"total": total, "problems": list(problems)}

    put("t01_correct", good, 6)
    put("t02_partial", toy_submission(root, {"square": wrong_square, "add_one": SOLUTIONS["add_one"]}), 4)
    put("t03_empty", nbformat.read(release_path(root), as_version=4), 0)
    put("t04_syntax_error", toy_submission(root, {"square": "def square(x)\n    return x * x\n",
                                                  "add_one": SOLUTIONS["add_one"]}), 4, ["syntax error"])
    put("t05_exception", toy_submission(root, {"square": SOLUTIONS["square"],
                                               "add_one": "def add_one(x):\n    raise ValueError('oops')\n"}), 2)
    put("t06_hidden_fails", toy_submission(root, {"square": SOLUTIONS["square"],
                                                  "add_one": "def add_one(x):\n    return int(x) + 1\n"}), 5)
    put("t07_infinite_loop", mutate_cell(good, "square", _append("square", "while True:\n    pass\n")), 6,
        ["timeout in cell 'square'"])
    put("t08_deleted_test_cell", delete_cell(good, "test_square"), 6, ["test cell 'test_square' deleted"])
    put("t09_deleted_solution_cell", delete_cell(good, "add_one"), 2, ["solution cell 'add_one' deleted"])
    edited = mutate_cell(toy_submission(root, {"square": wrong_square, "add_one": SOLUTIONS["add_one"]}),
                         "test_square", lambda c: setattr(c, "source", "pass"))
    put("t10_edited_test_cell", edited, 4, ["test cell 'test_square' edited"])
    dup = toy_submission(root, {"square": SOLUTIONS["square"], "add_one": wrong_add_one})
    idx = [i for i, c in enumerate(dup.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "test_add_one"][0]
    clone = copy.deepcopy(dup.cells[idx])
    clone.source = "print('all good')"
    clone["id"] = "duplicate-of-test-add-one"
    dup.cells.insert(idx + 1, clone)
    put("t11_duplicated_cell", dup, 2, ["duplicated cell 'test_add_one'"])
    put("t12_renamed_notebook", good, 0, ["notebook missing"], name="toy (1)")
    put("t13_invalid_json", '{"cells": [ this is not json', 0, ["not a readable notebook"])
    put("t14_kernel_dies", mutate_cell(good, "add_one", _append("add_one", "import os\nos._exit(1)\n")), 2,
        ["kernel died in cell 'add_one'"])
    put("t15_sys_exit", mutate_cell(good, "add_one", _append("add_one", "import sys\nsys.exit(3)\n")), 6)
    bomb = ("def _bomb():\n    hog = []\n    while True:\n        hog.append(bytearray(50 * 2**20))\n"
            "_bomb()\n")
    put("t16_memory_bomb", mutate_cell(good, "add_one", _append("add_one", bomb)), 6, ["memory cap hit"])
    flood = "for _i in range(20000):\n    print('spam ' * 200)\n"
    put("t17_output_flood", mutate_cell(good, "square", _append("square", flood)), 6, ["output flood truncated"])
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
    ) % (os.path.join(course, "source", ASSIGNMENT, NOTEBOOK + ".ipynb"),
         os.path.join(course, "source", ASSIGNMENT, NOTEBOOK + ".ipynb"))
    put("t18_cheat_read_source", toy_submission(root, {"square": SOLUTIONS["square"], "add_one": cheat_read}), 2,
        ["tampering blocked"])
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
    put("t19_cheat_write", toy_submission(root, {"square": SOLUTIONS["square"], "add_one": cheat_write}), 6,
        ["tampering blocked"])
    stuck = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n"
    put("t20_ignores_interrupt", mutate_cell(good, "add_one", _append("add_one", stuck)), 2,
        ["timeout in cell 'add_one'", "kernel stopped responding in cell 'add_one'"])
    return expected
