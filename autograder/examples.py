"""The bundled example submissions of ``make demo``, with the grade each must get.

Each example starts from the release notebook and fills the solution cells with the
reference solution of the source notebook, then applies one realistic mistake
(:func:`autograder.submissions.mutate`), so no solution code is written twice.
``python -m autograder demo`` regenerates the release, writes these examples into
``submitted/``, autogrades them with nbgrader and prints the grade table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import course
from .submissions import fill, mutate, read, solution_sources


@dataclass(frozen=True)
class Example:
    """A submission: how to make its answers from the reference ones, and its expected grade."""

    student: str
    description: str
    answers: Callable[[dict], dict] | None  # None: the untouched release
    expected: dict = field(default_factory=dict)  # grade_id -> points


def _with(cell: str, old: str, new: str, count: int = 1) -> Callable[[dict], dict]:
    def make(ref: dict) -> dict:
        return dict(ref, **{cell: mutate(ref[cell], old, new, count)})
    return make


def _points(**earned) -> dict:
    """Expected points: every graded cell 0 unless given (value = fraction of the cell's points)."""
    cells = course.graded_cells()
    return {c: cells[c] * earned.get(c, 0) for c in cells}


ALL = dict(test_identity_block=1, test_identity_block_hidden=1, test_convolutional_block=1,
           test_convolutional_block_hidden=1, test_ResNet50=1, test_ResNet50_hidden=1)
# A mistake costs the points of its own exercise only: ResNet50 is checked with stand-ins
# for the blocks it calls (resnet_utils.grading.check_ResNet50).
BUT_IDENTITY = dict(ALL, test_identity_block=0, test_identity_block_hidden=0)
BUT_CONV = dict(ALL, test_convolutional_block=0, test_convolutional_block_hidden=0)

EXAMPLES = [
    Example("ada_reference", "the reference solution", lambda ref: dict(ref), _points(**ALL)),
    Example("ben_untouched", "the release notebook as handed out, nothing done", None, _points()),
    Example("cleo_no_relu_after_add",
            "identity block: no ReLU after the Add (the block ends with the addition)",
            _with("identity_block", "    X = Add()([X, X_shortcut])\n    X = Activation('relu')(X)",
                  "    X = Add()([X, X_shortcut])"),
            _points(**BUT_IDENTITY)),
    Example("dev_shortcut_no_stride",
            "convolutional block: the shortcut convolution keeps strides (1, 1)",
            _with("convolutional_block",
                  "strides=(s, s), padding='valid',\n                        name=conv_name_base + '1'",
                  "strides=(1, 1), padding='valid',\n                        name=conv_name_base + '1'"),
            _points(**BUT_CONV)),
    Example("eve_wrong_bn_names",
            "identity block: BatchNorm layers named 'bn2b_2a' instead of 'bn2b_branch2a'",
            _with("identity_block", "bn_name_base = 'bn' + str(stage) + block + '_branch'",
                  "bn_name_base = 'bn' + str(stage) + block + '_'"),
            _points(**BUT_IDENTITY)),
    Example("finn_fc6_hardcoded",
            "ResNet50: the output layer is always named 'fc6' (passes the visible test only)",
            _with("ResNet50", "name='fc' + str(classes)", "name='fc6'"),
            _points(**dict(ALL, test_ResNet50_hidden=0))),
    Example("gus_equivalent_code",
            "identity block written another way: layers from tensorflow.keras, padding='same' on "
            "the 1×1 convolutions, Add()([X_shortcut, X]) (the same network: full marks)",
            lambda ref: dict(ref, identity_block=(
                "from tensorflow.keras.layers import Activation, Add, BatchNormalization, Conv2D\n"
                + mutate(ref["identity_block"].replace("padding='valid'", "padding='same'"),
                         "Add()([X, X_shortcut])", "Add()([X_shortcut, X])"))),
            _points(**ALL)),
]


def build(example: Example, source_nb: Path = course.SOURCE_NB, release_nb: Path = course.RELEASE_NB):
    """The example's notebook (an nbformat NotebookNode)."""
    if example.answers is None:
        return read(release_nb)
    return fill(release_nb, example.answers(solution_sources(source_nb)))


def write_submissions(course_root: Path, examples=EXAMPLES, assignment: str = course.ASSIGNMENT) -> list[str]:
    """Write each example to ``submitted/<student>/<assignment>/`` of ``course_root``."""
    import nbformat

    students = []
    for ex in examples:
        folder = Path(course_root) / "submitted" / ex.student / assignment
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(build(ex), str(folder / course.NOTEBOOK))
        students.append(ex.student)
    return students


def autograde_serial(course_root: Path, students: list[str], assignment: str = course.ASSIGNMENT) -> None:
    """Plain ``nbgrader autograde`` of the given students, one after the other."""
    for student in students:
        course.nbgrader("autograde", assignment, "--force", f"--student={student}",
                        "--log-level=WARN", cwd=course_root)


def autograde(course_root: Path, students: list[str], jobs: int | None = None) -> None:
    """Autograde ``students`` with nbgrader: in parallel with :mod:`autograder.grade` when it
    is available, else with plain serial ``nbgrader autograde``."""
    try:
        from . import grade as parallel
    except ImportError:
        parallel = None
    if parallel is not None and hasattr(parallel, "grade_assignment"):
        parallel.grade_assignment(course.ASSIGNMENT, course_root=course_root, jobs=jobs,
                                  students=students)
    else:
        autograde_serial(course_root, students)


def main_demo(jobs: int | None = None, course_root: Path = course.ROOT) -> int:
    """``make demo``: release, example submissions, autograde, grade table. Returns an exit code."""
    print("1/3 Regenerating release/ from source/ (nbgrader generate_assignment) ...", flush=True)
    course.generate_release(course_root, quiet=True)
    print("2/3 Writing the example submissions into submitted/ ...", flush=True)
    students = write_submissions(course_root)
    for ex in EXAMPLES:
        print(f"    {ex.student:<24} {ex.description}")
    print(f"3/3 Autograding {len(students)} submissions with nbgrader ...", flush=True)
    autograde(course_root, students, jobs=jobs)
    grades = course.read_grades(course_root)
    cells = course.graded_cells()
    notes = {}
    ok = True
    for ex in EXAMPLES:
        got = grades.get(ex.student, {})
        if any(abs(got.get(c, -1) - p) > 1e-9 for c, p in ex.expected.items()):
            ok = False
            notes[ex.student] = "UNEXPECTED (expected " + ", ".join(
                f"{c}={p:g}" for c, p in ex.expected.items()) + ")"
        else:
            notes[ex.student] = "as expected: " + ex.description
    print()
    print(course.grade_table({s: grades.get(s, {}) for s in students}, cells, notes))
    return 0 if ok else 1
