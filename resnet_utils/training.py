"""Training settings and thin wrappers around Keras's ``compile``/``fit``/``predict``.

The assignment's training section runs in two modes:

- **full** (a student running the notebook): the whole dataset, several epochs, Keras's
  progress bar. Chosen to fit in about 10 minutes on 2 CPU cores and under 2 GB of memory
  (measured by ``bench/bench_notebook.py``).
- **fast** (nbgrader executing the notebook, which sets ``NBGRADER_EXECUTION`` to
  ``autograde`` or ``validate``; or ``RESNET_FAST=1``): a few images and one epoch, run
  eagerly (tracing ResNet50 into a graph alone takes ~45 s on such a CPU), only to show
  that the cells run.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

#: Full-mode defaults; see bench/bench_notebook.py for the time and memory they take.
FULL = dict(epochs=5, batch_size=32, validation_split=0.1, learning_rate=1e-3,
            n_train=None, n_test=None, run_eagerly=False, verbose=1)
#: What nbgrader runs: enough to exercise every cell, nothing more.
FAST = dict(epochs=1, batch_size=8, validation_split=0.34, learning_rate=1e-3,
            n_train=12, n_test=6, run_eagerly=True, verbose=2)


@dataclass(frozen=True)
class Settings:
    """Training settings. ``n_train``/``n_test`` limit the number of images (None: all)."""

    epochs: int
    batch_size: int
    validation_split: float
    learning_rate: float
    n_train: int | None
    n_test: int | None
    run_eagerly: bool
    verbose: int
    fast: bool = False

    def __str__(self) -> str:
        mode = "fast mode (nbgrader is running this notebook)" if self.fast else "full mode"
        shown = {k: v for k, v in asdict(self).items() if k not in ("fast", "verbose")}
        return f"{mode}: " + ", ".join(f"{k}={v}" for k, v in shown.items())


def fast_mode() -> bool:
    """True when nbgrader executes the notebook (or ``RESNET_FAST=1``)."""
    return (os.environ.get("NBGRADER_EXECUTION", "") in ("autograde", "validate")
            or os.environ.get("RESNET_FAST", "") not in ("", "0"))


def settings(**overrides) -> Settings:
    """The settings for this run: fast under nbgrader, full otherwise; keywords override.

    In full mode the environment variables ``RESNET_EPOCHS`` and ``RESNET_BATCH_SIZE``
    change the defaults (used by ``bench/bench_notebook.py``).

    >>> settings(epochs=2).epochs
    2
    """
    fast = fast_mode()
    base = dict(FAST if fast else FULL)
    unknown = set(overrides) - set(base)
    if unknown:
        raise TypeError(f"unknown training setting(s) {sorted(unknown)}; known: {sorted(base)}")
    for key, var in (("epochs", "RESNET_EPOCHS"), ("batch_size", "RESNET_BATCH_SIZE")):
        if os.environ.get(var) and not fast:
            try:
                base[key] = int(os.environ[var])
            except ValueError:
                raise ValueError(f"{var}={os.environ[var]!r} is not a whole number") from None
    base.update(overrides)
    s = Settings(fast=fast, **base)
    if s.epochs < 1 or s.batch_size < 1 or not 0 <= s.validation_split < 1:
        raise ValueError(f"invalid settings {s}: epochs and batch_size must be >= 1 and "
                         "validation_split in [0, 1)")
    return s


def compile_model(model, s: Settings):
    """Compile with Adam, categorical cross-entropy and accuracy (no XLA: slow to compile on CPU)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=s.learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=s.run_eagerly, jit_compile=False)
    return model


def fit(model, X, Y, s: Settings):
    """Train ``model`` on (the first ``s.n_train`` of) X, Y; return Keras's ``History``."""
    n = len(X) if s.n_train is None else min(s.n_train, len(X))
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} examples but Y has {len(Y)}: pass matching arrays "
                         "(Y one-hot, shape (m, classes)).")
    return model.fit(X[:n], Y[:n], epochs=s.epochs, batch_size=s.batch_size,
                     validation_split=s.validation_split, shuffle=True, verbose=s.verbose)


def predict(model, X, s: Settings):
    """Class probabilities for (the first ``s.n_test`` of) X."""
    n = len(X) if s.n_test is None else min(s.n_test, len(X))
    return model.predict(X[:n], batch_size=s.batch_size, verbose=0)

