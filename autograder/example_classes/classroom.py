"""The bundled example classes, hostile students included: one class per assignment.

Every submission is *built*, never written by hand (an :class:`autograder.example_classes.cases.Case`):
it starts from the release notebook, fills the solution cells with the reference solution
read from the source notebook (:class:`~autograder.example_classes.cases.Context`), then deletes,
duplicates or edits cells (:mod:`autograder.example_classes.submissions`) or appends code to a solution
cell.  No solution code lives in this file.  Each student comes with the points nbgrader
must give each graded cell and the problems the report must name.

One mechanism serves every assignment: a :class:`Kit` holds what an assignment's hostile
students need to know about it (its exercises, the module of its checking helpers, code
that redefines a function wrongly or so that it raises) and writes the cheats for it;
the code appended to a cell that does not depend on the assignment (a syntax error, an
endless loop, a memory bomb, ``os._exit()``, patching numpy ...) is shared.  Each
assignment has two classes (:data:`CLASSES`):

- the full class: the ``make demo`` examples (realistic mistakes) plus one student per
  broken or hostile case -- ``python -m autograder class-demo [--assignment A]``;
- the small class: the fewest students (TensorFlow kernels) that still cover every case,
  several cases per student where they cannot interfere -- ``class-demo --small`` and
  the CI tests (tests/test_autograder_hostile_class.py, tests/test_nbgrader_plain.py).

A mistake costs the points of its own exercise only: the networks are checked with
recording stand-ins for the functions they call (assignment 1: ResNet50 with its blocks;
assignment 2: resnet_v1 and resnet_v2 with resnet_layer).  The expected grades rely on
that in a single case per class (a block or resnet_layer that raises), so that a change
of that rule shows in one place; every other case keeps its points either way.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import nbformat

from . import cases
from .. import course
from .cases import Case, Context
from .submissions import delete_cell, duplicate_cell, edit_cell

ASSIGNMENT = course.ASSIGNMENT  # the first assignment, "residual_networks"
NOTEBOOK = course.NOTEBOOK
CIFAR = "resnet_cifar"  # the second assignment
TIMESTAMP = "2030-01-15 09:00:00.000000 UTC"  # of every submission of the class


@functools.cache
def graded_cells(assignment: str = ASSIGNMENT) -> dict[str, float]:
    """``{grade_id: points}`` of the assignment's graded cells (read once from its source notebook)."""
    return course.graded_cells(assignment=assignment)


def tests_of(exercise: str) -> tuple[str, str]:
    """The test cells of an exercise (a solution cell): ``test_<name>`` and ``test_<name>_hidden``."""
    return f"test_{exercise}", f"test_{exercise}_hidden"


# ----------------------------------------------------------------------- the kit
@dataclass(frozen=True)
class Kit:
    """What the hostile class of one assignment is built from.

    ``exercises``: its solution cells, in notebook order (the functions the test cells check
    with ``check_<name>``); ``checks``: the module of those checking helpers, which the test
    cells reload; ``wrong`` / ``raises``: per solution cell, code appended to it that redefines
    its function so that it is wrong / raises (each costs that exercise's points).
    """

    assignment: str
    exercises: tuple[str, ...]
    checks: str
    wrong: Mapping[str, str] = field(default_factory=dict)
    raises: Mapping[str, str] = field(default_factory=dict)

    @property
    def notebook(self) -> str:
        return course.notebook(self.assignment)

    def earned(self, *exercises: str) -> dict[str, float]:
        """Expected points: full points for the tests of these exercises, 0 for the others."""
        return cases.points(graded_cells(self.assignment), [t for ex in exercises for t in tests_of(ex)])

    def patch_helpers(self) -> str:
        """Code that replaces the checking helpers and makes ``reload()`` a no-op."""
        names = " = ".join(f"check_{ex}" for ex in self.exercises)
        return f"""
# make every check pass: replace the grading helpers, and make reload() a no-op
import importlib as _importlib
import {self.checks} as _g
def _always_fine(*args, **kwargs):
    print("\\u2713 all good")
for _name in dir(_g):
    if _name.startswith("check_") or _name in ("verify_environment", "load_reference"):
        setattr(_g, _name, _always_fine)
_importlib.reload = lambda module: module
{names} = _always_fine
reload = lambda module: module
"""

    def read_files_cheat(self, ctx: Context, copies: str) -> str:
        """Code that looks for the reference solution or the hidden tests outside the
        submission (the source notebook, the gradebook, the other submissions) and, if it
        finds the source notebook, executes its cell ``def <copies>``."""
        root, a, nb = ctx.course_root, self.assignment, self.notebook
        src = os.path.join(root, "source", a, nb)
        return f"""
# find the instructor's solution on the grading machine
import json as _json, os as _os, sqlite3 as _sqlite3
_found = None
for _try in [
    lambda: open({src!r}).read(),
    lambda: open('../../../source/{a}/{nb}').read(),
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
        if _code.startswith('def {copies}'):
            exec(_code)
"""

    def write_files_cheat(self, ctx: Context) -> str:
        """Code that tries to overwrite what the checks compare with (the reference data),
        the gradebook and the course's config."""
        root = ctx.course_root
        return f"""
# overwrite the reference data and the gradebook
import {self.checks} as _g
for _path, _data in [(str(_g.REFERENCE_FILE), '{{}}'), ({os.path.join(root, 'gradebook.db')!r}, 'x'),
                     ({os.path.join(root, 'nbgrader_config.py')!r}, 'c = get_config()')]:
    try:
        with open(_path, 'w') as _fh:
            _fh.write(_data)
    except Exception as _e:
        print('blocked:', type(_e).__name__)
"""


# ------------------------------------------------------- code appended, any assignment
SYNTAX_ERROR = "\nthis line is not python\n"
INFINITE_LOOP = "\nwhile True:  # a debugging loop left behind\n    pass\n"
OUTPUT_FLOOD = ("\nimport sys as _sys\nfor _i in range(400):  # 4 million lines of debugging output\n"
                "    _sys.stdout.write('debug: still here\\n' * 10000)\n")
MEMORY_BOMB = ("\ndef _remember_everything():\n    hoard = []\n    while True:\n"
               "        hoard.append(bytearray(64 * 2**20))\n_remember_everything()\n")
KERNEL_DIES = "\nimport os as _os\n_os._exit(1)\n"
SYS_EXIT = "\nimport sys as _sys\n_sys.exit('done for today')\n"
PATCH_NUMPY = """
# make every comparison pass
import numpy as _np
_np.allclose = lambda *a, **k: True
_np.array_equal = lambda *a, **k: True
_np.testing.assert_allclose = lambda *a, **k: None
_np.testing.assert_array_equal = lambda *a, **k: None
"""


def redefines_helper(exercise: str) -> str:
    """Code that replaces the exercise's checking helper by one that always passes, and ``reload``."""
    return f"\ndef check_{exercise}(*a, **k):\n    print('ok')\nreload = lambda module: module\n"


# ------------------------------------------------- assignment 1: residual_networks
I, C, R = "identity_block", "convolutional_block", "ResNet50"
P, S = "block_parameters", "resnet50_shapes"  # the questions: their cells run after ResNet50's
TESTS = {ex: tests_of(ex) for ex in (I, C, R, P, S)}
WRONG_IDENTITY = ("\ndef identity_block(X, f, filters, stage, block, initializer=glorot_uniform):\n"
                  "    return X  # skips the whole block\n")
WRONG_RESNET = ("\ndef ResNet50(input_shape=(64, 64, 3), classes=6):\n"
                "    raise NotImplementedError('ResNet50 is not finished')\n")
RAISES_IDENTITY = ("\ndef identity_block(*args, **kwargs):\n"
                   "    raise RuntimeError('identity_block is not finished')\n")
RESNET = Kit(ASSIGNMENT, (I, C, R, P, S), "resnet_utils.grading",
             wrong={I: WRONG_IDENTITY, R: WRONG_RESNET}, raises={I: RAISES_IDENTITY})
PATCH_HELPERS = RESNET.patch_helpers()


def earned(*exercises: str) -> dict[str, float]:
    """Expected points of the first assignment (:meth:`Kit.earned`)."""
    return RESNET.earned(*exercises)


def read_files_cheat(ctx: Context) -> str:
    """The first assignment's read cheat: copies identity_block if it finds the solution."""
    return RESNET.read_files_cheat(ctx, I)


def write_files_cheat(ctx: Context) -> str:
    """The first assignment's write cheat (:meth:`Kit.write_files_cheat`)."""
    return RESNET.write_files_cheat(ctx)


def full_class() -> list[Case]:
    """Assignment 1, >= 20 students: correct, partly correct, empty, broken and hostile work."""
    from . import examples

    return list(examples.EXAMPLES) + [  # the realistic mistakes of `make demo`, with their grades
        Case("h01_syntax_error", "a syntax error in ResNet50's cell; the blocks still earn their points",
             lambda c: c.filled(ResNet50=SYNTAX_ERROR), earned(I, C, P, S), ("syntax error in cell 'ResNet50'",)),
        Case("h02_exception", "identity_block raises an exception (ResNet50 is checked with "
                              "stand-ins for the blocks and keeps its points)",
             lambda c: c.filled(identity_block=RAISES_IDENTITY), earned(C, R, P, S)),
        Case("h03_infinite_loop", "an endless loop after identity_block: stopped by the cell timeout",
             lambda c: c.filled(identity_block=INFINITE_LOOP), earned(I, C, R, P, S), ("timeout in cell 'identity_block'",)),
        Case("h04_deleted_test_cell", "deleted the test cell test_convolutional_block (nbgrader restores it)",
             lambda c: delete_cell(c.filled(), "test_convolutional_block"), earned(I, C, R, P, S),
             ("test cell 'test_convolutional_block' deleted",)),
        Case("h05_deleted_solution_cell", "deleted the solution cell ResNet50",
             lambda c: delete_cell(c.filled(), "ResNet50"), earned(I, C, P, S), ("solution cell 'ResNet50' deleted",)),
        Case("h06_edited_test_cell", "wrong identity_block, and the asserts of its test cells removed",
             lambda c: edit_cell(edit_cell(c.filled(identity_block=WRONG_IDENTITY), "test_identity_block", "pass"),
                                 "test_identity_block_hidden", "pass"),
             earned(C, R, P, S), ("test cell 'test_identity_block' edited",)),
        Case("h07_duplicated_cell", "ResNet50 unfinished, and test_ResNet50 duplicated into a cell that passes",
             lambda c: duplicate_cell(c.filled(ResNet50=WRONG_RESNET), "test_ResNet50", "print('all tests passed')"),
             earned(I, C, P, S), ("duplicated cell 'test_ResNet50'",)),
        Case("h08_renamed_notebook", "the notebook renamed to Residual_Networks-Copy1.ipynb",
             lambda c: c.filled(), earned(), ("notebook missing",), filename="Residual_Networks-Copy1.ipynb"),
        Case("h09_not_json", "a file that is not notebook JSON",
             lambda c: nbformat.writes(c.filled()).encode()[:5000], earned(), ("not a readable notebook",)),
        Case("h10_memory_bomb", "a memory bomb after ResNet50: stopped by the memory cap",
             lambda c: c.filled(ResNet50=MEMORY_BOMB), earned(I, C, R, P, S), ("memory cap hit",)),
        Case("h11_kernel_dies", "os._exit() after convolutional_block: the kernel dies",
             lambda c: c.filled(convolutional_block=KERNEL_DIES), earned(I),
             ("kernel died in cell 'convolutional_block'",)),
        Case("h12_sys_exit", "sys.exit() after identity_block (IPython survives it)",
             lambda c: c.filled(identity_block=SYS_EXIT), earned(I, C, R, P, S), ("SystemExit",)),
        Case("h13_output_flood", "4 million lines of output after identity_block",
             lambda c: c.filled(identity_block=OUTPUT_FLOOD), earned(I, C, R, P, S), ("output flood truncated",)),
        Case("h14_patch_helpers", "wrong identity_block; replaces the checking helpers and reload()",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + PATCH_HELPERS), earned(C, R, P, S), ("monkeypatches",)),
        Case("h15_patch_numpy", "correct work, but numpy's comparisons patched to always pass",
             lambda c: c.filled(identity_block=PATCH_NUMPY), earned(), ("monkeypatches",)),
        Case("h16_redefine_helpers", "ResNet50 unfinished; redefines check_ResNet50 and reload after import",
             lambda c: c.filled(ResNet50=WRONG_RESNET + redefines_helper(R)),
             earned(I, C, P, S), ("redefines test helper",)),
        Case("h17_read_files", "reads the source notebook / gradebook to copy the solution (wrong fallback)",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + read_files_cheat(c)), earned(C, R, P, S),
             ("tampering blocked",)),
        Case("h18_write_files", "correct work; tries to overwrite the reference data and the gradebook",
             lambda c: c.filled(convolutional_block=write_files_cheat(c)), earned(I, C, R, P, S), ("tampering blocked",)),
    ]


def small_class() -> list[Case]:
    """Assignment 1: every case above in as few TensorFlow kernels as possible (the CI test)."""
    return [
        Case("s01_correct", "the reference solution", lambda c: c.filled(), earned(I, C, R, P, S)),
        Case("s02_empty", "the release notebook, nothing done", lambda c: c.release, earned()),
        Case("s03_broken", "syntax error in ResNet50; deleted test_convolutional_block; duplicated "
                           "test_identity_block; output flood",
             lambda c: duplicate_cell(delete_cell(c.filled(ResNet50=SYNTAX_ERROR, identity_block=OUTPUT_FLOOD),
                                                  "test_convolutional_block"),
                                      "test_identity_block", "print('all tests passed')"),
             earned(I, C, P, S), ("syntax error in cell 'ResNet50'", "test cell 'test_convolutional_block' deleted",
                            "duplicated cell 'test_identity_block'", "output flood truncated")),
        Case("s04_stuck", "identity_block raises; its test cell edited; ResNet50's solution cell deleted; "
                          "endless loop after convolutional_block",
             lambda c: delete_cell(edit_cell(c.filled(identity_block=RAISES_IDENTITY,
                                                      convolutional_block=INFINITE_LOOP),
                                             "test_identity_block", "pass"), "ResNet50"),
             earned(C, P, S), ("test cell 'test_identity_block' edited", "solution cell 'ResNet50' deleted",
                         "timeout in cell 'convolutional_block'")),
        Case("s05_bomb_and_helpers", "wrong identity_block + replaced checking helpers and reload(); "
                                     "memory bomb after ResNet50",
             lambda c: c.filled(identity_block=WRONG_IDENTITY + PATCH_HELPERS, ResNet50=MEMORY_BOMB),
             earned(C, R, P, S), ("memory cap hit", "monkeypatches")),
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


# ------------------------------------------------------- assignment 2: resnet_cifar
L, V1, V2, LR = "resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule"
SS, PC = "stack_shapes", "parameter_count"  # the questions: their cells run after lr_schedule's
WRONG_V1 = ("\ndef resnet_v1(input_shape, depth, num_classes=10):\n"
            "    inputs = Input(shape=input_shape)  # no residual block at all, no depth check\n"
            "    outputs = Dense(num_classes, activation='softmax')(Flatten()(inputs))\n"
            "    return Model(inputs=inputs, outputs=outputs)\n")
WRONG_V2 = ("\ndef resnet_v2(input_shape, depth, num_classes=10):\n"
            "    raise NotImplementedError('resnet_v2 is not finished')\n")
WRONG_LR = "\ndef lr_schedule(epoch):\n    return 1e-3  # never decays\n"
RAISES_LAYER = "\ndef resnet_layer(*args, **kwargs):\n    raise RuntimeError('resnet_layer is not finished')\n"
CIFAR_KIT = Kit(CIFAR, (L, V1, V2, LR, SS, PC), "resnet_utils.grading_cifar",
                wrong={V1: WRONG_V1, V2: WRONG_V2, LR: WRONG_LR}, raises={L: RAISES_LAYER})


def cifar_full_class() -> list[Case]:
    """Assignment 2: its ``make demo`` examples plus the broken and hostile students of
    :func:`full_class`, the same cases on this notebook's cells."""
    from . import examples

    k = CIFAR_KIT
    got = k.earned
    return list(examples.CIFAR_EXAMPLES) + [
        Case("h01_syntax_error", "a syntax error in resnet_v2's cell; the other exercises still earn their points",
             lambda c: c.filled(resnet_v2=SYNTAX_ERROR), got(L, V1, LR, SS, PC), ("syntax error in cell 'resnet_v2'",)),
        Case("h02_exception", "resnet_layer raises an exception (resnet_v1 and resnet_v2 are checked with "
                              "stand-ins for resnet_layer and keep their points)",
             lambda c: c.filled(resnet_layer=k.raises[L]), got(V1, V2, LR, SS, PC)),
        Case("h03_infinite_loop", "an endless loop after resnet_layer: stopped by the cell timeout",
             lambda c: c.filled(resnet_layer=INFINITE_LOOP), got(L, V1, V2, LR, SS, PC), ("timeout in cell 'resnet_layer'",)),
        Case("h04_deleted_test_cell", "deleted the test cell test_resnet_v1 (nbgrader restores it)",
             lambda c: delete_cell(c.filled(), "test_resnet_v1"), got(L, V1, V2, LR, SS, PC),
             ("test cell 'test_resnet_v1' deleted",)),
        Case("h05_deleted_solution_cell", "deleted the solution cell resnet_v2",
             lambda c: delete_cell(c.filled(), "resnet_v2"), got(L, V1, LR, SS, PC), ("solution cell 'resnet_v2' deleted",)),
        Case("h06_edited_test_cell", "wrong lr_schedule, and the checks of its test cells removed",
             lambda c: edit_cell(edit_cell(c.filled(lr_schedule=k.wrong[LR]), "test_lr_schedule", "pass"),
                                 "test_lr_schedule_hidden", "pass"),
             got(L, V1, V2, SS, PC), ("test cell 'test_lr_schedule' edited",)),
        Case("h07_duplicated_cell", "resnet_v2 unfinished, and test_resnet_v2 duplicated into a cell that passes",
             lambda c: duplicate_cell(c.filled(resnet_v2=k.wrong[V2]), "test_resnet_v2", "print('all tests passed')"),
             got(L, V1, LR, SS, PC), ("duplicated cell 'test_resnet_v2'",)),
        Case("h08_renamed_notebook", "the notebook renamed to ResNet_CIFAR-Copy1.ipynb",
             lambda c: c.filled(), got(), ("notebook missing",), filename="ResNet_CIFAR-Copy1.ipynb"),
        Case("h09_not_json", "a file that is not notebook JSON",
             lambda c: nbformat.writes(c.filled()).encode()[:5000], got(), ("not a readable notebook",)),
        Case("h10_memory_bomb", "a memory bomb after lr_schedule: stopped by the memory cap",
             lambda c: c.filled(lr_schedule=MEMORY_BOMB), got(L, V1, V2, LR, SS, PC), ("memory cap hit",)),
        Case("h11_kernel_dies", "os._exit() after resnet_v2: the kernel dies",
             lambda c: c.filled(resnet_v2=KERNEL_DIES), got(L, V1), ("kernel died in cell 'resnet_v2'",)),
        Case("h12_sys_exit", "sys.exit() after resnet_layer (IPython survives it)",
             lambda c: c.filled(resnet_layer=SYS_EXIT), got(L, V1, V2, LR, SS, PC), ("SystemExit",)),
        Case("h13_output_flood", "4 million lines of output after resnet_layer",
             lambda c: c.filled(resnet_layer=OUTPUT_FLOOD), got(L, V1, V2, LR, SS, PC), ("output flood truncated",)),
        Case("h14_patch_helpers", "wrong lr_schedule; replaces the checking helpers and reload()",
             lambda c: c.filled(lr_schedule=k.wrong[LR] + k.patch_helpers()), got(L, V1, V2, SS, PC), ("monkeypatches",)),
        Case("h15_patch_numpy", "correct work, but numpy's comparisons patched to always pass",
             lambda c: c.filled(resnet_layer=PATCH_NUMPY), got(), ("monkeypatches",)),
        Case("h16_redefine_helpers", "wrong resnet_v1; redefines check_resnet_v1 and reload after import",
             lambda c: c.filled(resnet_v1=k.wrong[V1] + redefines_helper(V1)),
             got(L, V2, LR, SS, PC), ("redefines test helper",)),
        Case("h17_read_files", "reads the source notebook / gradebook to copy resnet_v1 (wrong fallback)",
             lambda c: c.filled(resnet_v1=k.wrong[V1] + k.read_files_cheat(c, V1)), got(L, V2, LR, SS, PC),
             ("tampering blocked",)),
        Case("h18_write_files", "correct work; tries to overwrite the reference data and the gradebook",
             lambda c: c.filled(resnet_layer=k.write_files_cheat(c)), got(L, V1, V2, LR, SS, PC), ("tampering blocked",)),
    ]


def cifar_small_class() -> list[Case]:
    """Assignment 2: every case of :func:`cifar_full_class` in as few kernels as possible (the CI test).
    Only s04's resnet_v1 and resnet_v2 points rely on the stand-ins for resnet_layer."""
    k = CIFAR_KIT
    got = k.earned
    return [
        Case("s01_correct", "the reference solution", lambda c: c.filled(), got(L, V1, V2, LR, SS, PC)),
        Case("s02_empty", "the release notebook, nothing done", lambda c: c.release, got()),
        Case("s03_broken", "syntax error in resnet_v2; deleted test_resnet_v1; wrong lr_schedule with "
                           "test_lr_schedule duplicated into a cell that passes",
             lambda c: duplicate_cell(delete_cell(c.filled(resnet_v2=SYNTAX_ERROR, lr_schedule=k.wrong[LR]),
                                                  "test_resnet_v1"),
                                      "test_lr_schedule", "print('all tests passed')"),
             got(L, V1, SS, PC), ("syntax error in cell 'resnet_v2'", "test cell 'test_resnet_v1' deleted",
                          "duplicated cell 'test_lr_schedule'")),
        Case("s04_stuck", "resnet_layer raises (resnet_v1/v2 keep their points: checked with stand-ins); "
                          "its test cell edited; endless loop after resnet_v2; lr_schedule's solution cell deleted",
             lambda c: delete_cell(edit_cell(c.filled(resnet_layer=k.raises[L], resnet_v2=INFINITE_LOOP),
                                             "test_resnet_layer", "pass"), "lr_schedule"),
             got(V1, V2, SS, PC), ("test cell 'test_resnet_layer' edited", "solution cell 'lr_schedule' deleted",
                           "timeout in cell 'resnet_v2'")),
        Case("s05_bomb_and_helpers", "memory bomb after resnet_v1; wrong lr_schedule + replaced checking "
                                     "helpers and reload()",
             lambda c: c.filled(resnet_v1=MEMORY_BOMB, lr_schedule=k.wrong[LR] + k.patch_helpers()),
             got(L, V1, V2, SS, PC), ("memory cap hit", "monkeypatches")),
        Case("s06_files_and_numpy", "tries to overwrite the reference data after resnet_layer; reads the "
                                    "instructor's files (wrong resnet_v1 fallback); patches numpy after lr_schedule",
             lambda c: c.filled(resnet_layer=k.write_files_cheat(c), resnet_v1=k.wrong[V1] + k.read_files_cheat(c, V1),
                                lr_schedule=PATCH_NUMPY),
             got(L, V2), ("tampering blocked", "monkeypatches")),
        Case("s07_dies", "sys.exit() after resnet_layer, os._exit() after resnet_v2",
             lambda c: c.filled(resnet_layer=SYS_EXIT, resnet_v2=KERNEL_DIES),
             got(L, V1), ("kernel died in cell 'resnet_v2'",)),
        Case("s08_renamed", "notebook renamed", lambda c: c.filled(), got(), ("notebook missing",),
             filename="ResNet_CIFAR (1).ipynb"),
        Case("s09_not_json", "not notebook JSON", lambda c: b'{"cells": [{"cell_type": "code", "sou',
             got(), ("not a readable notebook",)),
    ]


# --------------------------------------------------------------------------- the classes
#: assignment -> its kit
KITS = {ASSIGNMENT: RESNET, CIFAR: CIFAR_KIT}
#: assignment -> (its full class, its small class)
CLASSES: dict[str, tuple[Callable[[], list[Case]], Callable[[], list[Case]]]] = {
    ASSIGNMENT: (full_class, small_class), CIFAR: (cifar_full_class, cifar_small_class)}


def write_class(course_root: str, students: list[Case], assignment: str = ASSIGNMENT) -> None:
    """Write the students' submissions of ``assignment`` into ``<course_root>/submitted/``
    (replacing theirs), built from that course's source and release notebooks."""
    root = os.path.abspath(course_root)
    ctx = Context.from_notebooks(course.source_nb(assignment, root), course.release_nb(assignment, root), root)
    cases.write(root, assignment, students, ctx, course.notebook(assignment), timestamp=TIMESTAMP)


def class_of(assignment: str, small: bool = False) -> list[Case]:
    """The class ``class-demo`` grades for ``assignment``: its full (or, with ``small``, its
    small) class of :data:`CLASSES`; for an assignment without one, its ``make demo``
    examples (:data:`autograder.example_classes.examples.EXAMPLES_BY_ASSIGNMENT`)."""
    from . import examples

    if assignment in CLASSES:
        full, smallest = CLASSES[assignment]
        return smallest() if small else full()
    if assignment not in examples.EXAMPLES_BY_ASSIGNMENT:
        raise ValueError(f"unknown assignment {assignment!r}; the course has "
                         f"{', '.join(sorted(course.ASSIGNMENTS))}")
    return list(examples.EXAMPLES_BY_ASSIGNMENT[assignment])


def _has_release(root: Path, assignment: str) -> bool:
    """Whether ``root`` has the assignment's release and gradebook entry (else generate them)."""
    if not ((root / "gradebook.db").exists() and course.release_nb(assignment, root).exists()):
        return False
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        try:
            gb.find_assignment(assignment)
            return True
        except MissingEntry:
            return False


def main_class_demo(args) -> int:
    """``python -m autograder class-demo``: for each assignment (or ``--assignment``), build its
    class into submitted/, grade it, write the class report and check every grade."""
    from ..class_report import write
    from ..grade import Options, format_report, grade

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
        write_class(str(root), students, assignment)
        for st in students:
            print(f"    {st.name:26} {st.description}")
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
