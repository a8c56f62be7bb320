"""Fair grading of the second assignment (ResNet v1/v2 for CIFAR-10): every mistake costs the
points of one exercise, and its message names the cause; code that builds the same network
another way gets full marks.

resnet_v1 and resnet_v2 are built from the student's resnet_layer; their checks replace it by a
recording stand-in (``resnet_utils.grading_cifar``), so a mistake inside resnet_layer costs
exercise 1 only, and the v1/v2 tests print a note that says so.

Each case is the reference solution with one change (:func:`autograder.example_classes.submissions.mutate`,
which fails when the change no longer applies), graded once by running the source notebook's
test cells, hidden ones included, in this process (:func:`autograder.example_classes.submissions.score_in_process`).
"""

from dataclasses import dataclass
from typing import Callable

import pytest

from autograder import course
from autograder.example_classes.submissions import costly_messages, mutate, score_in_process, solution_sources

pytestmark = pytest.mark.slow  # grades whole submissions: minutes

SOURCE_NB = course.source_nb("resnet_cifar")
L, V1, V2, LR = "resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule"
SS, PC = "stack_shapes", "parameter_count"
EXERCISE = {L: ("test_resnet_layer", "test_resnet_layer_hidden"),
            V1: ("test_resnet_v1", "test_resnet_v1_hidden"),
            V2: ("test_resnet_v2", "test_resnet_v2_hidden"),
            LR: ("test_lr_schedule", "test_lr_schedule_hidden"),
            SS: ("test_stack_shapes", "test_stack_shapes_hidden"),
            PC: ("test_parameter_count", "test_parameter_count_hidden")}
NOTE = "calls resnet_layer correctly, but resnet_layer fails its own tests: fix exercise 1 first"


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[dict], dict]
    points: dict  # exercise -> points (10 for exercises 1 to 3, 5 for the schedule and the questions)
    phrase: str = ""  # a phrase of the first failing test's message ("" for full marks)
    note: bool = False  # the passing v1 and v2 tests say that resnet_layer fails its own tests
    printed: str = ""  # a phrase the passing v1 test prints
    cells: dict | None = None  # test cell -> its exact points, where the case says


def edit(cell: str, old: str, new: str, count: int = 1):
    return lambda ref: dict(ref, **{cell: mutate(ref[cell], old, new, count)})


def both(old: str, new: str, count: int = 0):
    """The same change in resnet_v1 and resnet_v2."""
    return lambda ref: dict(ref, **{c: mutate(ref[c], old, new, count) for c in (V1, V2)})


def chain(*changes):
    def make(ref):
        for change in changes:
            ref = change(ref)
        return ref
    return make


def replaced(cell: str, code: str):
    return lambda ref: dict(ref, **{cell: code})


def _shortcut_first(code: str, condition: str) -> str:
    """resnet_v1 or resnet_v2 with the projection shortcut created before the residual branch."""
    start = code.index(f"\n            if {condition}:\n") + 1
    end = code.index("            x = Add(")
    projection = code[start:end].replace("x = resnet_layer(x", "shortcut = resnet_layer(x")
    code = code[:start] + code[end:].replace("Add(name=prefix + '_add')([x, y])",
                                             "Add(name=prefix + '_add')([shortcut, y])", 1)
    branch = code.index("            y = resnet_layer(x")
    return code[:branch] + "            shortcut = x\n" + projection + code[branch:]


RAISES = "def resnet_layer(*args, **kwargs):\n    raise RuntimeError('resnet_layer is not finished')\n"
NOT_DONE = "def resnet_layer(*args, **kwargs):\n    raise NotImplementedError()\n"
TABLE_SCHEDULE = '''SCHEDULE = [(180, 0.5e-6), (160, 1e-6), (120, 1e-5), (80, 1e-4)]  # (after epoch, rate)


def lr_schedule(epoch):
    """The learning rate of the 200-epoch recipe, from a table."""
    for boundary, rate in SCHEDULE:
        if epoch > boundary:
            return rate
    return 1e-3
'''

FULL = {L: 10, V1: 10, V2: 10, LR: 5, SS: 5, PC: 5}


def but(**points):
    return dict(FULL, **points)


CASES = [
    # resnet_layer: exercise 1 only; v1 and v2 keep their points and print the note
    Case("layer: conv_first=False built conv first", edit(L, "    if conv_first:\n", "    if True:\n"),
         but(resnet_layer=0), "layer 1 is Conv2D (test_conv), expected BatchNormalization (test_bn)", note=True),
    Case("layer: padding 'valid'", edit(L, "padding='same'", "padding='valid'"),
         but(resnet_layer=0), "test_conv: padding 'valid', expected 'same'", note=True),
    Case("layer: raises RuntimeError", replaced(L, RAISES),
         but(resnet_layer=0), "raised RuntimeError: resnet_layer is not finished", note=True),
    Case("layer: not implemented yet", replaced(L, NOT_DONE),
         but(resnet_layer=0), "is not implemented yet (it raised NotImplementedError)", note=True),
    Case("layer: names without the underscore (outputs right: 1 point per test cell)",
         edit(L, "name + '_' + suffix", "name + suffix"),
         but(resnet_layer=8), "(Conv2D) is named 'testconv', expected 'test_conv'",
         cells={"test_resnet_layer": 4, "test_resnet_layer_hidden": 4}),
    Case("layer: upper-case padding='SAME' (the same setting)", edit(L, "padding='same'", "padding='SAME'"), FULL),
    Case("layer: BatchNorm after the activation (post-activation order)",
         edit(L, "            x = BatchNormalization(name=named('bn'))(x)\n"
                 "        if activation is not None:\n"
                 "            x = Activation(activation, name=named(activation))(x)\n"
                 "    else:",
              "            pass\n"
              "        if activation is not None:\n"
              "            x = Activation(activation, name=named(activation))(x)\n"
              "        if batch_normalization:\n"
              "            x = BatchNormalization(name=named('bn'))(x)\n"
              "    else:"),
         but(resnet_layer=5), "is the BatchNormalization after test_conv missing?", note=True),
    # resnet_v1
    Case("v1: stride on the second convolution of a stack's first block",
         chain(edit(V1, "num_filters=num_filters, strides=strides, name=prefix + '_1'",
                    "num_filters=num_filters, name=prefix + '_1'"),
               edit(V1, "num_filters=num_filters, activation=None, name=prefix + '_2'",
                    "num_filters=num_filters, strides=strides, activation=None, name=prefix + '_2'")),
         but(resnet_v1=0), "stack2_block1_1_conv: strides [1, 1], expected [2, 2]"),
    Case("v1: no projection shortcut",
         edit(V1, "                x = resnet_layer(x, num_filters=num_filters, kernel_size=1, strides=strides,\n"
                  "                                 activation=None, batch_normalization=False, name=prefix + '_shortcut')\n",
              "                pass\n"),
         but(resnet_v1=0), "never calls resnet_layer with name='stack2_block1_shortcut'"),
    Case("v1: no ReLU after the addition", edit(V1, "            x = Activation('relu', name=prefix + '_out')(x)\n", ""),
         but(resnet_v1=0), "the sum of stack1_block1 (its Add) goes to resnet_layer 'stack1_block2_1', Add, expected a ReLU only"),
    Case("v1: ReLU before the addition", edit(V1, "num_filters=num_filters, activation=None, name=prefix + '_2'",
                                              "num_filters=num_filters, name=prefix + '_2'"),
         but(resnet_v1=0), "activation='relu', expected activation=None"),
    Case("v1: v2's depth formula", edit(V1, "num_res_blocks = (depth - 2) // 6", "num_res_blocks = (depth - 2) // 9"),
         but(resnet_v1=0), "your resnet_v1(depth=14) has 3 residual blocks (Add layers), expected 6"),
    Case("v1: the filters never double", edit(V1, "num_filters *= 2", "num_filters *= 1"),
         but(resnet_v1=0), "num_filters=16, expected num_filters=32, so stack2_block1_1_conv: filters 16, expected 32"),
    Case("v1: no softmax", edit(V1, "activation='softmax', ", ""),
         but(resnet_v1=0), "predictions: activation 'linear', expected 'softmax'"),
    Case("v1: the projection calls named '_proj' (outputs right: 1 point per test cell)",
         edit(V1, "name=prefix + '_shortcut'", "name=prefix + '_proj'"),
         but(resnet_v1=8), "(resnet_layer) is named 'stack2_block1_proj', expected 'stack2_block1_shortcut'",
         cells={"test_resnet_v1": 4, "test_resnet_v1_hidden": 4}),
    Case("v1: the head's AveragePooling2D without a name",
         edit(V1, "AveragePooling2D(pool_size=8, name='avg_pool')", "AveragePooling2D(pool_size=8)"),
         but(resnet_v1=8), "(AveragePooling2D) is named 'average_pooling2d"),
    Case("v1: the + operator instead of an Add layer", edit(V1, "x = Add(name=prefix + '_add')([x, y])", "x = x + y"),
         but(resnet_v1=0), "the `+` operator creates an operation, not an Add layer"),
    # resnet_v2
    Case("v2: ReLU after the addition",
         edit(V2, "x = Add(name=prefix + '_add')([x, y])", "x = Add(name=prefix + '_add')([x, y])\n"
                                                         "            x = Activation('relu')(x)"),
         but(resnet_v2=0), "applies ReLU to the sum of stack1_block1 (after its Add): in v2 nothing follows the addition"),
    Case("v2: no post_bn", edit(V2, "    x = BatchNormalization(name='post_bn')(x)\n", ""),
         but(resnet_v2=0), "BatchNormalization 'post_bn' after"),
    Case("v2: a unit's 3×3 layer post-activation (conv_first left out)",
         edit(V2, "conv_first=False, name=prefix + '_2'", "name=prefix + '_2'"),
         but(resnet_v2=0), "resnet_layer(x, name='stack1_block1_2'): conv_first=True, expected conv_first=False"),
    Case("v2: BatchNorm and ReLU right after the stem",
         edit(V2, "activation, batch_normalization = None, False", "activation, batch_normalization = 'relu', True"),
         but(resnet_v2=0), "name='stack1_block1_1'): activation='relu', expected activation=None"),
    Case("v2: v1's depth formula", edit(V2, "num_res_blocks = (depth - 2) // 9", "num_res_blocks = (depth - 2) // 6"),
         but(resnet_v2=5), "your resnet_v2(depth=20) has 9 residual units (Add layers), expected 6"),
    Case("v2: stage 1 without the 4× widening (num_filters_out = num_filters_in)",
         edit(V2, "num_filters_out = num_filters_in * 4", "num_filters_out = num_filters_in"),
         but(resnet_v2=0), "num_filters=16, expected num_filters=64"),
    # lr_schedule
    Case("lr: epoch >= boundary", edit(LR, "epoch > ", "epoch >= ", count=0),
         but(lr_schedule=3), "lr_schedule(80) returned 0.0001, expected 0.001"),
    Case("lr: last step × 0.001", edit(LR, "lr *= 0.5e-3", "lr *= 1e-3"),
         but(lr_schedule=0), "lr_schedule(181) returned 1e-06, expected 5e-07"),
    # equivalent code: full marks
    Case("equivalent: the projection shortcut created before the branch (v1 and v2)",
         lambda ref: dict(ref, resnet_v1=_shortcut_first(ref[V1], "stack > 1 and block == 1"),
                          resnet_v2=_shortcut_first(ref[V2], "block == 1")), FULL),
    Case("equivalent: int((depth - 2) / 6) and int((depth - 2) / 9)",
         chain(edit(V1, "(depth - 2) // 6", "int((depth - 2) / 6)"),
               edit(V2, "(depth - 2) // 9", "int((depth - 2) / 9)")), FULL),
    Case("equivalent: keras.layers.add([y, x]) instead of Add(...)([x, y])",
         both("Add(name=prefix + '_add')([x, y])", "keras.layers.add([y, x])"), FULL),
    Case("equivalent: positional arguments, tuples for kernel_size and strides",
         chain(edit(V1, "resnet_layer(x, num_filters=num_filters, strides=strides, name=prefix + '_1')",
                    "resnet_layer(x, num_filters, 3, strides, 'relu', True, True, prefix + '_1')"),
               edit(V1, "resnet_layer(y, num_filters=num_filters, activation=None, name=prefix + '_2')",
                    "resnet_layer(y, num_filters, (3, 3), (1, 1), None, True, True, prefix + '_2')"),
               edit(V1, "kernel_size=1, strides=strides,\n", "kernel_size=(1, 1), strides=(strides, strides),\n")),
         FULL),
    Case("equivalent: ReLU() layers instead of Activation('relu')",
         chain(edit(V1, "Activation('relu', name=prefix + '_out')", "keras.layers.ReLU(name=prefix + '_out')"),
               edit(V2, "Activation('relu', name='post_relu')", "keras.layers.ReLU(name='post_relu')")), FULL),
    Case("equivalent: v2's projections with conv_first=False (a lone convolution either way)",
         edit(V2, "batch_normalization=False, name=prefix + '_shortcut'",
              "batch_normalization=False, conv_first=False, name=prefix + '_shortcut'"), FULL),
    Case("equivalent: a table-driven lr_schedule", replaced(LR, TABLE_SCHEDULE), FULL),
    # the questions (exercises 5 and 6): numbers worked out by hand
    Case("stack_shapes: floor instead of ceiling for a stride 2 with padding='same'",
         edit(SS, "h, w = -(-h // 2), -(-w // 2)", "h, w = h // 2, w // 2"),
         dict(FULL, **{SS: 0}), "gives ⌈n/2⌉ whatever the window"),
    Case("parameter_count: the moving mean and variance counted as trainable",
         edit(PC, 'counts = {"trainable": trainable, "non_trainable": 2 * sum(bn)}',
              'counts = {"trainable": trainable + 2 * sum(bn), "non_trainable": 0}'),
         dict(FULL, **{PC: 0}), "only γ and β of BatchNormalization are trainable"),
    Case("equivalent: stack_shapes with math.ceil, returning numpy arrays",
         lambda ref: dict(ref, stack_shapes="import math\n" + mutate(mutate(
             ref[SS], "h, w = -(-h // 2), -(-w // 2)", "h, w = math.ceil(h / 2), math.ceil(w / 2)"),
             "    return shapes", "    return np.array(shapes)")), FULL),
    Case("equivalent: v1 built through an alias of resnet_layer (compared as a whole network)",
         lambda ref: dict(ref, resnet_v1="layer = resnet_layer\n" + ref[V1].replace("resnet_layer(", "layer(")),
         FULL, printed="layers with the reference's structure and settings, 176,554 parameters"),
]


@pytest.fixture(scope="module")
def reference():
    return solution_sources(SOURCE_NB)


def _by_exercise(results: dict) -> dict:
    return {ex: sum(results[t][0] for t in tests) for ex, tests in EXERCISE.items()}


def test_the_reference_solution_scores_full_marks_per_exercise(reference):
    results = score_in_process(dict(reference), SOURCE_NB)
    assert _by_exercise(results) == FULL
    assert all("✓" in message for _, message in results.values())
    assert "fails its own tests" not in "".join(m for _, m in results.values())
    assert "resnet_layer calls" in results["test_resnet_v1"][1]  # checked with stand-ins


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_mistake_costs_one_exercise_and_names_its_cause(reference, case):
    answers = case.change(dict(reference))
    assert answers != reference, "the case changes nothing"
    results = score_in_process(answers, SOURCE_NB)
    assert _by_exercise(results) == case.points, {g: (p, m[:400]) for g, (p, m) in results.items() if p < 5}
    if case.cells:
        assert {g: results[g][0] for g in case.cells} == case.cells
    costly = costly_messages(results, SOURCE_NB)
    if case.phrase:
        assert case.phrase in costly[0], costly[0]
    else:
        assert costly == []
    for gid in ("test_resnet_v1", "test_resnet_v2"):
        assert (NOTE in results[gid][1]) == case.note, results[gid][1]
    if case.printed:
        assert case.printed in results["test_resnet_v1"][1], results["test_resnet_v1"][1]


def test_enough_mistakes_in_every_exercise_and_equivalent_forms():
    mistakes = [c for c in CASES if c.points != FULL]
    equivalent = [c for c in CASES if c.points == FULL]
    assert len(mistakes) >= 8 and len(equivalent) >= 5
    layer = [c for c in mistakes if c.points[L] < 10]
    assert len(layer) >= 3 and all(c.note for c in layer if c.points[L] <= 5)  # a mistake, not a penalty
    assert {next(ex for ex, p in c.points.items() if p < FULL[ex]) for c in mistakes} == {L, V1, V2, LR, SS, PC}
    # every mistake costs exactly one exercise
    assert all(sum(p < FULL[ex] for ex, p in c.points.items()) == 1 for c in mistakes)
