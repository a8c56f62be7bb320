"""Training the assignment's ResNet50: settings, the recipe, and BatchNorm recalibration.

The student's network is never changed here; everything about *training* is:

- :func:`prepare`: zero-initialise the last BatchNorm scale :math:`\\gamma` of every
  residual branch (each identity block then starts as the identity, Goyal et al. 2017) and
  optionally re-draw the convolution kernels with independent seeds.
- :func:`compile_with_settings`: AdamW with a one-cycle-like schedule (linear warm-up, then
  cosine decay to zero; :func:`learning_rate_schedule`) and label smoothing.
- :func:`fit`: a ``tf.data`` pipeline (optionally with random shifts, rotations and zooms,
  Keras preprocessing layers), validation on held-out training images.
- :func:`recalibrate_batchnorm` ("precise BatchNorm", Wu & Johnson 2021): recompute every
  BatchNorm layer's moving mean and variance as the plain average of batch statistics of
  the *final* weights, on un-augmented training images.
- :func:`batchnorm_shift`: how far each BatchNorm layer's moving statistics are from the
  statistics of what it actually receives at inference time (the notebook's figure).

Two modes:

- **full** (a student running the notebook): the recipe above, sized by epochs so that the
  whole notebook fits the time target of ``bench/bench_notebook.py`` on a slow 2-core CPU
  (it measures time, memory and accuracy; ``bench/results/notebook.json`` has the target and
  the figures, ``bench/results/training_curve.json`` what other epoch counts give).
- **fast** (:func:`resnet_utils.config.fast_mode`: nbgrader executing the notebook, which
  sets ``NBGRADER_EXECUTION`` to ``autograde`` or ``validate``; or ``RESNET_FAST=1``): a few
  images and one epoch, run
  eagerly (tracing ResNet50 into a graph alone costs more than such a run: the first training
  step's time, graph vs eager, is ``first_step_s`` in ``bench/results/training_memory.json``),
  only to show that the cells run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import weakref
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .config import SEED_ENV, fast_mode, nbgrader_running
from .memory import MemoryLimit, memory_limit

#: Full-mode defaults; ``bench/results/notebook.json`` has the time, memory and accuracy.
FULL = dict(epochs=8, batch_size=32, validation_split=0.1, learning_rate=3e-3,
            warmup_fraction=0.3, weight_decay=5e-4, label_smoothing=0.1, augment=False,
            zero_init_residual=True, redraw_kernels=False, recalibration_batches=16,
            seed=0, n_train=None, n_test=None, run_eagerly=False, verbose=1)
#: What nbgrader runs: enough to exercise every cell, nothing more.
FAST = dict(FULL, epochs=1, batch_size=8, validation_split=0.34, recalibration_batches=1,
            n_train=12, n_test=6, run_eagerly=True, verbose=2)
#: Environment variables that change full-mode settings (used by bench/bench_notebook.py).
ENV_OVERRIDES = {"epochs": "RESNET_EPOCHS", "batch_size": "RESNET_BATCH_SIZE", "seed": SEED_ENV}

#: The memory, in bytes, that a full run of the notebook with :data:`FULL` needs: its peak of
#: anonymous memory plus the peak of mapped library pages (the code TensorFlow runs), both as
#: charged to a memory cgroup without a limit holding the kernel and the process driving it,
#: rounded up to 0.1 GB (``bench/results/binder.json``, the run "no limit": ``anon_peak_mib`` +
#: ``mapped_file_peak_mib``).
#: With less, the page cache that the libraries need is evicted and read back over and over.
FULL_NEEDS_BYTES = 2_300_000_000
#: What a full run changes where its container allows less (:func:`memory_plan`): half the
#: batch (the activations of a training step halve), the same number of recalibration images.
LOW_MEMORY = dict(batch_size=16, recalibration_batches=32)
#: Set before TensorFlow loads where memory is short (:func:`resnet_utils.cpu.tune`): oneDNN
#: allocates through malloc instead of its own pool, which never gives memory back, so what
#: earlier cells freed (the models the tests built) is returned to the system.
LOW_MEMORY_ENV = {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "1"}


@dataclass(frozen=True)
class MemoryPlan:
    """Whether a full run must save memory (``low``) and the limit that decided it."""

    limit: MemoryLimit
    low: bool

    def __str__(self) -> str:
        if not self.low:
            return f"memory: {self.limit}; the default recipe needs about {FULL_NEEDS_BYTES / 1e9:.1f} GB"
        changes = ", ".join(f"{k}={v}" for k, v in LOW_MEMORY.items())
        return (f"memory: this container may use {self.limit}, less than the {FULL_NEEDS_BYTES / 1e9:.1f} GB "
                f"the default recipe needs, so this run trains with {changes} and oneDNN's system allocator")


def memory_plan(limit: MemoryLimit | None = None) -> MemoryPlan:
    """The plan for this process's memory limit (:func:`resnet_utils.memory.memory_limit` unless given).

    ``low`` when the limit is known and below :data:`FULL_NEEDS_BYTES`; an unknown limit
    keeps the default recipe.
    """
    limit = memory_limit() if limit is None else limit
    return MemoryPlan(limit, limit.bytes is not None and limit.bytes < FULL_NEEDS_BYTES)


@dataclass(frozen=True)
class Settings:
    """Training settings (see :data:`FULL`). ``n_train``/``n_test`` limit the number of images (None: all).

    ``learning_rate`` is the peak of the schedule: it rises linearly from
    ``learning_rate / 25`` over the first ``warmup_fraction`` of the steps, then falls to 0
    along a half cosine.
    """

    epochs: int
    batch_size: int
    validation_split: float
    learning_rate: float
    warmup_fraction: float
    weight_decay: float
    label_smoothing: float
    augment: bool
    zero_init_residual: bool
    redraw_kernels: bool
    recalibration_batches: int
    seed: int
    n_train: int | None
    n_test: int | None
    run_eagerly: bool
    verbose: int
    fast: bool = False
    memory: str = ""

    def __str__(self) -> str:
        why = "nbgrader is running this notebook" if nbgrader_running() else "RESNET_FAST is set"
        mode = f"fast mode ({why})" if self.fast else "full mode"
        shown = {k: v for k, v in asdict(self).items() if k not in ("fast", "verbose", "memory")}
        line = f"{mode}: " + ", ".join(f"{k}={v}" for k, v in shown.items())
        return line + (f"\n{self.memory}" if self.memory else "")

    def replace(self, **changes) -> "Settings":
        """A copy with ``changes`` applied (checked like :func:`settings`)."""
        return _checked(replace(self, **changes))


def _checked(s: Settings) -> Settings:
    if (s.epochs < 1 or s.batch_size < 1 or not 0 <= s.validation_split < 1
            or s.learning_rate <= 0 or not 0 <= s.warmup_fraction < 1 or s.weight_decay < 0
            or not 0 <= s.label_smoothing < 1 or s.recalibration_batches < 0):
        raise ValueError(f"invalid settings {s}: epochs and batch_size must be >= 1, "
                         "validation_split, warmup_fraction and label_smoothing in [0, 1), "
                         "learning_rate > 0, weight_decay and recalibration_batches >= 0")
    return s


def settings(**overrides) -> Settings:
    """The settings for this run: fast under nbgrader, full otherwise; keywords override.

    In full mode, where the container's memory limit is below what the default recipe needs
    (:func:`memory_plan`), :data:`LOW_MEMORY` changes the defaults and ``memory`` says why
    (printing the settings shows it). In full mode the environment variables ``RESNET_EPOCHS``, ``RESNET_BATCH_SIZE`` and
    ``RESNET_SEED`` change the defaults (used by ``bench/bench_notebook.py``).

    >>> settings(epochs=2).epochs
    2
    """
    fast = fast_mode()
    base = dict(FAST if fast else FULL)
    plan = None if fast else memory_plan()
    if plan is not None and plan.low:
        base.update(LOW_MEMORY)
    unknown = set(overrides) - set(base)
    if unknown:
        raise TypeError(f"unknown training setting(s) {sorted(unknown)}; known: {sorted(base)}")
    for key, var in ENV_OVERRIDES.items():
        if os.environ.get(var) and not fast:
            try:
                base[key] = int(os.environ[var])
            except ValueError:
                raise ValueError(f"{var}={os.environ[var]!r} is not a whole number") from None
    base.update(overrides)
    return _checked(Settings(fast=fast, memory=str(plan) if plan is not None and plan.low else "", **base))


# --------------------------------------------------------------------------------------
# Before training: initialisation tricks that leave the architecture as it is
# --------------------------------------------------------------------------------------

def batchnorm_layers(model) -> list:
    """The model's BatchNormalization layers, in the order they are used."""
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def residual_branch_ends(model) -> list:
    """The BatchNorm layer that ends each residual branch: the one feeding an ``Add`` from the main path.

    Found from the graph, not from names (``bn..._branch2c`` in the assignment's naming):
    for every ``Add`` layer, the BatchNorm among its inputs if there is one (identity
    block: the other input is the shortcut itself); if both inputs come from a BatchNorm
    (projection shortcut), the one farther from the model's input, since the main path
    has three convolutions and the shortcut one.
    """
    import keras

    # ``KerasTensor._keras_history`` is how Keras itself finds the layer that produced a
    # symbolic tensor (keras/src/ops/node.py); Keras 3 has no public accessor for it.
    ends = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Add):
            continue
        sources = [t._keras_history.operation for t in layer.input]
        bns = [s for s in sources if isinstance(s, keras.layers.BatchNormalization)]
        if len(bns) == 1:                      # identity block: BN + the shortcut itself
            ends.append(bns[0])
        elif len(bns) == 2:                    # projection shortcut: the main path is the longer one
            depth = {id(b): _depth(b) for b in bns}
            ends.append(max(bns, key=lambda b: depth[id(b)]))
    return ends


def _depth(layer) -> int:
    """Length of the longest chain of layers that leads to ``layer`` (its distance from the input)."""
    seen: dict = {}

    def walk(op):
        if id(op) in seen:
            return seen[id(op)]
        inputs = op.input if isinstance(op.input, (list, tuple)) else [op.input]
        parents = [t._keras_history.operation for t in inputs if hasattr(t, "_keras_history")]
        seen[id(op)] = 1 + max((walk(p) for p in parents), default=0)
        return seen[id(op)]

    return walk(layer)


def prepare(model, s: Settings) -> dict:
    """Apply the initialisation tricks of ``s`` to a freshly built model; return what was done.

    - ``zero_init_residual``: set :math:`\\gamma = 0` in the last BatchNorm of every
      residual branch, so that at the start every identity block computes
      :math:`y = \\mathrm{ReLU}(0 + x) = x` and the network behaves like a shallow one
      (Goyal et al. 2017; He et al. 2019, "Bag of Tricks").
    - ``redraw_kernels``: re-draw every Conv2D/Dense kernel from He-normal with its own
      seed (the assignment's ``glorot_uniform(seed=0)`` gives every kernel of the same
      shape the same values).
    """
    import keras

    done = {"zero_gamma": 0, "redrawn": 0}
    if s.redraw_kernels:
        rng = np.random.default_rng(s.seed)
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
                init = keras.initializers.HeNormal(seed=int(rng.integers(2**31)))
                layer.kernel.assign(init(layer.kernel.shape))
                done["redrawn"] += 1
    if s.zero_init_residual:
        for bn in residual_branch_ends(model):
            bn.gamma.assign(np.zeros(bn.gamma.shape, dtype="float32"))
            done["zero_gamma"] += 1
    return done


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------

def steps_per_epoch(n_examples: int, s: Settings) -> int:
    """Training steps per epoch for ``n_examples`` images before the validation split."""
    n = n_examples if s.n_train is None else min(s.n_train, n_examples)
    n_fit = n - int(round(n * s.validation_split))
    return max(1, -(-n_fit // s.batch_size))


def learning_rate_schedule(total_steps: int, s: Settings):
    """Linear warm-up from ``learning_rate/25`` to ``learning_rate``, then cosine decay to 0.

    The same values as Keras's ``CosineDecay(warmup_target=..., warmup_steps=...)``, computed
    without a ``tf.cond``: AdamW evaluates the schedule once per variable for its weight
    decay, and with Keras's schedule each evaluation traces a conditional (one per trainable
    variable of ResNet50), which makes the first training step, tracing included, slower
    (that step's time with this schedule: ``first_step_s`` in
    ``bench/results/training_memory.json``).
    """
    import keras

    @keras.saving.register_keras_serializable(package="resnet_course")
    class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        def __init__(self, peak, warmup_steps, total_steps):
            self.peak, self.warmup_steps, self.total_steps = float(peak), int(warmup_steps), int(total_steps)

        def __call__(self, step):
            from keras import ops

            t = ops.cast(step, "float32")
            start = self.peak / 25
            rise = start + (self.peak - start) * t / max(1, self.warmup_steps)
            frac = ops.clip((t - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps), 0.0, 1.0)
            fall = 0.5 * self.peak * (1.0 + ops.cos(np.pi * frac))
            return ops.where(t < self.warmup_steps, rise, fall)

        def get_config(self):
            return {"peak": self.peak, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}

    warmup = int(round(s.warmup_fraction * total_steps))
    return WarmupCosine(s.learning_rate, warmup, max(1, total_steps))


def compile_with_settings(model, s: Settings, n_examples: int):
    """Compile with assignment 1's recipe from the settings ``s``: AdamW on the warm-up/cosine
    schedule (Adam when ``weight_decay`` is 0), label-smoothed cross-entropy on one-hot labels,
    and accuracy.

    ``n_examples`` is the number of training images passed to :func:`fit` (it fixes the
    schedule's length). No XLA: it is slow to compile on a CPU. (Assignment 2's recipe, Adam
    with a per-epoch schedule, is :func:`resnet_utils.cifar.compile_with_schedule`.)
    """
    import keras

    schedule = learning_rate_schedule(s.epochs * steps_per_epoch(n_examples, s), s)
    if s.weight_decay:
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=s.weight_decay)
    else:   # the same update without the decay step (which Keras traces once per variable)
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model.compile(optimizer=optimizer,
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=s.label_smoothing),
                  metrics=["accuracy"], run_eagerly=s.run_eagerly, jit_compile=False)
    return model


def augmenter(seed: int = 0):
    """Random shifts (10%), rotations (±18°) and zooms (±10%) as a Keras model (training mode only).

    Assignment 1's augmentation (:func:`fit` with ``augment``); assignment 2's, shifts and
    flips, is :func:`resnet_utils.cifar.augmenter`.
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed),
        keras.layers.RandomRotation(0.05, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
    ], name="augmentation")


def split(X, Y, s: Settings):
    """(X_fit, Y_fit, X_val, Y_val): the first ``n_train`` examples, the last ``validation_split`` held out.

    Like Keras's ``validation_split``, the held-out examples are the last ones (the
    dataset is shuffled already).
    """
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} examples but Y has {len(Y)}: pass matching arrays "
                         "(Y one-hot, shape (m, classes)).")
    n = len(X) if s.n_train is None else min(s.n_train, len(X))
    n_val = int(round(n * s.validation_split))
    return X[: n - n_val], Y[: n - n_val], X[n - n_val: n], Y[n - n_val: n]


def fit(model, X, Y, s: Settings):
    """Train ``model`` on (the first ``s.n_train`` of) X, Y; return Keras's ``History``.

    Augmentation runs in a ``tf.data`` pipeline (prefetched, so it overlaps the training
    step); validation uses the held-out images without augmentation. The models that
    earlier cells built and dropped (the tests build several ResNet50s) are freed first:
    Keras layers refer to each other in cycles, which only Python's cyclic garbage
    collector frees, and it may not have run since.
    """
    import gc

    import tensorflow as tf

    gc.collect()

    X_fit, Y_fit, X_val, Y_val = split(X, Y, s)
    ds = tf.data.Dataset.from_tensor_slices((np.asarray(X_fit, "float32"), np.asarray(Y_fit, "float32")))
    ds = ds.shuffle(len(X_fit), seed=s.seed, reshuffle_each_iteration=True).batch(s.batch_size)
    if s.augment:
        aug = augmenter(s.seed)
        ds = ds.map(lambda x, y: (aug(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    val = (X_val, Y_val) if len(X_val) else None
    return model.fit(ds, epochs=s.epochs, validation_data=val, shuffle=False, verbose=s.verbose)


def describe(history) -> str:
    """One line on the last epoch: ``after 5 epochs: training accuracy 0.951, validation accuracy 0.907``.

    The training accuracy is the running mean over the last epoch's batches (BatchNorm in
    training mode, augmented images if ``augment``); the validation accuracy is measured
    after the epoch in inference mode, with BatchNorm's moving statistics.
    """
    h = getattr(history, "history", history)
    if not h.get("accuracy"):
        raise ValueError(f"the history has no accuracy (keys: {sorted(h)}); was the model compiled "
                         "with metrics=['accuracy']?")
    n = len(h["accuracy"])
    line = f"after {n} epoch{'s' if n != 1 else ''}: training accuracy {h['accuracy'][-1]:.3f}"
    if h.get("val_accuracy"):
        line += f", validation accuracy {h['val_accuracy'][-1]:.3f}"
    return line


def model_path(s: Settings, name: str = "resnet50_signs.keras") -> Path:
    """Where the notebook saves the trained model: next to it, or a temporary folder in fast mode.

    Under nbgrader (fast mode) a class's worth of 95 MB files would pile up in the graded
    folders, so the file goes to a new temporary folder instead, which is removed when
    the Python process (the notebook's kernel) exits.
    """
    if s.fast:
        folder = tempfile.mkdtemp(prefix="resnet_course_")
        atexit.register(shutil.rmtree, folder, True)
        return Path(folder) / name
    return Path(name)


def save_model(model, path) -> Path:
    """Save ``model`` to the ``.keras`` file ``path``: what ``model.save(path)`` writes, in less memory.

    The archive is Keras's own: ``model.save(folder, zipped=False)`` writes ``config.json``,
    ``metadata.json`` and ``model.weights.h5`` into a temporary folder next to ``path``, and
    they are stored (uncompressed, as Keras does) in the zip file ``path``, streamed from
    disk. ``model.save(path)`` itself, on a machine with enough free memory, builds the
    weights file in memory and copies it before writing it (``keras.src.saving.saving_lib``):
    at its peak, Python memory about the size of the weights, where this function needs a
    small fraction of that (``tests/test_training.py`` measures both with ``tracemalloc``).
    ``keras.models.load_model(path)`` reads the file like any other ``.keras`` file.
    """
    import zipfile

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"save_model writes a .keras file; got {str(path)!r}: end the name with .keras")
    with tempfile.TemporaryDirectory(prefix=".saving-", dir=path.parent) as tmp:
        folder = Path(tmp) / "model"
        model.save(folder, zipped=False)
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
            for file in sorted(f for f in folder.rglob("*") if f.is_file()):
                archive.write(file, file.relative_to(folder).as_posix())
    return path


def load_model(path, compile: bool = False):
    """Load the ``.keras`` file ``path`` like ``keras.models.load_model(path, compile=compile)``, in less memory.

    The archive is extracted into a temporary folder (next to it, or the system's when that
    folder is read-only) and Keras loads that folder (h5py reads the weights from disk);
    ``keras.models.load_model(path)`` reads the whole weights file into memory first when
    there is enough free memory. Like Keras, it refuses an archive member that would expand
    to far more than it stores (a decompression bomb; Keras's own ``.keras`` files are stored
    uncompressed). ``compile=False`` (the default here): without the optimizer, which is only
    needed to train on.
    """
    import zipfile

    import keras

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {str(path)!r}: run the cell that trains and saves the "
                                "model first, or give the path of a .keras file")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{str(path)!r} is not a .keras file (a zip archive); save it with "
                         "training.save_model(model, path) or model.save(path)")
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.file_size > 2**20 and info.file_size > 100 * max(1, info.compress_size):
                raise ValueError(f"{str(path)!r}: its member {info.filename!r} would expand from "
                                 f"{info.compress_size} to {info.file_size} bytes; not loading a "
                                 "possible decompression bomb")
        try:
            tmp = tempfile.TemporaryDirectory(prefix=".loading-", dir=path.parent)
        except OSError:   # a read-only folder
            tmp = tempfile.TemporaryDirectory(prefix="resnet_course_loading_")
        with tmp as folder:
            archive.extractall(folder)
            return keras.models.load_model(folder, compile=compile)


def predict(model, X, s: Settings):
    """Class probabilities for (the first ``s.n_test`` of) X (BatchNorm in inference mode)."""
    n = len(X) if s.n_test is None else min(s.n_test, len(X))
    return model.predict(X[:n], batch_size=64, verbose=0)


def accuracy(model, X, y, s: Settings) -> float:
    """Fraction of (the first ``s.n_test`` of) X whose predicted class is ``y`` (integer labels)."""
    probs = predict(model, X, s)
    y = np.asarray(y).reshape(-1)[: len(probs)]
    return float(np.mean(probs.argmax(axis=1) == y))


# --------------------------------------------------------------------------------------
# BatchNorm: moving statistics vs what the layers see
# --------------------------------------------------------------------------------------

#: The probe functions of :func:`_batchnorm_input_moments`, per model and (training, eager):
#: tracing one into a graph takes seconds, so each is traced once.
_PROBES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _batchnorm_input_moments(model, X, training: bool, batch_size: int, n_batches: int, eager: bool):
    """Per BatchNorm layer: the channel means and variances of its input, one row per batch.

    The inputs are computed with the layers in training mode (``training=True``: every
    BatchNorm normalises with the batch's statistics, as during ``fit``) or in inference
    mode. Only whole batches are used. In graph mode (``eager=False``, one ``tf.function``
    trace) TensorFlow frees each intermediate tensor as soon as it is used; an eager call
    of a functional model keeps them all until it returns (memory that grows with the batch).
    Returns ``(layers, means, variances)`` with ``means[k]`` of shape ``(n_batches, channels)``.
    """
    import keras
    from keras import ops

    layers = batchnorm_layers(model)
    outputs = []   # symbolic: building them costs nothing; the probe is built once per model and mode
    for bn in layers:
        rank = len(bn.input.shape)
        axes = [a for a in range(rank) if a != bn.axis % rank]
        outputs += list(ops.moments(bn.input, axes=axes))
    step = _PROBES.get(model, {}).get((training, eager))
    if step is None:
        probe = keras.Model(model.input, outputs)
        if eager:
            step = lambda x: probe(x, training=training)  # noqa: E731
        else:
            import tensorflow as tf

            step = tf.function(lambda x: probe(x, training=training), autograph=False)
        _PROBES.setdefault(model, {})[(training, eager)] = step
    rows = []
    for i in range(n_batches):
        xb = np.asarray(X[i * batch_size:(i + 1) * batch_size], dtype="float32")
        rows.append([np.asarray(o, dtype="float64") for o in step(xb)])
    means = [np.stack([r[2 * k] for r in rows]) for k in range(len(layers))]
    variances = [np.stack([r[2 * k + 1] for r in rows]) for k in range(len(layers))]
    return layers, means, variances


def recalibrate_batchnorm(model, X, s: Settings) -> int:
    """Recompute every BatchNorm layer's moving mean and variance with the final weights.

    "Precise BatchNorm" (Wu & Johnson 2021): run ``s.recalibration_batches`` batches of
    ``s.batch_size`` un-augmented images from ``X`` (training images, never test images)
    through the model in training mode, as ``fit`` does, and set each layer's moving mean
    and variance to the plain average of its batch means and batch variances. This is
    what Keras's own update ``moving = moving * m + batch * (1 - m)`` gives with
    ``m = i / (i + 1)`` for the ``i``-th batch (counted from 0). The weights do not change.
    Returns the number of batches used.
    """
    n_batches = min(s.recalibration_batches, len(X) // s.batch_size) or min(1, len(X))
    if not batchnorm_layers(model) or n_batches == 0:
        return 0
    trainable = [bn.trainable for bn in batchnorm_layers(model)]
    try:
        for bn in batchnorm_layers(model):
            bn.trainable = True   # a frozen BatchNorm layer normalises with its moving statistics
        layers, means, variances = _batchnorm_input_moments(
            model, X, True, min(s.batch_size, len(X)), n_batches, s.run_eagerly)
    finally:
        for bn, t in zip(batchnorm_layers(model), trainable):
            bn.trainable = t
    for bn, mean, var in zip(layers, means, variances):
        bn.moving_mean.assign(mean.mean(axis=0).astype("float32"))
        bn.moving_variance.assign(var.mean(axis=0).astype("float32"))
    return n_batches


def batchnorm_shift(model, X, s: Settings, batch_size: int = 32) -> dict:
    """How well each BatchNorm layer's moving statistics fit what it receives at inference time.

    Runs ``X`` (whole batches of ``batch_size``) through the model in inference mode and, for
    each BatchNorm layer, compares the per-channel mean :math:`\\mu` and variance
    :math:`\\sigma^2` of its input with its moving mean :math:`\\hat\\mu` and variance
    :math:`\\hat\\sigma^2`. Returns a dict of ``names``, ``mean_shift`` (per layer: the channel
    average of :math:`|\\mu - \\hat\\mu| / \\sqrt{\\hat\\sigma^2 + \\epsilon}`, how far off the
    normalised mean is, in standard deviations) and ``std_ratio`` (the channel average of
    :math:`\\sqrt{(\\sigma^2 + \\epsilon) / (\\hat\\sigma^2 + \\epsilon)}`; 1 is a perfect fit).
    """
    batch_size = min(batch_size, len(X))
    n_batches = len(X) // batch_size if batch_size else 0
    if n_batches == 0:
        raise ValueError("batchnorm_shift needs at least one image")
    layers, means, variances = _batchnorm_input_moments(model, X, False, batch_size, n_batches,
                                                        s.run_eagerly)
    names, shift, ratio = [], [], []
    for bn, mean_b, var_b in zip(layers, means, variances):
        mean = mean_b.mean(axis=0)
        var = var_b.mean(axis=0) + ((mean_b - mean) ** 2).mean(axis=0)   # pooled over the batches
        m_mean = np.asarray(bn.moving_mean, dtype="float64")
        m_var = np.asarray(bn.moving_variance, dtype="float64")
        eps = float(bn.epsilon)
        names.append(bn.name)
        shift.append(float(np.mean(np.abs(mean - m_mean) / np.sqrt(m_var + eps))))
        ratio.append(float(np.mean(np.sqrt((var + eps) / (m_var + eps)))))
    return {"names": names, "mean_shift": np.array(shift), "std_ratio": np.array(ratio)}
