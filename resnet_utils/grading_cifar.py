"""The checks behind the test cells of the "ResNet v1 and v2 for CIFAR-10" assignment.

The machinery is :mod:`resnet_utils.grading`'s (imported, not copied): every check builds the
student's function on fixed arguments, compares its structure layer by layer with data
stored in ``resnet_utils/reference/resnet_cifar.json`` (recorded once from the source
notebook's solution by ``python -m resnet_utils.reference resnet_cifar``, never at grading
time), then its outputs with BatchNorm in inference and in training mode. A failed check
raises :class:`grading.GradingError` whose message names the first difference and hints at
its cause; a passed check prints one line.

The networks of this assignment take no initializer argument (``'he_normal'`` is part of
the specification), so before comparing outputs every weight is overwritten with values
drawn from the layer's *name* (:func:`set_name_seeded_weights`): the outputs then do not
depend on the order in which the student's code creates the layers.

Test cells reload this module (``reload(grading_cifar).check_...``), which reloads
:mod:`resnet_utils.grading` and :mod:`resnet_utils.summary` too.
"""

from __future__ import annotations

import importlib
import os
import zlib
from pathlib import Path

import numpy as np

from . import grading as _grading
from . import summary as _summary

_grading = importlib.reload(_grading)  # also reloads summary (grading reloads it)

GradingError = _grading.GradingError
REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "resnet_cifar.json"
RECORD_ENV = _grading.RECORD_ENV

#: Hints for this assignment's specification, per configuration key (see summary.first_difference).
HINTS = {
    "padding": "every convolution of resnet_layer uses padding='same'",
    "kernel_size": "the kernel size is resnet_layer's kernel_size argument (3 by default; the "
    "projection shortcuts and v2's bottleneck ends are 1×1)",
    "filters": "the number of filters is resnet_layer's num_filters argument: 16, 32, 64 in "
    "resnet_v1's three stacks; in resnet_v2 the first two layers of a unit have num_filters_in "
    "(16, 64, 128 in stages 1, 2, 3), its last layer and the projection num_filters_out "
    "(64, 128, 256)",
    "strides": "the strides are resnet_layer's strides argument: 2 only for the first "
    "convolution of the first block of stacks 2 and 3, and for its 1×1 projection shortcut",
    "kernel_initializer": "every Conv2D and the output Dense use kernel_initializer='he_normal'",
    "kernel_regularizer": "every Conv2D uses kernel_regularizer=l2(1e-4) (weight decay, "
    "keras.regularizers.l2)",
    "units": "the output layer has num_classes units",
    "activation": "the output layer uses activation='softmax'",
    "pool_size": "the head is AveragePooling2D(pool_size=8), Flatten, Dense",
    "axis": "BatchNormalization() normalises over the channels (the last axis)",
    "name": "name the layers as the naming scheme of the notebook says (resnet_layer(..., "
    "name=prefix) names its layers prefix + '_conv', '_bn' and '_' + activation).",
    "missing:BatchNormalization": "resnet_layer adds BatchNormalization when "
    "batch_normalization=True (every layer except the projection shortcuts and v2's very "
    "first unit's first layer).",
    "extra:BatchNormalization": "The projection shortcuts have no BatchNormalization "
    "(batch_normalization=False), and in v2 nothing follows the addition: BatchNorm and "
    "ReLU come before each convolution of the next unit, and once more before the pooling.",
    "missing:Conv2D": "count the convolutions: a v1 block has two 3×3, a v2 unit three "
    "(1×1, 3×3, 1×1), and the first block of a stage has one more, its 1×1 projection shortcut.",
}

SHAPE_HINT = ("the two inputs of Add have different shapes: the residual branch and the "
              "shortcut must end with the same height, width and channels. At the first block of "
              "a stack that changes them, the shortcut is a 1×1 convolution with the block's "
              "strides and its number of output filters.")



# ----------------------------------------------------------------------------- helpers


def _expected(key: str, function: str, params: dict) -> dict:
    ref = _grading.load_reference(REFERENCE_FILE)
    if key not in ref:
        raise GradingError(
            f"no reference data for {function} with {params}: the test asks for a case that "
            "was never recorded. Instructors: run `python -m resnet_utils.reference resnet_cifar`.",
            code="environment.reference_case_missing"
        )
    return ref[key]


def _regularizer(value) -> str | None:
    """A Conv2D's kernel_regularizer as comparable text: ``L2(l2=0.0001)`` (L1L2 with l1=0 too)."""
    if value is None:
        return None
    cfg = value.get_config() if hasattr(value, "get_config") else {}
    l1, l2 = float(cfg.get("l1", 0.0) or 0.0), float(cfg.get("l2", 0.0) or 0.0)
    if l1 == 0.0 and l2:
        return f"L2(l2={np.float32(l2).item():.6g})"
    return f"{type(value).__name__}(l1={l1:.6g}, l2={l2:.6g})"


def structure(model) -> list[dict]:
    """:func:`summary.layer_summary`, with each Conv2D's kernel_regularizer added."""
    entries = _summary.layer_summary(model)
    layers = {layer.name: layer for layer in model.layers}
    for e in entries:
        if e["kind"] == "Conv2D" and e["name"] in layers:
            e["config"]["kernel_regularizer"] = _regularizer(layers[e["name"]].kernel_regularizer)
    return entries


def _seeded(name: str, shape) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(name.encode())).standard_normal(shape)


def set_name_seeded_weights(model) -> None:
    """Overwrite every weight with values drawn from its layer's and its own name, so that
    they do not depend on the order in which the layers were created.

    Convolution and dense kernels get He-scaled normal values, biases, BatchNorm's beta and
    moving mean small ones, gamma values around 1, the moving variance values in [1, 1.5].
    """
    for layer in model.layers:
        for w in layer.weights:
            shape = tuple(int(d) for d in w.shape)
            short = w.name.split("/")[-1]
            z = _seeded(f"{layer.name}/{short}", shape)
            if short == "gamma":
                value = 1.0 + 0.2 * z
            elif short == "moving_variance":
                value = 1.0 + 0.5 * np.abs(np.tanh(z))
            elif len(shape) >= 2:
                value = z * np.sqrt(2.0 / max(1, int(np.prod(shape[:-1]))))
            else:  # biases, beta, moving mean
                value = 0.1 * z
            w.assign(np.asarray(value, dtype="float32"))


def _what(function: str, params: dict) -> str:
    shown = {k: (tuple(v) if isinstance(v, list) else v) for k, v in params.items()}
    return f"{function}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _check_network(function: str, fn, params: dict, build, checks_first=None) -> None:
    """Build, compare the structure, then the outputs with name-seeded weights."""
    __tracebackhide__ = True
    import keras

    _grading.verify_environment()
    what = _what(function, params)
    key = _grading.case_key(function, params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(key, function, params)
    x = _grading.make_input([2, *params["input_shape"]], seed=1)
    diagnose = None if recording else _config_diagnosis(expected["summary"])
    try:
        out = _grading.call_student(build, what, diagnose=diagnose, shape_hint=SHAPE_HINT)
    except GradingError as err:
        own = getattr(getattr(fn, "__code__", None), "co_names", ("NotImplementedError",))
        if "is not implemented yet" in str(err) and function != "resnet_layer" \
                and "NotImplementedError" not in own:
            raise GradingError(
                f"{what}: your {function} calls resnet_layer, which is not implemented yet (it "
                "raised NotImplementedError): do exercise 1 first, run its cell, then this one.",
                code=f"{function}.resnet_layer_not_implemented") from None
        raise
    model = out if isinstance(out, keras.Model) else None
    if model is None:
        _fail(what, f"returned {type(out).__name__}, expected "
              + ("the layer's output tensor (return x)." if function == "resnet_layer"
                 else "a keras.Model: end with `model = Model(inputs=inputs, outputs=outputs)` "
                      "and `return model`."), "not_a_tensor" if function == "resnet_layer" else "not_a_model")
    summ = structure(model)
    set_name_seeded_weights(model)
    inference = np.asarray(model(x, training=False))
    training = np.asarray(model(x, training=True))
    if recording:
        _grading.record_case(key, {"summary": summ, "params": _summary.count_params(model),
                               "outputs": {"inference": _grading.rounded_list(inference),
                                           "training": _grading.rounded_list(training)}})
        return
    ref = expected["summary"]
    if checks_first is not None:
        message = checks_first(summ, ref)
        if message:
            _fail(what, message, "residual_block_count")
    diff = _summary.first_difference(summ, ref, what=f"your {function}", hints=HINTS)
    if diff:
        _fail(what, diff + _note(function, fn))
    for mode, actual in (("inference mode", inference), ("training mode", training)):
        message = _grading.compare_output(actual, expected["outputs"][mode.split()[0]], mode)
        if message:
            _fail(what, message + _note(function, fn), "outputs_differ")
    counts = expected["params"]
    print(f"✓ {what}: {len(ref)} layers with the right names and settings, "
          f"{counts['total']:,} parameters, outputs match the reference (inference and training mode).")


def _fail(what: str, message: str, code: str | None = None):
    """Raise the check's GradingError with its mistake code (see grading.fail_check)."""
    __tracebackhide__ = True
    _grading.fail_check(what, message, code)


def _config_diagnosis(expected_summary: list[dict]):
    """When building fails: the first named layer built so far whose settings differ."""
    import keras

    def diagnose(tensors):
        entries = {}
        for t in tensors:
            history = getattr(t, "_keras_history", None)
            if history is None:
                continue
            inputs = [n for n in _walk_inputs(history.operation)]
            for inp in inputs:
                try:
                    partial = keras.Model(inp, t)
                except Exception:  # noqa: BLE001 - a tensor from another input
                    continue
                for e in structure(partial):
                    entries.setdefault(e["name"], e)
                break
        return _summary.config_difference(list(entries.values()), expected_summary, hints=HINTS)

    return diagnose


def _walk_inputs(op):
    """The input tensors of the graph that produced ``op``."""
    seen, stack, found = set(), [op], []
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if type(layer).__name__ == "InputLayer":
            found.append(layer.output)
            continue
        stack.extend(_summary.inputs_of(layer))
    return found


def _note(function: str, fn) -> str:
    """For v1/v2: a note when the notebook's resnet_layer itself fails its visible test."""
    import contextlib
    import io

    if function == "resnet_layer":
        return ""
    namespace = getattr(fn, "__globals__", None)
    layer_fn = namespace.get("resnet_layer") if isinstance(namespace, dict) else None
    if layer_fn is None:
        return ""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check_resnet_layer(layer_fn)
    except GradingError:
        return ("\nNote: your resnet_layer fails its own tests (exercise 1), and "
                f"{function} is built from it: fix exercise 1 first.")
    return ""


# ----------------------------------------------------------------------------- exercise 1


def check_resnet_layer(resnet_layer, input_shape=(8, 8, 3), num_filters=4, kernel_size=3,
                       strides=1, activation="relu", batch_normalization=True, conv_first=True,
                       name="test") -> None:
    """Check ``resnet_layer`` with these arguments on a batch of 2 inputs of ``input_shape``."""
    __tracebackhide__ = True
    params = {"input_shape": list(input_shape), "num_filters": num_filters,
              "kernel_size": kernel_size, "strides": strides, "activation": activation,
              "batch_normalization": batch_normalization, "conv_first": conv_first, "name": name}

    def build():
        import keras

        inputs = keras.Input(shape=tuple(input_shape))
        out = resnet_layer(inputs, num_filters=num_filters, kernel_size=kernel_size,
                           strides=strides, activation=activation,
                           batch_normalization=batch_normalization, conv_first=conv_first,
                           name=name)
        if not isinstance(out, keras.KerasTensor):
            return out
        return keras.Model(inputs, out)

    _check_network("resnet_layer", resnet_layer, params, build)


# ----------------------------------------------------------------------------- exercises 2, 3


def _blocks_check(function: str, depth: int):
    per_block, rule = (6, "6n+2") if function == "resnet_v1" else (9, "9n+2")
    unit = "blocks" if function == "resnet_v1" else "units"

    def check(actual, expected):
        n_act = sum(e["kind"] == "Add" for e in actual)
        n_exp = sum(e["kind"] == "Add" for e in expected)
        if n_act != n_exp:
            return (f"your {function}(depth={depth}) has {n_act} residual {unit} (Add layers), "
                    f"expected {n_exp}: 3 stages of (depth - 2) / {per_block} = {n_exp // 3} {unit} "
                    f"each (depth = {rule}).")
        return None

    return check


def _check_resnet(function: str, fn, input_shape, depth: int, num_classes: int) -> None:
    """Check ``resnet_v1`` or ``resnet_v2`` for one input shape, depth and number of classes."""
    __tracebackhide__ = True
    params = {"input_shape": list(input_shape), "depth": depth, "num_classes": num_classes}
    _check_network(function, fn, params,
                   lambda: fn(input_shape=tuple(input_shape), depth=depth, num_classes=num_classes),
                   checks_first=_blocks_check(function, depth))


def check_resnet_v1(resnet_v1, input_shape=(32, 32, 3), depth=14, num_classes=10) -> None:
    """Check ``resnet_v1`` for one input shape, depth and number of classes."""
    __tracebackhide__ = True
    _check_resnet("resnet_v1", resnet_v1, input_shape, depth, num_classes)


def check_resnet_v2(resnet_v2, input_shape=(32, 32, 3), depth=20, num_classes=10) -> None:
    """Check ``resnet_v2`` for one input shape, depth and number of classes."""
    __tracebackhide__ = True
    _check_resnet("resnet_v2", resnet_v2, input_shape, depth, num_classes)


def check_depth_error(function, depth: int, rule: str | None = None, input_shape=(32, 32, 3)) -> None:
    """Check that ``function`` (resnet_v1 or resnet_v2) refuses ``depth`` with a ValueError
    whose message contains the rule (``6n+2`` or ``9n+2``; spaces do not matter)."""
    __tracebackhide__ = True
    _grading.verify_environment()
    fname = getattr(function, "__name__", "the function")
    rule = rule or ("9n+2" if "v2" in fname else "6n+2")
    what = f"{fname}(input_shape={tuple(input_shape)}, depth={depth})"
    try:
        function(input_shape=tuple(input_shape), depth=depth)
    except ValueError as err:
        text = str(err)
        if rule not in text.replace(" ", ""):
            _fail(what, f"raised ValueError({text!r}): the message must say that the depth must be "
                  f"{rule}, e.g. ValueError(f'depth should be {rule}, got {{depth}}').", "depth_error_message")
        print(f"✓ {what} raises ValueError: {text}")
        return
    except NotImplementedError:
        raise GradingError(
            f"{what} is not implemented yet (it raised NotImplementedError): replace the line "
            "`raise NotImplementedError()` with your code, run that cell, then this one.",
            code=f"{fname}.not_implemented") from None
    except Exception as err:  # noqa: BLE001 - any other error is the wrong one
        _fail(what, f"raised {type(err).__name__}: {err}\nexpected ValueError: check the depth first, "
              f"`if (depth - 2) % {rule[0]} != 0: raise ValueError(...)`, before building anything.",
              "depth_error_type")
    _fail(what, f"did not raise an error: {depth} is not {rule}, so {fname} must raise ValueError "
          f"(`if (depth - 2) % {rule[0]} != 0: raise ValueError(...)`) instead of building a network.",
          "depth_error_missing")


# ----------------------------------------------------------------------------- exercise 4

#: The epochs the visible test asks for: both sides of every boundary.
BOUNDARY_EPOCHS = (0, 80, 81, 120, 121, 160, 161, 180, 181)

_LR_HINTS = ((180, "× 0.0005 for epoch > 180"), (160, "× 0.001 for 160 < epoch ≤ 180"),
             (120, "× 0.01 for 120 < epoch ≤ 160"), (80, "× 0.1 for 80 < epoch ≤ 120"),
             (-1, "1e-3 up to epoch 80 included"))


def check_lr_schedule(lr_schedule, epochs=BOUNDARY_EPOCHS) -> None:
    """Check ``lr_schedule(epoch)`` at ``epochs`` against the stored values."""
    __tracebackhide__ = True
    _grading.verify_environment()
    params = {"epochs": [int(e) for e in epochs]}
    what = f"lr_schedule at epochs {params['epochs']}"
    key = _grading.case_key("lr_schedule", params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(key, "lr_schedule", params)
    got = {}
    for e in params["epochs"]:
        value = _grading.call_student(lr_schedule, f"lr_schedule({e})", e)
        try:
            got[e] = float(value)
        except (TypeError, ValueError):
            _fail(what, f"lr_schedule({e}) returned {value!r}, expected a number.", "not_a_number")
    if recording:
        _grading.record_case(key, {"values": {str(e): v for e, v in got.items()}})
        return
    for e in params["epochs"]:
        want = expected["values"][str(e)]
        if not np.isclose(got[e], want, rtol=1e-6, atol=0.0):
            rule = next(text for start, text in _LR_HINTS if e > start)
            _fail(what, f"lr_schedule({e}) returned {got[e]:.6g}, expected {want:.6g} "
                  f"(1e-3 {rule}): the rate drops *after* each boundary epoch (epoch > 80, not ≥ 80), "
                  "and the conditions are tested from the largest boundary down.", f"epoch_{e}")
    print(f"✓ lr_schedule matches the reference at epochs {params['epochs']}.")
