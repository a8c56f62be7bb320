"""The second assignment, "ResNet v1 and v2 for CIFAR-10": the reference solution, the checks
behind its test cells (pass the solution, name the difference of typical mistakes), the
stored reference data and the release.

The reference solution is taken from the source notebook's solution cells
(``autograder.example_classes.submissions.solution_sources``) and executed with the notebook's setup cell
(``autograder.example_classes.submissions.load_functions``). The release and nbgrader checks of both
assignments (staleness, no leak, validator, autograde of the bundled examples) are in
tests/test_assignment_release_and_demo.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from autograder import course
from autograder.example_classes.submissions import load_functions, mutate, solution_sources
from autograder.notebooks import nbgrader_meta, read
from resnet_utils import grading, grading_cifar
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
                                     "test_lr_schedule", "test_lr_schedule_hidden", "test_stack_shapes",
                                     "test_stack_shapes_hidden", "test_parameter_count", "test_parameter_count_hidden"]
    for gid, source in cells:
        exec(compile(source, f"<{gid}>", "exec"), ns)
    out = capsys.readouterr().out
    assert out.count("✓") == 19 + 11, out  # the questions: 2 + 3 stack shapes, 2 + 4 parameter counts
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


def test_v1_and_v2_done_but_resnet_layer_not_keep_their_points(answers, capsys):
    """Checked with stand-ins for resnet_layer, v1 and v2 pass, with a note about exercise 1."""
    stub = answers["resnet_layer"].split("    def named")[0] + "    raise NotImplementedError()\n"
    fns = load(dict(answers, resnet_layer=stub))
    grading_cifar.check_resnet_v1(fns["resnet_v1"])
    grading_cifar.check_resnet_v2(fns["resnet_v2"])
    out = capsys.readouterr().out
    assert out.count("✓") == 2 and out.count("but resnet_layer fails its own tests: fix exercise 1 first") == 2


def test_v1_built_without_resnet_layer_calls_says_resnet_layer_is_not_implemented(answers):
    """No call reaches the stand-in (an alias of resnet_layer): the whole network is compared."""
    stub = answers["resnet_layer"].split("    def named")[0] + "    raise NotImplementedError()\n"
    v1 = "layer = resnet_layer\n" + answers["resnet_v1"].replace("resnet_layer(", "layer(")
    fns = load(dict(answers, resnet_layer=stub, resnet_v1=v1))
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "your resnet_v1 calls resnet_layer, which is not implemented yet" in msg and "exercise 1" in msg


def test_v2_batchnorm_after_the_add(answers):
    fns = with_mutation(answers, "resnet_v2", "x = Add(name=prefix + '_add')([x, y])",
                        "x = Add(name=prefix + '_add')([x, y])\n            x = BatchNormalization()(x)")
    msg = message(grading_cifar.check_resnet_v2, fns["resnet_v2"])
    assert "your resnet_v2 applies BatchNormalization 'batch_normalization" in msg, msg
    assert "to the sum of stack1_block1 (after its Add): in v2 nothing follows the addition" in msg, msg
    assert msg.endswith("(mistake code: resnet_v2.stack1.after_add)"), msg


def test_v1_batchnorm_on_the_projection(answers):
    fns = with_mutation(answers, "resnet_v1", "activation=None, batch_normalization=False, name=prefix + '_shortcut'",
                        "activation=None, batch_normalization=True, name=prefix + '_shortcut'")
    msg = message(grading_cifar.check_resnet_v1, fns["resnet_v1"])
    assert "name='stack2_block1_shortcut'): batch_normalization=True, expected batch_normalization=False" in msg
    assert "projection shortcuts have no BatchNormalization" in msg
    assert msg.endswith("(mistake code: resnet_v1.stack2.batch_normalization)"), msg


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


def test_broken_resnet_layer_is_pointed_out_in_v1(answers, capsys):
    fns = with_mutation(answers, "resnet_layer", ", kernel_regularizer=l2(1e-4)", "")
    grading_cifar.check_resnet_v1(fns["resnet_v1"])  # its calls are right: exercise 1 only
    out = capsys.readouterr().out
    assert "✓" in out and "your resnet_v1 calls resnet_layer correctly, but resnet_layer fails its own " \
                            "tests: fix exercise 1 first" in out, out
    # built without calling resnet_layer (an alias), the whole network is compared, with a note
    v1 = "layer = resnet_layer\n" + answers["resnet_v1"].replace("resnet_layer(", "layer(")
    fns = load(dict(answers, resnet_layer=mutate(answers["resnet_layer"], ", kernel_regularizer=l2(1e-4)", ""),
                    resnet_v1=v1))
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


# ----------------------------------------------------------------------------- stand-ins for resnet_layer


def _layer_call(signature, *args, **kwargs) -> dict:
    """What the stand-in records for ``resnet_layer(*args, **kwargs)``."""
    arguments = grading.spec_arguments(grading_cifar.LAYER_PARAMETERS, signature, args, kwargs)
    return grading_cifar.layer_call(arguments)


def test_recorded_calls_do_not_depend_on_how_the_arguments_are_written(sol):
    import keras

    sig = grading.student_signature(sol["resnet_layer"])
    assert _layer_call(sig, "x", 32, 3, 2, "relu", True, True, "p_1") == \
        _layer_call(sig, "x", num_filters=32, strides=(2, 2), name="p_1")
    # a lone convolution (no BatchNorm, no activation) is the same in both orders
    projection = _layer_call(sig, "x", 8, (1, 1), activation=None, batch_normalization=False, name="s")
    assert projection == _layer_call(sig, "x", 8, 1, 1, None, False, False, "s")
    assert projection["conv_first"] is None and projection["kernel_size"] == 1
    assert _layer_call(sig, "x", 8, activation=None, conv_first=False, name="s")["conv_first"] is False
    assert _layer_call(sig, "x", activation=keras.activations.relu, name="a")["activation"] == "relu"
    # a student's resnet_layer(*args, **kwargs): the specification's defaults
    loose = grading.student_signature(lambda *args, **kwargs: None)
    assert _layer_call(loose, "x", name="stem") == _layer_call(sig, "x", name="stem")


def test_resnet_layer_is_put_back_after_the_checks(answers):
    fns = load(answers)
    original = fns["resnet_layer"]
    grading_cifar.check_resnet_v1(fns["resnet_v1"])
    assert fns["resnet_layer"] is original
    fns = with_mutation(answers, "resnet_v2", "    x = AveragePooling2D(", "    raise RuntimeError('unfinished head')\n    x = AveragePooling2D(")
    original = fns["resnet_layer"]
    msg = message(grading_cifar.check_resnet_v2, fns["resnet_v2"])
    assert "raised RuntimeError: unfinished head" in msg and fns["resnet_layer"] is original


def test_v1_check_refuses_tampered_numpy(monkeypatch, sol):
    import numpy as np

    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    msg = message(grading_cifar.check_resnet_v1, sol["resnet_v1"])
    assert "numpy.allclose" in msg and "replaced" in msg


def test_reload_restores_replaced_stand_in_helpers(answers):
    """A notebook that replaces the helpers gets the course's own back when a test cell reloads."""
    import importlib

    fns = with_mutation(answers, "resnet_v1", "num_filters *= 2", "num_filters *= 1")
    grading.stand_ins = None
    grading_cifar._calls_difference = lambda *a, **k: None
    try:
        fresh = importlib.reload(grading_cifar)
        msg = message(fresh.check_resnet_v1, fns["resnet_v1"])
        assert "num_filters=16, expected num_filters=32" in msg, msg
    finally:
        importlib.reload(grading_cifar)


def test_v1_and_v2_cases_record_the_resnet_layer_calls():
    ref = json.loads(grading_cifar.REFERENCE_FILE.read_text())
    cases = [(k.split("|")[0], json.loads(k.split("|", 1)[1]), c) for k, c in ref.items()
             if k.startswith(("resnet_v1|", "resnet_v2|"))]
    assert len(cases) == 6
    for function, params, case in cases:
        v1 = function == "resnet_v1"
        n = (params["depth"] - 2) // (6 if v1 else 9)
        names = [c["name"] for c in case["calls"]]
        assert len(set(names)) == len(names) == 1 + 3 * n * (2 if v1 else 3) + (2 if v1 else 3), names
        stand_ins = case["stand_ins"]["summary"]
        assert sorted(e["name"] for e in stand_ins if e["kind"] == "resnet_layer") == sorted(names)
        assert not {"Conv2D", "BatchNormalization"} & {e["kind"] for e in stand_ins if e["name"] != "post_bn"}


# ----------------------------------------------------------------------------- data and release


def test_every_check_in_the_notebook_has_a_recorded_case():
    source = "\n".join(c.source for c in read(SOURCE_NB).cells if nbgrader_meta(c).get("grade"))
    n_calls = len(re.findall(r"check_(?:resnet_layer|resnet_v1|resnet_v2|lr_schedule|stack_shapes|parameter_count)\(",
                             source))
    ref = json.loads(grading_cifar.REFERENCE_FILE.read_text())
    assert len(ref) == n_calls == 13 + 5 + 6
    stored = {k.split("|")[0] for k in ref}
    assert stored == {"resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule", "stack_shapes", "parameter_count"}


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
        if "values" in case or "answer" in case:  # lr_schedule's rates, the questions' answers
            assert new == case, key
            continue
        assert new["summary"] == case["summary"] and new["params"] == case["params"], key
        assert new.get("calls") == case.get("calls"), key
        pairs = [(new, case)]
        if "stand_ins" in case:
            assert new["stand_ins"]["summary"] == case["stand_ins"]["summary"], key
            pairs.append((new["stand_ins"], case["stand_ins"]))
        for got, want in pairs:
            for mode in ("inference", "training"):
                np.testing.assert_allclose(got["outputs"][mode], want["outputs"][mode], rtol=1e-4, atol=1e-5,
                                           err_msg=key)
