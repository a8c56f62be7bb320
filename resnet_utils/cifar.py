"""Training ResNet v1/v2 on CIFAR-10 with Keras 3: the logic behind the assignment's last part.

The recipe is the one of the Keras 2 example ``cifar10_resnet.py`` (contributed by Rowel
Atienza, keras-team/keras PRs #8059 and #8231), rewritten for Keras 3:

- data: CIFAR-10 through ``keras.datasets`` (:func:`load_cifar10_or_fallback`); offline,
  the course's hand-sign images resized to 32×32, with a printed message saying so;
- inputs scaled to [0, 1], then the training set's mean image subtracted
  (:func:`subtract_pixel_mean`);
- augmentation with Keras preprocessing layers inside a ``tf.data`` pipeline: random shifts
  of up to 10% of the height and width, random horizontal flips (:func:`augmenter`);
- Adam, the step schedule ``lr_schedule`` of the notebook through ``LearningRateScheduler``
  (squeezed into a short run's epochs by :meth:`Recipe.schedule`), and a ``ModelCheckpoint``
  to a ``.keras`` file that keeps the best ``val_accuracy`` (:func:`callbacks`,
  :func:`compile_with_schedule`).

The example also had ``ReduceLROnPlateau``; it is dropped here because it never acted:
``LearningRateScheduler`` sets the rate to ``lr_schedule(epoch)`` at the start of every
epoch, which overwrites any reduction made at the end of the previous one (keras
``callbacks/learning_rate_scheduler.py``; keras-team/keras PR #8829 says so of this example).

:data:`PAPER` is the full 200-epoch recipe; :data:`SHORT` the runs a student does on a CPU,
one per data source; :data:`FAST` what runs under nbgrader or with ``RESNET_FAST=1``
(:func:`recipe`). :func:`unit_signals` measures what pre-activation changes at
initialisation (the forward signal and the gradient of every residual unit).
"""

from __future__ import annotations

import atexit
import dataclasses
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .config import fast_mode, not_drawn_when_graded

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

#: The length of the recipe that ``lr_schedule`` is written for (its rate steps after
#: epochs 80, 120, 160 and 180).
SCHEDULE_EPOCHS = 200


# ----------------------------------------------------------------------------- data


@dataclasses.dataclass
class CifarData:
    """Images (uint8, N×32×32×3), integer labels (N,), class names, and where they come from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    source: str  # "cifar10" or "signs-fallback"

    def __str__(self) -> str:
        return (f"{self.source}: {len(self.x_train)} training and {len(self.x_test)} test images "
                f"of shape {self.x_train.shape[1:]}, {len(self.class_names)} classes")


def cifar10_cached() -> bool:
    """True when Keras' cache already holds CIFAR-10 (loading it needs no network)."""
    from .data import keras_home

    folder = keras_home() / "datasets"
    try:
        return any(p.name.startswith("cifar-10-batches-py") for p in folder.iterdir())
    except OSError:
        return False


def downscale(images: np.ndarray, size: int = 32) -> np.ndarray:
    """Square uint8 images resized to ``size``×``size`` by averaging blocks (64 → 32: 2×2)."""
    n, h, w, c = images.shape
    if h != w or h % size:
        raise ValueError(f"expected square images whose side is a multiple of {size}, got {h}×{w}")
    f = h // size
    blocks = images.reshape(n, size, f, size, f, c).astype("float32").mean(axis=(2, 4))
    return np.clip(np.rint(blocks), 0, 255).astype("uint8")


def load_cifar10_or_fallback(n_train: int | None = None, n_test: int | None = None,
                             download: bool | None = None) -> CifarData:
    """CIFAR-10, or the course's hand signs at 32×32 when CIFAR-10 cannot be loaded.

    Args:
        n_train, n_test: keep the first ``n`` images of each split (all when None).
        download: whether CIFAR-10 may be downloaded (about 170 MB) when Keras' cache does
            not have it; by default yes, except in fast mode (nbgrader, ``RESNET_FAST=1``),
            which never uses the network.

    The fallback is announced by a printed message: the code is the same, the numbers are
    those of a 6-class hand-sign task, not CIFAR-10's.
    """
    from . import data

    if download is None:
        download = not fast_mode()
    reason = None
    if download or cifar10_cached():
        try:
            (x_train, y_train), (x_test, y_test) = data.load_cifar10()
        except Exception as err:  # noqa: BLE001 - offline, blocked, corrupt cache: fall back
            reason = str(err).splitlines()[0]
        else:
            out = CifarData(np.asarray(x_train), np.asarray(y_train).reshape(-1).astype("int64"),
                            np.asarray(x_test), np.asarray(y_test).reshape(-1).astype("int64"),
                            CLASS_NAMES, "cifar10")
            return _subset(out, n_train, n_test)
    else:
        reason = "not in Keras' cache, and this run does not download" + (
            " (fast mode)" if fast_mode() else "")
    X_train, Y_train, X_test, Y_test, classes = data.load_dataset()
    print("CIFAR-10 is not available (" + reason + ").\n"
          "USING THE COURSE'S HAND-SIGN IMAGES INSTEAD: 64×64 resized to 32×32, 6 classes "
          "(0 to 5 fingers). The networks and the code are the same; the accuracies below are "
          "not CIFAR-10 accuracies.")
    out = CifarData(downscale(X_train), Y_train.reshape(-1).astype("int64"),
                    downscale(X_test), Y_test.reshape(-1).astype("int64"),
                    tuple(str(c) for c in classes), "signs-fallback")
    return _subset(out, n_train, n_test)


def _subset(d: CifarData, n_train, n_test) -> CifarData:
    return dataclasses.replace(d, x_train=d.x_train[:n_train], y_train=d.y_train[:n_train],
                               x_test=d.x_test[:n_test], y_test=d.y_test[:n_test])


def subtract_pixel_mean(x_train: np.ndarray, x_test: np.ndarray):
    """Scale to [0, 1] and subtract the training set's mean image from both sets.

    Returns ``(x_train, x_test, mean)`` as float32; ``mean`` has shape (32, 32, 3).
    """
    x_train = np.asarray(x_train, dtype="float32") / 255.0
    x_test = np.asarray(x_test, dtype="float32") / 255.0
    mean = x_train.mean(axis=0)
    return x_train - mean, x_test - mean, mean


def augmenter(seed: int = 0):
    """Random shifts (up to 10% of height and width, edges repeated) and horizontal flips,
    as Keras preprocessing layers (active only with ``training=True``).

    Assignment 2's augmentation (:func:`dataset` with ``augment``); assignment 1's, shifts,
    rotations and zooms, is :func:`resnet_utils.training.augmenter`."""
    import keras

    return keras.Sequential([
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed),
        keras.layers.RandomFlip("horizontal", seed=seed + 1),
    ], name="augmentation")


def dataset(x, y, batch_size: int, augment: bool = False, shuffle: bool = False, seed: int = 0):
    """A ``tf.data`` pipeline of ``(images, labels)`` batches, augmented on the fly if asked."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((np.asarray(x, "float32"), np.asarray(y, "int64")))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment:
        aug = augmenter(seed)
        ds = ds.map(lambda a, b: (aug(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- recipe


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How long and on how much data a run trains."""

    name: str
    epochs: int
    batch_size: int
    n_train: int | None  # None: all the training images
    n_val: int           # held out from the training images (not augmented)
    n_test: int | None   # None: all the test images
    augment: bool = True
    run_eagerly: bool = False  # fast mode: no graph tracing, which costs more than a few batches

    def __str__(self) -> str:
        def count(n, what):
            return f"all {what}" if n is None else f"{n:,} {what}"
        return (f"{self.name}: {self.epochs} epoch{'' if self.epochs == 1 else 's'}, batch {self.batch_size}, "
                f"{count(self.n_train, 'training images')} ({self.n_val:,} of them held out "
                f"for validation), {count(self.n_test, 'test images')}, "
                f"augmentation {'on' if self.augment else 'off'}")

    def schedule(self, lr_schedule):
        """``lr_schedule`` (written for :data:`SCHEDULE_EPOCHS` epochs) squeezed into this
        recipe's epochs: epoch ``e`` gets ``lr_schedule(e * 200 // epochs)``, so a 30-epoch run
        steps its rate at the same fractions of the run as the 200-epoch recipe."""
        epochs = self.epochs

        def squeezed(epoch, lr=None):
            return float(lr_schedule(int(epoch) * SCHEDULE_EPOCHS // epochs))
        squeezed.__name__ = f"{getattr(lr_schedule, '__name__', 'schedule')}_over_{epochs}_epochs"
        return squeezed

    def rate_steps(self, lr_schedule) -> list:
        """``(first epoch, rate)`` for every rate that :meth:`schedule` uses, in order."""
        rates = [self.schedule(lr_schedule)(e) for e in range(self.epochs)]
        return [(e, r) for e, r in enumerate(rates) if e == 0 or r != rates[e - 1]]


#: The Keras example's full run (He et al. trained with batch 128 and SGD; the example uses
#: Adam and batch 32). The example validated on the test set; here 5,000 training images.
PAPER = Recipe("paper recipe (Keras example)", epochs=200, batch_size=32, n_train=None,
               n_val=5_000, n_test=None)
#: What a student runs on a CPU, per data source (:attr:`CifarData.source`): the same code,
#: fewer images and epochs; ``bench/results/cifar_notebook.json`` has its time and accuracy.
#: On CIFAR-10 a tenth of the images; on the 1,080 hand signs of the offline fallback all of
#: them (108 held out), for more epochs.
SHORT = {
    "cifar10": Recipe("short run", epochs=6, batch_size=32, n_train=5_000, n_val=500, n_test=1_000),
    "signs-fallback": Recipe("short run", epochs=30, batch_size=32, n_train=None, n_val=108,
                             n_test=None),
}
#: Fast mode (nbgrader, RESNET_FAST=1): every line runs, the numbers mean nothing.
FAST = Recipe("fast mode", epochs=1, batch_size=32, n_train=40, n_val=8, n_test=16, run_eagerly=True)


def recipe(source: str) -> Recipe:
    """:data:`FAST` in fast mode, otherwise the short run for data from ``source``
    (``"cifar10"`` or ``"signs-fallback"``, :attr:`CifarData.source`)."""
    if source not in SHORT:
        raise ValueError(f"unknown data source {source!r}: expected one of {sorted(SHORT)} "
                         "(the .source of load_cifar10_or_fallback()'s result)")
    return FAST if fast_mode() else SHORT[source]


def checkpoint_path(name: str) -> Path:
    """Where a run saves its best model: ``checkpoints/<name>.keras`` next to the notebook,
    or a temporary folder (removed when the kernel exits) in fast mode."""
    if fast_mode():
        folder = Path(tempfile.mkdtemp(prefix="resnet_cifar_"))
        atexit.register(shutil.rmtree, folder, True)
    else:
        folder = Path("checkpoints")
        folder.mkdir(exist_ok=True)
    return folder / f"{name}.keras"


def callbacks(schedule, path) -> list:
    """A ``ModelCheckpoint`` to ``path`` (a ``.keras`` file) that keeps the best
    val_accuracy, and ``LearningRateScheduler(schedule)``.

    No ``ReduceLROnPlateau``: the scheduler sets the rate at the start of every epoch and
    would undo its reductions (see the module's docstring)."""
    import keras

    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"Keras 3 saves whole models to .keras files, got {path.name}")
    return [
        keras.callbacks.ModelCheckpoint(str(path), monitor="val_accuracy", save_best_only=True,
                                        verbose=0),
        keras.callbacks.LearningRateScheduler(schedule),
    ]


def compile_with_schedule(model, schedule, run_eagerly: bool = False) -> None:
    """Compile with assignment 2's recipe: Adam at ``schedule(0)`` (the per-epoch ``schedule``
    then sets the rate through :func:`callbacks`), sparse categorical cross-entropy (integer
    labels), accuracy.

    ``jit_compile=False``: XLA compiles a ResNet's training step for longer than a short
    CPU run takes. (Assignment 1's recipe, AdamW from its settings, is
    :func:`resnet_utils.training.compile_with_settings`.)"""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule(0)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  run_eagerly=run_eagerly, jit_compile=False)


def train(model, d: CifarData, r: Recipe, lr_schedule, path=None, seed: int = 0, verbose: int = 0):
    """Train ``model`` on ``d`` with recipe ``r``; returns Keras' ``History``.

    ``lr_schedule`` is the 200-epoch schedule; it runs squeezed into ``r.epochs``
    (:meth:`Recipe.schedule`). The last ``r.n_val`` training images are held out for
    validation (not augmented); the rest are mean-subtracted, shuffled and augmented. The
    best model by ``val_accuracy`` is saved to ``path`` (default :func:`checkpoint_path` of
    the model's name).
    """
    import keras

    keras.utils.set_random_seed(seed)
    x_train, y_train = d.x_train[:r.n_train], d.y_train[:r.n_train]
    if not 0 < r.n_val < len(x_train):
        raise ValueError(f"cannot hold out {r.n_val} of {len(x_train)} training images")
    x_fit, x_val = x_train[:-r.n_val], x_train[-r.n_val:]
    y_fit, y_val = y_train[:-r.n_val], y_train[-r.n_val:]
    x_fit, x_val, _ = subtract_pixel_mean(x_fit, x_val)
    schedule = r.schedule(lr_schedule)
    compile_with_schedule(model, schedule, run_eagerly=r.run_eagerly)
    path = path or checkpoint_path(model.name)
    history = model.fit(dataset(x_fit, y_fit, r.batch_size, augment=r.augment, shuffle=True, seed=seed),
                        validation_data=dataset(x_val, y_val, r.batch_size),
                        epochs=r.epochs, callbacks=callbacks(schedule, path), verbose=verbose,
                        shuffle=False)  # the pipeline shuffles
    history.checkpoint = Path(path)
    return history


def test_accuracy(model, d: CifarData, r: Recipe) -> float:
    """Accuracy on the first ``r.n_test`` test images, mean-subtracted with the training mean."""
    x_fit = d.x_train[:r.n_train][:-r.n_val]
    _, x_test, _ = subtract_pixel_mean(x_fit, d.x_test[:r.n_test])
    if r.run_eagerly:  # no predict function to trace
        probs = np.concatenate([np.asarray(model(x_test[i:i + r.batch_size], training=False))
                                for i in range(0, len(x_test), r.batch_size)])
    else:
        probs = model.predict(x_test, batch_size=r.batch_size, verbose=0)
    return float(np.mean(probs.argmax(axis=1) == d.y_test[:r.n_test]))


def conv_macs(model) -> int:
    """Multiply-adds of the model's convolutions and dense layers for one image."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            _, h, w, c_out = layer.output.shape
            kh, kw = layer.kernel_size
            total += int(h) * int(w) * int(c_out) * kh * kw * int(layer.input.shape[-1])
        elif kind == "Dense":
            total += int(layer.input.shape[-1]) * int(layer.units)
    return total


def probe_batch(d: CifarData, n: int = 8):
    """The first ``n`` training images, mean-subtracted as in training, and their labels.

    8 by default: :func:`unit_signals` keeps every layer's output for the gradient, which for
    a ResNet-110 grows by hundreds of MB with every 8 more images."""
    x, _, _ = subtract_pixel_mean(d.x_train[:n], d.x_test[:1])
    return x, d.y_train[:n]


def unit_prefixes(model) -> list:
    """The residual units of a CIFAR ResNet in order: the prefixes ``stack{s}_block{b}``
    of its ``Add`` layers (``stack1_block1``, ``stack1_block2``, ...)."""
    units = [layer.name[:-len("_add")] for layer in model.layers
             if type(layer).__name__ == "Add" and layer.name.endswith("_add")]
    if not units:
        raise ValueError(f"{model.name} has no Add layer named '<prefix>_add': "
                         "unit_signals needs the layer names of the assignment")
    return units


def _rms(t) -> float:
    a = np.asarray(t, dtype="float64")
    return float(np.sqrt(np.mean(a * a)))


def unit_signals(model, x, y) -> dict:
    """What flows through each residual unit of ``model`` for one batch ``(x, y)``, with
    BatchNorm in training mode (batch statistics), as in the first step of training.

    Returns ``units`` (:func:`unit_prefixes`) and lists with one value per unit: ``depth``,
    the number of convolutions from the input up to the unit's output (the stem's included,
    the 1×1 projections not), and

    - ``conv_input_rms``: root mean square of the input of the unit's first convolution
      (v1: the previous unit's output; v2: it after BatchNorm and ReLU);
    - ``output_rms``: root mean square of the unit's output ``x_{l+1}`` (v1: after the ReLU
      that follows the addition, layer ``<prefix>_out``; v2: the addition itself);
    - ``output_grad``: root mean square of the gradient of the mean cross-entropy with
      respect to that output.
    """
    import keras
    import tensorflow as tf

    units = unit_prefixes(model)
    names = {layer.name for layer in model.layers}
    outs = [model.get_layer(p + "_out" if p + "_out" in names else p + "_add").output for p in units]
    conv_in = [model.get_layer(p + "_1_conv").input for p in units]
    probe = keras.Model(model.inputs[0], [*conv_in, *outs, model.outputs[0]])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    x = tf.convert_to_tensor(x, dtype="float32")
    with tf.GradientTape() as tape:
        values = probe(x, training=True)
        loss = loss_fn(y, values[-1])
    n = len(units)
    grads = tape.gradient(loss, values[n:2 * n])
    convs = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"
             and not layer.name.endswith("_shortcut_conv")]
    per_unit = [sum(1 for c in convs if c.startswith(p + "_")) for p in units]
    depth = list(1 + np.cumsum(per_unit))   # the stem's convolution, then each unit's
    return {"units": units, "depth": [int(d) for d in depth],
            "conv_input_rms": [_rms(v) for v in values[:n]],
            "output_rms": [_rms(v) for v in values[n:2 * n]],
            "output_grad": [_rms(g) for g in grads]}


def describe_unit_signals(label: str, s: dict) -> str:
    """One line on :func:`unit_signals`' result ``s``: the convolution inputs' RMS at the first
    and the last unit, and how many times larger the gradient is at the first unit than at the
    last (``bench/bench_notebook.py`` reads this line)."""
    return (f"{label}: RMS of the convolution inputs {s['conv_input_rms'][0]:.2f} (first unit) to "
            f"{s['conv_input_rms'][-1]:.2f} (last unit); gradient RMS "
            f"{s['output_grad'][0] / s['output_grad'][-1]:.1f} times larger at the first unit than at the last")


# ----------------------------------------------------------------------------- figures


@not_drawn_when_graded
def plot_schedule(schedule, epochs: int = 200):
    """The learning rate of ``schedule`` per epoch, on a log scale (a figure; while nbgrader runs
    the notebook, a :class:`~resnet_utils.config.NotDrawn` line instead)."""
    import matplotlib.pyplot as plt

    e = np.arange(epochs)
    lr = [schedule(int(i)) for i in e]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.step(e, lr, where="post")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title("lr_schedule")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_comparison(histories: dict):
    """Learning curves of one or more runs: loss and accuracy per epoch (training and
    validation), and the learning rate per epoch when the histories recorded it.

    ``histories`` maps a label ("ResNet-20 v1") to a Keras ``History`` or its dict.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    hs = {label: getattr(h, "history", h) for label, h in histories.items()}
    with_rate = any("learning_rate" in h for h in hs.values())
    fig, axes = plt.subplots(1, 3 if with_rate else 2, figsize=(14 if with_rate else 10, 3.5))
    for label, h in hs.items():
        epochs = np.arange(1, len(h["loss"]) + 1)
        axes[0].plot(epochs, h["loss"], marker="o", label=f"{label} (train)")
        if "val_loss" in h:
            axes[0].plot(epochs, h["val_loss"], marker="s", linestyle="--", label=f"{label} (validation)")
        if "val_accuracy" in h:
            axes[1].plot(epochs, h["val_accuracy"], marker="s", label=f"{label} (validation)")
        axes[1].plot(epochs, h["accuracy"], marker="o", linestyle=":", label=f"{label} (train)")
        if "learning_rate" in h:
            axes[2].step(epochs, h["learning_rate"], where="mid", label=label)
    axes[0].set_title("Loss")
    axes[1].set_title("Accuracy")
    if with_rate:
        axes[2].set_title("Learning rate")
        axes[2].set_yscale("log")
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_unit_signals(signals: dict):
    """:func:`unit_signals` of several networks against depth, in three panels: the RMS of
    the input of each unit's first convolution, of each unit's output, and of the gradient
    with respect to that output (log scale).

    ``signals`` maps a label ("ResNet-110 v1") to the dict that :func:`unit_signals` returned.
    """
    import matplotlib.pyplot as plt

    panels = (("conv_input_rms", "RMS of the input of the unit's first convolution"),
              ("output_rms", "RMS of the unit's output $x_{l+1}$"),
              ("output_grad", "RMS of the gradient $\\partial L / \\partial x_{l+1}$"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for ax, (key, title) in zip(axes, panels):
        for label, s in signals.items():
            ax.plot(s["depth"], s[key], marker=".", label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("weighted layers up to the unit's output")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[2].set_yscale("log")
    axes[0].set_ylim(bottom=0)
    axes[1].set_ylim(bottom=0)
    fig.tight_layout()
    return fig
