"""A structural summary of a Keras 3 model, and the comparison behind the tests.

``model.summary()`` prints a box table whose width follows the terminal, and Keras 3
removed ``layer.output_shape``; tests therefore compare *structured data*:
:func:`layer_summary` turns a functional model into a list of plain dicts (one per
layer: kind, name, output shape, parameter count, key configuration, inputs) and
:func:`first_difference` names the first thing that differs from a stored reference,
with a hint at the likely cause.

The order of the list does not depend on how the student wrote the code: layers are
listed by a depth-first walk from the output that visits the inputs of a merge
(``Add``) in a fixed order, and layers the specification does not name (ReLU, Add,
padding, pooling, Flatten) are identified by what they are connected to, not by
Keras's automatic names (``activation_17``), which change with every model built.
"""

from __future__ import annotations

import hashlib

#: Layer kinds whose names the exercises prescribe; other layers are matched by structure.
#: ``resnet_layer`` is the CIFAR assignment's grading stand-in for a resnet_layer call, named
#: after the call's ``name`` argument (``resnet_utils.grading_cifar``).
NAMED_KINDS = ("Conv2D", "BatchNormalization", "AveragePooling2D", "Dense", "resnet_layer")

#: Configuration keys compared, per layer kind (in this order).
CONFIG_KEYS = {
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "kernel_initializer"),
    "BatchNormalization": ("axis",),
    "Dense": ("units", "activation", "kernel_initializer"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "ZeroPadding2D": ("padding",),
    "Activation": ("activation",),
}

#: Settings that matter for training, which outputs on one input cannot show (a check may
#: overwrite the weights): a difference in one is structural, whatever the outputs.
TRAINING_KEYS = ("kernel_initializer", "kernel_regularizer")

#: Hints per layer kind and configuration key (``"Kind.key"``, one for every pair of
#: :data:`CONFIG_KEYS`), shown after "<layer>: <key> X, expected Y".
CONFIG_HINTS = {
    "Conv2D.filters": "filters = [F1, F2, F3]: the three convolutions of the main path use F1, F2 "
    "and F3 filters, and the shortcut convolution uses F3 (stage 1's conv1 has 64)",
    "Conv2D.kernel_size": "a block's main path is 1×1, then f×f, then 1×1; its shortcut convolution "
    "is 1×1 (stage 1's conv1 is 7×7)",
    "Conv2D.strides": "in a convolutional block the first 1×1 convolution of the main path and "
    "the shortcut convolution both use strides=(s, s); all other convolutions of a block use "
    "(1, 1) (stage 1's conv1 uses (2, 2))",
    "Conv2D.padding": "the f×f convolution uses padding='same' (it keeps height and width); "
    "for a 1×1 convolution 'valid' and 'same' are the same (stage 1's conv1 uses 'valid')",
    "Conv2D.kernel_initializer": "pass kernel_initializer=initializer(seed=0) to the convolutions "
    "of a block, using the function's `initializer` argument rather than a fixed initializer "
    "(conv1 uses glorot_uniform(seed=0))",
    "BatchNormalization.axis": "BatchNormalization(axis=3) normalises over the channels axis",
    "Dense.units": "the output Dense layer has one unit per class (classes)",
    "Dense.activation": "the output Dense layer uses activation='softmax'",
    "Dense.kernel_initializer": "the output Dense layer uses kernel_initializer=glorot_uniform(seed=0)",
    "MaxPooling2D.pool_size": "stage 1's MaxPooling2D pools (3, 3) windows",
    "MaxPooling2D.strides": "stage 1's MaxPooling2D moves its (3, 3) window with strides=(2, 2)",
    "MaxPooling2D.padding": "stage 1's MaxPooling2D uses the default padding='valid' (no padding)",
    "AveragePooling2D.pool_size": "the head's AveragePooling2D pools (2, 2) windows",
    "AveragePooling2D.strides": "the head's AveragePooling2D uses the default strides, equal to "
    "its pool size (2, 2)",
    "AveragePooling2D.padding": "the head's AveragePooling2D uses the default padding='valid': "
    "with 'same' the pooling pads maps whose size is not a multiple of 2 (at 96×96 stage 5's "
    "3×3 map gives 2×2 instead of 1×1)",
    "ZeroPadding2D.padding": "stage 1 starts with ZeroPadding2D((3, 3)): 3 rows and columns of "
    "zeros on each side",
    "Activation.activation": "the blocks and stage 1 use Activation('relu')",
}


class Difference(str):
    """A difference message (a ``str``) that also carries a short mistake ``code``
    (``relu_instead_of_add``, ``config_strides``, ...), which the checks turn into the
    mistake codes of the grader's class report (see ``resnet_utils.grading.GradingError``)."""

    code: str = "differs"

    def __new__(cls, text: str, code: str = "differs"):
        obj = super().__new__(cls, text)
        obj.code = code
        return obj

    def __add__(self, other):
        return Difference(str.__add__(self, other), self.code)


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "nothing"


def _kind(layer) -> str:
    """The layer's class name, with ReLU written as ReLU however it was made.

    Operations that are not layers (``X + Y`` or ``keras.ops.relu(X)`` on symbolic
    tensors) are reported as ``"<name> operation"``.
    """
    import keras

    name = type(layer).__name__
    if isinstance(getattr(layer, "summary_kind", None), str):  # e.g. a grading stand-in for a block
        return layer.summary_kind
    if not isinstance(layer, keras.layers.Layer):
        return f"{name} operation"
    if name == "Activation":
        act = layer.get_config().get("activation")
        if act == "relu":
            return "ReLU"
        return name
    if name == "ReLU":
        cfg = layer.get_config()
        if not cfg.get("max_value") and not cfg.get("negative_slope") and not cfg.get("threshold"):
            return "ReLU"
    return name


def _plain(value):
    """Configuration values as JSON-friendly, comparable data."""
    if isinstance(value, dict) and "class_name" in value:
        cfg = value.get("config") or {}
        args = ", ".join(
            f"{k}={cfg[k]!r}" for k in sorted(cfg) if cfg[k] is not None and k in ("seed", "value")
        )
        return f"{value['class_name']}({args})"
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _layer_config(layer, kind: str, input_rank: int | None) -> dict:
    cfg = layer.get_config()
    out = {}
    for key in CONFIG_KEYS.get(type(layer).__name__, ()):
        if key not in cfg:
            continue
        value = _plain(cfg[key])
        if key == "axis" and isinstance(value, int) and value < 0 and input_rank:
            value = input_rank + value
        if key == "axis" and isinstance(value, list) and len(value) == 1:
            value = value[0] if value[0] >= 0 or not input_rank else input_rank + value[0]
        if key == "strides" and value is None:
            value = _plain(cfg.get("pool_size"))
        if key == "padding" and isinstance(value, str):
            value = value.lower()  # an argument form: pooling layers keep 'SAME' as written
        out[key] = value
    if type(layer).__name__ == "Conv2D" and all(k == 1 for k in _plain(cfg.get("kernel_size", ()))):
        # a 1x1 window never reaches past the border: 'same' adds no padding, both are 'valid'
        out["padding"] = "valid"
    if kind == "ReLU":
        out.pop("activation", None)
    return out


def _shape(tensor) -> list:
    return [None if d is None else int(d) for d in tensor.shape]


def inputs_of(layer):
    """The layers feeding ``layer`` (through its first inbound node)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return []
    return [node.operation for node in nodes[0].parent_nodes]


def layer_summary(model) -> list[dict]:
    """Describe a functional Keras model layer by layer, in a stable order.

    Each entry has ``kind`` (class name; ReLU however it was written), ``name`` (only
    significant for :data:`NAMED_KINDS`), ``label`` (a readable identifier used in
    messages), ``inputs`` (labels of the layers feeding it), ``sources`` (their indices in
    this list), ``output_shape`` (batch dimension ``None``), ``params`` and ``config`` (the
    keys in :data:`CONFIG_KEYS`).

    The order does not depend on the layers' names (a misnamed layer is then one difference,
    not a shifted walk): a depth-first walk from the output that visits the deeper input of a
    merge first (the main path before the shortcut), ties broken by the kinds of their ancestors.
    """
    outputs = model.outputs if hasattr(model, "outputs") else [model.output]
    shape_of, labels = _structure_keys(outputs)
    order: list = []
    seen: set[int] = set()
    for out in outputs:
        stack = [(out._keras_history.operation, False)]
        while stack:
            layer, expanded = stack.pop()
            if id(layer) in seen:
                continue
            if expanded:
                seen.add(id(layer))
                order.append(layer)
                continue
            stack.append((layer, True))
            parents = sorted(inputs_of(layer), key=lambda p: shape_of[id(p)], reverse=True)
            for p in reversed(parents):
                if id(p) not in seen:
                    stack.append((p, False))
    index = {id(layer): i for i, layer in enumerate(order)}
    return [_entry(i, layer, labels, index) for i, layer in enumerate(order)]


def _structure_keys(outputs) -> tuple[dict, dict]:
    """Per layer (by ``id``): a sort key ``(depth, digest of the kinds above it)`` that ignores
    names, and a readable label (a named layer's name; else its kind and what feeds it)."""
    keys: dict[int, tuple] = {}
    labels: dict[int, str] = {}
    for out in outputs:  # iterative post-order so very deep models do not hit the recursion limit
        stack = [out._keras_history.operation]
        while stack:
            top = stack[-1]
            pending = [p for p in inputs_of(top) if id(p) not in keys]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if id(top) in keys:
                continue
            kind, parents = _kind(top), inputs_of(top)
            above = sorted(keys[id(p)] for p in parents)
            digest = hashlib.sha1(repr([kind, above]).encode()).hexdigest()[:12]
            keys[id(top)] = (1 + max((k[0] for k in above), default=-1), digest)
            if kind in NAMED_KINDS:
                labels[id(top)] = top.name
            elif kind == "InputLayer":
                labels[id(top)] = "the input"
            else:
                labels[id(top)] = _describe(kind, [labels[id(p)] for p in parents])
    return keys, labels


def _entry(index: int, layer, labels: dict, positions: dict) -> dict:
    """One entry of :func:`layer_summary`."""
    kind = _kind(layer)
    parents = inputs_of(layer)
    in_rank = len(parents[0].output.shape) if parents else None
    return {
        "index": index,
        "kind": kind,
        "name": layer.name,
        "label": labels[id(layer)],
        "inputs": sorted(labels[id(p)] for p in parents),
        "sources": sorted(positions[id(p)] for p in parents),
        "output_shape": _shape(layer.output),
        "params": int(layer.count_params()) if getattr(layer, "built", False) else 0,
        "config": _layer_config(layer, kind, in_rank),
    }


def _describe(kind: str, parent_labels: list[str]) -> str:
    """A short label for a layer the specification does not name."""
    short = [p if len(p) <= 40 else p.split(" after ")[0] + " after …" for p in parent_labels]
    if kind == "Add":
        return "Add(" + ", ".join(sorted(short)) + ")"
    if not short:
        return kind
    return f"{kind} after {short[0]}"


#: What each layer the specification does not name is for, said when one is missing.
MISSING_HINTS = {
    "MaxPooling2D": "stage 1 ends with MaxPooling2D((3, 3), strides=(2, 2)) after its ReLU.",
    "ZeroPadding2D": "stage 1 starts with ZeroPadding2D((3, 3)) on the input.",
    "Flatten": "the head is AveragePooling2D, Flatten, then Dense.",
    "Add": "a residual block adds the shortcut with keras.layers.Add()([X, X_shortcut]).",
}


def _counts(entries: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries:
        out[e["kind"]] = out.get(e["kind"], 0) + 1
    return out


def _kind_hint(got: str, expected: str, exp_entry: dict, act_counts: dict | None = None,
               exp_counts: dict | None = None, act_entry: dict | None = None) -> str:
    act_counts, exp_counts = act_counts or {}, exp_counts or {}
    if expected == "Add" and got == "ReLU":
        return ("did you apply a ReLU before adding the shortcut? The last BatchNorm of the "
                "main path goes straight into Add; the ReLU comes after the Add.")
    if expected == "ReLU" and exp_entry["inputs"] and exp_entry["inputs"][0].startswith("Add("):
        return "is the ReLU after the Add missing? A residual block ends with ReLU(main path + shortcut)."
    if act_counts.get(got, 0) > exp_counts.get(got, 0) and act_counts.get(expected, 0) >= exp_counts.get(expected, 0):
        return (f"there is one {got} too many ({act_entry['label'] if act_entry else got}): "
                "compare the order of your layers with the specification.")
    if act_counts.get(expected, 0) < exp_counts.get(expected, 0):
        return f"is the {exp_entry['label']} missing? " + MISSING_HINTS.get(expected, "")
    if expected == "ReLU":
        return f"is the ReLU after {exp_entry['inputs'][0] if exp_entry['inputs'] else 'the previous layer'} missing?"
    if expected == "BatchNormalization":
        return f"is the BatchNormalization after {exp_entry['inputs'][0] if exp_entry['inputs'] else 'the convolution'} missing?"
    if expected == "Add":
        return "a residual block adds the shortcut with keras.layers.Add()([X, X_shortcut])."
    if expected == "Conv2D":
        return "is a convolution missing here (or in the wrong place)?"
    return "compare the order of your layers with the specification."


class Comparison:
    """What differs between two summaries (:func:`compare`).

    ``structure``: the first difference that changes what the network computes for every input
    (a missing, extra or rewired layer, another output shape or parameter count), or None.
    ``settings``: configuration values that differ (``padding``, ``pool_size``, ...), in walk
    order; whether one changes the outputs is for the check to measure (those of
    :data:`TRAINING_KEYS` are structural). ``names``: layers of
    :data:`NAMED_KINDS` whose name differs. ``renames``: ``{name: reference name}`` for every
    named layer, matched by position (to seed weights by the reference's names).
    """

    def __init__(self):
        self.structure: Difference | None = None
        self.settings: list[Difference] = []
        self.names: list[Difference] = []
        self.renames: dict[str, str] = {}

    def failure(self) -> Difference | None:
        """The difference that costs the test whatever the outputs: with a structural difference,
        the first setting that differs before it (its likely cause), else the structural one."""
        if self.structure is None:
            return None
        return self.settings[0] if self.settings else self.structure

    def first(self) -> Difference | None:
        """The first difference of any kind: structure or settings first, names last."""
        return self.failure() or (self.settings or self.names or [None])[0]


def first_difference(actual: list[dict], expected: list[dict], what: str = "your model",
                     hints: dict | None = None) -> str | None:
    """A message naming the first difference between two summaries (:meth:`Comparison.first`),
    or None, e.g. ``"layer 9 is ReLU (ReLU after bn2a_branch2c), expected Add (...): did you
    apply a ReLU before adding the shortcut? ..."``."""
    return compare(actual, expected, what, hints).first()


def compare(actual: list[dict], expected: list[dict], what: str = "your model",
            hints: dict | None = None) -> Comparison:
    """Compare two summaries layer by layer (:class:`Comparison`).

    ``hints`` (another assignment's wording) overrides :data:`CONFIG_HINTS` per
    ``"Kind.key"``; its key ``"name"`` is the hint for a misnamed layer, ``"missing:<Kind>"`` and
    ``"extra:<Kind>"`` the hints for a missing or superfluous named layer of that kind.
    """
    hints = hints or {}
    result = Comparison()
    result.structure = _global_difference(actual, expected, what, hints)
    if result.structure is not None:
        return result
    act_counts, exp_counts = _counts(actual), _counts(expected)
    for i, exp in enumerate(expected):
        if i >= len(actual):
            following = ", ".join(e["label"] for e in expected[i:i + 3])
            result.structure = Difference(
                f"{what} has {len(actual)} layers, the reference has {len(expected)}: after layer "
                f"{i - 1} ({actual[-1]['label'] if actual else '-'}) the reference continues with "
                f"{following}{' …' if len(expected) - i > 3 else ''}: "
                + _kind_hint("nothing", exp["kind"], exp, act_counts, exp_counts), "missing_" + _slug(exp["kind"]))
            return result
        result.structure = _layer_difference(i, actual[i], exp, act_counts, exp_counts, hints, result)
        if result.structure is not None:
            return result
    if len(actual) > len(expected):
        extra = ", ".join(a["label"] for a in actual[len(expected):len(expected) + 3])
        result.structure = Difference(f"{what} has {len(actual)} layers, the reference has {len(expected)}: "
                                      f"unexpected extra layers at the end: {extra}.", "extra_layers")
    return result


def _global_difference(actual, expected, what, hints) -> Difference | None:
    """Differences found before the walk: no Add layer, operations instead of layers, a named
    layer missing or one too many (which would shift every later position of the walk)."""
    exp_kinds = [e["kind"] for e in expected]
    act_kinds = [a["kind"] for a in actual]
    if "Add" in exp_kinds and "Add" not in act_kinds:
        return Difference(f"{what} has no Add layer, but the reference adds the shortcut to the main path "
                "with keras.layers.Add()([X, X_shortcut])"
                + (" (the `+` operator creates an operation, not an Add layer)."
                   if "Add operation" in act_kinds else "."),
                          "plus_operator_instead_of_add" if "Add operation" in act_kinds else "no_add_layer")
    ops = [a for a in actual if a["kind"].endswith(" operation")]
    if ops:
        return Difference(f"{what} uses {ops[0]['kind']} ({ops[0]['label']}) where the specification asks "
                          "for Keras layers: use the layers imported at the top (Add, Activation, ...), "
                          "not operators or keras.ops functions.", "operation_instead_of_layer")
    return _missing_named_layer(actual, expected, _counts(actual), _counts(expected), what, hints)


def _layer_difference(i, act, exp, act_counts, exp_counts, hints, result) -> Difference | None:
    """The structural difference at position ``i``, or None; names and settings that differ
    there are added to ``result``."""
    if act["kind"] != exp["kind"]:
        return Difference(f"layer {i} is {act['kind']} ({act['label']}), expected {exp['kind']} "
                          f"({exp['label']}): {_kind_hint(act['kind'], exp['kind'], exp, act_counts, exp_counts, act)}",
                          f"{_slug(act['kind'])}_instead_of_{_slug(exp['kind'])}")
    if exp["kind"] in NAMED_KINDS:
        result.renames[act["name"]] = exp["name"]
        if act["name"] != exp["name"]:
            result.names.append(Difference(
                f"layer {i} ({exp['kind']}) is named '{act['name']}', expected '{exp['name']}': "
                f"{hints['name'] if 'name' in hints else _name_hint(exp['name'])}", "layer_name"))
    if act["sources"] != exp["sources"]:
        return Difference(f"{exp['label']} takes its input from {', '.join(act['inputs']) or 'nothing'}, "
                          f"expected {', '.join(exp['inputs'])}: check which tensor you pass to it "
                          "(the shortcut starts from the block's input X, saved before the main path).",
                          "wrong_input")
    for key, value in exp["config"].items():
        got = act["config"].get(key)
        if _norm(got) != _norm(value):
            setting = Difference(f"{exp['label']}: {key} {got!r}, expected {value!r}: "
                                 f"{config_hint(exp['kind'], key, hints)}", _slug(key))
            if key in TRAINING_KEYS:
                return setting
            result.settings.append(setting)
    if list(act["output_shape"]) != list(exp["output_shape"]):
        return Difference(f"{exp['label']}: output shape {tuple(act['output_shape'])}, expected "
                          f"{tuple(exp['output_shape'])}: {shape_hint(exp['kind'])}", "output_shape")
    if act["params"] != exp["params"]:
        return Difference(f"{exp['label']}: {act['params']:,} parameters, expected {exp['params']:,}.",
                          "parameter_count")
    return None


#: What decides a layer's output shape, per kind, said when the shape differs (the others:
#: their input's shape, so the cause is before them).
SHAPE_HINTS = {
    "Conv2D": "check the convolution's strides, padding and number of filters.",
    "MaxPooling2D": "check the pooling's pool size, strides and padding.",
    "AveragePooling2D": "check the pooling's pool size, strides and padding.",
    "ZeroPadding2D": "check the padding of ZeroPadding2D.",
    "Dense": "check the Dense layer's number of units.",
}


#: Kinds whose output shape follows from their input's alone.
SHAPE_FOLLOWERS = ("BatchNormalization", "ReLU", "Activation", "Add", "Flatten", "Dropout")


def shape_hint(kind: str) -> str:
    """The hint after "<layer>: output shape X, expected Y" for a layer of this kind."""
    if kind in SHAPE_HINTS:
        return SHAPE_HINTS[kind]
    if kind in SHAPE_FOLLOWERS:
        return (f"{kind} takes its shape from its input: check the layers before it (their strides, "
                "padding and number of filters).")
    return f"check the arguments of this {kind} (its filters and strides)."


def config_hint(kind: str, key: str, hints: dict | None = None) -> str:
    """The hint after ``"<layer>: <key> X, expected Y"`` for a layer of this kind: ``hints``
    (another assignment's wording) then :data:`CONFIG_HINTS`, by ``"Kind.key"``."""
    for table in (hints or {}, CONFIG_HINTS):
        if f"{kind}.{key}" in table:
            return table[f"{kind}.{key}"]
    return "check the specification."


def config_difference(actual: list[dict], expected: list[dict], ignore=(), hints: dict | None = None) -> str | None:
    """The first layer of ``actual`` whose configuration differs from the layer of the same
    name in ``expected`` (named layers only; keys in ``ignore`` skipped), as a message; else None.
    ``hints`` overrides :data:`CONFIG_HINTS` as in :func:`first_difference`."""
    hints = hints or {}
    by_name = {e["name"]: e for e in expected if e["kind"] in NAMED_KINDS}
    for act in actual:
        exp = by_name.get(act["name"]) if act["kind"] in NAMED_KINDS else None
        if exp is None or exp["kind"] != act["kind"]:
            continue
        for key, value in exp["config"].items():
            got = act["config"].get(key)
            if key not in ignore and _norm(got) != _norm(value):
                return Difference(f"{exp['label']}: {key} {got!r}, expected {value!r}: "
                                  f"{config_hint(exp['kind'], key, hints)}", _slug(key))
    return None


def _missing_named_layer(actual, expected, act_counts, exp_counts, what, hints=None) -> str | None:
    """A message when a layer the specification names is missing or one too many.

    Checked before the layer-by-layer walk: a missing layer shifts every later position
    (and the walk order of the paths), so the walk would report a consequence instead.
    """
    act_names = {a["name"] for a in actual if a["kind"] in NAMED_KINDS}
    exp_names = {e["name"] for e in expected if e["kind"] in NAMED_KINDS}
    for kind in NAMED_KINDS:
        n_act, n_exp = act_counts.get(kind, 0), exp_counts.get(kind, 0)
        if n_act < n_exp:
            gone = [e for e in expected if e["kind"] == kind and e["name"] not in act_names]
            if gone:
                e = gone[0]
                after = f" after {e['inputs'][0]}" if e["inputs"] else ""
                hint = {"BatchNormalization": "every convolution is followed by BatchNormalization, "
                        "the shortcut's convolution too (bn_name_base + '1').",
                        "Conv2D": "the main path has three convolutions (2a, 2b, 2c); a "
                        "convolutional block's shortcut has one more (suffix '1').",
                        }.get(kind, "check the specification.")
                hint = (hints or {}).get("missing:" + kind, hint)
                return Difference(f"{what} has {n_act} {kind} layers, the reference {n_exp}: "
                                  f"{kind} '{e['name']}'{after} is missing: {hint}", "missing_" + _slug(kind))
        elif n_act > n_exp:
            extra = [a for a in actual if a["kind"] == kind and a["name"] not in exp_names]
            if extra:
                extra_hint = (hints or {}).get("extra:" + kind)
                where = extra[0]["label"]
                if hints and where == extra[0]["name"] and extra[0]["inputs"]:
                    where = f"after {extra[0]['inputs'][0]}"  # say where an unnamed extra layer is
                return Difference(f"{what} has {n_act} {kind} layers, the reference {n_exp}: "
                                  f"'{extra[0]['name']}' ({where}) is not in the specification."
                                  + (f" {extra_hint}" if extra_hint else ""), "extra_" + _slug(kind))
    return None


def _name_hint(expected: str) -> str:
    if expected.startswith("fc"):
        return "name the output layer 'fc' + str(classes), so that it follows the number of classes."
    if expected in ("conv1", "bn_conv1", "avg_pool"):
        return f"use the exact name '{expected}' given in the specification."
    return ("build the names from conv_name_base / bn_name_base plus the suffix of the "
            "specification ('2a', '2b', '2c' on the main path, '1' on the shortcut), and pass "
            "the block's stage and block letter as given in the table.")


def _norm(value):
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value


def count_params(model) -> dict:
    """Total, trainable and non-trainable parameter counts of a model."""
    def size(weights):
        total = 0
        for w in weights:
            n = 1
            for d in w.shape:
                n *= int(d)
            total += n
        return total

    trainable = size(model.trainable_weights)
    non_trainable = size(model.non_trainable_weights)
    return {"total": trainable + non_trainable, "trainable": trainable, "non_trainable": non_trainable}


# ----------------------------------------------------------------------------- stages

def _stage_of_name(name: str) -> str | None:
    """The ResNet50 stage a layer name belongs to ('1' to '5', 'head'), or None if unnamed."""
    import re

    if name in ("conv1", "bn_conv1"):
        return "1"
    if name == "avg_pool" or re.fullmatch(r"fc\d+", name):
        return "head"
    match = re.fullmatch(r"(?:res|bn)(\d+)[a-z]+_branch(?:1|2[abc])", name)
    return match.group(1) if match else None


def stage_summary(model) -> list[dict]:
    """ResNet50 stage by stage: ``[{"stage", "output_shape", "params", "layers"}, ...]``.

    The first row is the input, the last the head. Layers with a name of the specification
    belong to the stage in their name (``res3b_branch2a`` to stage 3); the others (ReLU,
    Add, padding, pooling, Flatten) to the stage of the layer that feeds them. A stage's
    output shape is that of its last layer; ``params`` counts all its weights, BatchNorm's
    moving statistics included, so the rows add up to ``model.count_params()``.
    """
    import re

    stage_of: dict[int, str] = {}
    rows: dict[str, dict] = {}
    for layer in model.layers:  # a functional model lists its layers in topological order
        kind = _kind(layer)
        if kind == "InputLayer":
            stage = "input"
        else:
            stage = _stage_of_name(layer.name) if kind in NAMED_KINDS else None
            if stage is None:
                parents = inputs_of(layer)
                stage = stage_of.get(id(parents[0]), "1") if parents else "1"
                if stage == "input":
                    stage = "1"
        stage_of[id(layer)] = stage
        row = rows.setdefault(stage, {"stage": stage, "output_shape": None, "params": 0, "names": []})
        row["output_shape"] = tuple(_shape(layer.output)[1:])
        row["params"] += int(layer.count_params()) if getattr(layer, "built", False) else 0
        row["names"].append((kind, layer.name))
    for row in rows.values():
        names = row.pop("names")
        if row["stage"] == "input":
            row["layers"] = "input"
        elif row["stage"] in ("1", "head"):
            short = {"ReLU": "ReLU", "MaxPooling2D": "max-pool", "ZeroPadding2D": "zero-padding",
                     "Flatten": "flatten"}
            row["layers"] = ", ".join(n if k in NAMED_KINDS else short.get(k, k) for k, n in names)
        else:
            letters = sorted({m.group(1) for _, n in names
                              if (m := re.fullmatch(r"res\d+([a-z]+)_branch2a", n))})
            projected = {m.group(1) for _, n in names if (m := re.fullmatch(r"res\d+([a-z]+)_branch1", n))}
            conv = [b for b in letters if b in projected]
            ident = [b for b in letters if b not in projected]
            parts = []
            if conv:
                parts.append("conv block " + ", ".join(conv))
            if ident:
                parts.append(("identity block " if len(ident) == 1 else "identity blocks ")
                             + (f"{ident[0]} to {ident[-1]}" if len(ident) > 3 else ", ".join(ident)))
            row["layers"] = ", ".join(parts) or f"{len(names)} layers"
    order = ["input", "1", "2", "3", "4", "5", "head"]
    return sorted(rows.values(), key=lambda r: order.index(r["stage"]) if r["stage"] in order else 99)


def format_stages(rows: list[dict]) -> str:
    """The rows of :func:`stage_summary` as a text table, with the total parameter count."""
    lines = [f"{'stage':<7}{'output shape':<18}{'parameters':>12}  layers"]
    for r in rows:
        lines.append(f"{r['stage']:<7}{str(tuple(r['output_shape'])):<18}{r['params']:>12,}  {r['layers']}")
    lines.append(f"{'total':<25}{sum(r['params'] for r in rows):>12,}")
    return "\n".join(lines)
