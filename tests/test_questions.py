"""The questions that ask for numbers worked out by hand (resnet_utils/questions.py): the engine,
the reference answers against what Keras says, and the message of each usual mistake."""

import json

import numpy as np
import pytest

from autograder import course
from autograder.example_classes.submissions import load_functions, solution_sources
from resnet_utils import grading, questions

A1 = ("block_parameters", "resnet50_shapes")
A2 = ("stack_shapes", "parameter_count")
QUESTIONS = {q.function: q for q in (questions.BLOCK_PARAMETERS, questions.RESNET50_SHAPES,
                                     questions.STACK_SHAPES, questions.PARAMETER_COUNT)}
#: the first visible case of each question (as in the notebooks' test cells)
VISIBLE = {"block_parameters": {"n_C_prev": 256, "f": 3, "filters": [64, 64, 256], "projection": False},
           "resnet50_shapes": {"input_shape": (96, 96, 3)},
           "stack_shapes": {"input_shape": (33, 33, 3), "version": 2},
           "parameter_count": {"version": 1, "depth": 14, "num_classes": 10}}
CHECKS = {"block_parameters": questions.check_block_parameters, "resnet50_shapes": questions.check_resnet50_shapes,
          "stack_shapes": questions.check_stack_shapes, "parameter_count": questions.check_parameter_count}


@pytest.fixture(scope="module")
def answers():
    """The source notebooks' solution functions of the four questions (and the networks they describe)."""
    first = load_functions(solution_sources(course.SOURCE_NB))
    cifar_nb = course.source_nb("resnet_cifar")
    second = load_functions(solution_sources(cifar_nb), cifar_nb)
    return {name: (first if name in A1 else second)[name] for name in A1 + A2}


def _cases(function: str) -> list[dict]:
    """Every recorded case of ``function`` (visible and hidden), as the arguments of its call."""
    reference = grading.load_reference(QUESTIONS[function].reference_file)
    return [json.loads(key.split("|", 1)[1]) for key in reference if key.split("|", 1)[0] == function]


# ----------------------------------------------------------------------------- the engine


def test_plain_turns_equivalent_answers_into_the_same_data():
    assert questions.plain(((15, 15, np.int64(64)), [8.0, 8, 512])) == [[15, 15, 64], [8, 8, 512]]
    assert questions.plain({"main_path": np.int32(3), "shortcut": 0.0}) == {"main_path": 3, "shortcut": 0}
    assert questions.plain(np.array([2, 3])) == [2, 3]
    assert questions.plain(7.5) == 7.5 and questions.plain(True) is True


def test_first_difference_names_the_place_and_kind():
    want = [[15, 15, 64], [15, 15, 256]]
    assert questions.first_difference([[15, 15, 64], [15, 15, 256]], want) is None
    assert questions.first_difference([[15, 15, 64], [15, 14, 256]], want) == ((1, 1), "value")
    assert questions.first_difference([[15, 15, 64]], want) == ((), "length")
    assert questions.first_difference([[15, 15, 64], [15, 15, 7.5]], want) == ((1, 2), "form")
    assert questions.first_difference({"a": 1}, {"a": 1, "b": 2}) == ((), "keys")
    assert questions.first_difference(3, {"a": 1}) == ((), "form")


def test_no_layers_refuses_a_layer_and_puts_layers_back():
    import keras

    with pytest.raises(questions.LayerBuilt, match="Dense"):
        with questions.no_layers():
            keras.layers.Dense(2)
    assert keras.layers.Dense(2).units == 2


def test_the_arguments_are_passed_by_position_with_the_input_shape_a_tuple():
    assert questions.arguments({"input_shape": [33, 33, 3], "version": 2}) == ((33, 33, 3), 2)


# ----------------------------------------------------------------------------- the reference answers


@pytest.mark.parametrize("function", A1 + A2)
def test_the_solution_passes_every_recorded_case_visible_and_hidden(answers, function, capsys):
    cases = _cases(function)
    assert len(cases) >= 4, "a question has visible and hidden cases"
    for params in cases:
        CHECKS[function](answers[function], **params)
    assert capsys.readouterr().out.count("✓") == len(cases)


@pytest.mark.parametrize("function", A1 + A2)
def test_each_reference_answer_is_what_keras_gives_for_the_solution_network(answers, function):
    question = QUESTIONS[function]
    reference = grading.load_reference(question.reference_file)
    for params in _cases(function):
        truth, extra = question.truth(answers[function], params)
        stored = reference[grading.case_key(function, params)]
        assert questions.plain(truth) == stored["answer"], params
        assert extra == stored["extra"], params


def test_recording_refuses_a_solution_that_disagrees_with_its_network(answers, tmp_path, monkeypatch):
    monkeypatch.setenv(grading.RECORD_ENV, str(tmp_path / "ref.json"))
    namespace = dict(answers["resnet50_shapes"].__globals__)  # the solution's ResNet50 is the truth
    exec("def resnet50_shapes(input_shape):\n    return [(1, 1, 1)] * 6\n", namespace)
    with pytest.raises(RuntimeError, match="its network gives"):
        questions.check_resnet50_shapes(namespace["resnet50_shapes"], (96, 96, 3))
    assert not (tmp_path / "ref.json").exists()


# ----------------------------------------------------------------------------- mistakes and their messages


def _variant(answers, function: str, body: str):
    """A student's version of ``function``: ``body`` may call the solution as ``solution``."""
    namespace = {"solution": answers[function], "np": np}
    exec(body, namespace)
    return namespace[function]


def _message(function: str, fn) -> str:
    with pytest.raises(grading.GradingError) as err:
        CHECKS[function](fn, **VISIBLE[function])
    return str(err.value)


MISTAKES = [
    ("block_parameters", "def block_parameters(n, f, filters, projection):\n"
     "    r = solution(n, f, filters, projection)\n    return {'main_path': r['main_path'] - sum(filters), "
     "'shortcut': r['shortcut']}\n", "block_parameters.bias", "the main path's count is 71168, expected 71552"),
    ("block_parameters", "def block_parameters(n, f, filters, projection):\n"
     "    r = solution(n, f, filters, projection)\n    return {'main_path': r['main_path'] - 2 * sum(filters), "
     "'shortcut': r['shortcut']}\n", "block_parameters.batchnorm", "4 parameters per channel"),
    ("block_parameters", "def block_parameters(n, f, filters, projection):\n"
     "    r = solution(n, f, filters, projection)\n    return {'main_path': r['main_path'], 'shortcut': 1}\n",
     "block_parameters.identity_shortcut", "an identity shortcut adds X itself"),
    ("block_parameters", "def block_parameters(n, f, filters, projection):\n"
     "    return solution(n, f, filters, projection)['main_path']\n",
     "block_parameters.form", "expected a dict {'main_path': int, 'shortcut': int}"),
    ("resnet50_shapes", "def resnet50_shapes(input_shape):\n"
     "    return [(h + 1, w + 1, c) for h, w, c in solution(input_shape)]\n",
     "resnet50_shapes.stem", "the height of stage 1 (after the max pool) is 24, expected 23"),
    ("resnet50_shapes", "def resnet50_shapes(input_shape):\n"
     "    s = solution(input_shape)\n    return s[:1] + [(s[0][0], s[0][1], 64)] + s[2:]\n",
     "resnet50_shapes.channels", "the channels of stage 2 is 64, expected 256"),
    ("resnet50_shapes", "def resnet50_shapes(input_shape):\n"
     "    s = solution(input_shape)\n    return s[:2] + [(s[1][0] // 2, s[1][1] // 2, 512)] + s[3:]\n",
     "resnet50_shapes.stride", "an odd size rounds up"),
    ("resnet50_shapes", "def resnet50_shapes(input_shape):\n"
     "    s = solution(input_shape)\n    return s[:5] + [(-(-s[4][0] // 2), -(-s[4][1] // 2), 2048)]\n",
     "resnet50_shapes.avg_pool", "⌊n/2⌋"),
    ("resnet50_shapes", "def resnet50_shapes(input_shape):\n    import keras\n"
     "    keras.Input(input_shape)\n    return solution(input_shape)\n",
     "resnet50_shapes.builds_layers", "it created a Keras layer (InputLayer)"),
    ("stack_shapes", "def stack_shapes(input_shape, version):\n"
     "    s = solution(input_shape, 1)\n    return s\n", "stack_shapes.channels", "4 × num_filters_in"),
    ("stack_shapes", "def stack_shapes(input_shape, version):\n"
     "    s = solution(input_shape, version)\n    return [s[0]] + [(h - h % 2, w - w % 2, c) for h, w, c in s[1:]]\n",
     "stack_shapes.stride", "gives ⌈n/2⌉ whatever the window"),
    ("parameter_count", "def parameter_count(version, depth, num_classes=10):\n"
     "    r = solution(version, depth, num_classes)\n    return {'trainable': r['trainable'] + r['non_trainable'], "
     "'non_trainable': 0}\n", "parameter_count.batchnorm", "only γ and β of BatchNormalization are trainable"),
    ("parameter_count", "def parameter_count(version, depth, num_classes=10):\n"
     "    r = solution(version, depth, num_classes)\n    return {'trainable': r['trainable'], 'non_trainable': 0}\n",
     "parameter_count.non_trainable", "moving mean and variance"),
    ("parameter_count", "def parameter_count(version, depth, num_classes=10):\n"
     "    r = solution(version, depth, num_classes)\n    return {'trainable': r['trainable'] - 2656, "
     "'non_trainable': r['non_trainable']}\n", "parameter_count.projection", "1×1 projection shortcut"),
]


@pytest.mark.parametrize("function, body, code, phrase", MISTAKES, ids=[f"{m[0]}-{m[2].split('.')[1]}" for m in MISTAKES])
def test_a_usual_mistake_gets_its_code_and_a_message_that_names_it(answers, function, body, code, phrase):
    message = _message(function, _variant(answers, function, body))
    assert message.endswith(f"(mistake code: {code})"), message
    assert phrase in message, message


EQUIVALENT = [
    ("block_parameters", "def block_parameters(c, window, fs, projected):\n"
     "    r = solution(c, window, fs, projected)\n    return {'shortcut': np.int64(r['shortcut']), "
     "'main_path': float(r['main_path'])}\n"),
    ("resnet50_shapes", "def resnet50_shapes(shape):\n    return tuple(list(s) for s in solution(shape))\n"),
    ("stack_shapes", "def stack_shapes(shape, v):\n    return np.array(solution(shape, v))\n"),
    ("parameter_count", "def parameter_count(v, d, k):\n    return dict(reversed(list(solution(v, d, k).items())))\n"),
]


@pytest.mark.parametrize("function, body", EQUIVALENT, ids=[e[0] for e in EQUIVALENT])
def test_an_equivalent_answer_in_another_form_passes(answers, function, body, capsys):
    CHECKS[function](_variant(answers, function, body), **VISIBLE[function])
    assert "✓" in capsys.readouterr().out


def test_an_answer_that_raises_names_the_error(answers):
    fn = _variant(answers, "stack_shapes", "def stack_shapes(input_shape, version):\n    return 1 / 0\n")
    message = _message("stack_shapes", fn)
    assert "raised ZeroDivisionError" in message and message.endswith("(mistake code: stack_shapes.raised_ZeroDivisionError)")
