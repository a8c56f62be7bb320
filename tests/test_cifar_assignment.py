"""The second assignment, "ResNet v1 and v2 for CIFAR-10": the reference solution, the checks
behind its test cells (pass the solution, name the difference of typical mistakes), the
stored reference data and the release.

The reference solution is taken from the source notebook's solution cells
(``autograder.submissions.solution_sources``) and executed with the notebook's setup cell
(``autograder.submissions.load_functions``). The release and nbgrader checks of both
assignments (staleness, no leak, validator, autograde of the bundled examples) are in
tests/test_assignment_release_and_demo.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from autograder import course
from autograder.submissions import load_functions, mutate, nbgrader_meta, read, solution_sources
from resnet_utils import grading_cifar
from resnet_utils.reference import SOURCES

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NB = course.source_nb("resnet_cifar")
RELEASE_NB = course.release_nb("resnet_cifar")


def test_the_course_and_the_reference_recorder_agree_on_the_notebook():
    assert SOURCES["resnet_cifar"] == SOURCE_NB


def load(answers: dict) -> dict:
    """Execute the setup cell, then the solution cells (by grade_id) in one namespace."""
    return load_functions(answers, SOURCE_NB)


@pytest.fixture(scope="module")
def answers():
    return solution_sources(SOURCE_NB)


@pytest.fixture(scope="module")
def sol(answers):
    return load(answers)


def with_mutation(answers, cell, old, new, count=1) -> dict:
    return load(dict(answers, **{cell: mutate(answers[cell], old, new, count)}))


def message(check, fn, **kw) -> str:
    with pytest.raises(AssertionError) as info:
        check(fn, **kw)
    return str(info.value)


# ----------------------------------------------------------------------------- the solution


def test_parameter_counts_of_the_keras_example(sol):
    """The five counts of the issue, computed from an independent implementation of the
    Keras example cifar10_resnet.py."""
    expected = {("v1", 20): 274_442, ("v1", 56): 861_770, ("v1", 110): 1_742_762,
                ("v2", 56): 1_673_738, ("v2", 110): 3_323_210}
    got = {}
    for (version, depth) in expected:
        model = sol[f"resnet_{version}"](input_shape=(32, 32, 3), depth=depth, num_classes=10)
        got[(version, depth)] = model.count_params()
    assert got == expected


def test_solution_passes_every_test_cell(answers, capsys):
    """Visible and hidden test cells of the source notebook, run on the solution in process."""
    ns = load(answers)
    cells = [(nbgrader_meta(c)["grade_id"], c.source) for c in read(SOURCE_NB).cells
             if nbgrader_meta(c).get("grade")]
    assert [g for g, _ in cells] == ["test_resnet_layer", "test_resnet_layer_hidden", "test_resnet_v1",
                                     "test_resnet_v1_hidden", "test_resnet_v2", "test_resnet_v2_hidden",
                                     "test_lr_schedule", "test_lr_schedule_hidden"]
    for gid, source in cells:
        exec(compile(source, f"<{gid}>", "exec"), ns)
    out = capsys.readouterr().out
    assert out.count("✓") == 19, out
    assert "raises ValueError: depth should be 6n+2" in out and "raises ValueError: depth should be 9n+2" in out


def test_layer_names_follow_the_stated_scheme(sol):
    model = sol["resnet_v1"](input_shape=(32, 32, 3), depth=20)
    names = {layer.name for layer in model.layers}
    for name in ("stem_conv", "stem_bn", "stem_relu", "stack1_block1_1_conv", "stack2_block1_1_bn",
                 "stack2_block1_shortcut_conv", "stack2_block1_add", "stack3_block3_out",
                 "avg_pool", "flatten", "predictions"):
        assert name in names, name
    assert "stack1_block1_shortcut_conv" not in names and "stack2_block1_shortcut_bn" not in names
    v2 = {layer.name for layer in sol["resnet_v2"](input_shape=(32, 32, 3), depth=11).layers}
    assert {"stack1_block1_shortcut_conv", "stack1_block1_3_conv", "post_bn", "post_relu"} <= v2
    assert "stack1_block1_1_bn" not in v2 and "stack2_block1_1_bn" in v2


@pytest.mark.parametrize("epoch, lr", [(0, 1e-3), (80, 1e-3), (81, 1e-4), (120, 1e-4), (121, 1e-5),
                                       (160, 1e-5), (161, 1e-6), (180, 1e-6), (181, 0.5e-6), (199, 0.5e-6)])
def test_lr_schedule_at_the_boundaries(sol, epoch, lr):
    assert sol["lr_schedule"](epoch) == pytest.approx(lr, rel=1e-12)


def test_stored_lr_values_are_the_schedule():
    ref = grading_cifar._grading.load_reference(grading_cifar.REFERENCE_FILE)
    visible = ref['lr_schedule|{"epochs": [0, 80, 81, 120, 121, 160, 161, 180, 181]}']["values"]
    assert visible == pytest.approx({"0": 1e-3, "80": 1e-3, "81": 1e-4, "120": 1e-4, "121": 1e-5,
                                     "160": 1e-5, "161": 1e-6, "180": 1e-6, "181": 0.5e-6}, rel=1e-12)


# ----------------------------------------------------------------------------- typical mistakes


def test_untouched_release_says_not_implemented(sol):
    def stub(*args, **kwargs):
        raise NotImplementedError()

    stub.__name__ = "resnet_v1"
    for check in (grading_cifar.check_resnet_layer, grading_cifar.check_resnet_v1,
                  grading_cifar.check_resnet_v2, grading_cifar.check_lr_schedule):
        msg = message(check, stub)
        assert "is not implemented yet (it raised NotImplementedError): replace the line " \
               "`raise NotImplementedError()` with your code, run that cell, then this one." in msg
    msg = message(grading_cifar.check_depth_error, stub, depth=21)
    assert "not implemented yet" in msg


def test_v1_done_but_resnet_layer_not(answers):
    stub = answers["resnet_layer"].split("    def named")[0] + "    raise NotImplementedError()\n"
    fns = load(dict(answers, resnet_layer=stub))
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "your resnet_v1 calls resnet_layer, which is not implemented yet" in msg and "exercise 1" in msg


def test_v2_batchnorm_after_the_add(answers):
    fns = with_mutation(answers, "resnet_v2", "x = Add(name=prefix + '_add')([x, y])",
                        "x = Add(name=prefix + '_add')([x, y])\n            x = BatchNormalization()(x)")
    msg = message(grading_cifar.check_resnet_v2, fns["resnet_v2"])
    assert "has 25 BatchNormalization layers, the reference 19" in msg
    assert "(after Add(stack1_block1_3_conv, stack1_block1_shortcut_conv)) is not in the specification" in msg, msg
    assert "nothing follows the addition" in msg


def test_v1_batchnorm_on_the_projection(answers):
    fns = with_mutation(answers, "resnet_v1", "activation=None, batch_normalization=False, name=prefix + '_shortcut'",
                        "activation=None, batch_normalization=True, name=prefix + '_shortcut'")
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "'stack2_block1_shortcut_bn'" in msg and "is not in the specification" in msg
    assert "projection shortcuts have no BatchNormalization" in msg


def test_v1_stride_on_the_second_convolution(answers):
    code = mutate(answers["resnet_v1"], "num_filters=num_filters, strides=strides, name=prefix + '_1'",
                  "num_filters=num_filters, name=prefix + '_1'")
    code = mutate(code, "num_filters=num_filters, activation=None, name=prefix + '_2'",
                  "num_filters=num_filters, strides=strides, activation=None, name=prefix + '_2'")
    fns = load(dict(answers, resnet_v1=code))
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert re.search(r"stack2_block1_[12]_conv: strides \[[12], [12]\], expected \[[12], [12]\]", msg), msg
    assert "strides=2 only for the first convolution" in msg.replace("strides are resnet_layer's strides argument: 2", "strides=2")


def test_v1_projection_without_stride_fails_to_build_and_names_the_layer(answers):
    fns = with_mutation(answers, "resnet_v1", "kernel_size=1, strides=strides,\n", "kernel_size=1, strides=1,\n")
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "stack2_block1_shortcut_conv: strides [1, 1], expected [2, 2]" in msg, msg


@pytest.mark.parametrize("version, old, new, depth, got", [
    ("v1", "num_res_blocks = (depth - 2) // 6", "num_res_blocks = (depth - 2) // 9", 14, "3 residual blocks"),
    ("v2", "num_res_blocks = (depth - 2) // 9", "num_res_blocks = (depth - 2) // 6", 20, "9 residual units"),
])
def test_wrong_depth_formula(answers, version, old, new, depth, got):
    fns = with_mutation(answers, f"resnet_{version}", old, new)
    msg = message(getattr(grading_cifar, f"check_resnet_{version}"), fns[f"resnet_{version}"])
    assert f"your resnet_{version}(depth={depth}) has {got} (Add layers), expected 6" in msg, msg


def test_depth_errors(answers):
    fns = with_mutation(answers, "resnet_v1", "raise ValueError(f'depth should be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}')",
                        "pass")
    msg = message(grading_cifar.check_depth_error, fns["resnet_v1"], depth=21)
    assert "did not raise an error: 21 is not 6n+2" in msg
    fns = with_mutation(answers, "resnet_v2", "f'depth should be 9n+2 (11, 20, 56, 110, ...), got {depth}'",
                        "'bad depth'")
    msg = message(grading_cifar.check_depth_error, fns["resnet_v2"], depth=21)
    assert "the message must say that the depth must be 9n+2" in msg
    # a v2 that uses v1's rule accepts 14 (6n+2) and fails there
    fns = with_mutation(answers, "resnet_v2", "if (depth - 2) % 9 != 0", "if (depth - 2) % 6 != 0")
    msg = message(grading_cifar.check_depth_error, fns["resnet_v2"], depth=14)
    assert "resnet_v2(input_shape=(32, 32, 3), depth=14)" in msg


def test_missing_l2_regularizer(answers):
    fns = with_mutation(answers, "resnet_layer", ", kernel_regularizer=l2(1e-4)", "")
    msg = message(grading_cifar.check_resnet_layer, fns["resnet_layer"])
    assert "test_conv: kernel_regularizer None, expected 'L2(l2=0.0001)'" in msg, msg


def test_wrong_initializer(answers):
    fns = with_mutation(answers, "resnet_layer", "kernel_initializer='he_normal', ", "")
    msg = message(grading_cifar.check_resnet_layer, fns["resnet_layer"])
    assert "test_conv: kernel_initializer 'GlorotUniform()', expected 'HeNormal()'" in msg, msg


def test_pre_activation_order_swapped(answers):
    """conv_first=False implemented as conv first: the message names the layer order."""
    fns = with_mutation(answers, "resnet_layer", "    if conv_first:\n", "    if True:\n")
    msg = message(grading_cifar.check_resnet_layer, fns["resnet_layer"], conv_first=False)
    assert "layer 1 is Conv2D" in msg or "takes its input from" in msg, msg


def test_broken_resnet_layer_is_pointed_out_in_v1(answers):
    fns = with_mutation(answers, "resnet_layer", ", kernel_regularizer=l2(1e-4)", "")
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "kernel_regularizer" in msg and "fix exercise 1 first" in msg


def test_lr_schedule_off_by_one():
    def lr_schedule(epoch):
        lr = 1e-3
        if epoch >= 180:
            lr *= 0.5e-3
        elif epoch >= 160:
            lr *= 1e-3
        elif epoch >= 120:
            lr *= 1e-2
        elif epoch >= 80:
            lr *= 1e-1
        return lr

    msg = message(grading_cifar.check_lr_schedule, lr_schedule)
    assert "lr_schedule(80) returned 0.0001, expected 0.001" in msg and "epoch > 80" in msg


def test_v1_output_differs_when_branches_are_swapped_in_the_add(answers):
    """Add([y, x]) is the same network: it must pass (the summary orders the inputs)."""
    fns = with_mutation(answers, "resnet_v1", "Add(name=prefix + '_add')([x, y])",
                        "Add(name=prefix + '_add')([y, x])")
    grading_cifar.check_resnet_v1(fns["resnet_v1"])


def test_equivalent_string_regularizer_and_unnamed_activations_pass(answers):
    code = mutate(answers["resnet_layer"], "kernel_regularizer=l2(1e-4)",
                  "kernel_regularizer=keras.regularizers.L1L2(l2=1e-4)")
    code = mutate(code, "Activation(activation, name=named(activation))", "Activation(activation)", count=0)
    fns = load(dict(answers, resnet_layer=code))
    grading_cifar.check_resnet_layer(fns["resnet_layer"])
    grading_cifar.check_resnet_v2(fns["resnet_v2"])


# ----------------------------------------------------------------------------- data and release


def test_every_check_in_the_notebook_has_a_recorded_case():
    source = "\n".join(c.source for c in read(SOURCE_NB).cells if nbgrader_meta(c).get("grade"))
    n_calls = len(re.findall(r"check_(?:resnet_layer|resnet_v1|resnet_v2|lr_schedule)\(", source))
    ref = json.loads(grading_cifar.REFERENCE_FILE.read_text())
    assert len(ref) == n_calls == 13
    stored = {k.split("|")[0] for k in ref}
    assert stored == {"resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule"}


# ----------------------------------------------------------------------------- reference data (slow)


@pytest.mark.slow  # executes the source notebook in record mode (about a minute)
def test_stored_reference_is_what_the_source_solution_records(tmp_path):
    """resnet_cifar.json is current: re-recording it from the source notebook gives the same
    cases, structures and parameter counts, and the same outputs (to rounding)."""
    import numpy as np

    from resnet_utils import reference

    fresh = json.loads(reference.record(SOURCE_NB, tmp_path / "fresh.json").read_text())
    stored = json.loads(grading_cifar.REFERENCE_FILE.read_text())
    assert sorted(fresh) == sorted(stored), "cases differ: run python -m resnet_utils.reference resnet_cifar"
    for key, case in stored.items():
        new = fresh[key]
        if "values" in case:
            assert new["values"] == case["values"], key
            continue
        assert new["summary"] == case["summary"] and new["params"] == case["params"], key
        for mode in ("inference", "training"):
            np.testing.assert_allclose(new["outputs"][mode], case["outputs"][mode], rtol=1e-4, atol=1e-5,
                                       err_msg=key)
