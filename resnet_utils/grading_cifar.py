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

resnet_v1 and resnet_v2 are checked apart from the resnet_layer they call: while they run, the
notebook's ``resnet_layer`` is replaced by a recording stand-in (:func:`grading.stand_ins`), so a
mistake inside resnet_layer costs points in exercise 1 only (:func:`_check_resnet`). A network
built without calling resnet_layer is compared as a whole, and gets full marks when it is the same.

Test cells reload this module (``reload(grading_cifar).check_...``), which reloads
:mod:`resnet_utils.grading` and :mod:`resnet_utils.summary` too.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import zlib
from pathlib import Path

import numpy as np

from . import grading as _grading
from . import summary as _summary

_grading = importlib.reload(_grading)  # also reloads summary (grading reloads it)

GradingError = _grading.GradingError
score = _grading.score  # a test cell ends with grading_cifar.score(points=...): its points less penalties
REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "resnet_cifar.json"
RECORD_ENV = _grading.RECORD_ENV

#: Hints for this assignment's specification, per configuration key (see summary.first_difference).
HINTS = {
    "Conv2D.padding": "every convolution of resnet_layer uses padding='same'",
    "Conv2D.kernel_size": "the convolution's kernel size is resnet_layer's kernel_size argument (3 by default; the "
    "projection shortcuts and v2's bottleneck ends are 1×1)",
    "Conv2D.filters": "the convolution's number of filters is resnet_layer's num_filters argument: 16, 32, 64 in "
    "resnet_v1's three stacks; in resnet_v2 the first two layers of a unit have num_filters_in "
    "(16, 64, 128 in stages 1, 2, 3), its last layer and the projection num_filters_out "
    "(64, 128, 256)",
    "Conv2D.strides": "the convolution's strides are resnet_layer's strides argument: 2 only for the first "
    "convolution of the first block of stacks 2 and 3, and for its 1×1 projection shortcut",
    "Conv2D.kernel_initializer": "every Conv2D and the output Dense use kernel_initializer='he_normal'",
    "Conv2D.kernel_regularizer": "every Conv2D uses kernel_regularizer=l2(1e-4) (an L2 penalty on the "
    "kernel, keras.regularizers.l2)",
    "Dense.kernel_initializer": "every Conv2D and the output Dense use kernel_initializer='he_normal'",
    "Dense.units": "the output Dense layer has num_classes units",
    "Dense.activation": "the output Dense layer uses activation='softmax'",
    "AveragePooling2D.pool_size": "the head is AveragePooling2D(pool_size=8), Flatten, Dense",
    "AveragePooling2D.strides": "the head's AveragePooling2D(pool_size=8) uses the default strides, "
    "equal to its pool size",
    "AveragePooling2D.padding": "the head's AveragePooling2D(pool_size=8) uses the default "
    "padding='valid'",
    "BatchNormalization.axis": "BatchNormalization() normalises over the channels (the last axis)",
    "Activation.activation": "resnet_layer's Activation applies its activation argument ('relu' by "
    "default); the blocks' and the head's ReLUs are Activation('relu')",
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


def set_name_seeded_weights(model, renames: dict | None = None) -> None:
    """Overwrite every weight with values drawn from its layer's and its own name, so that
    they do not depend on the order in which the layers were created. ``renames`` maps a layer's
    name to the name of the reference layer it stands for (:class:`summary.Comparison`), so
    that a misnamed layer gets the reference layer's values.

    Convolution and dense kernels get He-scaled normal values, biases, BatchNorm's beta and
    moving mean small ones, gamma values around 1, the moving variance values in [1, 1.5].
    """
    for layer in model.layers:
        for w in layer.weights:
            shape = tuple(int(d) for d in w.shape)
            short = w.name.split("/")[-1]
            z = _seeded(f"{(renames or {}).get(layer.name, layer.name)}/{short}", shape)
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


def _outputs(model, params: dict, renames: dict | None = None) -> dict:
    """The model's outputs on the check's fixed input, with name-seeded weights (``renames``: see
    :func:`set_name_seeded_weights`), with BatchNorm in inference and in training mode:
    ``{"inference": array, "training": array}``."""
    set_name_seeded_weights(model, renames)
    x = _grading.make_input([2, *params["input_shape"]], seed=1)
    return {"inference": np.asarray(model(x, training=False)),
            "training": np.asarray(model(x, training=True))}


def _build(function: str, fn, what: str, build, diagnose):
    """``build()`` through :func:`grading.call_student`; a resnet_v1/v2 that calls a resnet_layer
    which is not implemented yet is told to do exercise 1 first."""
    __tracebackhide__ = True
    try:
        return _grading.call_student(build, what, diagnose=diagnose, shape_hint=SHAPE_HINT)
    except GradingError as err:
        own = getattr(getattr(fn, "__code__", None), "co_names", ("NotImplementedError",))
        if "is not implemented yet" in str(err) and function != "resnet_layer" \
                and "NotImplementedError" not in own:
            raise GradingError(
                f"{what}: your {function} calls resnet_layer, which is not implemented yet (it "
                "raised NotImplementedError): do exercise 1 first, run its cell, then this one.",
                code=f"{function}.resnet_layer_not_implemented") from None
        raise


def _check_network(function: str, fn, params: dict, build, checks_first=None,
                   record_extra: dict | None = None) -> None:
    """Build, compare the structure, then the outputs with name-seeded weights (in record
    mode: store them, with ``record_extra``)."""
    __tracebackhide__ = True
    import keras

    _grading.verify_environment()
    what = _what(function, params)
    key = _grading.case_key(function, params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(key, function, params)
    diagnose = None if recording else _config_diagnosis(expected["summary"])
    out = _build(function, fn, what, build, diagnose)
    model = out if isinstance(out, keras.Model) else None
    if model is None:
        _fail(what, f"returned {type(out).__name__}, expected "
              + ("the layer's output tensor (return x)." if function == "resnet_layer"
                 else "a keras.Model: end with `model = Model(inputs=inputs, outputs=outputs)` "
                      "and `return model`."), "not_a_tensor" if function == "resnet_layer" else "not_a_model")
    summ = structure(model)
    if recording:
        _grading.record_case(key, {"summary": summ, "params": _summary.count_params(model),
                                   "outputs": {m: _grading.rounded_list(v)
                                               for m, v in _outputs(model, params).items()},
                                   **(record_extra or {})})
        return
    ref = expected["summary"]
    if checks_first is not None:
        message = checks_first(summ, ref)
        if message:
            _fail(what, message, "residual_block_count")
    comparison = _summary.compare(summ, ref, what=f"your {function}", hints=HINTS)
    if comparison.failure():
        _fail(what, comparison.failure() + _note(function, fn))
    outputs = _outputs(model, params, comparison.renames)
    for mode in ("inference", "training"):
        message = _grading.compare_output(outputs[mode], expected["outputs"][mode], f"{mode} mode")
        if message:
            cause = comparison.settings[0] if comparison.settings else _summary.Difference(message, "outputs_differ")
            _fail(what, cause + _note(function, fn))
    found = _grading.deviations(comparison)
    _grading.penalize(what, found)
    print(f"✓ {what}: {len(ref)} layers with the reference's structure" + (" and settings" if not found else "")
          + f", {expected['params']['total']:,} parameters, outputs match the reference (inference and "
          "training mode).")


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


def _layer_fails(fn) -> bool:
    """Whether the notebook's resnet_layer (in ``fn``'s globals) fails its visible tests."""
    namespace = getattr(fn, "__globals__", None)
    layer_fn = namespace.get("resnet_layer") if isinstance(namespace, dict) else None
    if layer_fn is None:
        return False
    return not (_grading.passes_own_checks(layer_fn, "resnet_layer", check_resnet_layer)
                and _grading.passes_own_checks(layer_fn, "resnet_layer conv_first=False",
                                               functools.partial(check_resnet_layer, conv_first=False)))


def _note(function: str, fn) -> str:
    """For v1/v2 compared as whole networks: a note when the notebook's resnet_layer itself
    fails its visible tests."""
    if function == "resnet_layer" or not _layer_fails(fn):
        return ""
    return ("\nNote: your resnet_layer fails its own tests (exercise 1), and "
            f"{function} is built from it: fix exercise 1 first.")


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

    label = (_grading.visible_label("resnet_layer", check_resnet_layer, params)
             or _grading.visible_label("resnet_layer", check_resnet_layer, params, conv_first=False))
    _grading.remembered(resnet_layer, label, lambda: _check_network("resnet_layer", resnet_layer, params, build))


# ----------------------------------------------------------------------------- exercises 2, 3
#
# resnet_v1 and resnet_v2 are checked apart from resnet_layer: while they run, the notebook's
# resnet_layer is replaced by a recording stand-in (grading.stand_ins), so that a mistake inside
# resnet_layer costs points in exercise 1 only. The check compares the calls' arguments (matched
# by their name argument, so their order does not matter), then the network built with stand-ins
# layer by layer (additions, ReLUs, post_bn, head), then its outputs with name-seeded weights.

#: resnet_layer's parameters in the specification's order, and the specification's defaults.
LAYER_PARAMETERS = ("inputs", "num_filters", "kernel_size", "strides", "activation",
                    "batch_normalization", "conv_first", "name")
LAYER_DEFAULTS = {"num_filters": 16, "kernel_size": 3, "strides": 1, "activation": "relu",
                  "batch_normalization": True, "conv_first": True, "name": None}
#: The arguments of a call that the checks compare, in this order (the name matches the calls).
CALL_KEYS = ("num_filters", "kernel_size", "strides", "activation", "batch_normalization", "conv_first")
#: A stand-in's kind in the summaries (:data:`summary.NAMED_KINDS`: identified by its name).
STAND_IN_KIND = "resnet_layer"

NAMES_HINT = ("the calls are named 'stem', then prefix + '_1', prefix + '_2' (v2 also '_3') and, "
              "for a projection, prefix + '_shortcut', with prefix = f'stack{s}_block{b}' (s and b "
              "counted from 1).")

#: Hints for the structure of a network built with stand-ins (outside resnet_layer).
STAND_IN_HINTS = dict(HINTS, **{
    "missing:BatchNormalization": "resnet_v2 normalises the last unit's sum once more before the "
    "head: BatchNormalization(name='post_bn'), Activation('relu', name='post_relu'), then the pooling.",
    "extra:BatchNormalization": "outside resnet_layer only resnet_v2 has a BatchNormalization, "
    "post_bn before the pooling: in v2 nothing follows the addition (BatchNorm and ReLU come before "
    "each convolution of the next unit, in its resnet_layer calls).",
})


def _square(value):
    """A window or strides argument as comparable data: ``(3, 3)`` is 3."""
    value = _grading.plain_value(value)
    if isinstance(value, list) and value and all(v == value[0] for v in value):
        return value[0]
    return value


def layer_call(arguments: dict) -> dict:
    """A resnet_layer call's arguments (:data:`LAYER_DEFAULTS` for those not given) as
    comparable data: ``(3, 3)`` is 3, an activation function is its name, flags are booleans as
    resnet_layer's ``if`` reads them, and conv_first is None for a lone convolution (no BatchNorm,
    no activation), where both orders give the same layer."""
    call = {k: arguments.get(k, default) for k, default in LAYER_DEFAULTS.items()}
    call["num_filters"] = _grading.plain_value(call["num_filters"])
    call["kernel_size"], call["strides"] = _square(call["kernel_size"]), _square(call["strides"])
    if call["activation"] is not None and not isinstance(call["activation"], str):
        call["activation"] = getattr(call["activation"], "__name__", repr(call["activation"]))
    call["batch_normalization"], call["conv_first"] = bool(call["batch_normalization"]), bool(call["conv_first"])
    if call["activation"] is None and not call["batch_normalization"]:
        call["conv_first"] = None
    call["name"] = None if call["name"] is None else str(call["name"])
    return call


def _layer_stand_in(student_fn, calls: list):
    """A stand-in for the student's resnet_layer that records its arguments (:func:`layer_call`).

    It returns one 1×1 convolution with num_filters filters and the call's strides (the output
    shape of the real layer), named after the call's name and listed by the summaries as a
    ``resnet_layer`` identified by that name, so that the network's structure and outputs do
    not depend on the order of the calls.
    """
    import keras

    signature = _grading.student_signature(student_fn)
    used: set = set()

    def resnet_layer(*args, **kwargs):
        arguments = _grading.spec_arguments(LAYER_PARAMETERS, signature, args, kwargs)
        if "inputs" not in arguments:
            raise TypeError("resnet_layer was called without its input: resnet_layer(inputs, "
                            "num_filters=16, kernel_size=3, strides=1, activation='relu', ...)")
        call = layer_call(arguments)
        calls.append(call)
        name = call["name"] or f"unnamed_resnet_layer_{len(calls)}"
        name = name if name not in used else f"{name}_again_{len(calls)}"  # names must be unique
        used.add(name)
        strides = call["strides"]
        strides = tuple(int(s) for s in strides) if isinstance(strides, list) else int(strides)
        layer = keras.layers.Conv2D(int(call["num_filters"]), 1, strides=strides, padding="valid", name=name)
        layer.summary_kind = STAND_IN_KIND
        return layer(arguments["inputs"])

    return resnet_layer


def _build_with_stand_ins(function: str, fn, params: dict, calls: list, expected_calls):
    """Call ``fn`` with the notebook's resnet_layer replaced by a recording stand-in.

    Returns ``(model, error)``: ``(None, None)`` when ``fn`` has no resnet_layer in its globals;
    ``error`` is the :class:`GradingError` raised while building, if any (its hint names a call
    that differs from ``expected_calls``, when one does).
    """
    __tracebackhide__ = True
    what = _what(function, params)
    diagnose = None if expected_calls is None else _calls_diagnosis(function, calls, expected_calls)
    with _grading.stand_ins(fn, {"resnet_layer": lambda f: _layer_stand_in(f, calls)}) as applied:
        if not applied:
            return None, None
        try:
            return _grading.call_student(
                fn, what, input_shape=tuple(params["input_shape"]), depth=params["depth"],
                num_classes=params["num_classes"], diagnose=diagnose, shape_hint=SHAPE_HINT), None
        except GradingError as err:
            return None, err


def _stack(name) -> str:
    """The stack of a call's name, for mistake codes: ``stack2`` (``stem``, else ``calls``)."""
    m = re.match(r"(stack\d+)_", name or "")
    return m.group(1) if m else ("stem" if name == "stem" else "calls")


def _call_text(call: dict) -> str:
    """A call as the specification writes it: the arguments that are not defaults, and the name."""
    shown = [f"{k}={call[k]!r}" for k in CALL_KEYS
             if call[k] != LAYER_DEFAULTS[k] and not (k == "conv_first" and call[k] is None)]
    return "resnet_layer(x, " + ", ".join(shown + [f"name={call['name']!r}"]) + ")"


def _role(function: str, name: str) -> str:
    """What the call of this name is for, said when it is missing or one too many."""
    if name == "stem":
        return "the network starts with x = resnet_layer(inputs, name='stem')."
    if name.endswith("_shortcut"):
        where = ("the first block of stacks 2 and 3" if function == "resnet_v1" else
                 "the first unit of every stage (stage 1's changes 16 channels into 64)")
        return (f"in {function} {where}, and no other, has a projection shortcut, resnet_layer(x, "
                "..., kernel_size=1, strides=strides, activation=None, batch_normalization=False, "
                "name=prefix + '_shortcut'); the others add x itself.")
    layers = "_1, _2" if function == "resnet_v1" else "_1, _2, _3"
    return (f"each of the (depth - 2) / {6 if function == 'resnet_v1' else 9} blocks of a stack "
            f"calls resnet_layer for its layers {layers}: " + NAMES_HINT)


def _names_difference(function: str, missing: list, extra: list):
    """The first call missing (by name) or one too many, as a Difference."""
    if missing and extra:
        exp, got = missing[0], extra[0]
        return _summary.Difference(
            f"your {function} calls {_call_text(got)}, a name the specification does not have, and "
            f"never resnet_layer(..., name={exp['name']!r}) (expected {_call_text(exp)}): {NAMES_HINT}",
            f"{_stack(exp['name'])}.call_name")
    if missing:
        exp = missing[0]
        more = f" (and {len(missing) - 1} other calls)" if len(missing) > 1 else ""
        return _summary.Difference(
            f"your {function} never calls resnet_layer with name={exp['name']!r}{more}: expected "
            f"{_call_text(exp)}: {_role(function, exp['name'])}", f"{_stack(exp['name'])}.missing_call")
    got = extra[0]
    more = f" (and {len(extra) - 1} other calls)" if len(extra) > 1 else ""
    return _summary.Difference(
        f"your {function} calls {_call_text(got)}{more}, which the specification does not have: "
        f"{_role(function, got['name'])}", f"{_stack(got['name'])}.extra_call")


def _call_hint(function: str, key: str) -> str:
    """The specification's rule for one argument of resnet_v1's or resnet_v2's resnet_layer calls."""
    v1 = function == "resnet_v1"
    return {
        "num_filters": HINTS["Conv2D.filters"], "kernel_size": HINTS["Conv2D.kernel_size"],
        "strides": HINTS["Conv2D.strides"],
        "activation": ("every call has activation='relu' (the default) except the second layer of a "
                       "block (prefix + '_2') and the projection, which have activation=None: no ReLU "
                       "before the addition, the ReLU comes after it." if v1 else
                       "every call has activation='relu' except the projections and the first layer of "
                       "stage 1's first unit (the stem has just applied BatchNorm and ReLU): "
                       "activation=None."),
        "batch_normalization": ("The projection shortcuts have no BatchNormalization "
                                "(batch_normalization=False)" + ("; every other call has the default, "
                                "True." if v1 else ", nor has the first layer of stage 1's first unit "
                                "(the stem has just applied it); every other call has the default, True.")),
        "conv_first": ("resnet_v1 is post-activation: every call has conv_first=True (the default)."
                       if v1 else "resnet_v2 is pre-activation: the layers of a unit have conv_first=False "
                       "(BatchNorm and ReLU before the convolution); the stem has conv_first=True."),
    }[key]


def _argument_difference(function: str, got: dict, exp: dict):
    """The first argument of a call that differs from the reference call of the same name."""
    for key in CALL_KEYS:
        if got[key] == exp[key]:
            continue
        text = f"your {function} calls {_call_text(got)}: {key}={got[key]!r}, expected {key}={exp[key]!r}"
        layer_key = {"num_filters": "filters", "kernel_size": "kernel_size", "strides": "strides"}.get(key)
        if layer_key:
            def shown(v):
                return v if key == "num_filters" or isinstance(v, list) else [v, v]
            text += f", so {exp['name']}_conv: {layer_key} {shown(got[key])}, expected {shown(exp[key])}"
        return _summary.Difference(f"{text}: {_call_hint(function, key)}", f"{_stack(exp['name'])}.{key}")
    return None


def _calls_difference(function: str, calls: list, expected: list):
    """The first difference between the resnet_layer calls and the reference's, matched by name."""
    unnamed = [c for c in calls if c["name"] is None]
    if unnamed:
        return _summary.Difference(
            f"your {function} calls {_call_text(unnamed[0])} without a name ({len(unnamed)} of its "
            f"{len(calls)} resnet_layer calls have none): {NAMES_HINT}", "calls.call_without_name")
    names = [c["name"] for c in calls]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        return _summary.Difference(
            f"your {function} calls resnet_layer {names.count(twice)} times with name={twice!r}: "
            f"every call has its own name: {NAMES_HINT}", f"{_stack(twice)}.duplicate_name")
    expected_names = [e["name"] for e in expected]
    missing = [e for e in expected if e["name"] not in names]
    extra = [c for c in calls if c["name"] not in expected_names]
    got = dict(zip(names, calls))
    if (missing or extra) and not _renamed_calls(function, missing, extra):
        return _names_difference(function, missing, extra)
    got.update({e["name"]: dict(c, name=e["name"]) for e, c in zip(missing, extra)})
    return next((d for e in expected if (d := _argument_difference(function, got[e["name"]], e))), None)


def _renamed_calls(function: str, missing: list, extra: list) -> bool:
    """Whether the calls ``extra`` (in call order) are the calls ``missing`` (in the reference's
    order) under other names: as many, with the same arguments one by one. Their names are then
    a penalty, not a mistake (the structure check finds them misnamed, the outputs decide)."""
    return len(missing) == len(extra) and all(
        _argument_difference(function, dict(c, name=e["name"]), e) is None for e, c in zip(missing, extra))


def _calls_diagnosis(function: str, calls: list, expected: list):
    """A ``diagnose`` for :func:`grading.call_student` when the network with stand-ins fails to
    build (two shapes that differ at an addition): the first call made so far whose arguments
    differ, else the first missing call of a block that has started (its projection)."""
    def diagnose(_tensors):
        got = {c["name"]: c for c in calls}
        for exp in expected:
            diff = _argument_difference(function, got[exp["name"]], exp) if exp["name"] in got else None
            if diff:
                return diff
        started = {n.rsplit("_", 1)[0] for n in got if n}
        missing = [e for e in expected if e["name"] not in got and e["name"].rsplit("_", 1)[0] in started]
        return _names_difference(function, missing, []) if missing else None

    return diagnose


def _block_of(add: dict) -> tuple[str, str]:
    """The block an Add of a summary with stand-ins closes, and its stack: from its inputs' names."""
    for label in add["inputs"]:
        m = re.fullmatch(r"((stack\d+)_block\d+)_(?:\d+|shortcut)", label)
        if m:
            return m.group(1), m.group(2)
    return "a block", "calls"


def _short(entry: dict) -> str:
    """A layer of a summary in a few words: its kind, and its name where names count."""
    return f"{entry['kind']} '{entry['name']}'" if entry["kind"] in _summary.NAMED_KINDS else entry["kind"]


def _after_add_difference(function: str, summ: list):
    """What follows each addition: one ReLU in v1; in v2 nothing (the next unit's layers and
    shortcut take the sum as it is; the last sum goes to the head, checked layer by layer)."""
    adds = [e for e in summ if e["kind"] == "Add"]  # the last one is the last block's (post-order)
    for add in adds:
        after = [e for e in summ if add["label"] in e["inputs"]]
        block, stack = _block_of(add)
        if function == "resnet_v1" and [e["kind"] for e in after] != ["ReLU"]:
            return _summary.Difference(
                f"in your resnet_v1 the sum of {block} (its Add) goes to "
                f"{', '.join(_short(e) for e in after) or 'nothing'}, expected a ReLU only: a v1 block "
                "ends with x = Activation('relu', name=prefix + '_out')(x) after the addition, and the "
                "next block takes that ReLU's output.", f"{stack}.relu_after_add")
        bad = [e for e in after if e["kind"] not in (STAND_IN_KIND, "Add")]
        if function == "resnet_v2" and add is not adds[-1] and bad:
            return _summary.Difference(
                f"your resnet_v2 applies {_short(bad[0])} to the sum of {block} (after its Add): in v2 "
                "nothing follows the addition: BatchNorm and ReLU come before each convolution of the "
                "next unit (its resnet_layer calls, conv_first=False), and once more before the "
                "pooling (post_bn, post_relu).", f"{stack}.after_add")
    return None


def _blocks_check(function: str, depth: int):
    """A check of the number of residual blocks (Add layers) of a summary, against the reference's."""
    per_block, rule = (6, "6n+2") if function == "resnet_v1" else (9, "9n+2")
    unit = "blocks" if function == "resnet_v1" else "units"

    def check(actual, expected):
        n_act = sum(e["kind"] == "Add" for e in actual)
        n_exp = sum(e["kind"] == "Add" for e in expected)
        if n_act != n_exp:
            return _summary.Difference(
                f"your {function}(depth={depth}) has {n_act} residual {unit} (Add layers), "
                f"expected {n_exp}: 3 stages of (depth - 2) / {per_block} = {n_exp // 3} {unit} "
                f"each (depth = {rule}).", "residual_block_count")
        return None

    return check


def _stand_in_difference(function: str, params: dict, model, calls: list, expected: dict):
    """What differs in the network built with stand-ins for resnet_layer: ``(difference or None,
    output-neutral deviations)``. Checked in turn: the number of residual blocks, the calls'
    arguments, what follows the additions, the layers outside resnet_layer, then the outputs with
    name-seeded weights (seeded by the reference's names, so misnamed calls cost a penalty only)."""
    import keras

    if not isinstance(model, keras.Model):
        return _summary.Difference(f"returned {type(model).__name__}, expected a keras.Model: end with "
                                   "`model = Model(inputs=inputs, outputs=outputs)` and `return model`.",
                                   "not_a_model"), []
    ref = expected["stand_ins"]
    summ = structure(model)
    operations = [e for e in summ if e["kind"].endswith(" operation")]  # `x + y`: said first
    comparison = _summary.compare(summ, ref["summary"], what=f"your {function}", hints=STAND_IN_HINTS)
    problem = ((operations and comparison.first())
               or _blocks_check(function, params["depth"])(summ, ref["summary"])
               or _calls_difference(function, calls, expected["calls"])
               or _after_add_difference(function, summ)
               or comparison.failure())
    if problem:
        return problem, []
    outputs = _outputs(model, params, comparison.renames)
    for mode in ("inference", "training"):
        message = _grading.compare_output(outputs[mode], ref["outputs"][mode],
                                          f"{mode} mode, with stand-ins for resnet_layer")
        if message:
            return (comparison.settings[0] if comparison.settings
                    else _summary.Difference(message, "outputs_differ")), []
    return None, _grading.deviations(comparison)


def _record_stand_ins(model, params: dict, calls: list, error) -> dict:
    """What record mode stores besides the whole network: the calls, and the network built with
    stand-ins (summary and outputs)."""
    if error is not None:
        raise error
    if model is None:
        raise GradingError("record mode: the reference solution must build its network with resnet_layer")
    outputs = _outputs(model, params)
    return {"calls": calls, "stand_ins": {
        "summary": structure(model),
        "outputs": {m: _grading.rounded_list(v) for m, v in outputs.items()}}}


def _check_resnet(function: str, fn, input_shape, depth: int, num_classes: int) -> None:
    """Check ``resnet_v1`` or ``resnet_v2`` for one input shape, depth and number of classes:
    with stand-ins for resnet_layer when it calls resnet_layer, else (or when that differs) as a
    whole network, so that a network built another way gets full marks when it is the same."""
    __tracebackhide__ = True
    _grading.verify_environment()
    params = {"input_shape": list(input_shape), "depth": depth, "num_classes": num_classes}
    what = _what(function, params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(_grading.case_key(function, params), function, params)
    calls: list = []
    model, error = _build_with_stand_ins(function, fn, params, calls, None if recording else expected["calls"])
    whole = (lambda: fn(input_shape=tuple(input_shape), depth=depth, num_classes=num_classes))
    if recording:
        _check_network(function, fn, params, whole,
                       record_extra=_record_stand_ins(model, params, calls, error))
        return
    problem, found = None, []
    if calls:
        problem, found = (error, []) if error is not None else _stand_in_difference(
            function, params, model, calls, expected)
        if problem is None:
            _grading.penalize(what, found)
            print(f"✓ {what}: the {len(calls)} resnet_layer calls (num_filters, kernel_size, strides, "
                  "activation, batch_normalization, conv_first, name), the additions, "
                  + ("the ReLUs after them" if function == "resnet_v1" else "post_bn, post_relu")
                  + " and the head match the reference, and so do the outputs with stand-ins for "
                  f"resnet_layer. With a resnet_layer that passes exercise 1 this is the reference "
                  f"network: {expected['params']['total']:,} parameters." + _layer_note(function, fn))
            return
    try:
        _check_network(function, fn, params, whole, checks_first=_blocks_check(function, depth))
    except GradingError:
        if problem is None:
            raise
        if isinstance(problem, GradingError):  # raised building: keep the student's traceback
            raise problem from problem.__cause__
        _fail(what, problem)


def _layer_note(function: str, fn) -> str:
    """For a resnet_v1/v2 whose calls are right: a note when resnet_layer fails its own visible
    tests (no points involved)."""
    if not _layer_fails(fn):
        return ""
    return (f"\nNote: your {function} calls resnet_layer correctly, but resnet_layer fails its own "
            f"tests: fix exercise 1 first, then your {function} builds the real network.")


def check_resnet_v1(resnet_v1, input_shape=(32, 32, 3), depth=14, num_classes=10) -> None:
    """Check ``resnet_v1`` for one input shape, depth and number of classes, apart from the
    resnet_layer it calls (:func:`_check_resnet`)."""
    __tracebackhide__ = True
    _check_resnet("resnet_v1", resnet_v1, input_shape, depth, num_classes)


def check_resnet_v2(resnet_v2, input_shape=(32, 32, 3), depth=20, num_classes=10) -> None:
    """Check ``resnet_v2`` for one input shape, depth and number of classes, apart from the
    resnet_layer it calls (:func:`_check_resnet`)."""
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
