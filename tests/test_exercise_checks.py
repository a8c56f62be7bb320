"""The checks behind the test cells: pass the reference, fail mistakes with pointed messages."""

import numpy as np
import pytest

from autograder.example_classes.submissions import load_functions, mutate
from resnet_utils import grading


def _answers_with(reference_answers, cell, old, new, count=1):
    return load_functions(dict(reference_answers, **{cell: mutate(reference_answers[cell], old, new, count)}))


def _message(check, fn, **kw):
    with pytest.raises(AssertionError) as info:
        check(fn, **kw)
    return str(info.value)


def test_reference_solution_passes_visible_and_hidden_cases(solution, capsys):
    grading.check_identity_block(solution["identity_block"])
    grading.check_identity_block(solution["identity_block"], f=3, filters=[2, 3, 5], stage=3,
                                 block="c", input_shape=(2, 5, 5, 5))
    grading.check_convolutional_block(solution["convolutional_block"], f=3, filters=[2, 3, 5],
                                      stage=4, block="a", s=1, input_shape=(2, 5, 5, 3))
    out = capsys.readouterr().out
    assert out.count("✓") == 3 and "output shape (None, 4, 4, 6)" in out


def test_relu_before_add_is_named(reference_answers):
    fns = _answers_with(reference_answers, "identity_block",
                        "    X = Add()([X, X_shortcut])\n    X = Activation('relu')(X)",
                        "    X = Activation('relu')(X)\n    X = Add()([X, X_shortcut])")
    msg = _message(grading.check_identity_block, fns["identity_block"])
    assert "layer 9 is ReLU" in msg and "expected Add" in msg and "before adding the shortcut" in msg


def test_missing_final_relu(reference_answers):
    fns = _answers_with(reference_answers, "identity_block",
                        "    X = Add()([X, X_shortcut])\n    X = Activation('relu')(X)",
                        "    X = Add()([X, X_shortcut])")
    msg = _message(grading.check_identity_block, fns["identity_block"])
    assert "10 layers, the reference has 11" in msg and "ReLU after Add" in msg


def test_shortcut_without_stride_explains_shapes(reference_answers):
    fns = _answers_with(reference_answers, "convolutional_block",
                        "strides=(s, s), padding='valid',\n                        name=conv_name_base + '1'",
                        "strides=(1, 1), padding='valid',\n                        name=conv_name_base + '1'")
    msg = _message(grading.check_convolutional_block, fns["convolutional_block"])
    assert "incompatible shapes" in msg
    assert "Hint: res1a_branch1: strides [1, 1], expected [2, 2]" in msg


def test_ignored_initializer_argument(reference_answers):
    fns = _answers_with(reference_answers, "identity_block", "kernel_initializer=initializer(seed=0)",
                        "kernel_initializer=glorot_uniform(seed=0)", count=0)
    msg = _message(grading.check_identity_block, fns["identity_block"])
    assert "initializer=initializer(seed=0)" in msg


def test_valid_padding_in_middle_conv_of_projection_block(reference_answers):
    # with s=1 and f=1 the shapes still match, so the structure check must catch it
    fns = _answers_with(reference_answers, "convolutional_block", "padding='same'", "padding='valid'")
    msg = _message(grading.check_convolutional_block, fns["convolutional_block"], f=3, filters=[2, 3, 5],
                   stage=4, block="a", s=1, input_shape=(2, 5, 5, 3))
    assert "incompatible shapes" in msg and "res4a_branch2b: padding 'valid', expected 'same'" in msg


def test_hardcoded_output_name_costs_a_point_only_for_other_class_counts(reference_answers, capsys):
    fns = _answers_with(reference_answers, "ResNet50", "name='fc' + str(classes)", "name='fc6'")
    grading.check_ResNet50(fns["ResNet50"])  # the visible case passes
    assert grading.score(5) is None
    grading.check_ResNet50(fns["ResNet50"], input_shape=(96, 96, 3), classes=10)
    assert grading.score(5) == 4.0
    out = capsys.readouterr().out
    assert "−1 point: ResNet50(input_shape=(96, 96, 3), classes=10): layer 24 (Dense) is named 'fc6', " \
           "expected 'fc10'" in out and "'fc' + str(classes)" in out
    assert "(penalty code: ResNet50.layer_name)" in out and "4 of 5 points" in out


def test_not_implemented_and_wrong_return_type():
    def stub(*args, **kwargs):
        raise NotImplementedError()

    assert "not implemented yet" in _message(grading.check_identity_block, stub)
    assert "returned NoneType" in _message(grading.check_identity_block, lambda *a, **k: None)
    assert "expected a keras.Model" in _message(grading.check_ResNet50, lambda **k: None)


def test_unrecorded_case_is_reported(solution):
    msg = _message(grading.check_identity_block, solution["identity_block"], f=5, filters=[1, 1, 6])
    assert "no reference data" in msg


def test_tampered_numpy_is_detected(monkeypatch, solution):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    msg = _message(grading.check_identity_block, solution["identity_block"])
    assert "numpy.allclose" in msg and "replaced" in msg
    monkeypatch.undo()
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    assert "assert_allclose" in _message(grading.check_identity_block, solution["identity_block"])


def test_reload_restores_replaced_checks(solution):
    import importlib

    import resnet_utils.summary as summary

    original = grading.check_identity_block
    grading.check_identity_block = lambda *a, **k: None
    summary.first_difference = lambda *a, **k: None
    try:
        fresh = importlib.reload(grading)
        # the reloaded module defines its checks again from its own file, not the lambda above
        assert fresh.check_identity_block.__code__.co_filename == original.__code__.co_filename
        assert fresh.check_identity_block.__code__.co_filename.endswith("resnet_utils/grading.py")
        assert fresh._summary.first_difference.__code__.co_filename.endswith("resnet_utils/summary.py")
        bad = load_functions({"identity_block": "def identity_block(X, *a, **k):\n    return X\n"})
        with pytest.raises(AssertionError):
            fresh.check_identity_block(bad["identity_block"])
    finally:
        importlib.reload(summary)
        importlib.reload(grading)


def test_record_mode_writes_cases(tmp_path, monkeypatch, solution):
    target = tmp_path / "ref.json"
    monkeypatch.setenv(grading.RECORD_ENV, str(target))
    grading.check_identity_block(solution["identity_block"], f=1, filters=[1, 1, 2], input_shape=(1, 2, 2, 2))
    import json

    data = json.loads(target.read_text())
    (key, case), = data.items()
    assert key.startswith("identity_block|") and len(case["summary"]) == 11
    assert set(case["outputs"]) == {"constant", "glorot_uniform"}


def test_score_takes_a_point_per_penalty_up_to_the_cap(capsys):
    from resnet_utils.summary import Difference

    assert grading.score(5) is None  # no penalty: no output, full marks
    grading.penalize("identity_block(f=2)", [Difference("layer 2 is named 'a', expected 'b': hint", "layer_name")])
    grading.penalize("identity_block(f=3)", [Difference("layer 2 is named 'a', expected 'b': hint", "layer_name")])
    assert grading.score(5) == 5 - grading.PENALTY_POINTS  # the same code twice in a cell: once
    grading.penalize("ResNet50()", [Difference(f"s{i}", code) for i, code in enumerate(("layer_name", "padding", "strides"))])
    assert grading.score(5) == 5 - grading.PENALTY_CAP
    assert grading.score(5) is None  # score() forgets the cell's penalties
    out = capsys.readouterr().out
    assert out.count("(penalty code: identity_block.layer_name)") == 1
    assert "(penalty code: ResNet50.padding)" in out and "This test cell: 3 of 5 points (3 penalties" in out


def test_penalties_aside_keeps_the_cells_penalties_out_of_a_note(capsys):
    from resnet_utils.summary import Difference

    grading.penalize("ResNet50()", [Difference("x", "layer_name")])
    with grading.penalties_aside():
        grading.penalize("identity_block()", [Difference("y", "layer_name")])
    assert grading.score(5) == 4.0


def test_a_note_runs_the_block_checks_once_per_function_across_reloads_and_ignores_planted_entries():
    import importlib

    calls = []

    def check(fn):
        calls.append(fn)
        if fn is failing:
            raise grading.GradingError("differs", "x")
        print("✓ printed by the check: set aside")

    def passing():
        pass

    def failing():
        pass

    assert grading.passes_own_checks(passing, "block", check) is True
    assert grading.passes_own_checks(failing, "block", check) is False
    fresh = importlib.reload(grading)  # what every test cell does
    assert fresh.passes_own_checks(passing, "block", check) is True
    assert fresh.passes_own_checks(failing, "block", check) is False
    assert calls == [passing, failing]  # remembered: not checked again
    assert fresh.passes_own_checks(passing, "other label", check) is True and len(calls) == 3

    def redefined():  # a new function object (the cell ran again): checked again
        pass

    assert fresh.passes_own_checks(redefined, "block", check) is True and calls[-1] is redefined
    fresh._OWN_CHECKS[(id(failing), "block")] = (failing, "yes")  # not a bool: checked again
    assert fresh.passes_own_checks(failing, "block", check) is False and calls[-1] is failing
    fresh._OWN_CHECKS = {(id(failing), "block"): (passing, True)}  # another function's entry: ignored
    assert fresh.passes_own_checks(failing, "block", check) is False and calls[-1] is failing
    fresh._OWN_CHECKS = "not a dict"
    assert importlib.reload(grading).passes_own_checks(failing, "block", check) is False
    assert grading.score(5) is None  # the checks' penalties and output were set aside


def test_a_visible_block_check_remembers_its_outcome_for_the_note_and_a_hidden_one_does_not(solution, capsys):
    fn = solution["identity_block"]
    assert grading.visible_label("identity_block", grading.check_identity_block,
                                 {"f": 2, "filters": [4, 4, 6], "stage": 1, "block": "a",
                                  "input_shape": [3, 4, 4, 6]}) == "identity_block"
    assert grading.visible_label("identity_block", grading.check_identity_block, {"f": 3}) is None
    grading._OWN_CHECKS.clear()
    grading.check_identity_block(fn, f=3, filters=[2, 3, 5], stage=3, block="c", input_shape=(2, 5, 5, 5))
    assert grading._OWN_CHECKS == {}  # a hidden case says nothing about the visible tests
    grading.check_identity_block(fn)
    assert grading._OWN_CHECKS == {(id(fn), "identity_block"): (fn, True)}
    broken = load_functions({"identity_block": "def identity_block(X, *a, **k):\n    return X\n"})["identity_block"]
    with pytest.raises(AssertionError):
        grading.check_identity_block(broken)
    assert grading._OWN_CHECKS[(id(broken), "identity_block")] == (broken, False)
    assert grading.passes_own_checks(broken, "identity_block", lambda f: 1 / 0) is False  # not run again
    capsys.readouterr()


#: the exercises whose functions return numbers (no layers, nothing to penalize)
NUMBER_QUESTIONS = {"lr_schedule", "block_parameters", "resnet50_shapes", "stack_shapes", "parameter_count"}


def test_every_test_cell_that_can_penalize_ends_with_its_own_points():
    """A test cell that runs a layer check ends with score(points=...) equal to its points."""
    import re

    from autograder import course
    from autograder.example_classes.submissions import test_cells

    checked = 0
    for assignment in ("residual_networks", "resnet_cifar"):
        for grade_id, points, source in test_cells(course.source_nb(assignment)):
            if grade_id.removeprefix("test_").removesuffix("_hidden") in NUMBER_QUESTIONS:  # nothing to penalize
                assert "score(" not in source
                continue
            lines = [ln for ln in source.strip().splitlines() if ln.strip() and not ln.startswith("###")]
            m = re.fullmatch(r"grading(?:_cifar)?\.score\(points=(\d+(?:\.\d+)?)\)(?:  #.*)?", lines[-1])
            assert m and float(m.group(1)) == points, (assignment, grade_id, lines[-1])
            checked += 1
    assert checked == 12
