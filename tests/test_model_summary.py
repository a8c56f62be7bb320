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
