"""Unit tests for resnet_utils.experiments: the builders and probes of the walkthroughs.

These assert the behaviour the walkthrough notebooks talk about (vanishing gradients in a deep
plain net, the identity path of a residual one, graceful block deletion) on small, fast models.
Their figures are tested in tests/test_figures.py.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resnet_utils import experiments as E  # noqa: E402


@pytest.fixture(scope="module")
def teacher():
    x, y = E.make_teacher_dataset(n=256, dim=32, num_classes=4, seed=0)
    return x, y


def dense_pair(depth, **kwargs):
    E.set_seed(0)
    plain = E.build_dense_net(depth, residual=False, **kwargs)
    res = E.build_dense_net(depth, residual=True, **kwargs)
    return plain, res


# ------------------------------------------------------------------ fast mode, data


def test_pick_follows_fast_mode(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("RESNET_FAST", raising=False)
    assert not E.fast_mode()
    assert E.pick(10, 1) == 10
    monkeypatch.setenv("RESNET_FAST", "0")
    assert E.pick(10, 1) == 10
    monkeypatch.setenv("RESNET_FAST", "1")
    assert E.fast_mode()
    assert E.pick(10, 1) == 1
    monkeypatch.delenv("RESNET_FAST")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")  # the walkthroughs follow the same switch
    assert E.pick(10, 1) == 1


def test_teacher_dataset_is_deterministic_and_balanced():
    x, y = E.make_teacher_dataset(n=2048, dim=32, num_classes=4, seed=0)
    x2, y2 = E.make_teacher_dataset(n=2048, dim=32, num_classes=4, seed=0)
    assert x.shape == (2048, 32) and x.dtype == np.float32 and y.shape == (2048,)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    counts = np.bincount(y, minlength=4)
    assert counts.min() > 0.15 * len(y)  # every class is well represented


def test_prepare_images_downsamples_and_flattens_labels():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)
    Y = np.array([[0, 1, 2, 3, 4]])
    x, y = E.prepare_images(X, Y, size=32)
    assert x.shape == (5, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    # area resizing by 2 is the mean of each 2x2 block
    np.testing.assert_allclose(x[0, 0, 0], X[0, :2, :2].reshape(4, 3).mean(0) / 255, atol=1e-5)
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 4])
    assert y.dtype == np.int32
    assert E.prepare_images(X, size=None).shape == (5, 64, 64, 3)


# ------------------------------------------------------------------ dense networks (notebook 01)


@pytest.mark.parametrize("depth", [4, 10, 30])
def test_dense_builder_depth_and_parameters(depth):
    plain, res = dense_pair(depth, width=64, input_dim=32, num_classes=4)
    assert len(E.weight_layers(plain)) == len(E.weight_layers(res)) == depth
    expected = (32 * 64 + 64) + (depth - 2) * (64 * 64 + 64) + (64 * 4 + 4)
    assert plain.count_params() == res.count_params() == expected
    assert plain.output_shape == (None, 4)
    n_add = sum(layer.__class__.__name__ == "Add" for layer in res.layers)
    assert n_add == (depth - 2) // 2
    assert not any(layer.__class__.__name__ == "Add" for layer in plain.layers)
    assert len(E.activation_layers(res)) == 1 + (depth - 2) // 2


def test_dense_builder_rejects_bad_arguments():
    with pytest.raises(ValueError):
        E.build_dense_net(9)
    with pytest.raises(ValueError):
        E.build_dense_net(2)
    with pytest.raises(ValueError):
        E.build_dense_net(10, init="zeros")


def test_small_init_plain_net_gradients_vanish_residual_ones_do_not(teacher):
    x, y = teacher
    plain, res = dense_pair(30, init="small")
    gp, gr = E.gradient_norms(plain, x, y), E.gradient_norms(res, x, y)
    assert gp.shape == gr.shape == (30,)
    assert np.all(np.isfinite(gp)) and np.all(np.isfinite(gr))
    # the first layer of the plain net gets a gradient many orders of magnitude smaller
    assert gp[0] < 1e-10 * gr[0]
    assert gr[0] > 1e-3
    # the backward signal dL/da decays exponentially towards the input in the plain net only
    ap, ar = E.activation_gradient_norms(plain, x, y), E.activation_gradient_norms(res, x, y)
    assert ap.shape == ar.shape == (15,)
    assert ap[0] < 1e-10 * ap[-1]
    assert 0.1 < ar[0] / ar[-1] < 10


def test_vanishing_gets_worse_with_depth(teacher):
    x, y = teacher
    first = []
    for depth in (10, 20, 30):
        plain, _ = dense_pair(depth, init="small")
        first.append(E.gradient_norms(plain, x, y)[0])
    assert first[0] > 1e3 * first[1] > 1e6 * first[2]


def test_batchnorm_plain_net_gradients_explode_towards_input(teacher):
    x, y = teacher
    plain, res = dense_pair(30, init="he", batchnorm=True)
    gp, gr = E.gradient_norms(plain, x, y), E.gradient_norms(res, x, y)
    assert gp[0] / gp[-1] > 10 * (gr[0] / gr[-1])


def test_jacobian_singular_values_identity_path():
    plain = E.jacobian_singular_values(10, width=32, residual=False, init="small")
    res = E.jacobian_singular_values(10, width=32, residual=True, init="small")
    assert plain.shape == res.shape == (32,)
    assert np.all(np.diff(res) <= 1e-9)  # sorted, largest first
    assert plain[0] < 1e-4
    assert 0.5 < np.median(res) < 2.0


def test_track_gradients_records_every_step_and_residual_learns(teacher):
    x, y = teacher
    plain, res = dense_pair(10, init="small")
    tp = E.track_gradients(plain, x, y, steps=40, batch_size=32, learning_rate=0.05)
    tr = E.track_gradients(res, x, y, steps=40, batch_size=32, learning_rate=0.05)
    for t in (tp, tr):
        assert t["loss"].shape == (40,) and t["accuracy"].shape == (40,)
        assert t["grad_norms"].shape == (40, 10)
    # row 0 is the gradient at initialisation, on the first shuffled mini-batch, before any update
    first_batch = np.random.default_rng(0).permutation(len(x))[:32]
    _, fresh = dense_pair(10, init="small")
    np.testing.assert_allclose(tr["grad_norms"][0], E.gradient_norms(fresh, x[first_batch], y[first_batch]), rtol=1e-4)
    assert tr["loss"][-10:].mean() < tr["loss"][0] - 0.1  # the residual net learns
    assert tp["grad_norms"][:, 0].max() < 1e-3 * tr["grad_norms"][:, 0].min()


# ------------------------------------------------------------------ CIFAR-style networks (02, 03)


@pytest.mark.parametrize("n", [1, 3])
def test_cifar_builder_is_6n_plus_2_with_equal_parameters(n):
    E.set_seed(0)
    plain = E.build_cifar_net(n, residual=False, input_shape=(16, 16, 3))
    res = E.build_cifar_net(n, residual=True, input_shape=(16, 16, 3))
    assert E.count_weight_layers(plain) == E.count_weight_layers(res) == 6 * n + 2
    assert plain.count_params() == res.count_params()  # option A shortcuts: no weights
    assert res.name == f"resnet{6 * n + 2}" and plain.name == f"plain{6 * n + 2}"
    assert sum(layer.name.endswith("_add") for layer in res.layers) == 3 * n
    assert not any(layer.name.endswith("_add") for layer in plain.layers)
    assert res.output_shape == (None, 6)


def test_resnet20_matches_the_paper_size():
    E.set_seed(0)
    model = E.build_cifar_net(3, residual=True, input_shape=(32, 32, 3), num_classes=10)
    # He et al. (2015), Table 6: ResNet-20 has 0.27M parameters
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert 0.26e6 < trainable < 0.28e6
    assert model.get_layer("stage1_out").output.shape[1:] == (32, 32, 16)
    assert model.get_layer("stage2_out").output.shape[1:] == (16, 16, 32)
    assert model.get_layer("stage3_out").output.shape[1:] == (8, 8, 64)


def test_shortcut_a_subsamples_and_zero_pads():
    x = np.arange(2 * 4 * 4 * 2, dtype="float32").reshape(2, 4, 4, 2)
    out = np.asarray(E.ShortcutA(6, 2)(x))
    assert out.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(out[..., 2:4], x[:, ::2, ::2, :])
    assert np.all(out[..., :2] == 0) and np.all(out[..., 4:] == 0)
    assert E.ShortcutA(6, 2).compute_output_shape((None, 5, 5, 2)) == (None, 3, 3, 6)
    assert E.ShortcutA.from_config(E.ShortcutA(6, 2).get_config()).filters == 6


def test_skip_blocks_and_copy_weights_by_name():
    E.set_seed(0)
    full = E.build_cifar_net(1, residual=True, input_shape=(16, 16, 3))
    pruned = E.build_cifar_net(1, residual=True, input_shape=(16, 16, 3), skip_blocks={"s2b1"}, seed=1)
    assert E.count_weight_layers(pruned) == 6
    copied = E.copy_weights_by_name(full, pruned)
    assert copied == sum(bool(layer.weights) for layer in pruned.layers)
    for layer in pruned.layers:
        for a, b in zip(layer.get_weights(), full.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):
        E.build_cifar_net(1, skip_blocks={"s9b9"})
    assert E.block_names(2) == ["s1b1", "s1b2", "s2b1", "s2b2", "s3b1", "s3b2"]


def _relative_change_when_deleting(model, residual, block, x):
    pruned = E.build_cifar_net(3, residual=residual, input_shape=(16, 16, 3), skip_blocks={block})
    E.copy_weights_by_name(model, pruned)
    full_out = np.asarray(model(x, training=False))  # eager calls: no tracing of six models
    pruned_out = np.asarray(pruned(x, training=False))
    return np.linalg.norm(full_out - pruned_out) / np.linalg.norm(full_out)


def test_deleting_a_block_changes_a_plain_net_more_than_a_residual_one():
    rng = np.random.default_rng(0)
    x = rng.random((16, 16, 16, 3), dtype=np.float32)
    E.set_seed(0)
    plain = E.build_cifar_net(3, residual=False, input_shape=(16, 16, 3))
    res = E.build_cifar_net(3, residual=True, input_shape=(16, 16, 3))
    for block in ("s1b2", "s3b2"):
        change_plain = _relative_change_when_deleting(plain, False, block, x)
        change_res = _relative_change_when_deleting(res, True, block, x)
        assert change_plain > 1.5 * change_res, (block, change_plain, change_res)


def test_residual_ratios_stage_outputs_and_ablation():
    rng = np.random.default_rng(0)
    x = rng.random((12, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 6, 12)
    E.set_seed(0)
    res = E.build_cifar_net(1, residual=True, input_shape=(16, 16, 3))
    plain = E.build_cifar_net(1, residual=False, input_shape=(16, 16, 3))
    ratios = E.residual_ratios(res, x)
    assert list(ratios) == E.block_names(1)
    assert all(np.isfinite(r) and r > 0 for r in ratios.values())
    with pytest.raises(ValueError):
        E.residual_ratios(plain, x)
    maps = E.stage_outputs(res, x)
    assert {k: v.shape for k, v in maps.items()} == {
        "stem": (12, 16, 16, 16), "stage1": (12, 16, 16, 16), "stage2": (12, 8, 8, 32), "stage3": (12, 4, 4, 64),
    }
    abl = E.ablate_blocks(res, x, y, n=1, residual=True)
    assert list(abl) == ["full"] + E.block_names(1)
    assert all(0.0 <= v <= 1.0 for v in abl.values())

    def accuracy(model):
        return np.mean(np.asarray(model(x, training=False)).argmax(1) == y)

    assert abl["full"] == pytest.approx(accuracy(res))
    # each entry is the trained network with that one block deleted
    pruned = E.build_cifar_net(1, residual=True, input_shape=(16, 16, 3), skip_blocks={"s2b1"})
    E.copy_weights_by_name(res, pruned)
    assert abl["s2b1"] == pytest.approx(accuracy(pruned))


def test_train_model_returns_history():
    rng = np.random.default_rng(0)
    x = rng.random((32, 16, 16, 3), dtype=np.float32)
    y = rng.integers(0, 6, (1, 32))  # the course's (1, m) label layout is accepted
    E.set_seed(0)
    model = E.build_cifar_net(1, residual=True, input_shape=(16, 16, 3))
    before = [np.array(w) for w in model.trainable_weights]
    h = E.train_model(model, x, y, x[:8], y[0, :8], epochs=2, batch_size=16)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_time"):
        assert len(h[key]) == 2, key
    assert all(0.0 <= a <= 1.0 for a in h["accuracy"] + h["val_accuracy"])
    # the 8-layer net: stem 3x3x3x16 + BN, stages of 16, 32, 64 filters (+ BN), 64 x 6 dense
    assert h["params"] == 75_510
    assert any(not np.array_equal(a, np.array(b)) for a, b in zip(before, model.trainable_weights))  # it trained
    assert model.compiled  # afterwards, so that model.evaluate works
    h2 = E.train_model(model, x, y, epochs=1, batch_size=16, augment=True, optimizer="sgd", learning_rate=0.01)
    assert len(h2["loss"]) == 1 and "val_accuracy" not in h2
    with pytest.raises(ValueError):
        E.train_model(model, x, y, optimizer="rmsprop")
