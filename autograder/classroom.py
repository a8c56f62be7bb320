"""The bundled example class of the "Residual Networks" assignment, hostile students included.

Every submission is *built*, never written by hand (an :class:`autograder.cases.Case`):
it starts from the release notebook, fills the solution cells with the reference solution
read from the source notebook (:class:`~autograder.cases.Context`), then deletes,
duplicates or edits cells (:mod:`autograder.submissions`) or appends code to a solution
cell.  No solution code lives in this file.  Each student comes with the points nbgrader
must give each graded cell and the problems the report must name.

- :func:`full_class`: the ``make demo`` examples (realistic mistakes) plus one student per
  broken or hostile case (>= 20 students) -- ``python -m autograder class-demo``.
- :func:`small_class`: the smallest class that still covers every case, several cases
  per student where they cannot interfere (the CI test, tests/test_autograder_hostile_class.py).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import nbformat

from . import cases, course
from .cases import Case, Context
from .submissions import delete_cell, duplicate_cell, edit_cell

ASSIGNMENT = course.ASSIGNMENT
NOTEBOOK = course.NOTEBOOK
TIMESTAMP = "2030-01-15 09:00:00.000000 UTC"  # of every submission of the class

I, C, R = "identity_block", "convolutional_block", "ResNet50"
TESTS = {I: ("test_identity_block", "test_identity_block_hidden"),
         C: ("test_convolutional_block", "test_convolutional_block_hidden"),
         R: ("test_ResNet50", "test_ResNet50_hidden")}


@functools.cache
def _graded_cells() -> dict[str, float]:
    return course.graded_cells()


def earned(*exercises: str) -> dict[str, float]:
    """Expected points: full points for the tests of these exercises, 0 for the others."""
    return cases.points(_graded_cells(), [t for ex in exercises for t in TESTS[ex]])


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


def read_files_cheat(ctx: Context) -> str:
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


def write_files_cheat(ctx: Context) -> str:
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


# --------------------------------------------------------------------------- the class
def full_class() -> list[Case]:
    """>= 20 students: correct, partly correct, empty, broken and hostile work."""
    from . import examples

    return list(examples.EXAMPLES) + [  # the realistic mistakes of `make demo`, with their grades
        Case("h01_syntax_error", "a syntax error in ResNet50's cell; the blocks still earn their points",
             lambda c: c.filled(ResNet50=SYNTAX_ERROR), earned(I, C), ("syntax error in cell 'ResNet50'",)),
        Case("h02_exception", "identity_block raises an exception (ResNet50 is checked with "
                              "stand-ins for the blocks and keeps its points)",
             lambda c: c.filled(identity_block=RAISES_IDENTITY), earned(C, R)),
        Case("h03_infinite_loop", "an endless loop after identity_block: stopped by the cell timeout",
             lambda c: c.filled(identity_block=INFINITE_LOOP), earned(I, C, R), ("timeout in cell 'identity_block'",)),
        Case("h04_deleted_test_cell", "deleted the test cell test_convolutional_block (nbgrader restores it)",
             lambda c: delete_cell(c.filled(), "test_convolutional_block"), earned(I, C, R),
             ("test cell 'test_convolutional_block' deleted",)),
        Case("h05_deleted_solution_cell", "deleted the solution cell ResNet50",
             lambda c: delete_cell(c.filled(), "ResNet50"), earned(I, C), ("solution cell 'ResNet50' deleted",)),
        Case("h06_edited_test_cell", "wrong identity_block, and the asserts of its test cells removed",
             lambda c: edit_cell(edit_cell(c.filled(identity_block=WRONG_IDENTITY), "test_identity_block", "pass"),
                                 "test_identity_block_hidden", "pass"),
             earned(C, R), ("test cell 'test_identity_block' edited",)),
        Case("h07_duplicated_cell", "ResNet50 unfinished, and test_ResNet50 duplicated into a cell that passes",
             lambda c: duplicate_cell(c.filled(ResNet50=WRONG_RESNET), "test_ResNet50", "print('all tests passed')"),
             earned(I, C), ("duplicated cell 'test_ResNet50'",)),
        Case("h08_renamed_notebook", "the notebook renamed to Residual_Networks-Copy1.ipynb",
             lambda c: c.filled(), earned(), ("notebook missing",), filename="Residual_Networks-Copy1.ipynb"),
        Case("h09_not_json", "a file that is not notebook JSON",
             lambda c: nbformat.writes(c.filled()).encode()[:5000], earned(), ("not a readable notebook",)),
        Case("h10_memory_bomb", "a memory bomb after ResNet50: stopped by the memory cap",
             lambda c: c.filled(ResNet50=MEMORY_BOMB), earned(I, C, R), ("memory cap hit",)),
        Case("h11_kernel_dies", "os._exit() after convolutional_block: the kernel dies",
             lambda c: c.filled(convolutional_block=KERNEL_DIES), earned(I),
             ("kernel died in cell 'convolutional_block'",)),
        Case("h12_sys_exit", "sys.exit() after identity_block (IPython survives it)",
             lambda c: c.filled(identity_block=SYS_EXIT), earned(I, C, R), ("SystemExit",)),
        Case("h13_output_flood", "4 million lines of output after identity_block",
             lambda c: c.filled(identity_block=OUTPUT_FLOOD), earned(I, C, R), ("output flood truncated",)),
        Case("h14_patch_helpers", "wrong identity_block; replaces the checking helpers and reload()",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + PATCH_HELPERS), earned(C, R), ("monkeypatches",)),
        Case("h15_patch_numpy", "correct work, but numpy's comparisons patched to always pass",
             lambda c: c.filled(identity_block=PATCH_NUMPY), earned(), ("monkeypatches",)),
        Case("h16_redefine_helpers", "ResNet50 unfinished; redefines check_ResNet50 and reload after import",
             lambda c: c.filled(ResNet50=WRONG_RESNET + "\ndef check_ResNet50(*a, **k):\n    print('ok')\n"
                                "reload = lambda module: module\n"),
             earned(I, C), ("redefines test helper",)),
        Case("h17_read_files", "reads the source notebook / gradebook to copy the solution (wrong fallback)",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + read_files_cheat(c)), earned(C, R),
             ("tampering blocked",)),
        Case("h18_write_files", "correct work; tries to overwrite the reference data and the gradebook",
             lambda c: c.filled(convolutional_block=write_files_cheat(c)), earned(I, C, R), ("tampering blocked",)),
    ]


def small_class() -> list[Case]:
    """Every case above in as few TensorFlow kernels as possible (the CI test)."""
    return [
        Case("s01_correct", "the reference solution", lambda c: c.filled(), earned(I, C, R)),
        Case("s02_empty", "the release notebook, nothing done", lambda c: c.release, earned()),
        Case("s03_broken", "syntax error in ResNet50; deleted test_convolutional_block; duplicated "
                           "test_identity_block; output flood",
             lambda c: duplicate_cell(delete_cell(c.filled(ResNet50=SYNTAX_ERROR, identity_block=OUTPUT_FLOOD),
                                                  "test_convolutional_block"),
                                      "test_identity_block", "print('all tests passed')"),
             earned(I, C), ("syntax error in cell 'ResNet50'", "test cell 'test_convolutional_block' deleted",
                            "duplicated cell 'test_identity_block'", "output flood truncated")),
        Case("s04_stuck", "identity_block raises; its test cell edited; ResNet50's solution cell deleted; "
                          "endless loop after convolutional_block",
             lambda c: delete_cell(edit_cell(c.filled(identity_block=RAISES_IDENTITY,
                                                      convolutional_block=INFINITE_LOOP),
                                             "test_identity_block", "pass"), "ResNet50"),
             earned(C), ("test cell 'test_identity_block' edited", "solution cell 'ResNet50' deleted",
                         "timeout in cell 'convolutional_block'")),
        Case("s05_bomb_and_helpers", "wrong identity_block + replaced checking helpers and reload(); "
                                     "memory bomb after ResNet50",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + PATCH_HELPERS, ResNet50=MEMORY_BOMB),
             earned(C, R), ("memory cap hit", "monkeypatches")),
        Case("s06_files_and_numpy", "reads the instructor's files (wrong fallback); tries to overwrite the "
                                    "reference data; patches numpy after ResNet50",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + read_files_cheat(c),
                                convolutional_block=write_files_cheat(c), ResNet50=PATCH_NUMPY),
             earned(C), ("tampering blocked",)),
        Case("s07_dies", "sys.exit() after identity_block, os._exit() after convolutional_block",
             lambda c: c.filled(identity_block=SYS_EXIT, convolutional_block=KERNEL_DIES),
             earned(I), ("kernel died in cell 'convolutional_block'",)),
        Case("s08_renamed", "notebook renamed", lambda c: c.filled(), earned(), ("notebook missing",),
             filename="Residual_Networks (1).ipynb"),
        Case("s09_not_json", "not notebook JSON", lambda c: b'{"cells": [{"cell_type": "code", "sou',
             earned(), ("not a readable notebook",)),
    ]


def write_class(course_root: str, students: list[Case]) -> None:
    """Write the students' submissions into ``<course_root>/submitted/`` (replacing theirs),
    built from that course's source and release notebooks."""
    root = os.path.abspath(course_root)
    ctx = Context.from_notebooks(os.path.join(root, "source", ASSIGNMENT, NOTEBOOK),
                                 os.path.join(root, "release", ASSIGNMENT, NOTEBOOK), root)
    cases.write(root, ASSIGNMENT, students, ctx, NOTEBOOK, timestamp=TIMESTAMP)


def class_of(assignment: str, small: bool = False) -> list[Case]:
    """The class ``class-demo`` grades for ``assignment``: for this notebook's assignment the
    full (or, with ``small``, the small) class above; for the others their ``make demo``
    examples (:data:`autograder.examples.EXAMPLES_BY_ASSIGNMENT`)."""
    from . import examples

    if assignment == ASSIGNMENT:
        return small_class() if small else full_class()
    if assignment not in examples.EXAMPLES_BY_ASSIGNMENT:
        raise ValueError(f"unknown assignment {assignment!r}; the course has "
                         f"{', '.join(sorted(course.ASSIGNMENTS))}")
    return list(examples.EXAMPLES_BY_ASSIGNMENT[assignment])


def _has_release(root: Path, assignment: str) -> bool:
    """Whether ``root`` has the assignment's release and gradebook entry (else generate them)."""
    if not ((root / "gradebook.db").exists() and course.release_nb(assignment, root).exists()):
        return False
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
        try:
            gb.find_assignment(assignment)
            return True
        except MissingEntry:
            return False


def main_class_demo(args) -> int:
    """``python -m autograder class-demo``: for each assignment (or ``--assignment``), build its
    class into submitted/, grade it, write the class report and check every grade."""
    from . import examples
    from .class_report import write
    from .grade import Options, format_report, grade

    root = Path(args.into or args.course_root or course.ROOT).resolve()
    if not (root / "nbgrader_config.py").exists():
        course.new_course(root)
    assignments = [args.assignment] if getattr(args, "assignment", None) else list(course.ASSIGNMENTS)
    classes = {a: class_of(a, getattr(args, "small", False)) for a in assignments}   # unknown: error first
    args.course_root = str(root)
    failures = []
    for n, assignment in enumerate(assignments, 1):
        students = classes[assignment]
        tag = f"[{n}/{len(assignments)} {assignment}]"
        if not _has_release(root, assignment):
            print(f"{tag} Generating the release and the gradebook (nbgrader generate_assignment) ...", flush=True)
            course.generate_release(root, assignment, quiet=True)
        print(f"{tag} Writing {len(students)} submissions into {root / 'submitted'} ...", flush=True)
        if assignment == ASSIGNMENT:
            write_class(str(root), students)
        else:
            examples.write_submissions(root, students, assignment)
        for st in students:
            print("    %-26s %s" % (st.name, st.description))
        out = grade(Options.from_args(args, assignment, [st.name for st in students]))
        print(format_report(out))
        print(f"\n{tag} Class report: {write(str(root), assignment)}")
        bad = cases.check(out, students)
        print()
        if bad:
            print(f"{tag} UNEXPECTED RESULTS:\n  " + "\n  ".join(bad))
            failures += bad
        else:
            print(f"{tag} All {len(students)} students got exactly the expected grades and problem reports.")
    return 1 if failures else 0
