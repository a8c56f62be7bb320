"""The checks behind the test cells of the "Residual Networks" assignment.

Every check builds the student's function on a fixed input with fixed initializers,
then compares it with reference data stored in ``resnet_utils/reference/`` (computed
once from the reference solution by :mod:`resnet_utils.reference`, never at grading
time):

1. the structure, layer by layer (:mod:`resnet_utils.summary`): kinds, names,
   connections, configuration, output shapes and parameter counts;
2. the numeric output, with BatchNorm in inference mode and in training mode.

ResNet50 is checked apart from the blocks it calls: while it runs, the notebook's
``identity_block`` and ``convolutional_block`` are replaced by recording stand-ins, so a
mistake inside a block costs points in its own exercise only (:func:`check_ResNet50`).

A failed check raises :class:`GradingError` (an ``AssertionError``) whose message names
the first thing that differs and hints at the cause. A passed check prints one line.

Test cells reload this module (``reload(grading).check_...``) so that they run the
course's own code even if a notebook has replaced functions of the loaded module, and
every check first verifies that numpy's comparison functions are numpy's.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
from pathlib import Path

import numpy as np

from . import codes as _codes
from . import summary as _summary

# a reload of this module restores its helpers too
_codes = importlib.reload(_codes)
_summary = importlib.reload(_summary)

REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "residual_networks.json"
#: When set to a path, checks record the function's results there instead of comparing.
RECORD_ENV = "RESNET_RECORD_REFERENCE"

RTOL = 1e-3
ATOL = 1e-4


class GradingError(AssertionError):
    """A check failed; the message says what differs and why it might.

    ``code`` is the mistake code (``identity_block.relu_instead_of_add``,
    ``ResNet50.stage3.stride``, ...): the message ends with ``(mistake code: CODE)``, which the
    grader reads from the autograded notebook and counts in its class report
    (``autograder/mistakes.py``); :mod:`resnet_utils.codes` owns that format.
    """

    def __init__(self, message: str = "", code: str | None = None):
        self.code = code
        super().__init__(_codes.with_code(message, code))


#: The end of a penalty line that a passing check prints (stdout) in a graded test cell
#: (:data:`resnet_utils.codes.PENALTY_MARKER`); the grader counts these lines like mistakes.
PENALTY_MARKER = _codes.PENALTY_MARKER


def _exercise(what: str) -> str:
    """The function a check message is about: the leading name of ``what``."""
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", what)
    return m.group(0) if m else "check"


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
            "Remove that code, restart the kernel and run all cells again.",
            code="environment.numpy_replaced"
        )


# ----------------------------------------------------------------------------- reference


def case_key(function: str, params: dict) -> str:
    """The key of a check's case in the reference data: ``"identity_block|{...sorted JSON params}"``
    (also used by ``autograder.publish`` to keep only the visible cases)."""
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
            "resnet_utils/reference) or ask your instructor.", code="environment.reference_missing"
        ) from None


def record_case(key: str, result: dict) -> None:
    path = Path(os.environ[RECORD_ENV])
    data = json.loads(path.read_text()) if path.exists() else {}
    data[key] = result
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


def _expected(key: str, function: str, params: dict) -> dict:
    ref = load_reference()
    if key not in ref:
        raise GradingError(
            f"no reference data for {function} with {params}: the test asks for a case that "
            "was never recorded. Instructors: run `make reference`.", code="environment.reference_case_missing"
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


def make_input(shape, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def call_student(fn, what: str, *args, diagnose=None, shape_hint: str | None = None, **kwargs):
    """Call the student's ``fn``; any error becomes a :class:`GradingError` with a hint.

    ``diagnose(tensors)``, when given, receives the symbolic tensors that the student's
    functions held when a shape error happened and may return a precise message (which
    layer differs from the specification) instead of the generic hint. ``shape_hint``
    replaces this assignment's hint for an Add of two different shapes (other assignments).
    """
    __tracebackhide__ = True
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise GradingError(
            f"{what} is not implemented yet (it raised NotImplementedError): replace the line "
            "`raise NotImplementedError()` with your code, run that cell, then this one.",
            code=f"{_exercise(what)}.not_implemented"
        ) from None
    except Exception as err:  # noqa: BLE001 - any student error becomes a clear message
        text = str(err)
        precise = None
        if diagnose is not None:
            try:
                precise = diagnose(_tensors_in_traceback(err))
            except Exception:  # noqa: BLE001 - a diagnosis that fails falls back to the hint
                precise = None
        code = "raised_" + type(err).__name__
        if precise:
            hint = precise
            code = getattr(precise, "code", code)
        elif ("incompatible shapes" in text or "must have the same shape" in text) and shape_hint:
            hint = shape_hint
        elif "incompatible shapes" in text or "must have the same shape" in text:
            hint = ("the two inputs of Add have different shapes: the main path and the shortcut "
                    "must end with the same height, width and channels. Check the kernel sizes "
                    "(1×1, f×f, 1×1), the strides (s, s) of the first main-path convolution and "
                    "of the shortcut, the padding='same' of the f×f convolution, and F3 filters "
                    "at the end of both paths.")
        elif isinstance(err, NameError) and getattr(err, "name", None):
            hint = (f"`{err.name}` is not defined in this notebook: its first cell imports the layers "
                    f"the exercises need; use one of those, or import it in your cell (a Keras layer: "
                    f"`from keras.layers import {err.name}`).")
        elif "Negative dimension" in text or "negative" in text.lower() and "dimension" in text.lower():
            hint = ("a layer received an input smaller than its window: check the strides and "
                    "paddings against the specification.")
        else:
            hint = "the traceback above (from your code) shows the line where it happened."
        if "incompatible shapes" in text or "must have the same shape" in text:
            code = code if precise else "add_shapes_differ"
        raise GradingError(f"{what} raised {type(err).__name__}: {text}\nHint: {hint}",
                           code=f"{_exercise(what)}.{code}") from err


def _tensors_in_traceback(err: BaseException) -> list:
    """The symbolic Keras tensors held by local variables of the frames ``err`` went through."""
    import keras

    found, seen = [], set()
    tb = err.__traceback__
    while tb is not None:
        for value in list(tb.tb_frame.f_locals.values()):
            if isinstance(value, keras.KerasTensor) and id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        tb = tb.tb_next
    return found


def _layer_diagnosis(X_input, expected_summary: list[dict]):
    """A ``diagnose`` for :func:`call_student`: the first named layer, among those built
    before the error, whose configuration differs from the reference layer of that name."""
    import keras

    def diagnose(tensors):
        entries = {}
        for t in tensors:
            try:
                partial = keras.Model(X_input, t)
            except Exception:  # noqa: BLE001 - a tensor that does not come from this input
                continue
            for e in _summary.layer_summary(partial):
                entries.setdefault(e["name"], e)
        # the initializer cannot change a shape, and the constant-initializer pass differs in it
        return _summary.config_difference(list(entries.values()), expected_summary,
                                          ignore=("kernel_initializer",))

    return diagnose


def _max_difference(actual: np.ndarray, expected: np.ndarray):
    """Largest violation of |a - e| <= ATOL + RTOL * |e|, using ndarray methods only."""
    diff = np.ndarray.__abs__(actual - expected)
    allowed = ATOL + RTOL * np.ndarray.__abs__(expected)
    excess = diff - allowed
    worst = int(np.ndarray.argmax(excess))
    return float(np.ndarray.max(excess)), np.unravel_index(worst, actual.shape), float(np.ndarray.max(diff))


def compare_output(actual, expected, mode: str) -> str | None:
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
    if np.ndarray.min(expected) < 0 <= np.ndarray.min(actual):
        msg += " Your output has no negative values where the reference has some."
    else:
        msg += " The layers match the specification, so look at what each layer is applied to."
    return msg


def fail_check(what: str, message: str, code: str | None = None):
    """Raise the :class:`GradingError` of a failed check: ``what`` (the call checked), the
    message, and the mistake code ``<function>.<code>`` (``code``, else the message's own:
    a :class:`summary.Difference` or a message that already ends with a code)."""
    __tracebackhide__ = True
    text = str(message)
    marked, rest = _codes.split_code(text)
    if marked:  # a message of an earlier GradingError: keep its code, once
        text, code = rest, code or marked
        if "." in code:
            raise GradingError(f"{what}:\n{text}", code=code)
    code = code or getattr(message, "code", None) or "differs"
    raise GradingError(f"{what}:\n{text}", code=f"{_exercise(what)}.{code}")


# ----------------------------------------------------------------------------- penalties

#: An output-neutral deviation (see :func:`deviations`) costs this many points of its test cell,
PENALTY_POINTS = 1
#: and all of them together at most this many points of one test cell.
PENALTY_CAP = 2

#: why names and output-neutral settings still cost a point, said with each penalty
PENALTY_REASONS = {
    "layer_name": "the specification names the layers so that code and people can find them by "
    "name (model.get_layer, model.summary(), the messages of these tests)",
    "setting": "it gives the reference's outputs for this test's input only; other inputs can "
    "tell the two apart, so write what the specification says",
}

_penalties: dict[str, str] = {}  # this test cell's penalties, code -> message (a reload empties it)


def deviations(comparison) -> list:
    """The output-neutral deviations of a :class:`summary.Comparison` whose outputs equal the
    reference's: every misnamed layer together (code ``layer_name``), then each setting that
    differs (code: its key), as :class:`summary.Difference` messages."""
    found = []
    if comparison.names:
        first, others = comparison.names[0], len(comparison.names) - 1
        if others:  # "layer 2 (...) is named 'a', expected 'b' (and 2 other misnamed layers): hint"
            head, hint = str(first).split(": ", 1)
            first = type(first)(f"{head} (and {others} other misnamed layer{'s' * (others > 1)}): {hint}",
                                first.code)
        found.append(first)
    seen = set()
    for setting in comparison.settings:
        if setting.code not in seen:
            seen.add(setting.code)
            found.append(setting)
    return found


def penalize(what: str, found: list) -> None:
    """Record the output-neutral deviations ``found`` (:func:`deviations`) of a passing check:
    each prints a line ending with its penalty code (once per test cell), which :func:`score`
    turns into the cell's points and the grader counts (:data:`PENALTY_MARKER`)."""
    for difference in found:
        code = f"{_exercise(what)}.{difference.code}"
        if code in _penalties:
            continue
        reason = PENALTY_REASONS["layer_name" if difference.code == "layer_name" else "setting"]
        _penalties[code] = str(difference)
        print(_codes.with_penalty_code(f"−{PENALTY_POINTS} point: {what}: {difference} Your outputs equal the "
                                       f"reference's, so this costs {PENALTY_POINTS} point, not the test: {reason}.",
                                       code))


@contextlib.contextmanager
def penalties_aside():
    """Run other checks (for a note, no points involved) without touching this cell's penalties."""
    saved = dict(_penalties)
    try:
        yield
    finally:
        _penalties.clear()
        _penalties.update(saved)


def score(points: float):
    """The points of the test cell that ends with ``grading.score(points)``: None (no output,
    full marks) without penalties, else ``points`` less :data:`PENALTY_POINTS` per penalty,
    at most :data:`PENALTY_CAP` less (nbgrader scores a test cell whose output is a number with
    that number). Forgets the penalties, so the next cell starts afresh."""
    lost = min(PENALTY_CAP, PENALTY_POINTS * len(_penalties), points)
    count = len(_penalties)
    _penalties.clear()
    if not lost:
        return None
    print(f"This test cell: {points - lost:g} of {points:g} points ({count} "
          f"penalt{'ies' if count > 1 else 'y'}; at most {PENALTY_CAP} points are taken this way).")
    return float(points - lost)


# ----------------------------------------------------------------------------- notes

#: Whether a notebook function passes its visible checks, per function object, for the notes of
#: the checks of the networks built from it (:func:`passes_own_checks`). Kept across
#: ``reload(grading)`` (a reload runs this file again in the same module namespace), so that the
#: visible checks run once per function and kernel, not in every test of a network. Only
#: ``(function, bool)`` entries of a plain dict are read; anything else is ignored, and a note
#: carries no points.
_OWN_CHECKS = globals().get("_OWN_CHECKS")
if type(_OWN_CHECKS) is not dict:
    _OWN_CHECKS = {}


def passes_own_checks(fn, label: str, check) -> bool:
    """Whether ``check(fn)`` passes (output and penalties set aside); remembered per function
    object and ``label``, the same outcome a visible test cell recorded (:func:`remembered`)."""
    import io

    entry = _OWN_CHECKS.get((id(fn), label))
    if type(entry) is tuple and len(entry) == 2 and entry[0] is fn and type(entry[1]) is bool:
        return entry[1]
    with contextlib.redirect_stdout(io.StringIO()), penalties_aside():
        try:
            remembered(fn, label, lambda: check(fn))
        except GradingError:
            return False
    return True


def remembered(fn, label: str | None, run) -> None:
    """Run ``run()``, a check of ``fn``, and remember whether it passed under ``label`` (None:
    not remembered), for :func:`passes_own_checks`. The visible checks of the functions that
    networks are built from do this, so that a note costs no second run."""
    if label is None:
        return run()
    try:
        run()
    except GradingError:
        _OWN_CHECKS[(id(fn), label)] = (fn, False)
        raise
    _OWN_CHECKS[(id(fn), label)] = (fn, True)


def visible_label(name: str, check, params: dict, **changed) -> str | None:
    """``name`` plus the ``changed`` arguments when ``params`` are ``check``'s defaults with those
    changes (the arguments of a visible test), else None. Tuples compare as lists."""
    import inspect

    defaults = {k: list(p.default) if isinstance(p.default, tuple) else p.default
                for k, p in list(inspect.signature(check).parameters.items())[1:]}
    if {**defaults, **changed} != params:
        return None
    return " ".join([name] + [f"{k}={v!r}" for k, v in sorted(changed.items())])


# ----------------------------------------------------------------------------- the checks


def _check_block(kind: str, fn, params: dict, build) -> None:
    """Build the block twice (constant, then Glorot initializers), compare its structure and
    outputs with the reference; output-neutral deviations cost a penalty (:func:`penalize`)."""
    __tracebackhide__ = True
    verify_environment()
    what = f"{kind}({', '.join(f'{k}={v!r}' for k, v in params.items())})"
    recording = bool(os.environ.get(RECORD_ENV))
    key = case_key(kind, params)
    expected = None if recording else _expected(key, kind, params)
    result, found = {"summary": None, "outputs": {}}, []
    for init_name in ("constant", "glorot_uniform"):
        summ, outputs = _build_block(what, build, params, init_name, expected)
        if recording:
            result["summary"] = summ
            result["outputs"][init_name] = {m: rounded_list(v) for m, v in outputs.items()}
            continue
        found += _block_deviations(what, summ, outputs, expected, init_name)
    if recording:
        record_case(key, result)
        return
    penalize(what, found)
    shape = tuple(expected["summary"][-1]["output_shape"])
    print(f"✓ {what}: {len(expected['summary'])} layers with the reference's structure"
          + (" and settings" if not found else "")
          + f", output shape {shape}, outputs match the reference (inference and training mode).")


def _build_block(what: str, build, params: dict, init_name: str, expected: dict | None):
    """The student's block on a fresh input with this initializer: ``(summary, {"inference":
    array, "training": array})`` on the check's fixed input."""
    __tracebackhide__ = True
    import keras

    X_input = keras.Input(shape=tuple(params["input_shape"][1:]))
    diagnose = None if expected is None else _layer_diagnosis(X_input, expected["summary"])
    out = call_student(build, what, X_input, _initializer(init_name), diagnose=diagnose)
    if not isinstance(out, keras.KerasTensor):
        fail_check(what, f"returned {type(out).__name__}, expected the block's output tensor "
                   "(the KerasTensor X after the final ReLU). Did you forget `return X`?", "not_a_tensor")
    model = keras.Model(X_input, out)
    x = make_input(params["input_shape"], seed=1)
    return _summary.layer_summary(model), {"inference": np.asarray(model(x, training=False)),
                                           "training": np.asarray(model(x, training=True))}


def _block_deviations(what: str, summ: list, outputs: dict, expected: dict, init_name: str) -> list:
    """Compare one build of a block with the reference: raise for what costs the test, return
    the output-neutral deviations (:func:`deviations`)."""
    __tracebackhide__ = True
    ref_summary, built = expected["summary"], summ
    if init_name == "constant":  # the structure with a constant initializer differs only in it
        summ, ref_summary = _strip_init(summ), _strip_init(ref_summary)
    comparison = _summary.compare(summ, ref_summary, what=f"your {_exercise(what)}")
    if comparison.failure():
        fail_check(what, comparison.failure())
    if init_name == "constant":
        inits = {e["config"].get("kernel_initializer") for e in built if e["kind"] == "Conv2D"}
        if inits != {"Constant(value=0.05)"}:
            fail_check(what, f"with initializer=constant the convolutions use {sorted(map(str, inits))}: "
                       + _summary.config_hint("Conv2D", "kernel_initializer"), "initializer_ignored")
    for mode in ("inference", "training"):
        message = compare_output(outputs[mode], expected["outputs"][init_name][mode],
                                 f"BatchNorm in {mode} mode, {init_name} weights")
        if message:
            fail_check(what, comparison.settings[0] if comparison.settings else message, None
                       if comparison.settings else "outputs_differ")
    return deviations(comparison)


def _strip_init(summ: list[dict]) -> list[dict]:
    out = []
    for e in summ:
        e = dict(e, config={k: v for k, v in e["config"].items() if k != "kernel_initializer"})
        out.append(e)
    return out


def rounded_list(array) -> list:
    return np.round(np.asarray(array, dtype="float64"), 7).tolist()


def check_identity_block(identity_block, f=2, filters=(4, 4, 6), stage=1, block="a",
                         input_shape=(3, 4, 4, 6)) -> None:
    """Check ``identity_block`` against the reference for one set of arguments."""
    __tracebackhide__ = True
    params = {"f": f, "filters": list(filters), "stage": stage, "block": block,
              "input_shape": list(input_shape)}
    remembered(identity_block, visible_label("identity_block", check_identity_block, params),
               lambda: _check_block("identity_block", identity_block, params,
                                    lambda X, init: identity_block(X, f=f, filters=list(filters), stage=stage,
                                                                   block=block, initializer=init)))


def check_convolutional_block(convolutional_block, f=2, filters=(4, 4, 6), stage=1, block="a",
                              s=2, input_shape=(3, 4, 4, 6)) -> None:
    """Check ``convolutional_block`` against the reference for one set of arguments."""
    __tracebackhide__ = True
    params = {"f": f, "filters": list(filters), "stage": stage, "block": block, "s": s,
              "input_shape": list(input_shape)}
    remembered(convolutional_block, visible_label("convolutional_block", check_convolutional_block, params),
               lambda: _check_block("convolutional_block", convolutional_block, params,
                                    lambda X, init: convolutional_block(X, f=f, filters=list(filters),
                                                                        stage=stage, block=block, s=s,
                                                                        initializer=init)))


# ----------------------------------------------------------------------------- ResNet50

#: The block functions a ResNet50 calls; the ResNet50 checks replace them by stand-ins.
BLOCK_FUNCTIONS = ("identity_block", "convolutional_block")


def plain_value(value):
    """Arguments as comparable JSON data (numpy integers, tuples, stage given as '2')."""
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    try:
        if int(value) == value:
            return int(value)
    except (TypeError, ValueError):
        pass
    return repr(value)


def student_signature(fn):
    """``inspect.signature(fn)``, or None when it has none (a builtin, a callable object)."""
    import inspect

    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def spec_arguments(names, signature, args: tuple, kwargs: dict) -> dict:
    """The arguments of a call to a stand-in, by the specification's parameter ``names``.

    Positional arguments are taken in the specification's order, then keyword arguments,
    then, for the names not given, the defaults of the student's own ``signature`` (which may
    be anything, even ``*args, **kwargs``; None: no defaults). Names the call does not give
    and the signature does not default are absent.
    """
    arguments = dict(zip(names, args), **kwargs)
    if signature is not None:
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for key, value in bound.arguments.items():
                if key in names:
                    arguments.setdefault(key, value)
        except TypeError:
            pass
    return arguments


@contextlib.contextmanager
def stand_ins(fn, makers: dict):
    """Replace functions of the notebook by stand-ins while ``fn`` runs: ``with stand_ins(fn,
    {"name": make}) as applied: ...``.

    The functions are replaced where ``fn`` looks them up, in its (notebook) globals, by
    ``make(student_function)``, and put back when the block ends, whatever happens in it.
    ``applied`` is False, and nothing is replaced, when ``fn`` has no globals or they lack
    one of the names.
    """
    namespace = getattr(fn, "__globals__", None)
    if not isinstance(namespace, dict) or not all(n in namespace for n in makers):
        yield False
        return
    saved = {n: namespace[n] for n in makers}
    try:
        for name, make in makers.items():
            namespace[name] = make(saved[name])
        yield True
    finally:
        namespace.update(saved)


def _stand_in(kind: str, student_fn, calls: list):
    """A stand-in for the student's block function that records its arguments.

    It returns a single 1×1 convolution with F3 filters and stride s (the output shape of
    the real block), so that what ResNet50 does is checked apart from what the blocks do:
    a mistake inside a block costs points in its own exercise only.
    """
    import keras

    signature = student_signature(student_fn)
    names = ("X", "f", "filters", "stage", "block") + (
        ("s",) if kind == "convolutional_block" else ()) + ("initializer",)

    def block(*args, **kwargs):
        arguments = spec_arguments(names, signature, args, kwargs)
        if kind == "convolutional_block":
            arguments.setdefault("s", 2)  # the specification's default
        if arguments.get("filters") is None or "X" not in arguments:
            raise TypeError(f"{kind} was called without its input X or its filters: "
                            f"{kind}(X, f, filters, stage, block{', s' if 's' in names else ''})")
        X = arguments["X"]
        filters = plain_value(arguments["filters"])
        s = plain_value(arguments["s"]) if kind == "convolutional_block" else 1
        call = {"function": kind, "f": plain_value(arguments.get("f")), "filters": filters,
                "stage": str(arguments.get("stage")), "block": str(arguments.get("block"))}
        if kind == "convolutional_block":
            call["s"] = s
        initializer = arguments.get("initializer")
        default = (signature.parameters["initializer"].default
                   if signature is not None and "initializer" in signature.parameters else None)
        call["initializer"] = ("default" if initializer is default
                               or initializer is keras.initializers.glorot_uniform
                               else getattr(initializer, "__name__", type(initializer).__name__))
        calls.append(call)
        n = len(calls)
        layer = keras.layers.Conv2D(int(filters[-1]), (1, 1), strides=(int(s), int(s)), padding="valid",
                                    name=f"stand_in_{n:02d}",
                                    kernel_initializer=keras.initializers.GlorotUniform(seed=n))
        layer.summary_kind = kind  # summaries and messages call it a block, not a Conv2D
        return layer(X)

    return block


def _with_stand_ins(ResNet50, calls: list, what: str, input_shape, classes):
    """Call ``ResNet50`` with the notebook's block functions replaced by recording stand-ins.

    The blocks are replaced where ResNet50 looks them up, in its (notebook) globals, and put
    back afterwards. Returns ``(model, error)``: ``(None, None)`` when ResNet50 has no such
    globals; ``error`` is the :class:`GradingError` raised while building, if any.
    """
    __tracebackhide__ = True
    makers = {n: (lambda fn, n=n: _stand_in(n, fn, calls)) for n in BLOCK_FUNCTIONS}
    with stand_ins(ResNet50, makers) as applied:
        if not applied:
            return None, None
        try:
            return call_student(ResNet50, what, input_shape=tuple(input_shape), classes=classes), None
        except GradingError as err:
            return None, err


def _call_text(call: dict) -> str:
    args = ", ".join(f"{k}={call[k]!r}" for k in ("f", "filters", "stage", "block", "s") if k in call)
    return f"{call['function']}(X, {args})"


#: the mistake code of a block-call argument that differs (``ResNet50.stage3.stride``)
_CALL_ARGUMENT_CODES = {"stage": "stage_number", "block": "block_letter", "filters": "filters", "f": "window",
                        "s": "stride", "initializer": "initializer"}


def _calls_difference(calls: list[dict], expected: list[dict]) -> str | None:
    """The first difference between the block calls of a ResNet50 and the reference's."""
    def where(c):
        return f"stage {c['stage']}, block '{c['block']}'"

    for i, exp in enumerate(expected):
        if i >= len(calls):
            missing = ", ".join(_call_text(c) for c in expected[i:i + 2])
            return _summary.Difference(
                f"your ResNet50 calls the blocks {len(calls)} times, the reference "
                f"{len(expected)} times: after the last of your calls it continues with "
                f"{missing}{' …' if len(expected) - i > 2 else ''}. Count the blocks of each "
                "stage in the table (3, 4, 6 and 3 in stages 2 to 5).", f"stage{exp['stage']}.missing_blocks")
        got = calls[i]
        if got["function"] != exp["function"]:
            hint = ("Each stage starts with one convolutional block, followed by identity blocks"
                    if exp["function"] == "convolutional_block" else
                    "Only the first block of a stage is a convolutional block")
            if i + 1 < len(calls) and calls[i + 1]["function"] == exp["function"] and \
                    len(calls) > len(expected):
                hint = "is this call one too many? " + hint
            elif len(calls) < len(expected):
                hint = f"is the {exp['function']} of {where(exp)} missing? " + hint
            return _summary.Difference(f"block call {i + 1} of your ResNet50 is {_call_text(got)}, expected "
                                       f"{_call_text(exp)}: {hint}.", f"stage{exp['stage']}.block_type")
        for key, hint in (("stage", "the layer names use the stage number of the table"),
                          ("block", "the layer names use the block letters 'a', 'b', ... of the table"),
                          ("filters", "the filters [F1, F2, F3] of each stage are in the table"),
                          ("f", "every block of ResNet50 uses f=3"),
                          ("s", "stage 2's convolutional block keeps the size (s=1); stages 3, 4 "
                                "and 5 halve it (s=2)"),
                          ("initializer", "ResNet50 uses the blocks' default initializer: do not "
                                          "pass initializer=...")):
            if got.get(key) != exp.get(key):
                return _summary.Difference(
                    f"block call {i + 1} of your ResNet50 ({where(exp)}) is {_call_text(got)}: "
                    f"{key} {got.get(key)!r}, expected {exp.get(key)!r}: {hint}.",
                    f"stage{exp['stage']}.{_CALL_ARGUMENT_CODES[key]}")
    if len(calls) > len(expected):
        return _summary.Difference(
            f"your ResNet50 calls the blocks {len(calls)} times, the reference "
            f"{len(expected)} times: the extra calls start with {_call_text(calls[len(expected)])}.",
            f"stage{calls[len(expected)].get('stage')}.extra_blocks")
    return None


def _check_model(model, expected: dict, input_shape, label: str = "your ResNet50"):
    """Compare a model with ``expected`` (summary, name, output): ``(difference, deviations)``,
    the difference that costs the test (or None) and the output-neutral deviations
    (:func:`deviations`)."""
    import keras

    if not isinstance(model, keras.Model):
        return _summary.Difference(f"returned {type(model).__name__}, expected a keras.Model: end with "
                                   "`model = Model(inputs=X_input, outputs=X, name='ResNet50')` and `return model`.",
                                   "not_a_model"), []
    comparison = _summary.compare(_summary.layer_summary(model), expected["summary"], what=label)
    if comparison.failure():
        return comparison.failure(), []
    if model.name != expected["name"]:
        return _summary.Difference(f"the model is named '{model.name}', expected '{expected['name']}': "
                                   "pass name='ResNet50' to Model(...).", "model_name"), []
    out = np.asarray(model(make_input((2, *input_shape), seed=2), training=False))
    differs = compare_output(out, expected["outputs"]["inference"], "inference mode")
    if differs:
        return (comparison.settings[0] if comparison.settings else _summary.Difference(differs, "outputs_differ")), []
    return None, deviations(comparison)


def _blocks_note(namespace: dict) -> str:
    """A note when the student's blocks fail their own visible checks (no points involved)."""
    for name, check, exercise in (("identity_block", check_identity_block, 1),
                                  ("convolutional_block", check_convolutional_block, 2)):
        if not passes_own_checks(namespace[name], name, check):
            return (f"\nNote: your ResNet50 assembles the blocks correctly, but {name} fails its own "
                    f"tests: fix exercise {exercise} first, then your ResNet50 builds the real network.")
    return ""


def check_ResNet50(ResNet50, input_shape=(64, 64, 3), classes=6) -> None:
    """Check ``ResNet50``: what it does itself, apart from the blocks it calls.

    The notebook's ``identity_block`` and ``convolutional_block`` are replaced by recording
    stand-ins while ResNet50 runs (:func:`_stand_in`): the check compares the blocks'
    arguments (stage, block, filters, f, s), then stage 1 and the head layer by layer and
    the output on a fixed input, with the reference. A ResNet50 built another way (without
    calling the block functions) is compared with the whole reference network instead.
    """
    __tracebackhide__ = True
    verify_environment()
    params = {"input_shape": list(input_shape), "classes": classes}
    what = f"ResNet50(input_shape={tuple(input_shape)}, classes={classes})"
    key = case_key("ResNet50", params)
    recording = bool(os.environ.get(RECORD_ENV))
    expected = None if recording else _expected(key, "ResNet50", params)

    calls: list = []
    stand_in_model, stand_in_error = _with_stand_ins(ResNet50, calls, what, input_shape, classes)
    if recording:
        model = call_student(ResNet50, what, input_shape=tuple(input_shape), classes=classes)
        out = np.asarray(model(make_input((2, *input_shape), seed=2), training=False))
        standin_out = np.asarray(stand_in_model(make_input((2, *input_shape), seed=2), training=False))
        record_case(key, {"summary": _summary.layer_summary(model), "name": model.name,
                      "params": _summary.count_params(model), "outputs": {"inference": rounded_list(out)},
                      "calls": calls,
                      "stand_ins": {"summary": _summary.layer_summary(stand_in_model),
                                    "name": stand_in_model.name,
                                    "outputs": {"inference": rounded_list(standin_out)}}})
        return

    problem = None
    if calls and stand_in_error is not None:
        problem = str(stand_in_error)
    elif calls:
        problem = _calls_difference(calls, expected["calls"])
        if problem is None:
            problem, found = _check_model(stand_in_model, expected["stand_ins"], input_shape)
        if problem is None:
            penalize(what, found)
            p = expected["params"]
            print(f"✓ {what}: stage 1, the {len(calls)} block calls of stages 2 to 5 (stage, block, "
                  f"filters, f, s) and the head match the reference, and so does the output with "
                  f"stand-ins for the blocks. With blocks that pass exercises 1 and 2 this is "
                  f"ResNet50: {p['total']:,} parameters."
                  + _blocks_note(ResNet50.__globals__))
            return
    # No block calls (ResNet50 built another way), or a difference: compare the whole network,
    # so that a ResNet50 that builds the same network another way gets full marks.
    try:
        model = call_student(ResNet50, what, input_shape=tuple(input_shape), classes=classes)
    except GradingError as err:
        if problem is None:
            raise
        whole = str(err)
    else:
        whole, found = _check_model(model, expected, input_shape)
    if whole is None:
        counts = _summary.count_params(model)
        if counts == expected["params"]:
            penalize(what, found)
            p = expected["params"]
            print(f"✓ {what}: {len(expected['summary'])} layers match the reference; {p['total']:,} "
                  f"parameters ({p['trainable']:,} trainable, {p['non_trainable']:,} non-trainable); "
                  f"output shape {tuple(expected['summary'][-1]['output_shape'])} matches.")
            return
        whole = _summary.Difference(f"parameter counts {counts}, expected {expected['params']}.",
                                    "parameter_count")
    if problem is not None and problem.startswith(what):
        raise GradingError(problem)  # already formatted by call_student
    fail_check(what, problem or whole)
