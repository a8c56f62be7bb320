"""Fair grading: every mistake costs the points of one exercise, and its message names the cause;
code that builds the same network another way gets full marks.

Each case is the reference solution with one change (:func:`autograder.example_classes.submissions.mutate`,
which fails when the change no longer applies), graded by running the source notebook's test
cells, hidden ones included, in this process (:func:`autograder.example_classes.submissions.score_in_process`).
The bundled examples (``autograder/example_classes/examples.py``) go through real ``nbgrader autograde`` in
``tests/test_assignment_release_and_demo.py``, among them a single-mistake case per exercise and
``gus_equivalent_code``.
"""

from dataclasses import dataclass
from typing import Callable

import pytest

from autograder import course
from autograder.example_classes.submissions import costly_messages, mutate, score_in_process, solution_sources

pytestmark = pytest.mark.slow  # grades whole submissions / runs the notebook: minutes

I, C, R = "identity_block", "convolutional_block", "ResNet50"
P, S = "block_parameters", "resnet50_shapes"
EXERCISE = {I: ("test_identity_block", "test_identity_block_hidden"),
            C: ("test_convolutional_block", "test_convolutional_block_hidden"),
            R: ("test_ResNet50", "test_ResNet50_hidden"),
            P: ("test_block_parameters", "test_block_parameters_hidden"),
            S: ("test_resnet50_shapes", "test_resnet50_shapes_hidden")}


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[dict], dict]
    points: dict  # exercise -> points (10 for the blocks and ResNet50, 5 for the questions)
    phrase: str = ""  # a phrase of the first test's message that costs points ("" for full marks)
    printed: str = ""  # a phrase the passing ResNet50 test prints
    cells: dict | None = None  # test cell -> its exact points, where the case says


def edit(cell: str, old: str, new: str, count: int = 1):
    return lambda ref: dict(ref, **{cell: mutate(ref[cell], old, new, count)})


def both_blocks(old: str, new: str, count: int = 0):
    return lambda ref: dict(ref, **{c: mutate(ref[c], old, new, count) for c in (I, C)})


def replaced(cell: str, code: str):
    return lambda ref: dict(ref, **{cell: code})


def chain(*changes):
    def make(ref):
        for change in changes:
            ref = change(ref)
        return ref
    return make


def _shortcut_first(code: str) -> str:
    """The convolutional block with its shortcut path computed before the main path."""
    start = code.index("    # Shortcut path")
    end = code.index("    # Add the two paths")
    shortcut = code[start:end]
    code = code[:start] + code[end:]
    main = code.index("    # First component of the main path")
    return code[:main] + shortcut + code[main:]


FULL = {I: 10, C: 10, R: 10, P: 5, S: 5}
BUT_I, BUT_C, BUT_R = dict(FULL, **{I: 0}), dict(FULL, **{C: 0}), dict(FULL, **{R: 0})

CASES = [
    # identity_block
    Case("identity: no ReLU after the Add",
         edit(I, "    X = Add()([X, X_shortcut])\n    X = Activation('relu')(X)", "    X = Add()([X, X_shortcut])"),
         BUT_I, "is the ReLU after the Add missing?",
         printed="identity_block fails its own tests: fix exercise 1 first"),
    Case("identity: ReLU before the Add",
         edit(I, "name=bn_name_base + '2c')(X)\n", "name=bn_name_base + '2c')(X)\n    X = Activation('relu')(X)\n"),
         BUT_I, "did you apply a ReLU before adding the shortcut?"),
    Case("identity: f×f window on the first 1×1 convolution",
         edit(I, "filters=F1, kernel_size=(1, 1)", "filters=F1, kernel_size=(f, f)"),
         BUT_I, "res1a_branch2a: kernel_size [2, 2], expected [1, 1]"),
    Case("identity: padding 'valid' on the f×f convolution",
         edit(I, "kernel_size=(f, f), strides=(1, 1), padding='same'", "kernel_size=(f, f), strides=(1, 1), padding='valid'"),
         BUT_I, "res1a_branch2b: padding 'valid', expected 'same'"),
    Case("identity: BatchNorm names without 'branch' (outputs right: 1 point per test cell)",
         edit(I, "bn_name_base = 'bn' + str(stage) + block + '_branch'", "bn_name_base = 'bn' + str(stage) + block + '_'"),
         dict(FULL, **{I: 8}), "−1 point: identity_block(f=2, filters=[4, 4, 6], stage=1, block='a', "
         "input_shape=[3, 4, 4, 6]): layer 2 (BatchNormalization) is named 'bn1a_2a', expected 'bn1a_branch2a' "
         "(and 2 other misnamed layers)",
         cells={"test_identity_block": 4, "test_identity_block_hidden": 4}),
    Case("identity: a fixed initializer instead of the argument",
         edit(I, "name=conv_name_base + '2a', kernel_initializer=initializer(seed=0)",
              "name=conv_name_base + '2a', kernel_initializer=glorot_uniform(seed=0)"),
         BUT_I, "using the function's `initializer` argument"),
    Case("identity: replaced by a function that raises",
         lambda ref: dict(ref, **{I: "def identity_block(*args, **kwargs):\n"
                                     "    raise RuntimeError('identity_block is not finished')\n"}),
         BUT_I, "raised RuntimeError: identity_block is not finished",
         printed="identity_block fails its own tests: fix exercise 1 first"),
    # convolutional_block
    Case("convolutional: no BatchNorm on the shortcut",
         edit(C, "    X_shortcut = BatchNormalization(axis=3, name=bn_name_base + '1')(X_shortcut)\n", ""),
         BUT_C, "BatchNormalization 'bn1a_branch1' after res1a_branch1 is missing"),
    Case("convolutional: stride on the f×f convolution instead of the first 1×1",
         chain(edit(C, "filters=F1, kernel_size=(1, 1), strides=(s, s)", "filters=F1, kernel_size=(1, 1), strides=(1, 1)"),
               edit(C, "filters=F2, kernel_size=(f, f), strides=(1, 1)", "filters=F2, kernel_size=(f, f), strides=(s, s)")),
         BUT_C, "res1a_branch2a: strides [1, 1], expected [2, 2]",
         printed="convolutional_block fails its own tests: fix exercise 2 first"),
    Case("convolutional: shortcut convolution without stride",
         edit(C, "strides=(s, s), padding='valid',\n                        name=conv_name_base + '1'",
              "strides=(1, 1), padding='valid',\n                        name=conv_name_base + '1'"),
         BUT_C, "res1a_branch1: strides [1, 1], expected [2, 2]"),
    Case("convolutional: shortcut projected from the main path",
         edit(C, "name=conv_name_base + '1', kernel_initializer=initializer(seed=0))(X_shortcut)",
              "name=conv_name_base + '1', kernel_initializer=initializer(seed=0))(X)"),
         BUT_C, "res1a_branch1 takes its input from bn1a_branch2c, expected the input"),
    # ResNet50
    Case("ResNet50: no max-pooling in stage 1",
         edit(R, "    X = MaxPooling2D((3, 3), strides=(2, 2))(X)\n", ""),
         BUT_R, "is the MaxPooling2D after ReLU after bn_conv1 missing?"),
    Case("ResNet50: no softmax",
         edit(R, "activation='softmax', ", ""),
         BUT_R, "fc6: activation 'linear', expected 'softmax'"),
    Case("ResNet50: stage 3 without stride",
         edit(R, "filters=[128, 128, 512], stage=3, block='a', s=2", "filters=[128, 128, 512], stage=3, block='a', s=1"),
         BUT_R, "stages 3, 4 and 5 halve it (s=2)"),
    Case("ResNet50: stage 4 with one identity block too few",
         edit(R, "['b', 'c', 'd', 'e', 'f']", "['b', 'c', 'd', 'e']"),
         BUT_R, "is the identity_block of stage 4, block 'f' missing?"),
    Case("ResNet50: stage 5 with stage 4's filters",
         edit(R, "filters=[512, 512, 2048], stage=5", "filters=[256, 256, 1024], stage=5"),
         BUT_R, "filters [256, 256, 1024], expected [512, 512, 2048]"),
    Case("ResNet50: output layer always 'fc6' (a name: 1 point of the hidden test)",
         edit(R, "name='fc' + str(classes)", "name='fc6'"),
         dict(FULL, **{R: 9}), "named 'fc6', expected 'fc10'",
         cells={"test_ResNet50": 5, "test_ResNet50_hidden": 4}),
    # real students' patterns (issue 22), written from their descriptions
    Case("student: the head's AveragePooling2D without a name",
         edit(R, "AveragePooling2D((2, 2), name='avg_pool')", "AveragePooling2D((2, 2))"),
         dict(FULL, **{R: 8}), "(AveragePooling2D) is named 'average_pooling2d",
         cells={"test_ResNet50": 4, "test_ResNet50_hidden": 4}),
    Case("student: the head's AveragePooling2D with padding='same' (equal at 64×64, not at 96×96)",
         edit(R, "AveragePooling2D((2, 2), name='avg_pool')", "AveragePooling2D((2, 2), padding='same', name='avg_pool')"),
         dict(FULL, **{R: 4}), "avg_pool: padding 'same', expected 'valid': the head's AveragePooling2D uses "
         "the default padding='valid'", cells={"test_ResNet50": 4, "test_ResNet50_hidden": 0}),
    Case("student: the projection shortcut named '2d' instead of '1'",
         edit(C, "name=conv_name_base + '1'", "name=conv_name_base + '2d'"),
         dict(FULL, **{C: 8}), "(Conv2D) is named 'res1a_branch2d', expected 'res1a_branch1'",
         cells={"test_convolutional_block": 4, "test_convolutional_block_hidden": 4}),
    Case("student: a block uses ReLU, which the notebook does not import",
         edit(I, "    X = Activation('relu')(X)\n\n    return X", "    X = ReLU()(X)\n\n    return X"),
         BUT_I, "`ReLU` is not defined in this notebook",
         cells={"test_identity_block": 0, "test_identity_block_hidden": 0}),
    Case("student: upper-case padding strings in the convolutions (Keras 3's pooling layers refuse them)",
         chain(both_blocks("padding='valid'", "padding='VALID'"), both_blocks("padding='same'", "padding='SAME'")),
         FULL),
    Case("student: blocks called with positional arguments only",
         chain(edit(R, "convolutional_block(X, f=3, filters=[64, 64, 256], stage=2, block='a', s=1)",
                    "convolutional_block(X, 3, [64, 64, 256], 2, 'a', 1)"),
               edit(R, "identity_block(X, 3, [128, 128, 512], stage=3, block=block)",
                    "identity_block(X, 3, [128, 128, 512], 3, block)")),
         FULL),
    # the questions (exercises 4 and 5): numbers worked out by hand
    Case("block_parameters: BatchNorm counted with 2 parameters per channel",
         edit(P, "return 4 * channels", "return 2 * channels"), dict(FULL, **{P: 0}), "4 parameters per channel"),
    Case("resnet50_shapes: the stem's zero padding forgotten",
         edit(S, "h, w = input_shape[0] + 6, input_shape[1] + 6", "h, w = input_shape[0], input_shape[1]"),
         dict(FULL, **{S: 0}), "ZeroPadding2D((3, 3)) adds 3 rows and columns on each side"),
    Case("resnet50_shapes: read from the student's own ResNet50 (refused: a layer is built)",
         replaced(S, "def resnet50_shapes(input_shape):\n    model = ResNet50(input_shape=input_shape, classes=6)\n"
                     "    return [l.output.shape[1:] for l in model.layers if l.name.endswith('2c') or "
                     "l.name == 'avg_pool']\n"),
         dict(FULL, **{S: 0}), "it created a Keras layer (InputLayer)"),
    # equivalent code: full marks
    Case("equivalent: numpy integers, a dict in another order, shapes as lists",
         chain(edit(P, 'counts = {"main_path": main_path, "shortcut": shortcut}',
                    'counts = {"shortcut": np.int64(shortcut), "main_path": np.int64(main_path)}'),
               edit(S, "shapes.append((h // 2, w // 2, 2048))", "shapes.append([h // 2, w // 2, 2048])")), FULL),
    Case("equivalent: the shortcut path written before the main path",
         lambda ref: dict(ref, **{C: _shortcut_first(ref[C])}), FULL),
    Case("equivalent: padding='same' on every 1×1 convolution",
         both_blocks("padding='valid'", "padding='same'"), FULL),
    Case("equivalent: Add()([X_shortcut, X])",
         both_blocks("Add()([X, X_shortcut])", "Add()([X_shortcut, X])"), FULL),
    Case("equivalent: layers imported from tensorflow.keras",
         lambda ref: dict(ref, **{c: "from tensorflow.keras.layers import Activation, Add, "
                                     "BatchNormalization, Conv2D\n" + ref[c] for c in (I, C)}), FULL),
    Case("equivalent: ReLU layers, integer kernel sizes and strides, layers.add",
         chain(lambda ref: dict(ref, **{c: "from keras.layers import ReLU, add\n" + ref[c] for c in (I, C)}),
               both_blocks("Activation('relu')(X)", "ReLU()(X)"),
               both_blocks("kernel_size=(1, 1), strides=(1, 1)", "kernel_size=1, strides=1"),
               both_blocks("Add()([X, X_shortcut])", "add([X, X_shortcut])")), FULL),
    Case("equivalent: ResNet50 builds stage 3 through an alias (compared as a whole network)",
         lambda ref: dict(ref, ResNet50="build_block = identity_block\n" + mutate(
             ref[R], "X = identity_block(X, 3, [128, 128, 512], stage=3, block=block)",
             "X = build_block(X, 3, [128, 128, 512], stage=3, block=block)")),
         FULL, printed="layers match the reference; 23,600,006 parameters"),
]


@pytest.fixture(scope="module")
def reference():
    return solution_sources(course.SOURCE_NB)


def _by_exercise(results: dict) -> dict:
    return {ex: sum(results[t][0] for t in tests) for ex, tests in EXERCISE.items()}


def test_the_reference_solution_scores_full_marks_with_one_line_per_test(reference):
    results = score_in_process(dict(reference), course.SOURCE_NB)
    assert _by_exercise(results) == FULL
    assert all(message.count("✓") >= 1 for _, message in results.values())
    assert "fails its own tests" not in "".join(m for _, m in results.values())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_mistake_costs_one_exercise_and_names_its_cause(reference, case):
    answers = case.change(dict(reference))
    assert answers != reference, "the case changes nothing"
    results = score_in_process(answers, course.SOURCE_NB)
    assert _by_exercise(results) == case.points, {g: (p, m[:300]) for g, (p, m) in results.items() if p < 5}
    if case.cells:
        assert {g: results[g][0] for g in case.cells} == case.cells
    costly = costly_messages(results, course.SOURCE_NB)
    if case.phrase:
        assert case.phrase in costly[0], costly[0]
    else:
        assert costly == []
    if case.printed:
        assert case.printed in results["test_ResNet50"][1], results["test_ResNet50"][1]


def test_at_least_twelve_mistakes_and_four_equivalent_forms():
    mistakes = [c for c in CASES if c.points != FULL]
    equivalent = [c for c in CASES if c.points == FULL]
    assert len(mistakes) >= 12 and len(equivalent) >= 4
    # every exercise has its own mistakes
    assert {next(ex for ex, p in c.points.items() if p < FULL[ex]) for c in mistakes} == {I, C, R, P, S}
    assert all(sum(p < FULL[ex] for ex, p in c.points.items()) == 1 for c in mistakes)
