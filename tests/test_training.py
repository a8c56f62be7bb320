"""Training helpers: settings, schedule, initialisation tricks, BatchNorm recalibration, saving."""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from resnet_utils import config, training
from resnet_utils.memory import MemoryLimit

PLENTY = MemoryLimit(24 * 2**30, "the machine's RAM; no cgroup memory limit")
BINDER = MemoryLimit(1_750_000_000, "cgroup v1 hierarchical_memory_limit of /binder")


@pytest.fixture
def full_env(monkeypatch):
    for var in ("NBGRADER_EXECUTION", "RESNET_FAST", "RESNET_MEMORY_LIMIT", *training.ENV_OVERRIDES.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(training, "memory_limit", lambda: PLENTY)   # whatever the test machine has


def test_memory_plan_keeps_the_default_where_it_fits_and_says_why_not_where_it_does_not():
    assert not training.memory_plan(PLENTY).low
    assert not training.memory_plan(MemoryLimit(None, "no cgroup memory limit")).low   # unknown: the default
    assert not training.memory_plan(MemoryLimit(training.FULL_NEEDS_BYTES, "x")).low
    plan = training.memory_plan(BINDER)
    assert plan.low
    assert str(plan) == ("memory: this container may use 1.75 GB (cgroup v1 hierarchical_memory_limit of /binder), "
                         "less than the 2.3 GB the default recipe needs, so this run trains with batch_size=16, "
                         "recalibration_batches=32 and oneDNN's system allocator")


def test_settings_choose_the_low_memory_recipe_only_where_memory_is_short(full_env, monkeypatch):
    default = training.settings()
    assert default.batch_size == training.FULL["batch_size"] and default.memory == ""
    assert "memory:" not in str(default)
    monkeypatch.setattr(training, "memory_limit", lambda: BINDER)
    low = training.settings()
    assert low.batch_size == training.LOW_MEMORY["batch_size"] == 16
    assert low.recalibration_batches * low.batch_size == default.recalibration_batches * default.batch_size
    assert low.epochs == default.epochs and low.learning_rate == default.learning_rate
    first, second = str(low).split("\n")
    assert first.startswith("full mode: ") and "batch_size=16" in first
    assert second == str(training.memory_plan(BINDER))
    assert training.settings(batch_size=8).batch_size == 8               # the student's choice wins
    monkeypatch.setenv("RESNET_BATCH_SIZE", "24")
    assert training.settings().batch_size == 24
    monkeypatch.setenv("RESNET_FAST", "1")                               # fast mode: tiny anyway
    assert training.settings().batch_size == training.FAST["batch_size"] and training.settings().memory == ""


def test_a_memory_limit_by_hand_reaches_the_settings(monkeypatch):
    for var in ("NBGRADER_EXECUTION", "RESNET_FAST", *training.ENV_OVERRIDES.values()):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RESNET_MEMORY_LIMIT", "1750000000")
    s = training.settings()
    assert s.batch_size == 16 and "set with RESNET_MEMORY_LIMIT" in s.memory


@pytest.mark.parametrize("env, fast", [
    ({}, False),
    ({"RESNET_FAST": ""}, False),
    ({"RESNET_FAST": "0"}, False),
    ({"RESNET_FAST": "1"}, True),
    ({"RESNET_FAST": "yes"}, True),
    ({"NBGRADER_EXECUTION": "autograde"}, True),
    ({"NBGRADER_EXECUTION": "validate"}, True),
    ({"NBGRADER_EXECUTION": "formgrade"}, False),
])
def test_one_switch_decides_fast_mode_for_training_and_walkthroughs(full_env, monkeypatch, env, fast):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert config.fast_mode() is fast
    assert training.settings().fast is fast
    assert config.pick("full", "fast") == ("fast" if fast else "full")


@pytest.mark.parametrize("env, drawn", [
    ({}, True),
    ({"RESNET_FAST": "1"}, True),
    ({"NBGRADER_EXECUTION": "autograde"}, False),
    ({"NBGRADER_EXECUTION": "validate"}, False),
])
def test_the_figures_before_the_last_test_are_not_drawn_while_nbgrader_runs_the_notebook(full_env, monkeypatch,
                                                                                          env, drawn):
    from matplotlib.figure import Figure

    from resnet_utils import cifar, plots

    for var, value in env.items():
        monkeypatch.setenv(var, value)
    for name, draw in (("plot_identity_block", plots.plot_identity_block),
                       ("plot_convolutional_block", plots.plot_convolutional_block),
                       ("plot_schedule", lambda: cifar.plot_schedule(lambda epoch: 1e-3))):
        fig = draw()
        assert isinstance(fig, Figure) is drawn
        if not drawn:
            assert repr(fig) == f"({name}: not drawn while nbgrader runs the notebook; figures carry no points)"


@pytest.mark.parametrize("value", ["autograde", "validate"])
def test_nbgrader_execution_selects_fast_mode(monkeypatch, value):
    monkeypatch.delenv("RESNET_FAST", raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", value)
    s = training.settings()
    assert s.fast and s.epochs == 1 and s.n_train <= 32 and s.run_eagerly
    assert "fast mode" in str(s)


def test_the_settings_line_says_why_fast_mode_is_on(monkeypatch):
    """A student who set RESNET_FAST is not told that nbgrader runs the notebook."""
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.setenv("RESNET_FAST", "1")
    assert str(training.settings()).startswith("fast mode (RESNET_FAST is set): epochs=1")
    monkeypatch.delenv("RESNET_FAST")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert str(training.settings()).startswith("fast mode (nbgrader is running this notebook): epochs=1")


def test_full_mode_by_default_and_env_overrides(full_env, monkeypatch):
    s = training.settings()
    assert not s.fast and s.n_train is None and s.epochs == training.FULL["epochs"]
    assert s.seed == 0 and "full mode" in str(s)
    monkeypatch.setenv("RESNET_EPOCHS", "3")
    monkeypatch.setenv("RESNET_SEED", "2")
    assert training.settings().epochs == 3 and training.settings().seed == 2
    monkeypatch.setenv("RESNET_EPOCHS", "three")
    with pytest.raises(ValueError, match="RESNET_EPOCHS"):
        training.settings()


def test_run_seed_is_the_one_seed_setting(full_env, monkeypatch):
    """config.run_seed() (the CIFAR notebook's seed) and training.settings().seed read the same
    variable, config.SEED_ENV; fast mode ignores it."""
    monkeypatch.delenv(config.SEED_ENV, raising=False)
    assert config.run_seed() == 0 and config.run_seed(default=5) == 5
    monkeypatch.setenv(config.SEED_ENV, "2")
    assert config.run_seed() == 2 == training.settings().seed
    monkeypatch.setenv(config.SEED_ENV, "two")
    with pytest.raises(ValueError, match="RESNET_SEED='two' is not a whole number"):
        config.run_seed()
    monkeypatch.setenv(config.SEED_ENV, "2")
    monkeypatch.setenv("RESNET_FAST", "1")
    assert config.run_seed() == 0


def test_bad_settings_are_rejected(full_env):
    with pytest.raises(TypeError, match="unknown training setting"):
        training.settings(epoch=3)
    with pytest.raises(ValueError, match="validation_split"):
        training.settings(validation_split=1.5)
    with pytest.raises(ValueError, match="learning_rate > 0"):
        training.settings().replace(learning_rate=0.0)


def test_schedule_warms_up_then_decays_to_zero(full_env):
    s = training.settings(learning_rate=2e-3, warmup_fraction=0.25)
    schedule = training.learning_rate_schedule(100, s)
    lr = np.array([float(schedule(step)) for step in range(101)])
    assert lr[0] == pytest.approx(2e-3 / 25)
    assert lr[25] == pytest.approx(2e-3) and lr.max() == pytest.approx(2e-3)
    assert np.all(np.diff(lr[:26]) > 0) and np.all(np.diff(lr[25:]) < 0)
    assert lr[100] == pytest.approx(0.0, abs=1e-12)
    assert lr[25 + 37] == pytest.approx(1e-3, rel=0.05)  # half-way down the cosine: half the peak


def test_steps_and_split_follow_the_settings(full_env):
    s = training.settings(batch_size=32, validation_split=0.1)
    assert training.steps_per_epoch(1080, s) == 31          # 972 images to fit, 31 batches
    X, Y = np.arange(20).reshape(20, 1), np.eye(2)[np.arange(20) % 2]
    X_fit, Y_fit, X_val, Y_val = training.split(X, Y, s.replace(validation_split=0.25))
    assert X_fit.ravel().tolist() == list(range(15)) and X_val.ravel().tolist() == list(range(15, 20))
    with pytest.raises(ValueError, match="matching arrays"):
        training.split(X, Y[:5], s)


def _two_identity_blocks(solution):
    import keras

    x_in = keras.Input((6, 6, 8))
    x = solution["identity_block"](x_in, 3, [4, 4, 8], stage=2, block="a")
    x = solution["identity_block"](x, 3, [4, 4, 8], stage=2, block="b")
    return keras.Model(x_in, x)


def test_glorot_seed_0_repeats_kernels_and_redrawing_makes_them_differ(solution, full_env):
    model = _two_identity_blocks(solution)
    a, b = model.get_layer("res2a_branch2b").kernel, model.get_layer("res2b_branch2b").kernel
    assert np.array_equal(np.asarray(a), np.asarray(b))   # the stateless seed-0 initializer
    done = training.prepare(model, training.settings(redraw_kernels=True, zero_init_residual=False))
    assert done == {"zero_gamma": 0, "redrawn": 6}
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    k = np.asarray(a)
    assert k.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 4)), rel=0.25)  # He normal: var 2 / fan_in


def test_zero_init_residual_makes_identity_blocks_the_identity(solution, full_env):
    model = _two_identity_blocks(solution)
    done = training.prepare(model, training.settings(redraw_kernels=False, zero_init_residual=True))
    assert done["zero_gamma"] == 2
    x = np.abs(np.random.default_rng(0).normal(size=(2, 6, 6, 8))).astype("float32")  # x >= 0, as after a ReLU
    np.testing.assert_allclose(np.asarray(model(x, training=False)), x, atol=1e-6)


def test_residual_branch_ends_are_the_2c_batchnorms_of_resnet50(solution):
    model = solution["ResNet50"]((64, 64, 3), 6)
    names = [bn.name for bn in training.residual_branch_ends(model)]
    expected = [f"bn{stage}{block}_branch2c" for stage, blocks in ((2, "abc"), (3, "abcd"), (4, "abcdef"), (5, "abc"))
                for block in blocks]
    assert names == expected


def _bn_net(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    x_in = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(x_in)
    x = keras.layers.BatchNormalization(axis=3)(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(8)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation("relu")(x)
    out = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(x_in, out)


def _shifted_data(n=256, seed=0, offset=20.0):
    """Two classes told apart by the sign of the red channel's deviation, on a large common offset."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(size=(n, 8, 8, 3)) + offset
    X[..., 0] += np.where(y == 1, 0.8, -0.8)[:, None, None]
    return X.astype("float32"), np.eye(2, dtype="float32")[y], y


def test_recalibration_restores_the_accuracy_of_stale_batchnorm_statistics(full_env):
    model = _bn_net()
    s = training.settings(epochs=4, batch_size=32, validation_split=0.0, learning_rate=1e-2, augment=False,
                          label_smoothing=0.0, zero_init_residual=False, recalibration_batches=8, verbose=0)
    X, Y, y = _shifted_data()
    training.compile_with_settings(model, s, len(X))
    history = training.fit(model, X, Y, s)
    assert history.history["accuracy"][-1] > 0.9              # BatchNorm in training mode: it has learnt the task
    assert training.recalibrate_batchnorm(model, X, s) == 8
    fresh = training.accuracy(model, X, y, s)
    assert fresh > 0.9

    # Stale statistics: put back what the moving averages hold before training (mean 0, variance 1),
    # i.e. statistics that do not belong to these weights.
    for bn in training.batchnorm_layers(model):
        bn.moving_mean.assign(np.zeros(bn.moving_mean.shape, "float32"))
        bn.moving_variance.assign(np.ones(bn.moving_variance.shape, "float32"))
    stale = training.accuracy(model, X, y, s)
    shift_stale = training.batchnorm_shift(model, X, s)
    assert stale < 0.75
    assert shift_stale["mean_shift"][0] > 1.0                   # the first BatchNorm's input is far from mean 0

    training.recalibrate_batchnorm(model, X, s)
    shift = training.batchnorm_shift(model, X, s)
    assert training.accuracy(model, X, y, s) == fresh
    assert np.all(shift["mean_shift"] < 0.1) and np.allclose(shift["std_ratio"], 1.0, atol=0.1)
    assert shift["names"] == shift_stale["names"] and len(shift["names"]) == 2


def test_recalibration_equals_the_average_of_batch_statistics(full_env):
    import keras

    model = _bn_net()
    bn = training.batchnorm_layers(model)[0]
    X, _, _ = _shifted_data(n=64)
    s = training.settings(batch_size=16, recalibration_batches=3)
    training.recalibrate_batchnorm(model, X, s)
    conv_out = keras.Model(model.input, bn.input).predict(X[:48], verbose=0).reshape(3, -1, 8)
    np.testing.assert_allclose(np.asarray(bn.moving_mean), conv_out.mean(axis=1).mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(bn.moving_variance), conv_out.var(axis=1).mean(axis=0), rtol=1e-3)
    assert bn.momentum == 0.99 and bn.trainable


def test_fit_augments_in_a_pipeline_and_describe_reports_the_last_epoch(full_env, monkeypatch):
    monkeypatch.setenv("RESNET_FAST", "1")
    s = training.settings()
    aug = training.augmenter(0)
    x = np.random.default_rng(0).random((4, 16, 16, 3)).astype("float32")
    a, b = np.asarray(aug(x, training=True)), np.asarray(aug(x, training=True))
    assert a.shape == x.shape and not np.allclose(a, x) and not np.allclose(a, b)
    np.testing.assert_array_equal(np.asarray(aug(x, training=False)), x)

    model = _bn_net()
    training.compile_with_settings(model, s, 40)
    X, Y, _ = _shifted_data(n=40)
    history = training.fit(model, X, Y, s)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    line = training.describe(history)
    assert line.startswith("after 1 epoch: training accuracy ") and "validation accuracy" in line
    assert training.predict(model, X, s).shape == (s.n_test, 2)
    with pytest.raises(ValueError, match="no accuracy"):
        training.describe({"loss": [1.0]})


def test_saved_model_reloads_with_identical_predictions(tmp_path, full_env):
    import keras

    model = _bn_net()
    s = training.settings(epochs=1, augment=False, verbose=0, run_eagerly=True)  # eager: no seconds of tracing
    X, Y, _ = _shifted_data(n=64)
    training.compile_with_settings(model, s, len(X))
    training.fit(model, X, Y, s)
    training.recalibrate_batchnorm(model, X, s)
    expected = model.predict(X, verbose=0)
    ours, keras_own = tmp_path / "ours.keras", tmp_path / "keras.keras"
    assert training.save_model(model, ours) == ours
    model.save(keras_own)
    # Either file, read either way: the same archive as Keras's own .keras file.
    for reloaded in (training.load_model(ours), keras.models.load_model(ours),
                     training.load_model(keras_own)):
        np.testing.assert_array_equal(reloaded.predict(X, verbose=0), expected)
        for a, b in zip(training.batchnorm_layers(model), training.batchnorm_layers(reloaded)):
            np.testing.assert_array_equal(np.asarray(a.moving_mean), np.asarray(b.moving_mean))
    with zipfile.ZipFile(ours) as a, zipfile.ZipFile(keras_own) as b:
        assert sorted(a.namelist()) == sorted(b.namelist())
        assert a.read("config.json") == b.read("config.json")
    assert training.load_model(ours, compile=True).optimizer is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keras.keras", "ours.keras"]   # no folder left


def test_save_and_load_model_refuse_other_files_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="end the name with .keras"):
        training.save_model(object(), tmp_path / "model.h5")
    with pytest.raises(FileNotFoundError, match="no model file .*missing.keras"):
        training.load_model(tmp_path / "missing.keras")
    not_a_zip = tmp_path / "model.keras"
    not_a_zip.write_text("not a model")
    with pytest.raises(ValueError, match="not a .keras file"):
        training.load_model(not_a_zip)
    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.weights.h5", b"\0" * (8 * 2**20))   # 8 MiB of zeros deflate to ~8 KiB
    with pytest.raises(ValueError, match="decompression bomb"):
        training.load_model(bomb)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.keras", "model.keras"]   # nothing extracted


def test_load_model_extracts_to_the_system_temp_folder_when_the_file_is_in_a_read_only_one(
        tmp_path, full_env, monkeypatch):
    import tempfile

    model = _bn_net()
    path = training.save_model(model, tmp_path / "model.keras")
    real, folders = tempfile.TemporaryDirectory, []

    def read_only_next_to_the_file(*args, **kwargs):
        if kwargs.get("dir") is not None:
            raise PermissionError(13, "Permission denied", str(kwargs["dir"]))
        folders.append(real(*args, **kwargs))
        return folders[-1]

    monkeypatch.setattr(tempfile, "TemporaryDirectory", read_only_next_to_the_file)
    X = _shifted_data(n=8)[0]
    np.testing.assert_array_equal(training.load_model(path).predict(X, verbose=0), model.predict(X, verbose=0))
    assert len(folders) == 1 and not Path(folders[0].name).exists()   # used, then removed


def test_save_and_load_model_do_not_hold_the_weights_file_in_memory(tmp_path, full_env):
    """Keras's model.save and load_model hold the whole 96 MiB weights file in Python memory; ours do not.

    ``tracemalloc`` counts what Python allocates (the in-memory file, its copies), not the
    weights themselves (TensorFlow's memory).
    """
    import tracemalloc

    import keras

    # 24 layers of 4 MiB: 96 MiB of weights.
    model = keras.Sequential([keras.Input((1024,))] + [keras.layers.Dense(1024) for _ in range(24)])

    def python_peak(call, *args):
        tracemalloc.start()
        try:
            call(*args)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    ours, theirs = tmp_path / "ours.keras", tmp_path / "keras.keras"
    saved = {"ours": python_peak(training.save_model, model, ours), "keras": python_peak(model.save, theirs)}
    loaded = {"ours": python_peak(training.load_model, ours),
              "keras": python_peak(keras.models.load_model, theirs, None, False)}
    assert saved["keras"] > 90 and saved["ours"] < 20, saved                 # the file, in memory
    # Loading builds the new model either way (what that costs Python depends on the backend's set-up).
    assert loaded["keras"] - loaded["ours"] > 80, loaded


def test_model_path_is_temporary_in_fast_mode_and_removed_at_exit(full_env, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    assert training.model_path(training.settings()) == Path("resnet50_signs.keras")
    code = ("from resnet_utils import training\n"
            "p = training.model_path(training.settings())\n"
            "p.write_bytes(b'model')\n"
            "print(p, p.exists())\n")
    env = dict(os.environ, NBGRADER_EXECUTION="autograde", TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True).stdout.split()
    path = Path(out[0])
    assert out[1] == "True" and path.parent.parent == tmp_path and path.name == "resnet50_signs.keras"
    assert not path.parent.exists(), "the temporary model folder outlived the kernel"


def test_compile_uses_adamw_with_decay_and_adam_without(full_env):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    training.compile_with_settings(model, training.settings(weight_decay=1e-3), 40)
    assert type(model.optimizer) is keras.optimizers.AdamW
    assert model.optimizer.weight_decay == pytest.approx(1e-3)
    training.compile_with_settings(model, training.settings(weight_decay=0.0), 40)
    assert type(model.optimizer) is keras.optimizers.Adam
    assert model.optimizer.weight_decay is None


def test_schedule_equals_keras_cosine_decay_with_warmup(full_env):
    """The schedule computes what Keras's CosineDecay does, without a conditional in the graph."""
    import keras

    s = training.settings(learning_rate=3e-3, warmup_fraction=0.3)
    ours = training.learning_rate_schedule(248, s)
    warmup = int(round(0.3 * 248))
    keras_schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=3e-3 / 25, decay_steps=248 - warmup, alpha=0.0,
        warmup_target=3e-3, warmup_steps=warmup)
    steps = np.arange(0, 249)
    np.testing.assert_allclose([float(ours(t)) for t in steps], [float(keras_schedule(t)) for t in steps],
                               rtol=1e-5, atol=1e-9)
    assert keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(ours)).get_config() \
        == ours.get_config()
