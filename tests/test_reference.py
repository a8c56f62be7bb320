"""The stored reference data: complete, and ResNet50 matches keras.applications."""

import json

import keras

from autograder.course import SOURCE_NB
from autograder.submissions import read
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
    assert len(ref) == n_calls == 9
    kinds = sorted(k.split("|")[0] for k in ref)
    assert kinds == ["ResNet50"] * 3 + ["convolutional_block"] * 3 + ["identity_block"] * 3


def test_reference_file_is_plain_json_with_summaries_and_outputs():
    data = json.loads(grading.REFERENCE_FILE.read_text())
    for key, case in data.items():
        assert case["summary"][0]["kind"] == "InputLayer", key
        assert case["outputs"], key
