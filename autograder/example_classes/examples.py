"""The bundled example submissions of ``make demo``, with the grade each must get.

Each example (an :class:`autograder.example_classes.cases.Case`) starts from the release notebook and
fills the solution cells with the reference solution of the source notebook, then applies
one realistic mistake (:func:`autograder.example_classes.submissions.mutate`), so no solution code is
written twice.  ``python -m autograder demo`` does, for each assignment of
:data:`EXAMPLES_BY_ASSIGNMENT`: regenerate the release, write these examples into
``submitted/``, autograde them with nbgrader, check every grade (and the message each
failing test cell shows) and print one grade table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from . import cases
from .. import course
from .cases import Case, Context
from .submissions import fill, mutate
from ..notebooks import nbgrader_meta, read

CELLS = course.graded_cells()
ALL = set(CELLS)
IDENTITY = {"test_identity_block", "test_identity_block_hidden"}
CONV = {"test_convolutional_block", "test_convolutional_block_hidden"}
BLOCK_PARAMETERS = {"test_block_parameters", "test_block_parameters_hidden"}


def _points(earned, cells=CELLS, partial=None) -> dict[str, float]:
    return cases.points(cells, earned, partial)


def _answers(make: Callable[[dict], dict]) -> Callable[[Context], object]:
    """A builder: the release notebook filled with ``make(reference answers)``."""
    return lambda ctx: fill(ctx.release, make(ctx.ref))


def _with(cell: str, old: str, new: str, count: int = 1) -> Callable[[Context], object]:
    """A builder: the reference answers with one mistake in ``cell``."""
    return _answers(lambda ref: dict(ref, **{cell: mutate(ref[cell], old, new, count)}))


def _with_all(cell: str, *changes: tuple[str, str]) -> Callable[[Context], object]:
    """A builder: the reference answers with one mistake in ``cell`` made of several edits
    (each ``(old, new)`` replaces the last occurrence of ``old``)."""
    def make(ref):
        code = ref[cell]
        for old, new in changes:
            code = mutate(code, old, new)
        return dict(ref, **{cell: code})
    return _answers(make)


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
         "identity block: BatchNorm layers named 'bn2b_2a' instead of 'bn2b_branch2a' (the outputs are "
         "right: a penalty of 1 point per test cell)",
         _with("identity_block", "bn_name_base = 'bn' + str(stage) + block + '_branch'",
               "bn_name_base = 'bn' + str(stage) + block + '_'"),
         _points(ALL, partial={"test_identity_block": 4, "test_identity_block_hidden": 4}),
         messages={"test_identity_block": "−1 point", "test_identity_block_hidden": "−1 point"}),
    Case("finn_fc6_hardcoded",
         "ResNet50: the output layer is always named 'fc6' (right for the visible test's 6 classes; "
         "the hidden test's other class counts cost 1 point)",
         _with("ResNet50", "name='fc' + str(classes)", "name='fc6'"),
         _points(ALL, partial={"test_ResNet50_hidden": 4}),
         messages={"test_ResNet50_hidden": "is named 'fc6', expected 'fc10'"}),
    Case("hal_count_without_biases",
         "block_parameters: the convolutions counted without their biases",
         _with("block_parameters", "return window * window * c_in * c_out + c_out",
               "return window * window * c_in * c_out"),
         _points(ALL - BLOCK_PARAMETERS),
         messages={"test_block_parameters": "every Conv2D keeps its bias",
                   "test_block_parameters_hidden": "every Conv2D keeps its bias"}),
    Case("gus_equivalent_code",
         "identity block written another way: layers from tensorflow.keras, padding='same' on "
         "the 1×1 convolutions, Add()([X_shortcut, X]) (the same network: full marks)",
         _answers(lambda ref: dict(ref, identity_block=(
             "from tensorflow.keras.layers import Activation, Add, BatchNormalization, Conv2D\n"
             + mutate(ref["identity_block"].replace("padding='valid'", "padding='same'"),
                      "Add()([X, X_shortcut])", "Add()([X_shortcut, X])")))),
         _points(ALL)),
]


# The second assignment (ResNet v1/v2 for CIFAR-10). resnet_v1 and resnet_v2 are separate
# functions that share only resnet_layer: a mistake in v1, v2 or lr_schedule costs the
# points of its own exercise only; since the checks of v1 and v2 put a recording stand-in in
# place of resnet_layer, so does a mistake in resnet_layer (tests/test_exercise_fairness_cifar.py).
# ``messages``: what the failing test cell must say.
CIFAR = "resnet_cifar"
CIFAR_CELLS = course.graded_cells(assignment=CIFAR)
CIFAR_ALL = set(CIFAR_CELLS)
V1 = {"test_resnet_v1", "test_resnet_v1_hidden"}
V2 = {"test_resnet_v2", "test_resnet_v2_hidden"}
COUNT = {"test_parameter_count", "test_parameter_count_hidden"}
_NOT_DONE = "is not implemented yet (it raised NotImplementedError)"

CIFAR_EXAMPLES = [
    Case("kim_reference", "the reference solution", _answers(dict), _points(CIFAR_ALL, CIFAR_CELLS)),
    Case("lou_untouched", "the release notebook as handed out, nothing done", lambda ctx: ctx.release,
         _points((), CIFAR_CELLS), messages={gid: _NOT_DONE for gid in CIFAR_CELLS}),
    Case("max_v2_bn_after_add",
         "ResNet v2: a BatchNormalization after each Add (v1's post-activation habit in a pre-activation unit)",
         _with("resnet_v2", "x = Add(name=prefix + '_add')([x, y])",
               "x = Add(name=prefix + '_add')([x, y])\n            x = BatchNormalization()(x)"),
         _points(CIFAR_ALL - V2, CIFAR_CELLS),
         messages={"test_resnet_v2": "nothing follows the addition", "test_resnet_v2_hidden": "nothing follows the addition"}),
    Case("nia_v1_bn_on_projection",
         "ResNet v1: BatchNorm on the 1x1 projection shortcut (batch_normalization=True)",
         _with("resnet_v1", "activation=None, batch_normalization=False, name=prefix + '_shortcut'",
               "activation=None, batch_normalization=True, name=prefix + '_shortcut'"),
         _points(CIFAR_ALL - V1, CIFAR_CELLS),
         messages={"test_resnet_v1": "projection shortcuts have no BatchNormalization",
                   "test_resnet_v1_hidden": "projection shortcuts have no BatchNormalization"}),
    Case("oli_v1_stride_on_second_conv",
         "ResNet v1: the stride 2 of a stack's first block on its second convolution instead of its first",
         _with_all("resnet_v1",
                   ("num_filters=num_filters, strides=strides, name=prefix + '_1'",
                    "num_filters=num_filters, name=prefix + '_1'"),
                   ("num_filters=num_filters, activation=None, name=prefix + '_2'",
                    "num_filters=num_filters, strides=strides, activation=None, name=prefix + '_2'")),
         _points(CIFAR_ALL - V1, CIFAR_CELLS),
         messages={"test_resnet_v1": "stack2_block1_1_conv: strides [1, 1], expected [2, 2]",
                   "test_resnet_v1_hidden": "stack2_block1_1_conv: strides [1, 1], expected [2, 2]"}),
    Case("pia_v1_depth_formula",
         "ResNet v1: (depth - 2) // 9 blocks per stack, v2's formula (too few blocks)",
         _with("resnet_v1", "num_res_blocks = (depth - 2) // 6", "num_res_blocks = (depth - 2) // 9"),
         _points(CIFAR_ALL - V1, CIFAR_CELLS),
         messages={"test_resnet_v1": "your resnet_v1(depth=14) has 3 residual blocks (Add layers), expected 6",
                   "test_resnet_v1_hidden": "resnet_v1(depth=8) has 0 residual blocks"}),
    Case("quinn_lr_off_by_one",
         "lr_schedule: epoch >= 80 instead of epoch > 80 (and at every boundary): only the boundary test fails",
         _with("lr_schedule", "epoch > ", "epoch >= ", count=0),
         _points(CIFAR_ALL - {"test_lr_schedule"}, CIFAR_CELLS),
         messages={"test_lr_schedule": "lr_schedule(80) returned 0.0001, expected 0.001"}),
    Case("sam_count_no_projections",
         "parameter_count: the 1×1 projection shortcuts of v1 left out of the count",
         _with("parameter_count", "                if stack > 0 and unit == 0:\n"
               "                    trainable += conv(1, c_in, c)          # projection, no BatchNorm\n", ""),
         _points(CIFAR_ALL - COUNT, CIFAR_CELLS),
         messages={"test_parameter_count": "1×1 projection shortcut",
                   "test_parameter_count_hidden": "1×1 projection shortcut"}),
    Case("rae_equivalent_code",
         "ResNet v1 written another way: Add()([y, x]) instead of Add()([x, y]) (the same network: full marks)",
         _with("resnet_v1", "Add(name=prefix + '_add')([x, y])", "Add(name=prefix + '_add')([y, x])"),
         _points(CIFAR_ALL, CIFAR_CELLS)),
]

#: The examples of ``make demo``, by assignment (in the order the demo grades them).
EXAMPLES_BY_ASSIGNMENT = {course.ASSIGNMENT: EXAMPLES, CIFAR: CIFAR_EXAMPLES}
assert set(EXAMPLES_BY_ASSIGNMENT) == set(course.ASSIGNMENTS), "every assignment needs its examples"


def assignment_of(example: Case) -> str:
    """The assignment whose examples include ``example``."""
    for assignment, examples in EXAMPLES_BY_ASSIGNMENT.items():
        if any(ex is example for ex in examples):
            return assignment
    raise KeyError(f"{example.name} is not a bundled example")


def context(source_nb: Path | None = None, release_nb: Path | None = None,
            course_root: Path = course.ROOT, assignment: str = course.ASSIGNMENT) -> Context:
    """What the examples of ``assignment`` are built from (default: this repository's source and
    release notebooks of the assignment)."""
    return Context.from_notebooks(source_nb or course.source_nb(assignment),
                                  release_nb or course.release_nb(assignment), course_root)


def build(example: Case, source_nb: Path | None = None, release_nb: Path | None = None):
    """The example's notebook (an nbformat NotebookNode), for the example's own assignment."""
    return example.build(context(source_nb, release_nb, assignment=assignment_of(example)))


def write_submissions(course_root: Path, examples=None, assignment: str = course.ASSIGNMENT) -> list[str]:
    """Write each example (default: ``assignment``'s) to ``submitted/<student>/<assignment>/`` of
    ``course_root``."""
    examples = EXAMPLES_BY_ASSIGNMENT[assignment] if examples is None else examples
    return cases.write(course_root, assignment, examples, context(course_root=course_root, assignment=assignment),
                       course.notebook(assignment), replace=False)


def autograde(course_root: Path, students: list[str], jobs: int | None = None,
              assignment: str = course.ASSIGNMENT) -> None:
    """Autograde ``students`` with nbgrader, in parallel (:func:`autograder.grade.grade`)."""
    from ..grade import Options, grade

    grade(Options(assignment=assignment, course_root=str(course_root), jobs=jobs or 0,
                  students=list(students) if students else None))


def _graded_outputs(course_root: Path, student: str, assignment: str) -> dict[str, list]:
    """``{grade_id: outputs}`` of the graded code cells of the student's autograded notebook;
    {} when there is none."""
    path = Path(course_root) / "autograded" / student / assignment / course.notebook(assignment)
    if not path.exists():
        return {}
    return {nbgrader_meta(c)["grade_id"]: c.get("outputs", []) for c in read(path).cells
            if nbgrader_meta(c).get("grade") and c.cell_type == "code"}


def autograded_errors(course_root: Path, student: str, assignment: str = course.ASSIGNMENT) -> dict[str, str]:
    """``{grade_id: error text}`` of the graded cells that raised in the student's autograded
    notebook (what the feedback shows); {} when there is no autograded notebook."""
    out = {}
    for gid, outputs in _graded_outputs(course_root, student, assignment).items():
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if errors:
            out[gid] = f"{errors[0].get('ename')}: {errors[0].get('evalue')}"
    return out


def autograded_messages(course_root: Path, student: str, assignment: str = course.ASSIGNMENT) -> dict[str, str]:
    """``{grade_id: text}`` of every graded cell: its error (:func:`autograded_errors`), else what
    it printed (a cell with penalties says why)."""
    printed = {gid: "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
               for gid, outputs in _graded_outputs(course_root, student, assignment).items()}
    return dict(printed, **autograded_errors(course_root, student, assignment))


def message_differences(example: Case, messages: dict[str, str]) -> list[str]:
    """The expected messages of ``example`` that its test cells that lose points do not show."""
    return [f"{gid} does not say {text!r}" for gid, text in example.messages.items()
            if text not in messages.get(gid, "")]


def check_assignment(course_root: Path, assignment: str, students: list[str] | None = None
                     ) -> tuple[dict[str, dict[str, float]], dict[str, str], bool]:
    """Compare the gradebook (and the autograded notebooks) with what each example of ``assignment``
    must get: ``(grades, a note per student, all as expected)``."""
    grades = course.read_grades(course_root, assignment)
    notes, ok = {}, True
    for ex in EXAMPLES_BY_ASSIGNMENT[assignment]:
        bad = []
        if ex.name not in grades:
            bad.append("not graded")
        elif cases.differences(ex, grades[ex.name]):
            bad.append("expected " + ", ".join(f"{c}={p:g}" for c, p in ex.expected.items()))
        bad += message_differences(ex, autograded_messages(course_root, ex.name, assignment))
        ok = ok and not bad
        notes[ex.name] = ("UNEXPECTED: " + "; ".join(bad)) if bad else "as expected: " + ex.description
    return grades, notes, ok


def main_demo(jobs: int | None = None, course_root: Path = course.ROOT, assignments=None) -> int:
    """``make demo``: for each assignment, release, example submissions, autograde, grade table.
    Returns an exit code (1 when a grade or a message is not the expected one)."""
    assignments = list(assignments or EXAMPLES_BY_ASSIGNMENT)
    all_ok = True
    tables = []
    for n, assignment in enumerate(assignments, 1):
        examples = EXAMPLES_BY_ASSIGNMENT[assignment]
        tag = f"[{n}/{len(assignments)} {assignment}]"
        print(f"{tag} 1/3 Regenerating release/{assignment} from source/ (nbgrader generate_assignment) ...",
              flush=True)
        course.generate_release(course_root, assignment, quiet=True)
        print(f"{tag} 2/3 Writing the example submissions into submitted/ ...", flush=True)
        students = write_submissions(course_root, assignment=assignment)
        for ex in examples:
            print(f"    {ex.name:<28} {ex.description}")
        print(f"{tag} 3/3 Autograding {len(students)} submissions with nbgrader ...", flush=True)
        autograde(course_root, students, jobs=jobs, assignment=assignment)
        grades, notes, ok = check_assignment(course_root, assignment, students)
        all_ok = all_ok and ok
        cells = course.graded_cells(assignment=assignment)
        table = course.grade_table({s: grades.get(s, {}) for s in students}, cells, notes)
        tables.append(f"== {assignment} ({course.notebook(assignment)}): "
                      f"{'every grade as expected' if ok else 'UNEXPECTED GRADES'} ==\n{table}")
        print()
    print("\n\n".join(tables))
    return 0 if all_ok else 1
