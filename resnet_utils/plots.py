"""Plotting helpers for the notebooks: sample grids, learning curves, confusion matrices.

Every function builds a new :class:`matplotlib.figure.Figure` with the object-oriented
API and returns it; nothing calls ``plt.show()`` and no figure is registered with pyplot,
so the functions work headless (tests, nbgrader) and a notebook shows each figure exactly
once, when the cell ends with it (or with ``display(fig)``)::

    fig = show_samples(X_train_orig, Y_train_orig, classes)
    fig                       # last line of the cell: the figure is displayed

Save one with ``fig.savefig("samples.png")``.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from matplotlib.figure import Figure


def _enable_notebook_display():
    """In IPython/Jupyter, make sure a returned Figure is shown as a PNG.

    Figures made with ``Figure()`` are not managed by pyplot, so the inline backend does
    not show them by itself (hence no double display), and until pyplot has drawn
    something the kernel has no PNG formatter for them: register one unless one exists.
    Outside IPython this does nothing.
    """
    if "IPython" not in sys.modules:
        return
    try:
        from IPython import get_ipython
        from IPython.core.pylabtools import select_figure_formats

        ip = get_ipython()
        if ip is None or not hasattr(ip, "display_formatter"):
            return
        formatters = ip.display_formatter.formatters
        for mime in ("image/png", "image/svg+xml", "image/jpeg", "application/pdf"):
            try:
                formatters[mime].lookup_by_type(Figure)
                return  # already configured (e.g. by %matplotlib inline or a previous call)
            except (KeyError, AttributeError):
                pass
        select_figure_formats(ip, {"png"}, bbox_inches="tight")
    except Exception:  # pragma: no cover - display is a convenience, never an error
        pass


def _figure(**kwargs):
    """A new Figure (object-oriented API, not registered with pyplot)."""
    _enable_notebook_display()
    return Figure(layout="constrained", **kwargs)

__all__ = [
    "show_samples",
    "plot_history",
    "confusion_matrix",
    "plot_confusion_matrix",
    "show_misclassified",
    "show_prediction",
    "plot_batchnorm_shift",
]


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------


def _labels(y, n_classes=None, name="labels"):
    """Integer labels as a 1-D array from shape (1, m), (m, 1), (m,), or one-hot/probs (m, C)."""
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    elif y.ndim == 2:  # one-hot labels or predicted probabilities
        if n_classes is not None and y.shape[1] != n_classes:
            raise ValueError(f"{name} of shape {y.shape} do not have {n_classes} columns (one per class)")
        y = np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ValueError(f"{name} must have shape (m,), (1, m), (m, 1) or (m, C), got {y.shape}")
    if y.size and np.issubdtype(y.dtype, np.floating):
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name} must be integer class labels")
    elif y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be integer class labels, got dtype {y.dtype}")
    return y.astype(np.int64)


def _name(classes, k):
    """Display name of class ``k``."""
    if classes is None:
        return str(int(k))
    c = np.asarray(classes).reshape(-1)
    if 0 <= k < len(c):
        v = c[k]
        return v.decode() if isinstance(v, bytes) else str(v)
    return str(int(k))


def _displayable(img):
    """An image as imshow expects it: uint8 as is, floats scaled into [0, 1], one channel squeezed."""
    img = np.asarray(img)
    if img.ndim == 4 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise ValueError(f"expected an image of shape (H, W, 3) or (H, W), got {img.shape}")
    if img.dtype == np.uint8:
        return img
    img = img.astype(np.float32)
    if img.size and np.nanmax(img) > 1.0:
        img = img / 255.0
    return np.clip(img, 0.0, 1.0)


def _image_grid(fig, images, titles, cols):
    """Add one axes per image (rows x cols layout) with its title; return the axes."""
    n = len(images)
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    axes = []
    for i, (img, title) in enumerate(zip(images, titles)):
        ax = fig.add_subplot(rows, cols, i + 1)
        img = _displayable(img)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        axes.append(ax)
    return axes


def _grid_size(n, cols):
    cols = max(1, min(cols, max(n, 1)))
    return cols, math.ceil(max(n, 1) / cols)


# --------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------


def show_samples(X, Y, classes=None, n=24, cols=8, seed=0):
    """A grid of randomly chosen images, each titled with its label.

    Args:
        X: images ``(m, H, W, 3)``, ``uint8`` 0-255 or floats in [0, 1].
        Y: labels, shape ``(1, m)``, ``(m,)``, ``(m, 1)``, or one-hot ``(m, C)``.
        classes: optional class names indexed by label (e.g. ``[0, 1, ..., 5]``).
        n: number of images (at most ``m``), chosen without repetition.
        cols: images per row.
        seed: seed of the random choice (same seed, same images).

    Returns:
        The :class:`~matplotlib.figure.Figure` (one axes per image).
    """
    X = np.asarray(X)
    y = _labels(Y, name="Y")
    if X.ndim != 4 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X must be (m, H, W, C) images with one label each; got X {X.shape} and {y.shape[0]} labels"
        )
    n = int(min(n, X.shape[0]))
    idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], size=n, replace=False)) if n else []
    cols, rows = _grid_size(n, cols)
    fig = _figure(figsize=(1.35 * cols, 1.5 * rows + 0.4))
    _image_grid(fig, [X[i] for i in idx], [f"y = {_name(classes, y[i])}" for i in idx], cols)
    fig.suptitle(f"{n} of {X.shape[0]} images")
    return fig


def plot_history(history):
    """Learning curves: loss and accuracy per epoch, training vs. validation.

    Args:
        history: a Keras ``History`` (what ``model.fit`` returns) or its ``.history`` dict,
            with keys ``loss`` and/or ``accuracy`` and optionally ``val_loss`` /
            ``val_accuracy`` (``acc`` / ``val_acc`` are accepted too).

    Returns:
        The :class:`~matplotlib.figure.Figure`: one axes titled "Loss" and one "Accuracy"
        (only those that were recorded), lines labelled "train" and "validation".

    Raises:
        ValueError: neither loss nor accuracy was recorded.
    """
    h = getattr(history, "history", history)
    if not isinstance(h, dict):
        raise ValueError(f"expected a Keras History or its .history dict, got {type(history).__name__}")

    def get(*keys):
        for k in keys:
            if k in h and len(h[k]):
                return np.asarray(h[k], dtype=float)
        return None

    panels = []
    for title, train_keys, val_keys in (
        ("Loss", ("loss",), ("val_loss",)),
        ("Accuracy", ("accuracy", "acc"), ("val_accuracy", "val_acc")),
    ):
        train, val = get(*train_keys), get(*val_keys)
        if train is not None or val is not None:
            panels.append((title, train, val))
    if not panels:
        raise ValueError(f"the history records neither loss nor accuracy (keys: {sorted(h)})")

    fig = _figure(figsize=(5.0 * len(panels), 3.6))
    for i, (title, train, val) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for values, label, style in ((train, "train", "o-"), (val, "validation", "s--")):
            if values is not None:
                ax.plot(np.arange(1, len(values) + 1), values, style, label=label, markersize=3)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(title.lower())
        if title == "Accuracy":
            ax.set_ylim(0.0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    return fig


def confusion_matrix(y_true, y_pred, n_classes):
    """Count how often each true class is predicted as each class.

    Args:
        y_true: true labels, shape ``(m,)``, ``(1, m)``, ``(m, 1)`` or one-hot ``(m, C)``.
        y_pred: predicted labels, same shapes, or predicted probabilities ``(m, C)``.
        n_classes: number of classes ``C``.

    Returns:
        ``int64`` array ``(C, C)``: entry ``[i, j]`` counts images of true class ``i``
        predicted as ``j`` (rows = true class, columns = prediction).

    Raises:
        ValueError: different numbers of labels, or labels outside ``[0, C)``.
    """
    n_classes = int(n_classes)
    t = _labels(y_true, n_classes, "y_true")
    p = _labels(y_pred, n_classes, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} labels but y_pred has {p.shape[0]}")
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            bad = np.unique(v[(v < 0) | (v >= n_classes)]).tolist()
            raise ValueError(f"{name} has labels outside [0, {n_classes}): {bad}")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def plot_confusion_matrix(cm, classes=None):
    """Show a confusion matrix as a heat map with the count written in every cell.

    Args:
        cm: square count matrix from :func:`confusion_matrix` (rows = true class).
        classes: class names for the axes (default 0..C-1).

    Returns:
        The :class:`~matplotlib.figure.Figure` (one axes, plus the colour bar), titled with
        the overall accuracy.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {cm.shape}")
    c = cm.shape[0]
    names = [_name(classes, k) for k in range(c)]
    fig = _figure(figsize=(1.0 + 0.6 * c + 1.2, 1.0 + 0.6 * c))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(cm, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    threshold = cm.max() / 2.0 if cm.size else 0
    for i in range(c):
        for j in range(c):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=9,
                    color="white" if cm[i, j] > threshold else "black")
    ax.set_xticks(range(c), names)
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = int(cm.sum())
    acc = np.trace(cm) / total if total else float("nan")
    ax.set_title(f"Confusion matrix (accuracy {acc:.1%}, {total} images)")
    return fig


def show_misclassified(X, y_true, y_pred, probs=None, n=12, cols=6, classes=None):
    """The first ``n`` misclassified images, titled "true / predicted (probability)".

    Args:
        X: images ``(m, H, W, 3)``.
        y_true: true labels (any shape accepted by :func:`confusion_matrix`).
        y_pred: predicted labels, or predicted probabilities ``(m, C)`` (then also used
            as ``probs``).
        probs: optional predicted probabilities ``(m, C)``; the title shows the
            probability of the predicted class.
        n: at most this many images.
        cols: images per row.
        classes: optional class names.

    Returns:
        The :class:`~matplotlib.figure.Figure`; when every prediction is right, a single
        axes saying so.
    """
    X = np.asarray(X)
    if probs is None and np.ndim(y_pred) == 2 and 1 not in np.shape(y_pred):
        probs = y_pred
    t = _labels(y_true, name="y_true")
    p = _labels(y_pred, name="y_pred")
    if not (X.shape[0] == t.shape[0] == p.shape[0]):
        raise ValueError(
            f"X, y_true and y_pred have different lengths: {X.shape[0]}, {t.shape[0]}, {p.shape[0]}"
        )
    wrong = np.flatnonzero(t != p)
    if wrong.size == 0:
        fig = _figure(figsize=(5, 1.6))
        ax = fig.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(0.5, 0.5, f"No misclassified images: all {t.shape[0]} predictions are correct.",
                ha="center", va="center", fontsize=11, transform=ax.transAxes)
        ax.set_title("Misclassified images")
        return fig
    shown = wrong[: int(n)]
    titles = []
    for i in shown:
        title = f"{_name(classes, t[i])} / {_name(classes, p[i])}"
        if probs is not None:
            title += f" ({float(np.asarray(probs)[i, p[i]]):.2f})"
        titles.append(title)
    cols, rows = _grid_size(len(shown), cols)
    fig = _figure(figsize=(1.7 * cols, 1.8 * rows + 0.4))
    _image_grid(fig, [X[i] for i in shown], titles, cols)
    legend = "true / predicted (p)" if probs is not None else "true / predicted"
    fig.suptitle(f"Misclassified: {wrong.size} of {t.shape[0]} ({legend})")
    return fig


def show_prediction(image, probs, classes=None):
    """An image beside a bar chart of the predicted class probabilities ("try your own image").

    Args:
        image: ``(H, W, 3)`` or ``(1, H, W, 3)`` image, ``uint8`` or floats in [0, 1]
            (e.g. what :func:`resnet_utils.data.load_image` returns).
        probs: class probabilities, shape ``(C,)`` or ``(1, C)`` (what ``model.predict``
            returns for one image).
        classes: class names (default 0..C-1).

    Returns:
        The :class:`~matplotlib.figure.Figure`: the image axes titled with the prediction,
        and a bar chart titled "Class probabilities" (the predicted bar highlighted).
    """
    p = np.asarray(probs, dtype=float).reshape(-1)
    if p.size == 0:
        raise ValueError("probs is empty")
    names = [_name(classes, k) for k in range(p.size)]
    k = int(np.argmax(p))
    fig = _figure(figsize=(8, 3.4))
    ax_img = fig.add_subplot(1, 2, 1)
    img = _displayable(image)
    ax_img.imshow(img, cmap="gray" if img.ndim == 2 else None)
    ax_img.set_xticks([])
    ax_img.set_yticks([])
    ax_img.set_title(f"prediction: {names[k]} (p = {p[k]:.2f})")
    ax = fig.add_subplot(1, 2, 2)
    colours = ["tab:gray"] * p.size
    colours[k] = "tab:orange"
    bars = ax.bar(range(p.size), p, color=colours)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in p], fontsize=8)
    ax.set_xticks(range(p.size), names)
    ax.set_ylim(0.0, 1.1)
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.set_title("Class probabilities")
    return fig



def plot_batchnorm_shift(before, after, accuracy_before=None, accuracy_after=None):
    """BatchNorm's moving statistics before and after recalibration, layer by layer.

    Args:
        before, after: what :func:`resnet_utils.training.batchnorm_shift` returns (dicts
            with ``names``, ``mean_shift`` and ``std_ratio`` per BatchNorm layer), measured
            before and after :func:`resnet_utils.training.recalibrate_batchnorm`.
        accuracy_before, accuracy_after: test accuracies with the two sets of statistics
            (optional; when both are given, a first panel compares them).

    Returns:
        The :class:`~matplotlib.figure.Figure`: panels titled "Test accuracy" (if given),
        "Mean shift" (how many standard deviations each layer's normalised mean is off)
        and "Standard deviation ratio" (1 is a perfect fit), lines labelled
        "moving statistics" and "recalibrated".
    """
    for name, d in (("before", before), ("after", after)):
        if not isinstance(d, dict) or not {"names", "mean_shift", "std_ratio"} <= set(d):
            raise ValueError(f"{name} must be what training.batchnorm_shift returns "
                             "(a dict with names, mean_shift and std_ratio)")
    if list(before["names"]) != list(after["names"]):
        raise ValueError("before and after describe different BatchNorm layers")
    with_acc = accuracy_before is not None and accuracy_after is not None
    n_panels = 3 if with_acc else 2
    fig = _figure(figsize=(4.2 * n_panels + 1.5, 3.6))
    grid = fig.add_gridspec(1, n_panels, width_ratios=([0.6] if with_acc else []) + [1.3, 1.3])
    col = 0
    labels = ("moving statistics", "recalibrated")
    if with_acc:
        ax = fig.add_subplot(grid[0, 0])
        bars = ax.bar([0, 1], [accuracy_before, accuracy_after], color=["tab:red", "tab:green"])
        ax.bar_label(bars, labels=[f"{accuracy_before:.3f}", f"{accuracy_after:.3f}"])
        ax.set_xticks([0, 1], ["moving\nstatistics", "recalibrated"])
        ax.set_ylim(0.0, 1.1)
        ax.set_ylabel("accuracy")
        ax.set_title("Test accuracy")
        col = 1
    x = np.arange(1, len(before["names"]) + 1)
    for key, title, ylabel, ideal in (
        ("mean_shift", "Mean shift", "|mean - moving mean| / moving std", 0.0),
        ("std_ratio", "Standard deviation ratio", "std / moving std", 1.0),
    ):
        ax = fig.add_subplot(grid[0, col])
        for d, label, style in ((before, labels[0], "o-"), (after, labels[1], "s-")):
            ax.plot(x, np.asarray(d[key], dtype=float), style, label=label, markersize=3)
        ax.axhline(ideal, color="black", linewidth=0.8, linestyle=":")
        ax.set_title(title)
        ax.set_xlabel("BatchNorm layer (input to output)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend()
        col += 1
    return fig
