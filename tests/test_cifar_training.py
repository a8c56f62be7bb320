"""resnet_utils.cifar: the data (CIFAR-10 or the offline fallback, never the network in a
test), preprocessing, augmentation, callbacks, the recipes and a tiny training run."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resnet_utils import cifar, data  # noqa: E402


@pytest.fixture
def no_download(monkeypatch):
    """keras.datasets.cifar10.load_data fails as it does offline, and records its calls."""
    import keras

    calls = []

    def offline():
        calls.append(1)
        raise Exception("URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz: "
                        "None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    return calls


@pytest.fixture
def fake_cifar(monkeypatch):
    import keras

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (40, 1)))
    test = (rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, (20, 1)))
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: (train, test))
    return train, test


@pytest.fixture
def full_mode(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("RESNET_FAST", raising=False)


def test_offline_falls_back_to_the_hand_signs_and_says_so(no_download, full_mode, capsys):
    d = cifar.load_cifar10_or_fallback(n_train=30, n_test=10)
    out = capsys.readouterr().out
    assert no_download == [1]
    assert "CIFAR-10 is not available (Could not load CIFAR-10" in out
    assert "USING THE COURSE'S HAND-SIGN IMAGES INSTEAD: 64×64 resized to 32×32, 6 classes" in out
    assert d.source == "signs-fallback" and len(d.class_names) == 6
    assert d.x_train.shape == (30, 32, 32, 3) and d.x_test.shape == (10, 32, 32, 3)
    assert d.x_train.dtype == np.uint8 and d.y_train.shape == (30,) and set(d.y_train) <= set(range(6))
    X, Y, _, _, _ = data.load_dataset()
    np.testing.assert_array_equal(d.x_train[0], cifar.downscale(X[:1])[0])
    np.testing.assert_array_equal(d.y_train, Y.reshape(-1)[:30])


def test_fast_mode_never_downloads(no_download, monkeypatch, capsys):
    monkeypatch.setenv("RESNET_FAST", "1")
    monkeypatch.setattr(cifar, "cifar10_cached", lambda: False)
    d = cifar.load_cifar10_or_fallback(n_train=8, n_test=4)
    assert no_download == [] and d.source == "signs-fallback"
    assert "this run does not download (fast mode)" in capsys.readouterr().out


def test_fast_mode_uses_a_cached_cifar10(fake_cifar, monkeypatch):
    monkeypatch.setenv("RESNET_FAST", "1")
    monkeypatch.setattr(cifar, "cifar10_cached", lambda: True)
    d = cifar.load_cifar10_or_fallback(n_train=8, n_test=4)
    assert d.source == "cifar10" and d.x_train.shape == (8, 32, 32, 3)


def test_cifar10_when_it_loads(fake_cifar, full_mode, capsys):
    (x_train, y_train), (x_test, y_test) = fake_cifar
    d = cifar.load_cifar10_or_fallback(n_test=5)
    assert capsys.readouterr().out == ""
    assert d.source == "cifar10" and d.class_names == cifar.CLASS_NAMES
    assert d.x_train.shape == (40, 32, 32, 3) and d.x_test.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(d.y_train, y_train.reshape(-1))
    assert "cifar10: 40 training and 5 test images" in str(d)


def test_downscale_averages_blocks():
    img = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(1, 4, 4, 3)
    out = cifar.downscale(img, size=2)
    assert out.shape == (1, 2, 2, 3) and out.dtype == np.uint8
    assert out[0, 0, 0, 0] == round(np.mean([img[0, 0, 0, 0], img[0, 0, 1, 0], img[0, 1, 0, 0], img[0, 1, 1, 0]]))
    with pytest.raises(ValueError, match="multiple of 32"):
        cifar.downscale(np.zeros((1, 40, 40, 3), np.uint8))


def test_subtract_pixel_mean():
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    x_test = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    a, b, mean = cifar.subtract_pixel_mean(x_train, x_test)
    assert a.dtype == b.dtype == np.float32 and mean.shape == (32, 32, 3)
    np.testing.assert_allclose(a.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(b, x_test / 255.0 - mean, atol=1e-6)


def test_augmentation_shifts_and_flips_only_in_training():
    aug = cifar.augmentation(seed=0)
    kinds = [type(layer).__name__ for layer in aug.layers]
    assert kinds == ["RandomTranslation", "RandomFlip"]
    t, f = aug.layers
    assert t.height_factor == 0.1 and t.width_factor == 0.1 and t.fill_mode == "nearest"
    assert f.mode == "horizontal"
    x = np.random.default_rng(0).random((8, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)
    y = np.asarray(aug(x, training=True))
    assert y.shape == x.shape and not np.allclose(y, x)
    assert y.min() >= x.min() - 1e-6 and y.max() <= x.max() + 1e-6  # moves pixels, invents none


def test_dataset_pipeline():
    x = np.zeros((10, 32, 32, 3), "float32")
    y = np.arange(10)
    batches = list(cifar.dataset(x, y, batch_size=4, augment=True, shuffle=True))
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate([b[1].numpy() for b in batches]).tolist()) == list(range(10))


def test_callbacks_are_the_keras_example_recipe(tmp_path):
    import keras

    def schedule(epoch):
        return 1e-3

    ckpt, sched, plateau = cifar.callbacks(schedule, tmp_path / "m.keras")
    assert isinstance(ckpt, keras.callbacks.ModelCheckpoint)
    assert ckpt.monitor == "val_accuracy" and ckpt.save_best_only and ckpt.filepath.endswith("m.keras")
    assert isinstance(sched, keras.callbacks.LearningRateScheduler) and sched.schedule is schedule
    assert isinstance(plateau, keras.callbacks.ReduceLROnPlateau)
    assert plateau.factor == pytest.approx(math.sqrt(0.1)) and plateau.patience == 5
    assert plateau.min_lr == pytest.approx(0.5e-6) and plateau.cooldown == 0
    with pytest.raises(ValueError, match=".keras"):
        cifar.callbacks(schedule, tmp_path / "m.h5")


def test_recipes(monkeypatch, full_mode):
    assert cifar.recipe() is cifar.SHORT
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert cifar.recipe() is cifar.FAST
    assert (cifar.PAPER.epochs, cifar.PAPER.batch_size, cifar.PAPER.n_train) == (200, 32, None)
    assert cifar.FAST.epochs == 1 and cifar.FAST.run_eagerly and cifar.FAST.n_train <= 64
    assert "200 epochs, batch 32, 50,000 (all) training images" in str(cifar.PAPER)


def _tiny_model(classes=6):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x), name="tiny")


def test_train_uses_the_schedule_and_saves_the_best_model(tmp_path, no_download, full_mode, capsys):
    import keras

    d = cifar.load_cifar10_or_fallback(n_train=24, n_test=8)
    rates = {0: 1e-3, 1: 1e-4}
    r = cifar.Recipe("test", epochs=2, batch_size=8, n_train=24, n_val=8, n_test=8, run_eagerly=True)
    model = _tiny_model()
    history = cifar.train(model, d, r, lambda e: rates[e], path=tmp_path / "best.keras")
    h = history.history
    assert len(h["loss"]) == 2 and "val_accuracy" in h
    assert h["learning_rate"] == pytest.approx([1e-3, 1e-4])
    assert history.checkpoint == tmp_path / "best.keras" and history.checkpoint.exists()
    best = keras.models.load_model(history.checkpoint, compile=False)
    assert 0.0 <= cifar.test_accuracy(best, d, r) <= 1.0
    assert model.optimizer.__class__.__name__ == "Adam"
    with pytest.raises(ValueError, match="cannot hold out"):
        cifar.train(_tiny_model(), d, cifar.Recipe("bad", 1, 8, 8, 8, 8), lambda e: 1e-3,
                    path=tmp_path / "x.keras")


def test_checkpoint_path(tmp_path, monkeypatch, full_mode):
    monkeypatch.chdir(tmp_path)
    assert cifar.checkpoint_path("resnet20_v1") == tmp_path.joinpath("checkpoints", "resnet20_v1.keras").relative_to(tmp_path)
    monkeypatch.setenv("RESNET_FAST", "1")
    fast = cifar.checkpoint_path("resnet20_v1")
    assert fast.is_absolute() and fast.name == "resnet20_v1.keras" and fast.parent.exists()


def test_conv_macs():
    model = _tiny_model()
    # conv: 8×8 outputs × 4 filters × 3×3×3 window; dense: 4 × 6
    assert cifar.conv_macs(model) == 8 * 8 * 4 * 27 + 4 * 6


def test_figures():
    fig = cifar.plot_schedule(lambda e: 1e-3 if e <= 80 else 1e-4, epochs=100)
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_title() == "lr_schedule"
    history = {"loss": [2.0, 1.5], "val_loss": [2.1, 1.9], "accuracy": [0.2, 0.4], "val_accuracy": [0.2, 0.3]}
    fig = cifar.plot_comparison({"ResNet-20 v1": history, "ResNet-11 v2": history})
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    labels = [line.get_label() for line in fig.axes[1].get_lines()]
    assert "ResNet-20 v1 (validation)" in labels and "ResNet-11 v2 (train)" in labels
