"""The bundled example class of the "Residual Networks" assignment, hostile students included.

Every submission is *built*, never written by hand: it starts from the release notebook,
fills the solution cells with the reference solution read from the source notebook
(:func:`autograder.submissions.solution_sources` / :func:`~autograder.submissions.fill`),
then deletes/duplicates/edits cells or appends code to a solution cell.  No solution code
lives in this file.  Each student comes with the points nbgrader must give each graded
cell and the problems the report must name.

- :func:`full_class`: the ``make demo`` examples (realistic mistakes) plus one student per
  broken or hostile case (>= 20 students) -- ``python -m autograder class-demo``.
- :func:`small_class`: the smallest class that still covers every case, several cases
  per student where they cannot interfere (the CI test, tests/test_hostile_class.py).
"""

from __future__ import annotations

import copy
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from . import course
from .submissions import fill, nbgrader_meta, read, solution_sources

ASSIGNMENT = course.ASSIGNMENT
NOTEBOOK = course.NOTEBOOK

I, C, R = "identity_block", "convolutional_block", "ResNet50"
TESTS = {I: ("test_identity_block", "test_identity_block_hidden"),
         C: ("test_convolutional_block", "test_convolutional_block_hidden"),
         R: ("test_ResNet50", "test_ResNet50_hidden")}


@dataclass
class Ctx:
    """What the builders get: reference answers, release notebook, the course root (for the
    paths a cheater would try)."""

    ref: dict[str, str]
    release: nbformat.NotebookNode
    course_root: str


@dataclass
class Student:
    name: str
    description: str
    build: Callable[[Ctx], Any]  # -> NotebookNode, or bytes for a file that is not a notebook
    earned: tuple[str, ...]  # exercises whose tests all pass
    problems: tuple[str, ...] = ()  # substrings the report must contain
    filename: str = NOTEBOOK
    expected: dict[str, float] = field(default_factory=dict)  # grade_id -> points (default: from earned)


# ----------------------------------------------------------------------- code appended
SYNTAX_ERROR = "\nthis line is not python\n"
INFINITE_LOOP = "\nwhile True:  # a debugging loop left behind\n    pass\n"
OUTPUT_FLOOD = ("\nimport sys as _sys\nfor _i in range(400):  # 4 million lines of debugging output\n"
                "    _sys.stdout.write('debug: still here\\n' * 10000)\n")
MEMORY_BOMB = ("\ndef _remember_everything():\n    hoard = []\n    while True:\n"
               "        hoard.append(bytearray(64 * 2**20))\n_remember_everything()\n")
KERNEL_DIES = "\nimport os as _os\n_os._exit(1)\n"
SYS_EXIT = "\nimport sys as _sys\n_sys.exit('done for today')\n"
WRONG_IDENTITY = ("\ndef identity_block(X, f, filters, stage, block, initializer=glorot_uniform):\n"
                  "    return X  # skips the whole block\n")
WRONG_RESNET = ("\ndef ResNet50(input_shape=(64, 64, 3), classes=6):\n"
                "    raise NotImplementedError('ResNet50 is not finished')\n")
RAISES_IDENTITY = ("\ndef identity_block(*args, **kwargs):\n"
                   "    raise RuntimeError('identity_block is not finished')\n")
PATCH_HELPERS = """
# make every check pass: replace the grading helpers, and make reload() a no-op
import importlib as _importlib
import resnet_utils.grading as _g
def _always_fine(*args, **kwargs):
    print("\\u2713 all good")
for _name in dir(_g):
    if _name.startswith("check_") or _name in ("verify_environment", "load_reference"):
        setattr(_g, _name, _always_fine)
_importlib.reload = lambda module: module
check_identity_block = check_convolutional_block = check_ResNet50 = _always_fine
reload = lambda module: module
"""
PATCH_NUMPY = """
# make every comparison pass
import numpy as _np
_np.allclose = lambda *a, **k: True
_np.array_equal = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
_np.testing.assert_array_equal = lambda *a, **k: None
"""


def read_files_cheat(ctx: Ctx) -> str:
    """Look for the reference solution or the hidden tests outside the submission."""
    root = ctx.course_root
    src = os.path.join(root, "source", ASSIGNMENT, NOTEBOOK)
    return f"""
# find the instructor's solution on the grading machine
import json as _json, os as _os, sqlite3 as _sqlite3
_found = None
for _try in [
    lambda: open({src!r}).read(),
    lambda: open('../../../source/{ASSIGNMENT}/{NOTEBOOK}').read(),
    lambda: open('/proc/1/root' + {src!r}).read(),
    lambda: str(_sqlite3.connect({os.path.join(root, 'gradebook.db')!r}).execute('select source from source_cell').fetchall()),
    lambda: str(_os.listdir({os.path.join(root, 'submitted')!r})),
]:
    try:
        _found = _try()
        break
    except Exception as _e:
        print('no luck:', type(_e).__name__)
if _found and 'BEGIN SOLUTION' in _found:
    for _cell in _json.loads(_found)['cells']:
        _code = ''.join(_cell['source'])
        if _code.startswith('def identity_block'):
            exec(_code)
"""


def write_files_cheat(ctx: Ctx) -> str:
    """Try to change what the checks compare with, and the gradebook."""
    root = ctx.course_root
    return f"""
# overwrite the reference data and the gradebook
import resnet_utils.grading as _g
for _path, _data in [(str(_g.REFERENCE_FILE), '{{}}'), ({os.path.join(root, 'gradebook.db')!r}, 'x'),
                     ({os.path.join(root, 'nbgrader_config.py')!r}, 'c = get_config()')]:
    try:
        with open(_path, 'w') as _fh:
            _fh.write(_data)
    except Exception as _e:
        print('blocked:', type(_e).__name__)
"""


# ------------------------------------------------------------------------- notebook ops
def answers(ctx: Ctx, **append: str) -> dict[str, str]:
    """The reference answers, with code appended to some cells (keyword: grade_id)."""
    out = dict(ctx.ref)
    for gid, code in append.items():
        out[gid] = out[gid].rstrip("\n") + "\n" + code
    return out


def filled(ctx: Ctx, **append: str) -> nbformat.NotebookNode:
    return fill(ctx.release, answers(ctx, **append))


def _index(nb, grade_id: str) -> int:
    for i, cell in enumerate(nb.cells):
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return i
    raise KeyError(grade_id)


def delete(nb, grade_id: str):
    nb = copy.deepcopy(nb)
    del nb.cells[_index(nb, grade_id)]
    return nb


def edit(nb, grade_id: str, source: str):
    nb = copy.deepcopy(nb)
    nb.cells[_index(nb, grade_id)].source = source
    return nb


def duplicate(nb, grade_id: str, source: str):
    """A second copy of a cell (same grade_id) right after it, with other code."""
    nb = copy.deepcopy(nb)
    i = _index(nb, grade_id)
    clone = copy.deepcopy(nb.cells[i])
    clone.source = source
    clone["id"] = "copy-of-" + grade_id.replace("_", "-")
    nb.cells.insert(i + 1, clone)
    return nb


# --------------------------------------------------------------------------- the class
def full_class() -> list[Student]:
    """>= 20 students: correct, partly correct, empty, broken and hostile work."""
    from . import examples

    out: list[Student] = []
    for ex in examples.EXAMPLES:  # the realistic mistakes of `make demo`, with their grades
        out.append(Student(ex.student, ex.description,
                           (lambda ctx, ex=ex: ctx.release if ex.answers is None else fill(ctx.release, ex.answers(ctx.ref))),
                           (), expected=dict(ex.expected)))
    out += [
        Student("h01_syntax_error", "a syntax error in ResNet50's cell; the blocks still earn their points",
                lambda c: filled(c, ResNet50=SYNTAX_ERROR), (I, C), ("syntax error in cell 'ResNet50'",)),
        Student("h02_exception", "identity_block raises an exception (ResNet50 is checked with "
                                 "stand-ins for the blocks and keeps its points)",
                lambda c: filled(c, identity_block=RAISES_IDENTITY), (C, R)),
        Student("h03_infinite_loop", "an endless loop after identity_block: stopped by the cell timeout",
                lambda c: filled(c, identity_block=INFINITE_LOOP), (I, C, R), ("timeout in cell 'identity_block'",)),
        Student("h04_deleted_test_cell", "deleted the test cell test_convolutional_block (nbgrader restores it)",
                lambda c: delete(filled(c), "test_convolutional_block"), (I, C, R),
                ("test cell 'test_convolutional_block' deleted",)),
        Student("h05_deleted_solution_cell", "deleted the solution cell ResNet50",
                lambda c: delete(filled(c), "ResNet50"), (I, C), ("solution cell 'ResNet50' deleted",)),
        Student("h06_edited_test_cell", "wrong identity_block, and the asserts of its test cells removed",
                lambda c: edit(edit(filled(c, identity_block=WRONG_IDENTITY), "test_identity_block", "pass"),
                               "test_identity_block_hidden", "pass"),
                (C, R), ("test cell 'test_identity_block' edited",)),
        Student("h07_duplicated_cell", "ResNet50 unfinished, and test_ResNet50 duplicated into a cell that passes",
                lambda c: duplicate(filled(c, ResNet50=WRONG_RESNET), "test_ResNet50", "print('all tests passed')"),
                (I, C), ("duplicated cell 'test_ResNet50'",)),
        Student("h08_renamed_notebook", "the notebook renamed to Residual_Networks-Copy1.ipynb",
                lambda c: filled(c), (), ("notebook missing",), filename="Residual_Networks-Copy1.ipynb"),
        Student("h09_not_json", "a file that is not notebook JSON",
                lambda c: nbformat.writes(filled(c)).encode()[:5000], (), ("not a readable notebook",)),
        Student("h10_memory_bomb", "a memory bomb after ResNet50: stopped by the memory cap",
                lambda c: filled(c, ResNet50=MEMORY_BOMB), (I, C, R), ("memory cap hit",)),
        Student("h11_kernel_dies", "os._exit() after convolutional_block: the kernel dies",
                lambda c: filled(c, convolutional_block=KERNEL_DIES), (I,),
                ("kernel died in cell 'convolutional_block'",)),
        Student("h12_sys_exit", "sys.exit() after identity_block (IPython survives it)",
                lambda c: filled(c, identity_block=SYS_EXIT), (I, C, R), ("SystemExit",)),
        Student("h13_output_flood", "4 million lines of output after identity_block",
                lambda c: filled(c, identity_block=OUTPUT_FLOOD), (I, C, R), ("output flood truncated",)),
        Student("h14_patch_helpers", "wrong identity_block; replaces the checking helpers and reload()",
                lambda c: filled(c, identity_block=WRONG_IDENTITY + PATCH_HELPERS), (C, R), ("monkeypatches",)),
        Student("h15_patch_numpy", "correct work, but numpy's comparisons patched to always pass",
                lambda c: filled(c, identity_block=PATCH_NUMPY), (), ("monkeypatches",)),
        Student("h16_redefine_helpers", "ResNet50 unfinished; redefines check_ResNet50 and reload after import",
                lambda c: filled(c, ResNet50=WRONG_RESNET + "\ndef check_ResNet50(*a, **k):\n    print('ok')\n"
                                 "reload = lambda module: module\n"),
                (I, C), ("redefines test helper",)),
        Student("h17_read_files", "reads the source notebook / gradebook to copy the solution (wrong fallback)",
                lambda c: filled(c, identity_block=WRONG_IDENTITY + read_files_cheat(c)), (C, R), ("tampering blocked",)),
        Student("h18_write_files", "correct work; tries to overwrite the reference data and the gradebook",
                lambda c: filled(c, convolutional_block=write_files_cheat(c)), (I, C, R), ("tampering blocked",)),
    ]
    return out


def small_class() -> list[Student]:
    """Every case above in as few TensorFlow kernels as possible (the CI test)."""
    return [
        Student("s01_correct", "the reference solution", lambda c: filled(c), (I, C, R)),
        Student("s02_empty", "the release notebook, nothing done", lambda c: c.release, ()),
        Student("s03_broken", "syntax error in ResNet50; deleted test_convolutional_block; duplicated "
                              "test_identity_block; output flood",
                lambda c: duplicate(delete(filled(c, ResNet50=SYNTAX_ERROR, identity_block=OUTPUT_FLOOD),
                                           "test_convolutional_block"),
                                    "test_identity_block", "print('all tests passed')"),
                (I, C), ("syntax error in cell 'ResNet50'", "test cell 'test_convolutional_block' deleted",
                         "duplicated cell 'test_identity_block'", "output flood truncated")),
        Student("s04_stuck", "identity_block raises; its test cell edited; ResNet50's solution cell deleted; "
                             "endless loop after convolutional_block",
                lambda c: delete(edit(filled(c, identity_block=RAISES_IDENTITY, convolutional_block=INFINITE_LOOP),
                                      "test_identity_block", "pass"), "ResNet50"),
                (C,), ("test cell 'test_identity_block' edited", "solution cell 'ResNet50' deleted",
                       "timeout in cell 'convolutional_block'")),
        Student("s05_bomb_and_helpers", "wrong identity_block + replaced checking helpers and reload(); "
                                        "memory bomb after ResNet50",
                lambda c: filled(c, identity_block=WRONG_IDENTITY + PATCH_HELPERS, ResNet50=MEMORY_BOMB),
                (C, R), ("memory cap hit", "monkeypatches")),
        Student("s06_files_and_numpy", "reads the instructor's files (wrong fallback); tries to overwrite the "
                                       "reference data; patches numpy after ResNet50",
                lambda c: filled(c, identity_block=WRONG_IDENTITY + read_files_cheat(c),
                                 convolutional_block=write_files_cheat(c), ResNet50=PATCH_NUMPY),
                (C,), ("tampering blocked",)),
        Student("s07_dies", "sys.exit() after identity_block, os._exit() after convolutional_block",
                lambda c: filled(c, identity_block=SYS_EXIT, convolutional_block=KERNEL_DIES),
                (I,), ("kernel died in cell 'convolutional_block'",)),
        Student("s08_renamed", "notebook renamed", lambda c: filled(c), (), ("notebook missing",),
                filename="Residual_Networks (1).ipynb"),
        Student("s09_not_json", "not notebook JSON", lambda c: b'{"cells": [{"cell_type": "code", "sou',
                (), ("not a readable notebook",)),
    ]


def expected_points(st: Student, cells: dict[str, float]) -> dict[str, float]:
    if st.expected:
        return {g: float(st.expected.get(g, 0.0)) for g in cells}
    won = {t for ex in st.earned for t in TESTS[ex]}
    return {g: (cells[g] if g in won else 0.0) for g in cells}


def write_class(course_root: str, students: list[Student], *, source_nb: str | None = None,
                release_nb: str | None = None, timestamp: str = "2030-01-15 09:00:00.000000 UTC") -> None:
    """Write the students' submissions into ``<course_root>/submitted/`` (replacing theirs)."""
    root = os.path.abspath(course_root)
    source_nb = source_nb or os.path.join(root, "source", ASSIGNMENT, NOTEBOOK)
    release_nb = release_nb or os.path.join(root, "release", ASSIGNMENT, NOTEBOOK)
    ctx = Ctx(solution_sources(source_nb), read(release_nb), root)
    for st in students:
        d = os.path.join(root, "submitted", st.name, ASSIGNMENT)
        if os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d)
        nb = st.build(ctx)
        path = os.path.join(d, st.filename)
        if isinstance(nb, bytes):
            with open(path, "wb") as fh:
                fh.write(nb)
        else:
            nbformat.write(nb, path)
        with open(os.path.join(d, "timestamp.txt"), "w") as fh:
            fh.write(timestamp)


def check(out: dict[str, Any], students: list[Student], cells: dict[str, float]) -> list[str]:
    """Differences between the grading result and what each student must get."""
    by = {r["student"]: r for r in out["results"]}
    bad = []
    for st in students:
        r = by.get(st.name)
        if r is None:
            bad.append("%s: not graded" % st.name)
            continue
        want = expected_points(st, cells)
        got = {g: float(r.get("scores", {}).get(g) or 0.0) for g in cells}
        diff = {g: (got[g], want[g]) for g in cells if abs(got[g] - want[g]) > 1e-9}
        if diff:
            bad.append("%s: %s" % (st.name, ", ".join("%s got %g expected %g" % (g, a, b) for g, (a, b) in diff.items())))
        text = "\n".join(r.get("problems", []) + r.get("flags", []))
        for p in st.problems:
            if p not in text:
                bad.append("%s: the report does not mention %r" % (st.name, p))
    return bad


def main_class_demo(args) -> int:
    """``python -m autograder class-demo``: build the class into submitted/, grade it, check it."""
    from .grade import format_report, grade
    from .__main__ import _options

    root = Path(args.into or args.course_root or course.ROOT).resolve()
    if not (root / "nbgrader_config.py").exists():
        course.new_course(root)
    gb_ok = False
    if (root / "gradebook.db").exists() and (root / "release" / ASSIGNMENT / NOTEBOOK).exists():
        from nbgrader.api import Gradebook, MissingEntry

        with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
            try:
                gb.find_assignment(ASSIGNMENT)
                gb_ok = True
            except MissingEntry:
                pass
    if not gb_ok:
        print("Generating the release and the gradebook (nbgrader generate_assignment) ...", flush=True)
        course.generate_release(root, quiet=True)
    students = small_class() if getattr(args, "small", False) else full_class()
    print("Writing %d submissions into %s ..." % (len(students), root / "submitted"), flush=True)
    write_class(str(root), students)
    for st in students:
        print("    %-26s %s" % (st.name, st.description))
    args.course_root = str(root)
    out = grade(_options(args, ASSIGNMENT, [st.name for st in students]))
    print(format_report(out))
    cells = course.graded_cells(root / "source" / ASSIGNMENT / NOTEBOOK)
    bad = check(out, students, cells)
    print()
    if bad:
        print("UNEXPECTED RESULTS:\n  " + "\n  ".join(bad))
        return 1
    print("All %d students got exactly the expected grades and problem reports." % len(students))
    return 0
