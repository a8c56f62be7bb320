"""The bundled example submissions of ``make demo``, with the grade each must get.

Each example (an :class:`autograder.cases.Case`) starts from the release notebook and
fills the solution cells with the reference solution of the source notebook, then applies
one realistic mistake (:func:`autograder.submissions.mutate`), so no solution code is
written twice.  ``python -m autograder demo`` regenerates the release, writes these
examples into ``submitted/``, autogrades them with nbgrader and prints the grade table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import cases, course
from .cases import Case, Context
from .submissions import fill, mutate

CELLS = course.graded_cells()
ALL = set(CELLS)
IDENTITY = {"test_identity_block", "test_identity_block_hidden"}
CONV = {"test_convolutional_block", "test_convolutional_block_hidden"}


def _points(earned) -> dict[str, float]:
    return cases.points(CELLS, earned)


def _answers(make: Callable[[dict], dict]) -> Callable[[Context], object]:
    """A builder: the release notebook filled with ``make(reference answers)``."""
    return lambda ctx: fill(ctx.release, make(ctx.ref))


def _with(cell: str, old: str, new: str, count: int = 1) -> Callable[[Context], object]:
    """A builder: the reference answers with one mistake in ``cell``."""
    return _answers(lambda ref: dict(ref, **{cell: mutate(ref[cell], old, new, count)}))


# A mistake costs the points of its own exercise only: ResNet50 is checked with stand-ins
# for the blocks it calls (resnet_utils.grading.check_ResNet50).
EXAMPLES = [
    Case("ada_reference", "the reference solution", _answers(dict), _points(ALL)),
    Case("ben_untouched", "the release notebook as handed out, nothing done", lambda ctx: ctx.release, _points(())),
    Case("cleo_no_relu_after_add",
         "identity block: no ReLU after the Add (the block ends with the addition)",
         _with("identity_block", "    X = Add()([X, X_shortcut])\n    X = Activation('relu')(X)",
               "    X = Add()([X, X_shortcut])"),
         _points(ALL - IDENTITY)),
    Case("dev_shortcut_no_stride",
         "convolutional block: the shortcut convolution keeps strides (1, 1)",
         _with("convolutional_block",
               "strides=(s, s), padding='valid',\n                        name=conv_name_base + '1'",
               "strides=(1, 1), padding='valid',\n                        name=conv_name_base + '1'"),
         _points(ALL - CONV)),
    Case("eve_wrong_bn_names",
         "identity block: BatchNorm layers named 'bn2b_2a' instead of 'bn2b_branch2a'",
         _with("identity_block", "bn_name_base = 'bn' + str(stage) + block + '_branch'",
               "bn_name_base = 'bn' + str(stage) + block + '_'"),
         _points(ALL - IDENTITY)),
    Case("finn_fc6_hardcoded",
         "ResNet50: the output layer is always named 'fc6' (passes the visible test only)",
         _with("ResNet50", "name='fc' + str(classes)", "name='fc6'"),
         _points(ALL - {"test_ResNet50_hidden"})),
    Case("gus_equivalent_code",
         "identity block written another way: layers from tensorflow.keras, padding='same' on "
         "the 1×1 convolutions, Add()([X_shortcut, X]) (the same network: full marks)",
         _answers(lambda ref: dict(ref, identity_block=(
             "from tensorflow.keras.layers import Activation, Add, BatchNormalization, Conv2D\n"
             + mutate(ref["identity_block"].replace("padding='valid'", "padding='same'"),
                      "Add()([X, X_shortcut])", "Add()([X_shortcut, X])")))),
         _points(ALL)),
]


def context(source_nb: Path = course.SOURCE_NB, release_nb: Path = course.RELEASE_NB,
            course_root: Path = course.ROOT) -> Context:
    return Context.from_notebooks(source_nb, release_nb, course_root)


def build(example: Case, source_nb: Path = course.SOURCE_NB, release_nb: Path = course.RELEASE_NB):
    """The example's notebook (an nbformat NotebookNode)."""
    return example.build(context(source_nb, release_nb))


def write_submissions(course_root: Path, examples=EXAMPLES, assignment: str = course.ASSIGNMENT) -> list[str]:
    """Write each example to ``submitted/<student>/<assignment>/`` of ``course_root``."""
    return cases.write(course_root, assignment, examples, context(course_root=course_root), course.NOTEBOOK,
                       replace=False)


def autograde(course_root: Path, students: list[str], jobs: int | None = None) -> None:
    """Autograde ``students`` with nbgrader, in parallel (:func:`autograder.grade.grade`)."""
    from .grade import Options, grade

    grade(Options(assignment=course.ASSIGNMENT, course_root=str(course_root), jobs=jobs or 0,
                  students=list(students) if students else None))


def main_demo(jobs: int | None = None, course_root: Path = course.ROOT) -> int:
    """``make demo``: release, example submissions, autograde, grade table. Returns an exit code."""
    print("1/3 Regenerating release/ from source/ (nbgrader generate_assignment) ...", flush=True)
    course.generate_release(course_root, quiet=True)
    print("2/3 Writing the example submissions into submitted/ ...", flush=True)
    students = write_submissions(course_root)
    for ex in EXAMPLES:
        print(f"    {ex.name:<24} {ex.description}")
    print(f"3/3 Autograding {len(students)} submissions with nbgrader ...", flush=True)
    autograde(course_root, students, jobs=jobs)
    grades = course.read_grades(course_root)
    notes = {}
    ok = True
    for ex in EXAMPLES:
        if ex.name not in grades or cases.differences(ex, grades[ex.name]):
            ok = False
            notes[ex.name] = "UNEXPECTED (expected " + ", ".join(
                f"{c}={p:g}" for c, p in ex.expected.items()) + ")"
        else:
            notes[ex.name] = "as expected: " + ex.description
    print()
    print(course.grade_table({s: grades.get(s, {}) for s in students}, CELLS, notes))
    return 0 if ok else 1
