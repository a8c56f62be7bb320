"""The checks of the questions that ask for numbers worked out by hand: shapes and parameter counts.

A question is a function the student writes that returns plain numbers (an int, a list or
tuple of ints, a dict of those), such as the output shape of every stage of ResNet50 for a
new input size. Its check calls it with each case's arguments and compares the answer with
the reference answer, recorded from the source notebook's solution like every other check
(:mod:`resnet_utils.reference`); the hidden tests ask for other cases. A difference is named
by its place (``stage 3's width``) with a hint about its usual cause and a mistake code.

The function must work the answer out, not build a network: while it runs, creating a Keras
layer raises (:func:`no_layers`). A network built there from the student's own functions
would carry their mistakes into this exercise, and a mistake must cost points once.

When recording, a check also verifies the solution's answer against the network that the
solution's functions build (``truth``), so a reference answer is what Keras itself says.

Test cells reload this module (``reload(questions).check_...``); it reloads
:mod:`resnet_utils.grading`, :mod:`resnet_utils.grading_cifar` and :mod:`resnet_utils.summary`.
"""

from __future__ import annotations

import contextlib
import importlib
import numbers
import os

from . import grading as _grading
from . import grading_cifar as _grading_cifar
from . import summary as _summary

_grading_cifar = importlib.reload(_grading_cifar)  # reloads grading and summary too (same module objects)

GradingError = _grading.GradingError


# ----------------------------------------------------------------------------- the engine


class LayerBuilt(RuntimeError):
    """A question's function created a Keras layer (see :func:`no_layers`)."""


@contextlib.contextmanager
def no_layers():
    """While in this block, creating any Keras layer (``keras.Input`` included) raises :class:`LayerBuilt`."""
    import keras

    original = keras.layers.Layer.__init__

    def refuse(self, *args, **kwargs):
        raise LayerBuilt(type(self).__name__)

    keras.layers.Layer.__init__ = refuse
    try:
        yield
    finally:
        keras.layers.Layer.__init__ = original


def plain(value):
    """``value`` as JSON-like data: tuples, lists, TensorShapes and arrays become lists, numpy and
    integral float numbers ints, mapping keys strings; anything else is returned as it is."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and float(value).is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if hasattr(value, "as_list"):  # a TensorShape
        value = value.as_list()
    if hasattr(value, "tolist") and not isinstance(value, numbers.Number):  # a numpy array
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def first_difference(got, want, path: tuple = ()):
    """The first place where the plain answer ``got`` differs from ``want``: ``(path, kind)`` with
    kind ``"form"`` (not a list/dict/int where one is expected), ``"length"``, ``"keys"`` or
    ``"value"``; None when they are equal."""
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return path, "form"
        if set(got) != set(want):
            return path, "keys"
        for key in want:
            found = first_difference(got[key], want[key], path + (key,))
            if found:
                return found
        return None
    if isinstance(want, list):
        if not isinstance(got, list):
            return path, "form"
        if len(got) != len(want):
            return path, "length"
        for i, (g, w) in enumerate(zip(got, want)):
            found = first_difference(g, w, path + (i,))
            if found:
                return found
        return None
    if isinstance(got, bool) or not isinstance(got, int):
        return path, "form"
    return None if got == want else (path, "value")


def at(data, path: tuple):
    """The item of nested ``data`` at ``path``."""
    for key in path:
        data = data[key]
    return data


def compact(value) -> str:
    """An answer as short text: lists of shapes as ``[(15, 15, 64), ...]``."""
    if isinstance(value, list):
        inner = ", ".join(compact(v) for v in value)
        return f"({inner})" if value and all(isinstance(v, int) for v in value) else f"[{inner}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {compact(v)}" for k, v in value.items()) + "}"
    return repr(value)


def arguments(params: dict) -> tuple:
    """A case's arguments in the order of the specification's signature (any parameter names are
    fine); an ``input_shape`` is passed as a tuple, as Keras takes it."""
    return tuple(tuple(v) if k == "input_shape" else v for k, v in params.items())


def call_without_layers(fn, what: str, params: dict):
    """``fn(*arguments(params))`` with layer creation refused; an error becomes a :class:`GradingError`."""
    __tracebackhide__ = True
    try:
        with no_layers():
            return _grading.call_student(fn, what, *arguments(params))
    except _grading.GradingError as err:  # looked up now: a reload of grading makes a new class
        if isinstance(err.__cause__, LayerBuilt):
            _grading.fail_check(what, f"it created a Keras layer ({err.__cause__}). Work the answer out "
                                "from the specification (sizes, windows, strides, filters) instead of "
                                "building a network: a network built from your own functions would carry "
                                "their mistakes into this exercise.", "builds_layers")
        raise


class Question:
    """One question: how to call it, the form of its answer, and how to explain a difference.

    ``form`` describes the answer (said when it has the wrong form); ``label(path, params)``
    names an item (``"stage 3's width"``); ``explain(path, got, want, params, extra)`` returns
    ``(hint, code)`` for a wrong value, where ``extra`` is what the recording stored beside the
    answer; ``truth(fn, params)``, when given, returns the answer that Keras gives for the
    solution's network (recording checks the solution's answer against it) and the extra data.
    ``keys``: the order in which a dict answer's entries are compared (the first difference is named).
    """

    def __init__(self, function: str, reference_file, form: str, label, explain, truth=None, keys=()):
        self.function, self.reference_file, self.form = function, reference_file, form
        self.label, self.explain, self.truth, self.keys = label, explain, truth, tuple(keys)

    def call_text(self, params: dict) -> str:
        return f"{self.function}({', '.join(f'{k}={v!r}' for k, v in zip(params, arguments(params)))})"

    def check(self, fn, params: dict) -> None:
        """Check ``fn`` on one case; print one line when it passes, raise :class:`GradingError` else."""
        __tracebackhide__ = True
        _grading.verify_environment()
        what = self.call_text(params)
        key = _grading.case_key(self.function, params)
        got = plain(call_without_layers(fn, what, params))
        if os.environ.get(_grading.RECORD_ENV):
            self.record(fn, key, params, got)
            return
        expected = self.expected(key, params)
        self.compare(what, got, expected, params)
        print(f"✓ {what} = {compact(got)} matches the reference.")

    def record(self, fn, key: str, params: dict, got) -> None:
        extra = {}
        if self.truth is not None:
            truth, extra = self.truth(fn, params)
            if plain(truth) != got:
                raise RuntimeError(f"the solution's {self.call_text(params)} = {got}, but its network "
                                   f"gives {plain(truth)}: fix the solution before recording")
        _grading.record_case(key, {"answer": got, "extra": extra})

    def expected(self, key: str, params: dict) -> dict:
        ref = _grading.load_reference(self.reference_file)
        if key not in ref:
            raise _grading.GradingError(f"no reference data for {self.call_text(params)}: the test asks for a case "
                               "that was never recorded. Instructors: run `make reference`.",
                               code="environment.reference_case_missing")
        return ref[key]

    def compare(self, what: str, got, expected: dict, params: dict) -> None:
        __tracebackhide__ = True
        want = expected["answer"]
        if isinstance(want, dict):  # compared in the order of self.keys, the rest after
            want = {**{k: want[k] for k in self.keys if k in want}, **want}
        found = first_difference(got, want)
        if found is None:
            return
        path, kind = found
        if kind != "value":
            _grading.fail_check(what, f"it returned {compact(got)}; expected {self.form}.", "form")
        hint, code = self.explain(path, at(got, path), at(want, path), params, expected.get("extra", {}))
        _grading.fail_check(what, f"it returned {compact(got)}: {self.label(path, params)} is "
                            f"{at(got, path)}, expected {at(want, path)}.\nHint: {hint}", code)


def _layer_params(model, match) -> int:
    """The parameters (count_params) of the layers of ``model`` whose name ``match`` accepts."""
    return sum(int(layer.count_params()) for layer in model.layers if match(layer.name))


def _channels(model, kind: str) -> int:
    """The output channels of ``model``'s layers of class ``kind``, added up."""
    return sum(int(layer.output.shape[-1]) for layer in model.layers if type(layer).__name__ == kind)


# ----------------------------------------------------------------------------- assignment 1

_BATCHNORM = ("a BatchNormalization layer has 4 parameters per channel: γ and β, which training "
              "updates, and the moving mean and variance, which it does not; count_params counts all four")
_BIAS = "every Conv2D keeps its bias (use_bias=True, Keras's default): one per filter"
_SEE_SUMMARY = ("To see each layer's count, build a block with your own function on a small input and "
                "read `keras.Model(x, block_output).summary()`.")


def _block_truth(fn, params):
    """The solution's block on an 8×8 input: its main path's and its shortcut's parameters."""
    import keras

    block = fn.__globals__["convolutional_block" if params["projection"] else "identity_block"]
    x = keras.Input((8, 8, params["n_C_prev"]))
    model = keras.Model(x, block(x, params["f"], params["filters"], stage=1, block="a"))
    shortcut = _layer_params(model, lambda name: name.endswith("_branch1"))
    return {"main_path": model.count_params() - shortcut, "shortcut": shortcut}, {}


def _block_label(path, params) -> str:
    return f"the {path[0].replace('_', ' ')}'s count"


def _block_explain(path, got, want, params, extra):
    gap, filters = want - got, params["filters"]
    channels = sum(filters) if path[0] == "main_path" else filters[2]
    if path[0] == "shortcut" and not params["projection"]:
        return "an identity shortcut adds X itself: no layer, no parameter.", "identity_shortcut"
    if path[0] == "shortcut" and got == 0:
        return ("the projection shortcut is a 1×1 Conv2D (F3 filters, stride s) followed by a "
                "BatchNormalization: both have parameters.", "projection")
    causes = {channels: (_BIAS, "bias"), 2 * channels: (_BATCHNORM, "batchnorm"),
              3 * channels: (f"{_BIAS}; and {_BATCHNORM}", "bias_and_batchnorm"),
              -2 * channels: (_BATCHNORM + " (2 of them are not trainable, but they are parameters)",
                              "batchnorm")}
    if gap in causes:
        hint, code = causes[gap]
        return f"{hint}.", code
    where = ("three convolutions (1×1, f×f, 1×1) and their three BatchNormalizations"
             if path[0] == "main_path" else "1×1 convolution and its BatchNormalization (a stride changes no count)")
    return (f"count the {where}: a Conv2D has window × window × input channels × filters weights plus a "
            f"bias per filter; {_BATCHNORM}. {_SEE_SUMMARY}", path[0])


BLOCK_PARAMETERS = Question(
    "block_parameters", _grading.REFERENCE_FILE,
    "a dict {'main_path': int, 'shortcut': int}: the parameters of the block's main path and of its shortcut",
    _block_label, _block_explain, _block_truth, keys=("main_path", "shortcut"))

_STAGES = ("stage 1 (after the max pool)", "stage 2", "stage 3", "stage 4", "stage 5", "the average pool")
_DIMS = ("height", "width", "channels")
_VALID = "a window f with stride s and padding='valid' turns a size n into ⌊(n − f)/s⌋ + 1"


def _resnet50_truth(fn, params):
    """The output shapes of the stages and of the average pool of the solution's ResNet50."""
    model = fn.__globals__["ResNet50"](input_shape=tuple(params["input_shape"]), classes=6)
    rows = {row["stage"]: row["output_shape"] for row in _summary.stage_summary(model)}
    pool = tuple(model.get_layer("avg_pool").output.shape[1:])
    return [list(rows[s]) for s in "12345"] + [list(pool)], {}


def shape_labels(items):
    """The ``label`` of a question whose answer is a list of shapes, the i-th named ``items[i]``:
    ``"the width of stage 3"``."""
    def label(path, params) -> str:
        return f"the {_DIMS[path[1]]} of {items[path[0]]}" if len(path) == 2 else items[path[0]]
    return label


def _resnet50_explain(path, got, want, params, extra):
    row, dim = path  # row 0 is stage 1, row 5 the average pool
    if dim == 2:
        return ("a stage's output has its blocks' F3 channels (256, 512, 1024, 2048 in stages 2 to 5); stage 1 "
                "has conv1's 64, and pooling keeps the channels.", "channels")
    if row == 0:
        return (f"ZeroPadding2D((3, 3)) adds 3 rows and columns on each side; then the 7×7 convolution "
                f"(stride 2) and the 3×3 max pool (stride 2) use padding='valid': {_VALID}.", "stem")
    if row == 1:
        return ("stage 2's convolutional block has s=1, and its f×f convolutions use padding='same': stage 2 "
                "keeps the height and width of stage 1.", "stage2")
    if row < 5:
        return ("stages 3 to 5 start with a convolutional block whose first 1×1 convolution and shortcut have "
                f"stride 2 and padding='valid' ({_VALID}: an odd size rounds up); the f×f convolutions "
                "('same', stride 1) and the identity blocks keep the size.", "stride")
    return ("AveragePooling2D(pool_size=(2, 2)) has strides equal to its pool size and padding='valid': "
            "⌊n/2⌋.", "avg_pool")


RESNET50_SHAPES = Question(
    "resnet50_shapes", _grading.REFERENCE_FILE,
    "a list of 6 shapes (height, width, channels): stages 1 to 5, then the average pool",
    shape_labels(_STAGES), _resnet50_explain, _resnet50_truth)


def check_block_parameters(block_parameters, n_C_prev, f, filters, projection) -> None:
    """Check ``block_parameters(n_C_prev, f, filters, projection)`` on these arguments."""
    __tracebackhide__ = True
    BLOCK_PARAMETERS.check(block_parameters, {"n_C_prev": n_C_prev, "f": f, "filters": plain(filters),
                                              "projection": projection})


def check_resnet50_shapes(resnet50_shapes, input_shape) -> None:
    """Check ``resnet50_shapes(input_shape)`` on this input shape."""
    __tracebackhide__ = True
    RESNET50_SHAPES.check(resnet50_shapes, {"input_shape": plain(input_shape)})


# ----------------------------------------------------------------------------- assignment 2

_SMALLEST = {1: 8, 2: 11}


def _network(fn, version: int, depth: int, input_shape=(32, 32, 3), num_classes: int = 10):
    """The solution's ResNet of ``version`` (1 or 2), from the notebook of ``fn``."""
    return fn.__globals__[f"resnet_v{version}"](input_shape=tuple(input_shape), depth=depth,
                                                 num_classes=num_classes)


def _stack_truth(fn, params):
    """The output shape of each stack of the solution's smallest network of that version."""
    model = _network(fn, params["version"], _SMALLEST[params["version"]], params["input_shape"])
    last = "out" if params["version"] == 1 else "add"
    return [list(model.get_layer(f"stack{s}_block1_{last}").output.shape[1:]) for s in (1, 2, 3)], {}


def _stack_explain(path, got, want, params, extra):
    stack, dim = path
    if dim == 2:
        if params["version"] == 1:
            return "v1's stacks have 16, 32 and 64 filters (num_filters doubles at each new stack).", "channels"
        return ("a v2 unit ends with a 1×1 convolution of num_filters_out = 4 × num_filters_in channels: "
                "64, 128 and 256 in stacks 1 to 3.", "channels")
    if stack == 0:
        return ("stack 1 has stride 1, and the stem and every convolution use padding='same': stack 1 keeps "
                "the input's height and width.", "stack1")
    return ("stacks 2 and 3 start with a stride-2 convolution (and projection) with padding='same', which "
            "gives ⌈n/2⌉ whatever the window: an odd size rounds up.", "stride")


STACK_SHAPES = Question(
    "stack_shapes", _grading_cifar.REFERENCE_FILE,
    "a list of 3 shapes (height, width, channels), one per stack",
    shape_labels(("stack 1", "stack 2", "stack 3")), _stack_explain, _stack_truth)


def _count_truth(fn, params):
    """The parameter counts of the solution's network, and the tallies that explain a difference."""
    model = _network(fn, params["version"], params["depth"], num_classes=params["num_classes"])
    counts = _summary.count_params(model)
    extra = {"conv_biases": _channels(model, "Conv2D"), "batchnorm_channels": _channels(model, "BatchNormalization"),
             "projections": _layer_params(model, lambda name: name.endswith("_shortcut_conv")),
             "head": _layer_params(model, lambda name: name == "predictions")}
    return {"trainable": counts["trainable"], "non_trainable": counts["non_trainable"]}, extra


def _count_label(path, params) -> str:
    return f"the {path[0].replace('_', '-')} count"


def _count_explain(path, got, want, params, extra):
    gap, channels = want - got, extra.get("batchnorm_channels", 0)
    if path[0] == "non_trainable":
        return ("the non-trainable parameters are BatchNormalization's moving mean and variance, 2 per channel "
                "of every BatchNormalization (γ and β are trained).", "non_trainable")
    causes = {extra.get("conv_biases"): (_BIAS, "bias"),
              extra.get("projections"): ("the first unit of a stack that changes the shape has a 1×1 projection "
                                         "shortcut (in v2 every stack's first unit, stack 1 included, since "
                                         "16 channels become 64)", "projection"),
              extra.get("head"): ("the Dense head has (flattened channels + 1) × num_classes parameters",
                                  "head"),
              -2 * channels: ("only γ and β of BatchNormalization are trainable (2 per channel); the moving "
                              "mean and variance are not", "batchnorm"),
              2 * channels: ("each BatchNormalization has 2 trainable parameters per channel (γ and β)",
                             "batchnorm")}
    if gap in causes and gap:
        hint, code = causes[gap]
        return f"{hint}.", code
    return ("count layer by layer: the stem, each unit's convolutions (window × window × input channels × "
            "filters, plus one bias per filter) and BatchNormalizations, the projections, v2's final "
            "BatchNormalization, and the Dense head; the l2 regularizer adds no parameter. Compare with "
            "`model.summary()` of a network you build.", "trainable")


PARAMETER_COUNT = Question(
    "parameter_count", _grading_cifar.REFERENCE_FILE,
    "a dict {'trainable': int, 'non_trainable': int}",
    _count_label, _count_explain, _count_truth, keys=("trainable", "non_trainable"))


def check_stack_shapes(stack_shapes, input_shape, version) -> None:
    """Check ``stack_shapes(input_shape, version)`` on these arguments."""
    __tracebackhide__ = True
    STACK_SHAPES.check(stack_shapes, {"input_shape": plain(input_shape), "version": version})


def check_parameter_count(parameter_count, version, depth, num_classes) -> None:
    """Check ``parameter_count(version, depth, num_classes)`` on these arguments."""
    __tracebackhide__ = True
    PARAMETER_COUNT.check(parameter_count, {"version": version, "depth": depth, "num_classes": num_classes})
