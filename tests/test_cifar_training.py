"""resnet_utils.cifar: the data (CIFAR-10 from a small archive in Keras' format, or the offline
fallback; never the network in a test), preprocessing, augmentation, callbacks, the recipes and
their schedules, a tiny training run, the unit signals and the figures."""

from __future__ import annotations

import pickle
import tarfile

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
    aug = cifar.augmenter(seed=0)
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


def _cifar10_archive(path, per_batch=10_000):
    """A tar.gz in the layout of cifar-10-python.tar.gz: cifar-10-batches-py/ with five
    training batches and a test batch, pickled dicts of b"data" (N x 3072: the red, green
    and blue planes of 32x32, row by row) and b"labels". Image k of each batch has label
    k % 10 and every value of its red plane equal to k % 256; the first training image's
    red plane counts 0, 1, 2, ... along the rows."""
    import io

    labels = [k % 10 for k in range(per_batch)]
    pixels = np.zeros((per_batch, 3072), np.uint8)
    pixels[:, :1024] = (np.arange(per_batch) % 256)[:, None]
    with tarfile.open(path, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = pixels.copy()
            if name == "data_batch_1":
                batch[0, :1024] = np.arange(1024) % 256
            payload = pickle.dumps({b"data": batch, b"labels": labels})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_cifar10_loads_from_an_archive_in_keras_home(tmp_path, monkeypatch, full_mode, capsys):
    """The real loading path: keras.datasets.cifar10.load_data() finds the archive where Keras
    puts its download (KERAS_HOME/datasets/cifar-10-batches-py-target_archive), unpacks it and
    returns channels-last images; nothing is downloaded (the archive's hash is not CIFAR-10's,
    so Keras' hash check is replaced; a download would fail: the URL is unreachable here)."""
    import keras.src.backend.config as keras_config
    import keras.src.utils.file_utils as file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))            # what resnet_utils.data.keras_home reads
    monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path))  # what Keras read from it at import
    monkeypatch.setattr(file_utils, "validate_file", lambda *a, **k: True)
    monkeypatch.setattr(file_utils.urllib.request, "urlretrieve",
                        lambda *a, **k: pytest.fail("tried to download CIFAR-10"))
    (tmp_path / "datasets").mkdir()
    assert not cifar.cifar10_cached()
    _cifar10_archive(tmp_path / "datasets" / "cifar-10-batches-py-target_archive")
    assert cifar.cifar10_cached()
    d = cifar.load_cifar10_or_fallback(n_test=20, download=False)
    assert capsys.readouterr().out == ""
    assert d.source == "cifar10" and d.class_names == cifar.CLASS_NAMES
    assert d.x_train.shape == (50_000, 32, 32, 3) and d.x_test.shape == (20, 32, 32, 3)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    np.testing.assert_array_equal(d.x_train[0, :, :, 0], (np.arange(1024) % 256).reshape(32, 32))
    assert d.x_train[0, :, :, 1:].max() == 0
    assert (d.x_train[10_007, :, :, 0] == 7).all() and d.y_train[10_007] == 7
    np.testing.assert_array_equal(d.y_test, np.arange(20) % 10)


def test_callbacks_are_the_checkpoint_and_the_schedule(tmp_path):
    import keras

    def schedule(epoch):
        return 1e-3

    ckpt, sched = cifar.callbacks(schedule, tmp_path / "m.keras")
    assert isinstance(ckpt, keras.callbacks.ModelCheckpoint)
    assert ckpt.monitor == "val_accuracy" and ckpt.save_best_only and ckpt.filepath.endswith("m.keras")
    assert isinstance(sched, keras.callbacks.LearningRateScheduler) and sched.schedule is schedule
    with pytest.raises(ValueError, match=".keras"):
        cifar.callbacks(schedule, tmp_path / "m.h5")


def _fit_on_a_plateau(callbacks, epochs=5):
    """Fit a tiny model for ``epochs`` with a loss that never improves by 1e9 after the first
    epoch (so ReduceLROnPlateau(min_delta=1e9, patience=1) fires after every later epoch);
    return the rate used in each epoch."""
    import keras

    keras.utils.set_random_seed(0)
    model = _tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rates = []   # the optimizer's rate during each epoch's first batch
    recorder = keras.callbacks.LambdaCallback(
        on_train_batch_begin=lambda batch, logs: batch or rates.append(float(model.optimizer.learning_rate)))
    x, y = np.zeros((8, 32, 32, 3), "float32"), np.zeros(8, "int64")
    model.fit(x, y, batch_size=8, epochs=epochs, verbose=0, callbacks=[*callbacks, recorder])
    return rates


def test_a_plateau_reduction_is_undone_by_the_scheduler():
    """Why the course drops the Keras example's ReduceLROnPlateau: alone it divides the rate
    after a plateau; beside LearningRateScheduler, the next epoch starts at the schedule's
    rate again, so the reduction never acts."""
    import keras

    def plateau():
        return keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.1, patience=1,
                                                 min_delta=1e9, min_lr=0.0)

    alone = _fit_on_a_plateau([plateau()])
    assert alone == pytest.approx([1e-3, 1e-3, 1e-4, 1e-5, 1e-6])
    with_schedule = _fit_on_a_plateau([keras.callbacks.LearningRateScheduler(lambda e: 1e-3), plateau()])
    assert with_schedule == pytest.approx([1e-3] * 5)


def _paper_schedule(epoch):
    return 1e-3 * (1 if epoch <= 80 else 1e-1 if epoch <= 120 else 1e-2 if epoch <= 160
                   else 1e-3 if epoch <= 180 else 0.5e-3)


def test_recipes(monkeypatch, full_mode):
    assert cifar.recipe("cifar10") is cifar.SHORT["cifar10"]
    assert cifar.recipe("signs-fallback") is cifar.SHORT["signs-fallback"]
    with pytest.raises(ValueError, match="unknown data source 'mnist'"):
        cifar.recipe("mnist")
    fallback = cifar.SHORT["signs-fallback"]
    assert (fallback.n_train, fallback.n_test, fallback.epochs) == (None, None, 30)
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert cifar.recipe("cifar10") is cifar.recipe("signs-fallback") is cifar.FAST
    assert (cifar.PAPER.epochs, cifar.PAPER.batch_size, cifar.PAPER.n_train) == (200, 32, None)
    assert cifar.FAST.epochs == 1 and cifar.FAST.run_eagerly and cifar.FAST.n_train <= 64
    assert str(cifar.PAPER).startswith("paper recipe (Keras example): 200 epochs, batch 32, all training "
                                       "images (5,000 of them held out for validation), all test images")
    assert "5,000 training images (500 of them held out" in str(cifar.SHORT["cifar10"])


def test_a_schedule_is_squeezed_into_the_recipes_epochs():
    """Epoch e of an N-epoch run gets lr_schedule(e * 200 // N): the rate steps come at the
    same fractions of the run as in the 200-epoch recipe."""
    assert cifar.PAPER.schedule(_paper_schedule)(81) == _paper_schedule(81)
    thirty = cifar.SHORT["signs-fallback"]
    squeezed = thirty.schedule(_paper_schedule)
    assert [squeezed(e) for e in (0, 12, 13, 19, 25, 28, 29)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-5, 1e-6, 0.5e-6, 0.5e-6])
    epochs, rates = zip(*thirty.rate_steps(_paper_schedule))
    assert epochs == (0, 13, 19, 25, 28) and rates == pytest.approx((1e-3, 1e-4, 1e-5, 1e-6, 0.5e-6))
    epochs, rates = zip(*cifar.SHORT["cifar10"].rate_steps(_paper_schedule))
    assert epochs == (0, 3, 4, 5) and rates == pytest.approx((1e-3, 1e-4, 1e-5, 1e-6))


def _tiny_model(classes=6):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=4, name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x), name="tiny")


def test_train_uses_the_schedule_and_saves_the_best_model(tmp_path, no_download, full_mode, capsys):
    import keras

    d = cifar.load_cifar10_or_fallback(n_train=24, n_test=8)
    r = cifar.Recipe("test", epochs=2, batch_size=8, n_train=24, n_val=8, n_test=8, run_eagerly=True)
    model = _tiny_model()
    history = cifar.train(model, d, r, _paper_schedule, path=tmp_path / "best.keras")
    h = history.history
    assert len(h["loss"]) == 2 and "val_accuracy" in h
    assert h["learning_rate"] == pytest.approx([1e-3, 1e-4])   # epoch 1 of 2: lr_schedule(100)
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
    fig = cifar.plot_comparison({"ResNet-20 v1": dict(history, learning_rate=[1e-3, 1e-4])})
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy", "Learning rate"]
    assert fig.axes[2].get_yscale() == "log"
    assert list(fig.axes[2].get_lines()[0].get_ydata()) == pytest.approx([1e-3, 1e-4])


def _small_resnet(version, blocks=2):
    """A CIFAR ResNet with the assignment's layer names, v1 (post-activation) or v2
    (pre-activation; its first unit starts from the stem's BN-ReLU, as in the assignment),
    ``blocks`` two-layer units of 8 filters, built without the students' code."""
    import keras
    from keras import layers

    def conv(x, name):
        return layers.Conv2D(8, 3, padding="same", kernel_initializer="he_normal", name=name + "_conv")(x)

    inputs = keras.Input((32, 32, 3))
    x = layers.Activation("relu", name="stem_relu")(layers.BatchNormalization(name="stem_bn")(conv(inputs, "stem")))
    for b in range(1, blocks + 1):
        p = f"stack1_block{b}"
        if version == "v1":
            y = layers.Activation("relu")(layers.BatchNormalization()(conv(x, p + "_1")))
            y = layers.BatchNormalization()(conv(y, p + "_2"))
            x = layers.Activation("relu", name=p + "_out")(layers.Add(name=p + "_add")([x, y]))
        else:
            pre = x if b == 1 else layers.Activation("relu")(layers.BatchNormalization()(x))  # the stem's BN-ReLU
            y = conv(pre, p + "_1")
            y = conv(layers.Activation("relu")(layers.BatchNormalization()(y)), p + "_2")
            x = layers.Add(name=p + "_add")([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(6, activation="softmax")(x), name=f"small_{version}")


def test_unit_signals_measure_each_unit():
    """Per unit: the RMS of its first convolution's input (v2: after BatchNorm and ReLU, so about
    sqrt(1/2) = 0.71; v1: the previous unit's output), of its output and of the loss's gradient
    with respect to that output; depth counts the weighted layers up to the unit's output."""
    import keras
    import tensorflow as tf

    x = np.random.default_rng(0).normal(size=(16, 32, 32, 3)).astype("float32")
    y = np.arange(16) % 6
    keras.utils.set_random_seed(0)
    v1, v2 = _small_resnet("v1", blocks=3), _small_resnet("v2", blocks=3)
    assert cifar.unit_prefixes(v1) == ["stack1_block1", "stack1_block2", "stack1_block3"]
    s1, s2 = cifar.unit_signals(v1, x, y), cifar.unit_signals(v2, x, y)
    assert s1["depth"] == s2["depth"] == [3, 5, 7]
    assert s2["conv_input_rms"] == pytest.approx([0.71] * 3, abs=0.03)
    stem = np.asarray(keras.Model(v1.inputs[0], v1.get_layer("stem_relu").output)(x, training=True))
    assert s1["conv_input_rms"][0] == pytest.approx(float(np.sqrt(np.mean(stem.astype("float64") ** 2))), rel=1e-5)
    out2 = np.asarray(keras.Model(v1.inputs[0], v1.get_layer("stack1_block2_out").output)(x, training=True))
    assert s1["output_rms"][1] == pytest.approx(float(np.sqrt(np.mean(out2.astype("float64") ** 2))), rel=1e-5)
    assert s1["conv_input_rms"][2] == pytest.approx(s1["output_rms"][1], rel=1e-5)
    # the last unit's gradient, computed directly: loss through the head only
    head = keras.Model(v2.get_layer("stack1_block3_add").output, v2.outputs[0])
    last = tf.convert_to_tensor(np.asarray(keras.Model(v2.inputs[0], v2.get_layer("stack1_block3_add").output)(x, training=True)))
    with tf.GradientTape() as tape:
        tape.watch(last)
        loss = keras.losses.SparseCategoricalCrossentropy()(y, head(last, training=True))
    g = np.asarray(tape.gradient(loss, last), dtype="float64")
    assert s2["output_grad"][-1] == pytest.approx(float(np.sqrt(np.mean(g ** 2))), rel=1e-4)
    with pytest.raises(ValueError, match="has no Add layer named"):
        cifar.unit_signals(_tiny_model(), x, y)


def test_probe_batch_is_mean_subtracted(no_download, full_mode):
    d = cifar.load_cifar10_or_fallback(n_train=40, n_test=4)
    x, y = cifar.probe_batch(d, 16)
    assert x.shape == (16, 32, 32, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_array_equal(y, d.y_train[:16])


def test_signal_and_unit_figures():
    from resnet_utils import plots

    s = {"depth": [3, 5], "conv_input_rms": [0.7, 1.2], "output_rms": [1.0, 1.5], "output_grad": [2e-3, 1e-3]}
    fig = cifar.plot_unit_signals({"ResNet-110 v1": s, "ResNet-110 v2": s})
    assert len(fig.axes) == 3 and fig.axes[2].get_yscale() == "log"
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["ResNet-110 v1", "ResNet-110 v2"]
    fig = plots.plot_unit_orders()
    assert [ax.get_title() for ax in fig.axes] == list(plots.UNIT_ORDERS)
    for ax, layers in zip(fig.axes, plots.UNIT_ORDERS.values()):
        boxes = [t.get_text() for t in ax.texts if t.get_gid() == "layer"]
        assert boxes == [text for text, _ in layers]
    a, e = plots.UNIT_ORDERS.values()
    assert a[-1] == ("ReLU", "ReLU") and e[-1] == ("addition", "Add")   # after the addition: ReLU vs nothing
