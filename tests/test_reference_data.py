"""The stored reference data: complete, and ResNet50 matches keras.applications."""

import json

import keras

from autograder.course import SOURCE_NB
from autograder.notebooks import read
from resnet_utils import grading
from resnet_utils.summary import count_params


def test_resnet50_parameter_parity_with_keras_applications(solution):
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3))
    head = 2048 * 6 + 6
    ours = count_params(solution["ResNet50"]())
    assert ours == {"total": 23_600_006, "trainable": 23_546_886, "non_trainable": 53_120}
    assert ours["total"] == base.count_params() + head
    assert ours["non_trainable"] == count_params(base)["non_trainable"]
    stored = grading.load_reference()['ResNet50|{"classes": 6, "input_shape": [64, 64, 3]}']
    assert stored["params"] == ours


def test_every_check_in_the_notebook_has_a_recorded_case():
    import re

    calls = [c.source for c in read(SOURCE_NB).cells if "check_" in c.source]
    n_calls = sum(len(re.findall(r"check_\w+\(", s)) for s in calls)
    ref = grading.load_reference()
    assert len(ref) == n_calls == 9 + 5 + 4
    kinds = sorted(k.split("|")[0] for k in ref)
    assert kinds == (["ResNet50"] * 3 + ["block_parameters"] * 5 + ["convolutional_block"] * 3
                     + ["identity_block"] * 3 + ["resnet50_shapes"] * 4)


def test_reference_file_is_plain_json_with_summaries_and_outputs():
    data = json.loads(grading.REFERENCE_FILE.read_text())
    for key, case in data.items():
        if key.startswith(("block_parameters|", "resnet50_shapes|")):  # questions: answers, no network
            assert set(case) == {"answer", "extra"} and case["answer"], key
            continue
        assert case["summary"][0]["kind"] == "InputLayer", key
        assert case["outputs"], key


def test_resnet50_cases_record_the_block_calls_of_the_stage_table():
    ref = grading.load_reference()
    for key, case in ref.items():
        if not key.startswith("ResNet50|"):
            continue
        calls = case["calls"]
        assert [c["function"] for c in calls].count("convolutional_block") == 4, key
        assert [(c["stage"], c["block"]) for c in calls] == (
            [("2", b) for b in "abc"] + [("3", b) for b in "abcd"] + [("4", b) for b in "abcdef"]
            + [("5", b) for b in "abc"]), key
        assert [c.get("s") for c in calls if c["function"] == "convolutional_block"] == [1, 2, 2, 2], key
        assert {c["initializer"] for c in calls} == {"default"}, key
        # with stand-ins the model is stage 1, one layer per block, and the head
        kinds = [e["kind"] for e in case["stand_ins"]["summary"]]
        assert kinds.count("identity_block") == 12 and kinds.count("convolutional_block") == 4, key
