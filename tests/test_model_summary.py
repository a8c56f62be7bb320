"""The structural summary is stable and its comparison names the first difference."""

import keras
from keras import layers

from resnet_utils.summary import count_params, first_difference, layer_summary


def _block(order_shortcut_first: bool, relu_layer: bool = False, name_prefix="res1a"):
    x_in = keras.Input((4, 4, 3))
    x = layers.Conv2D(3, 1, name=name_prefix + "_branch2a")(x_in)
    x = layers.BatchNormalization(axis=3, name="bn1a_branch2a")(x)
    pair = [x_in, x] if order_shortcut_first else [x, x_in]
    x = layers.Add()(pair)
    x = layers.ReLU()(x) if relu_layer else layers.Activation("relu")(x)
    return keras.Model(x_in, x)


def test_order_and_labels_do_not_depend_on_add_input_order_or_auto_names():
    a = layer_summary(_block(False))
    b = layer_summary(_block(True, relu_layer=True))  # ReLU() is the same as Activation('relu')
    assert [e["kind"] for e in a] == ["InputLayer", "Conv2D", "BatchNormalization", "Add", "ReLU"]
    assert first_difference(b, a) is None
    assert a[3]["label"] == "Add(bn1a_branch2a, the input)"
    assert a[1]["config"]["padding"] == "valid" and a[1]["config"]["strides"] == [1, 1]
    assert a[2]["config"]["axis"] == 3


def test_batchnorm_axis_minus_one_equals_three():
    x_in = keras.Input((4, 4, 3))
    m1 = keras.Model(x_in, layers.BatchNormalization(axis=-1, name="bn")(x_in))
    x_in2 = keras.Input((4, 4, 3))
    m2 = keras.Model(x_in2, layers.BatchNormalization(axis=3, name="bn")(x_in2))
    assert first_difference(layer_summary(m1), layer_summary(m2)) is None


def test_wrong_name_is_reported_with_both_names():
    msg = first_difference(layer_summary(_block(False, name_prefix="res1b")), layer_summary(_block(False)))
    assert "named 'res1b_branch2a', expected 'res1a_branch2a'" in msg


def test_plus_operator_instead_of_add_layer_is_explained():
    x_in = keras.Input((4, 4, 3))
    x = layers.BatchNormalization(axis=3, name="bn1a_branch2a")(layers.Conv2D(3, 1, name="res1a_branch2a")(x_in))
    bad = keras.Model(x_in, layers.Activation("relu")(x + x_in))
    msg = first_difference(layer_summary(bad), layer_summary(_block(False)))
    assert "no Add layer" in msg and "`+` operator" in msg


def test_missing_final_relu_and_extra_layers():
    full = layer_summary(_block(False))
    msg = first_difference(full[:-1], full)
    assert "4 layers, the reference has 5" in msg and "ReLU after Add" in msg
    msg = first_difference(full, full[:-1])
    assert "unexpected extra layers" in msg


def test_config_difference_names_layer_key_and_hint():
    x_in = keras.Input((8, 8, 3))
    ref = keras.Model(x_in, layers.Conv2D(2, 3, padding="same", name="res2a_branch2b")(x_in))
    x_in2 = keras.Input((8, 8, 3))
    bad = keras.Model(x_in2, layers.Conv2D(2, 3, padding="valid", name="res2a_branch2b")(x_in2))
    msg = first_difference(layer_summary(bad), layer_summary(ref))
    assert msg.startswith("res2a_branch2b: padding 'valid', expected 'same'")


def test_count_params_splits_trainable_and_batchnorm_statistics():
    counts = count_params(_block(False))
    # conv 3*3+3 = 12; BN: gamma, beta trainable (6), moving mean/var non-trainable (6)
    assert counts == {"total": 24, "trainable": 18, "non_trainable": 6}


def test_deep_model_does_not_hit_recursion_limit():
    x_in = keras.Input((8,))
    x = x_in
    for _ in range(400):
        x = layers.Activation("relu")(x)
    summ = layer_summary(keras.Model(x_in, x))
    assert len(summ) == 401


def test_stage_summary_of_resnet50_adds_up_and_follows_the_stage_table(solution):
    from resnet_utils.summary import format_stages, stage_summary

    model = solution["ResNet50"](input_shape=(64, 64, 3), classes=6)
    rows = stage_summary(model)
    assert [r["stage"] for r in rows] == ["input", "1", "2", "3", "4", "5", "head"]
    assert [r["output_shape"] for r in rows] == [(64, 64, 3), (15, 15, 64), (15, 15, 256), (8, 8, 512),
                                                 (4, 4, 1024), (2, 2, 2048), (6,)]
    assert sum(r["params"] for r in rows) == model.count_params() == 23_600_006
    assert rows[1]["params"] == 7 * 7 * 3 * 64 + 64 + 4 * 64          # conv1 + bn_conv1
    assert rows[-1]["params"] == 2048 * 6 + 6                          # fc6
    assert rows[4]["layers"] == "conv block a, identity blocks b to f"
    text = format_stages(rows)
    assert text.splitlines()[-1].split() == ["total", "23,600,006"]


def test_stage_summary_follows_other_inputs_and_classes(solution):
    from resnet_utils.summary import stage_summary

    rows = stage_summary(solution["ResNet50"](input_shape=(96, 96, 1), classes=10))
    assert rows[-1]["output_shape"] == (10,) and rows[-1]["params"] == 2048 * 10 + 10
    assert rows[2]["output_shape"] == (23, 23, 256)


# what each hint may call the layer it is about (a pooling is not a convolution)
KIND_WORDS = {"Conv2D": ("convolution", "Conv2D", "conv1"), "BatchNormalization": ("BatchNormalization",),
              "Dense": ("Dense",), "MaxPooling2D": ("MaxPooling2D",), "AveragePooling2D": ("AveragePooling2D",),
              "ZeroPadding2D": ("ZeroPadding2D",), "Activation": ("Activation",)}


def _hint_tables():
    from resnet_utils import grading_cifar, summary

    return {"residual_networks": summary.CONFIG_HINTS,
            "resnet_cifar": {k: v for k, v in grading_cifar.HINTS.items() if "." in k}}


def test_every_setting_hint_names_the_kind_of_layer_it_is_about():
    from resnet_utils import summary

    pairs = {f"{kind}.{key}" for kind, keys in summary.CONFIG_KEYS.items() for key in keys}
    assert set(summary.CONFIG_HINTS) == pairs
    for name, table in _hint_tables().items():
        for pair, hint in table.items():
            kind = pair.split(".")[0]
            assert any(w in hint for w in KIND_WORDS[kind]), (name, pair, hint)
            if kind != "Conv2D":
                assert "convolution" not in hint, (name, pair, hint)


def test_every_setting_of_the_cifar_references_has_a_hint_of_its_own():
    import json

    from resnet_utils import grading_cifar, summary

    reference = json.loads(grading_cifar.REFERENCE_FILE.read_text())
    # a stand-in's settings are its call's arguments, compared first with hints of their own
    used = {f"{e['kind']}.{key}" for case in reference.values() for part in (case, case.get("stand_ins") or {})
            for e in part.get("summary", []) for key in e["config"] if e["kind"] != grading_cifar.STAND_IN_KIND}
    assert used and used <= set(grading_cifar.HINTS), used - set(grading_cifar.HINTS)
    assert summary.config_hint("AveragePooling2D", "padding", grading_cifar.HINTS) != \
        summary.config_hint("AveragePooling2D", "padding")


def test_a_pooling_setting_is_said_of_the_pooling():
    from resnet_utils.summary import compare

    def head(padding):
        x_in = keras.Input((4, 4, 2))
        x = layers.AveragePooling2D((2, 2), padding=padding, name="avg_pool")(x_in)
        return keras.Model(x_in, x)

    comparison = compare(layer_summary(head("same")), layer_summary(head("valid")))
    assert comparison.structure is None and comparison.names == []
    assert [d.code for d in comparison.settings] == ["padding"]
    assert "the head's AveragePooling2D uses the default padding='valid'" in comparison.settings[0]
    assert "convolution" not in comparison.settings[0]


def test_a_misnamed_layer_is_one_name_difference_not_a_shifted_walk():
    from resnet_utils.summary import compare

    def block(shortcut_name):
        x_in = keras.Input((4, 4, 3))
        x = layers.Conv2D(3, 1, name="res1a_branch2a")(x_in)
        x = layers.BatchNormalization(axis=3, name="bn1a_branch2c")(x)
        s = layers.Conv2D(3, 1, name=shortcut_name)(x_in)
        s = layers.BatchNormalization(axis=3, name="bn1a_branch1")(s)
        return keras.Model(x_in, layers.Add()([x, s]))

    reference, renamed = layer_summary(block("res1a_branch1")), layer_summary(block("res1a_branch2d"))
    assert [e["kind"] for e in renamed] == [e["kind"] for e in reference]
    comparison = compare(renamed, reference)
    assert comparison.failure() is None and comparison.settings == []
    assert [d.code for d in comparison.names] == ["layer_name"]
    assert "(Conv2D) is named 'res1a_branch2d', expected 'res1a_branch1'" in comparison.names[0]
    assert comparison.renames["res1a_branch2d"] == "res1a_branch1"


def test_every_shape_hint_speaks_of_its_own_kind():
    from resnet_utils import summary

    for kind in list(summary.CONFIG_KEYS) + list(summary.SHAPE_FOLLOWERS) + ["identity_block", "resnet_layer"]:
        hint = summary.shape_hint(kind)
        assert ("convolution" in hint) == (kind == "Conv2D") or kind in summary.SHAPE_FOLLOWERS, (kind, hint)
        assert "pool" not in hint or "Pooling" in kind, (kind, hint)
        assert "units" not in hint or kind == "Dense", (kind, hint)
        if kind in summary.SHAPE_FOLLOWERS:
            assert hint.startswith(f"{kind} takes its shape from its input"), hint
