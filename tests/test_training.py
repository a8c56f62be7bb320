"""Training settings: full for students, tiny when nbgrader executes the notebook."""

import numpy as np
import pytest

from resnet_utils import training


@pytest.mark.parametrize("value", ["autograde", "validate"])
def test_nbgrader_execution_selects_fast_mode(monkeypatch, value):
    monkeypatch.delenv("RESNET_FAST", raising=False)
    monkeypatch.setenv("NBGRADER_EXECUTION", value)
    s = training.settings()
    assert s.fast and s.epochs == 1 and s.n_train <= 32 and s.run_eagerly
    assert "fast mode" in str(s)


def test_full_mode_by_default_and_env_overrides(monkeypatch):
    for var in ("NBGRADER_EXECUTION", "RESNET_FAST", "RESNET_EPOCHS", "RESNET_BATCH_SIZE"):
        monkeypatch.delenv(var, raising=False)
    s = training.settings()
    assert not s.fast and s.n_train is None and s.epochs == training.FULL["epochs"]
    monkeypatch.setenv("RESNET_EPOCHS", "3")
    assert training.settings().epochs == 3
    monkeypatch.setenv("RESNET_EPOCHS", "three")
    with pytest.raises(ValueError, match="RESNET_EPOCHS"):
        training.settings()


def test_bad_settings_are_rejected(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    with pytest.raises(TypeError, match="unknown training setting"):
        training.settings(epoch=3)
    with pytest.raises(ValueError, match="validation_split"):
        training.settings(validation_split=1.5)


def test_fit_and_predict_respect_limits(monkeypatch):
    import keras

    monkeypatch.setenv("RESNET_FAST", "1")
    s = training.settings()
    x_in = keras.Input((4, 4, 3))
    model = keras.Model(x_in, keras.layers.Dense(6, activation="softmax")(keras.layers.Flatten()(x_in)))
    training.compile_model(model, s)
    X = np.random.default_rng(0).random((40, 4, 4, 3), dtype=np.float32)
    Y = np.eye(6, dtype="float32")[np.arange(40) % 6]
    history = training.fit(model, X, Y, s)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert training.predict(model, X, s).shape == (s.n_test, 6)
    with pytest.raises(ValueError, match="matching arrays"):
        training.fit(model, X, Y[:5], s)
