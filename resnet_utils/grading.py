"""The checks behind the test cells of the "Residual Networks" assignment.

Every check builds the student's function on a fixed input with fixed initializers,
then compares it with reference data stored in ``resnet_utils/reference/`` (computed
once from the reference solution by :mod:`resnet_utils.reference`, never at grading
time):

1. the structure, layer by layer (:mod:`resnet_utils.summary`): kinds, names,
   connections, configuration, output shapes and parameter counts;
2. the numeric output, with BatchNorm in inference mode and in training mode.

A failed check raises :class:`GradingError` (an ``AssertionError``) whose message names
the first thing that differs and hints at the cause. A passed check prints one line.

Test cells reload this module (``reload(grading).check_...``) so that they run the
course's own code even if a notebook has replaced functions of the loaded module, and
every check first verifies that numpy's comparison functions are numpy's.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np

from . import summary as _summary

_summary = importlib.reload(_summary)  # a reload of this module restores its helpers too

REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "residual_networks.json"
#: When set to a path, checks record the function's results there instead of comparing.
RECORD_ENV = "RESNET_RECORD_REFERENCE"

RTOL = 1e-3
ATOL = 1e-4


class GradingError(AssertionError):
    """A check failed; the message says what differs and why it might."""


# ----------------------------------------------------------------------------- integrity

_NUMPY_DIR = Path(np.__file__).resolve().parent


def _genuine_numpy(fn) -> bool:
    code = getattr(fn, "__code__", None)
    if code is None:  # C functions and ufuncs have no __code__
        return isinstance(fn, np.ufunc) or type(fn).__name__ in ("builtin_function_or_method", "_ArrayFunctionDispatcher")
    try:
        return Path(code.co_filename).resolve().is_relative_to(_NUMPY_DIR)
    except (OSError, ValueError):
        return False


def verify_environment() -> None:
    """Fail if numpy's comparison functions were replaced by code in the notebook."""
    __tracebackhide__ = True
    suspects = {
        "numpy.allclose": np.allclose,
        "numpy.isclose": np.isclose,
        "numpy.array_equal": np.array_equal,
        "numpy.testing.assert_allclose": np.testing.assert_allclose,
        "numpy.testing.assert_array_equal": np.testing.assert_array_equal,
        "numpy.testing.assert_array_almost_equal": np.testing.assert_array_almost_equal,
        "numpy.testing.assert_almost_equal": np.testing.assert_almost_equal,
    }
    replaced = [name for name, fn in suspects.items() if not _genuine_numpy(fn)]
    canaries_ok = True
    try:
        canaries_ok = not bool(np.allclose(0.0, 1.0)) and not bool(np.array_equal([0], [1]))
        try:
            np.testing.assert_allclose(0.0, 1.0)
            canaries_ok = False
        except AssertionError:
            pass
    except Exception:  # noqa: BLE001 - a replaced function may raise anything
        canaries_ok = False
    if replaced or not canaries_ok:
        raise GradingError(
            "the checks cannot run: "
            + (", ".join(replaced) if replaced else "numpy's comparison functions")
            + " no longer behave as numpy's own (code in this notebook replaced them). "
            "Remove that code, restart the kernel and run all cells again."
        )


# ----------------------------------------------------------------------------- reference


def _case_key(function: str, params: dict) -> str:
    return function + "|" + json.dumps(params, sort_keys=True)


def load_reference(path: str | os.PathLike | None = None) -> dict:
    """The stored reference cases: ``{case_key: {"summary": [...], "outputs": {...}, ...}}``."""
    path = Path(path or REFERENCE_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise GradingError(
            f"the reference data {path} is missing: reinstall the course (git checkout "
            "resnet_utils/reference) or ask your instructor."
        ) from None


def _record(key: str, result: dict) -> None:
    path = Path(os.environ[RECORD_ENV])
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = result
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _expected(key: str, function: str, params: dict) -> dict:
    ref = load_reference()
    if key not in ref:
        raise GradingError(
            f"no reference data for {function} with {params}: the test asks for a case that "
            "was never recorded. Instructors: run `make reference`."
        )
    return ref[key]


# ----------------------------------------------------------------------------- helpers


def constant_initializer(seed=None):
    """An initializer factory with the same call signature as ``glorot_uniform(seed=0)``."""
    import keras

    return keras.initializers.Constant(0.05)


def _initializer(name: str):
    import keras

    if name == "constant":
        return constant_initializer
    if name == "glorot_uniform":
        return keras.initializers.glorot_uniform
    raise ValueError(f"unknown initializer {name!r}")


def _input(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _call_student(fn, what: str, *args, **kwargs):
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise GradingError(
            f"{what} is not implemented yet (it raised NotImplementedError): replace the line "
            "`raise NotImplementedError()` with your code, run that cell, then this one."
        ) from None
    except Exception as err:  # noqa: BLE001 - any student error becomes a clear message
        text = str(err)
        if "incompatible shapes" in text or "must have the same shape" in text:
            hint = ("the two inputs of Add have different shapes: the main path and the shortcut "
                    "must end with the same height, width and channels. Check the strides "
                    "(s, s) of the first main-path convolution and of the shortcut, the "
                    "padding='same' of the f×f convolution, and F3 filters at the end of both paths.")
        elif "Negative dimension" in text or "negative" in text.lower() and "dimension" in text.lower():
            hint = ("a layer received an input smaller than its window: check the strides and "
                    "paddings against the specification.")
        else:
            hint = "the traceback above (from your code) shows the line where it happened."
        raise GradingError(f"{what} raised {type(err).__name__}: {text}\nHint: {hint}") from err


def _max_difference(actual: np.ndarray, expected: np.ndarray):
    """Largest violation of |a - e| <= ATOL + RTOL * |e|, using ndarray methods only."""
    diff = np.ndarray.__abs__(actual - expected)
    allowed = ATOL + RTOL * np.ndarray.__abs__(expected)
    excess = diff - allowed
    worst = int(np.ndarray.argmax(excess))
    return float(np.ndarray.max(excess)), np.unravel_index(worst, actual.shape), float(np.ndarray.max(diff))


def _compare_output(actual, expected, mode: str, other=None) -> str | None:
    actual = np.array(actual, dtype="float64")
    expected = np.array(expected, dtype="float64")
    if actual.shape != expected.shape:
        return f"the output ({mode}) has shape {actual.shape}, expected {expected.shape}."
    if not np.ndarray.all(np.isfinite(actual)):
        return f"the output ({mode}) contains NaN or infinite values."
    excess, where, biggest = _max_difference(actual, expected)
    if excess <= 0:
        return None
    msg = (f"the output ({mode}) differs from the reference: at index {tuple(int(i) for i in where)} "
           f"you get {actual[where]:.6g}, expected {expected[where]:.6g} (largest difference "
           f"{biggest:.3g}).")
    if other is not None and _max_difference(actual, np.array(other, dtype="float64"))[0] <= 0:
        msg += (" Your inference-mode output equals the reference's training-mode output: did you "
                "hard-code `training=True` in a BatchNormalization call? Let Keras set the mode.")
    elif np.ndarray.min(expected) < 0 <= np.ndarray.min(actual):
        msg += " Your output has no negative values where the reference has some."
    else:
        msg += " The layers match the specification, so look at what each layer is applied to."
    return msg


def _fail(what: str, message: str):
    __tracebackhide__ = True
    raise GradingError(f"{what}:\n{message}")


# ----------------------------------------------------------------------------- the checks


def _check_block(kind: str, fn, params: dict, build) -> None:
    __tracebackhide__ = True
    import keras

    verify_environment()
    what = f"{kind}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
    x = _input(params["input_shape"], seed=1)
    result = {"summary": None, "outputs": {}}
    recording = bool(os.environ.get(RECORD_ENV))
    key = _case_key(kind, params)
    expected = None if recording else _expected(key, kind, params)
    for init_name in ("constant", "glorot_uniform"):
        X_input = keras.Input(shape=tuple(params["input_shape"][1:]))
        out = _call_student(build, what, X_input, _initializer(init_name))
        if not isinstance(out, keras.KerasTensor):
            _fail(what, f"returned {type(out).__name__}, expected the block's output tensor "
                  "(the KerasTensor X after the final ReLU). Did you forget `return X`?")
        model = keras.Model(X_input, out)
        summ = _summary.layer_summary(model)
        inference = np.asarray(model(x, training=False))
        training = np.asarray(model(x, training=True))
        tag = f"{init_name}"
        if recording:
            if init_name == "glorot_uniform":
                result["summary"] = summ
            result["outputs"][tag] = {"inference": _rounded(inference), "training": _rounded(training)}
            continue
        ref_summary = expected["summary"]
        if init_name == "glorot_uniform":
            diff = _summary.first_difference(summ, ref_summary, what=f"your {kind}")
            if diff:
                _fail(what, diff)
        else:
            # the structure with a constant initializer differs only in the initializer
            diff = _summary.first_difference(_strip_init(summ), _strip_init(ref_summary), what=f"your {kind}")
            if diff:
                _fail(what, diff)
            inits = {e["config"].get("kernel_initializer") for e in summ if e["kind"] == "Conv2D"}
            if inits != {"Constant(value=0.05)"}:
                _fail(what, f"with initializer=constant the convolutions use {sorted(map(str, inits))}: "
                      + _summary.CONFIG_HINTS["kernel_initializer"])
        ref_out = expected["outputs"][tag]
        for mode, got, other in (("BatchNorm in inference mode", inference, ref_out["training"]),
                                 ("BatchNorm in training mode", training, None)):
            key_mode = "inference" if "inference" in mode else "training"
            message = _compare_output(got, ref_out[key_mode], f"{mode}, {init_name} weights", other)
            if message:
                _fail(what, message)
    if recording:
        _record(key, result)
        return
    shape = tuple(expected["summary"][-1]["output_shape"])
    print(f"✓ {what}: {len(expected['summary'])} layers with the right names and settings, "
          f"output shape {shape}, outputs match the reference (inference and training mode).")


def _strip_init(summ: list[dict]) -> list[dict]:
    out = []
    for e in summ:
        e = dict(e, config={k: v for k, v in e["config"].items() if k != "kernel_initializer"})
        out.append(e)
    return out


def _rounded(array) -> list:
    return np.round(np.asarray(array, dtype="float64"), 7).tolist()


def check_identity_block(identity_block, f=2, filters=(4, 4, 6), stage=1, block="a",
                         input_shape=(3, 4, 4, 6)) -> None:
    """Check ``identity_block`` against the reference for one set of arguments."""
    __tracebackhide__ = True
    params = {"f": f, "filters": list(filters), "stage": stage, "block": block,
              "input_shape": list(input_shape)}
    _check_block("identity_block", identity_block, params,
                 lambda X, init: identity_block(X, f=f, filters=list(filters), stage=stage,
                                                block=block, initializer=init))


def check_convolutional_block(convolutional_block, f=2, filters=(4, 4, 6), stage=1, block="a",
                              s=2, input_shape=(3, 4, 4, 6)) -> None:
    """Check ``convolutional_block`` against the reference for one set of arguments."""
    __tracebackhide__ = True
    params = {"f": f, "filters": list(filters), "stage": stage, "block": block, "s": s,
              "input_shape": list(input_shape)}
    _check_block("convolutional_block", convolutional_block, params,
                 lambda X, init: convolutional_block(X, f=f, filters=list(filters), stage=stage,
                                                     block=block, s=s, initializer=init))


def check_ResNet50(ResNet50, input_shape=(64, 64, 3), classes=6) -> None:
    """Check ``ResNet50`` (structure, parameter counts, output on a fixed input)."""
    __tracebackhide__ = True
    import keras

    verify_environment()
    params = {"input_shape": list(input_shape), "classes": classes}
    what = f"ResNet50(input_shape={tuple(input_shape)}, classes={classes})"
    key = _case_key("ResNet50", params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(key, "ResNet50", params)
    model = _call_student(ResNet50, what, input_shape=tuple(input_shape), classes=classes)
    if not isinstance(model, keras.Model):
        _fail(what, f"returned {type(model).__name__}, expected a keras.Model: end with "
              "`model = Model(inputs=X_input, outputs=X, name='ResNet50')` and `return model`.")
    summ = _summary.layer_summary(model)
    counts = _summary.count_params(model)
    x = _input((2, *input_shape), seed=2)
    out = np.asarray(model(x, training=False))
    if recording:
        _record(key, {"summary": summ, "name": model.name, "params": counts,
                      "outputs": {"inference": _rounded(out)}})
        return
    diff = _summary.first_difference(summ, expected["summary"], what="your ResNet50")
    if diff:
        _fail(what, diff)
    if model.name != expected["name"]:
        _fail(what, f"the model is named '{model.name}', expected '{expected['name']}': "
              "pass name='ResNet50' to Model(...).")
    if counts != expected["params"]:
        _fail(what, f"parameter counts {counts}, expected {expected['params']}.")
    message = _compare_output(out, expected["outputs"]["inference"], "inference mode")
    if message:
        _fail(what, message)
    p = expected["params"]
    print(f"✓ {what}: {len(summ)} layers match the reference; {p['total']:,} parameters "
          f"({p['trainable']:,} trainable, {p['non_trainable']:,} non-trainable); "
          f"output shape {tuple(summ[-1]['output_shape'])} matches.")
