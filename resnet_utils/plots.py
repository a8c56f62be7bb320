"""Every figure of the course: the assignment's and the walkthroughs'.

- the assignment (``source/residual_networks``): sample grids, learning curves, confusion
  matrices, misclassified images, a prediction, BatchNorm statistics, diagrams of the
  ResNet50 blocks and stages;
- the walkthroughs (``notebooks/``): gradient norms and their history, Jacobian spectra,
  error curves, residual-branch ratios, feature maps, block deletion; the numbers they
  draw come from :mod:`resnet_utils.experiments`.

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
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .config import not_drawn_when_graded

__all__ = [
    "show_samples",
    "plot_history",
    "confusion_matrix",
    "plot_confusion_matrix",
    "show_misclassified",
    "show_prediction",
    "plot_batchnorm_shift",
    "plot_identity_block",
    "plot_convolutional_block",
    "plot_resnet_stages",
    "plot_resnet50_overview",
    # the walkthroughs (notebooks/0*.ipynb)
    "plot_gradient_norms",
    "plot_gradient_history",
    "plot_singular_values",
    "plot_error_curves",
    "plot_residual_ratios",
    "plot_feature_maps",
    "plot_ablation",
]


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


# --------------------------------------------------------------------------------------
# diagrams of the ResNet50 blocks and stages (drawn with matplotlib, no graphviz)
# --------------------------------------------------------------------------------------

_KIND_COLOURS = {
    "Conv2D": "#9ecae1",
    "BatchNorm": "#fdd0a2",
    "ReLU": "#a1d99b",
    "Add": "#f2a7a7",
    "tensor": "#eeeeee",
}

_STAGE_COLOURS = ["#d9d9d9", "#c6dbef", "#9ecae1", "#a1d99b", "#fdd0a2", "#f2a7a7", "#dadaeb",
                  "#fee391", "#c7e9c0"]


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _dim(v):
    """A dimension as written in a diagram: a number, or the symbol as given."""
    return str(int(v)) if _is_int(v) else str(v)


def _strided(n, s):
    """Size after a 'valid' 1x1 convolution with stride s: ceil(n / s), as a number or a formula."""
    if _is_int(n) and _is_int(s):
        return -(-int(n) // int(s))
    if _is_int(s) and int(s) == 1:
        return n
    return f"⌈{_dim(n)}/{_dim(s)}⌉"


def _shape_text(*dims):
    return "(" + ", ".join(_dim(d) for d in dims) + ")"


def _block_args(f, filters, shape):
    filters = tuple(filters)
    shape = tuple(shape)
    if len(filters) != 3:
        raise ValueError(f"filters must be three values (F1, F2, F3), got {filters!r}")
    if len(shape) != 3:
        raise ValueError(f"shape must be the input's (n_H, n_W, n_C), got {shape!r}")
    return f, filters, shape


def _draw_box(ax, x, y, w, h, text, kind, gid, bold_edge=False, fontsize=8):
    """A rounded box of the colour of its layer kind, with its text centred; return the text."""
    from matplotlib.patches import FancyBboxPatch

    pad = 0.06
    ax.add_patch(FancyBboxPatch(
        (x - w / 2 + pad, y - h / 2 + pad), w - 2 * pad, h - 2 * pad,
        boxstyle=f"round,pad={pad}", facecolor=_KIND_COLOURS[kind],
        edgecolor="black" if bold_edge else "#555555", linewidth=2.2 if bold_edge else 0.9,
        zorder=2))
    t = ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, zorder=3,
                fontweight="bold" if bold_edge else "normal", linespacing=1.25)
    t.set_gid(gid)
    return t


def _arrow(ax, start, end, **kwargs):
    from matplotlib.patches import FancyArrowPatch

    style = dict(arrowstyle="-|>", mutation_scale=10, color="#333333", linewidth=1.1,
                 shrinkA=0, shrinkB=0, zorder=1)
    style.update(kwargs)
    ax.add_patch(FancyArrowPatch(start, end, **style))


def _block_out_hw(filters, shape, s):
    """The block's output height and width; refuses an identity block whose n_C is not F3."""
    n_H, n_W, n_C = shape
    if s is not None:
        return _strided(n_H, s), _strided(n_W, s)
    F3 = filters[2]
    if _is_int(n_C) and _is_int(F3) and int(n_C) != int(F3):
        raise ValueError(
            f"the identity block adds its input to its output, so n_C must equal F3; "
            f"got n_C = {int(n_C)} and F3 = {int(F3)} (use the convolutional block)")
    return n_H, n_W


def _block_main_path(f, filters, stride):
    """The main path, left to right: (text, kind) of each box (``stride``: the text of the
    convolutional block's stride, None for the identity block)."""
    F1, F2, F3 = (f"{_dim(F)} filters" for F in filters)
    return [
        ("X", "tensor"),
        ("Conv2D 1×1\n" + F1 + (f"\n{stride}" if stride else "") + "\n2a", "Conv2D"),
        ("BatchNorm\n2a", "BatchNorm"),
        ("ReLU", "ReLU"),
        (f"Conv2D {_dim(f)}×{_dim(f)}\n{F2}\n'same'\n2b", "Conv2D"),
        ("BatchNorm\n2b", "BatchNorm"),
        ("ReLU", "ReLU"),
        ("Conv2D 1×1\n" + F3 + "\n2c", "Conv2D"),
        ("BatchNorm\n2c", "BatchNorm"),
        ("Add", "Add"),
        ("ReLU", "ReLU"),
        ("output", "tensor"),
    ]


#: the block figure's layout: the index of the Add and of the last ReLU on the main path, the
#: distance between boxes, a box's width and height, the height of the shortcut
_ADD, _RELU_OUT, _PITCH, _W, _H, _Y_SHORT = 9, 10, 1.75, 1.42, 1.25, 2.0


def _shape_label(ax, x, y, text, va):
    t = ax.text(x, y, text, ha="center", va=va, fontsize=8.5, color="#222222")
    t.set_gid("shape")


def _draw_main_path(ax, main, xs):
    """The boxes of the main path (gid "main") and the arrows between them."""
    for i, (text, kind) in enumerate(main):
        width = 0.9 if kind == "tensor" else _W
        _draw_box(ax, xs[i], 0.0, width, 0.7 if kind == "tensor" else _H, text, kind, "main",
                  bold_edge=(i == _RELU_OUT), fontsize=9 if kind in ("tensor", "Add") else 8)
    for i in range(len(main) - 1):
        left = xs[i] + (0.45 if main[i][1] == "tensor" else _W / 2)
        right = xs[i + 1] - (0.45 if main[i + 1][1] == "tensor" else _W / 2)
        _arrow(ax, (left, 0.0), (right, 0.0))


def _draw_edge_shapes(ax, xs, filters, shape, out_hw, conv_block):
    """The tensor shapes, written under the edges of the main path where they change."""
    (n_H, n_W, n_C), (F1, F2, F3), (out_H, out_W) = shape, filters, out_hw
    edge_shapes = [
        (0, _shape_text("m", n_H, n_W, n_C) + ("" if conv_block or _is_int(n_C) or _is_int(F3)
                                                 else f"\nn_C = {_dim(F3)}")),
        (3, _shape_text("m", out_H, out_W, F1)),
        (6, _shape_text("m", out_H, out_W, F2)),
        (8, _shape_text("m", out_H, out_W, F3)),
        (10, _shape_text("m", out_H, out_W, F3)),
    ]
    for i, text in edge_shapes:
        x = (xs[i] + xs[i + 1]) / 2
        ax.plot([x, x], [-0.08, -_H / 2 - 0.25], color="#888888", linewidth=0.8, linestyle=":", zorder=1)
        _shape_label(ax, x, -_H / 2 - 0.3, text, "top")


def _draw_shortcut(ax, xs, filters, shape, out_hw, stride):
    """The shortcut: from the split point after X, above the main path, down into the Add;
    through a Conv2D and a BatchNorm (gid "shortcut") when ``stride`` is given."""
    x_split, x_add = (xs[0] + xs[1]) / 2, xs[_ADD]
    ax.plot([x_split], [0.0], "o", color="#333333", markersize=4, zorder=3)
    line = dict(color="#333333", linewidth=1.1, zorder=1)
    _arrow(ax, (x_add, _Y_SHORT), (x_add, _H / 2))
    italic = dict(ha="center", va="bottom", fontsize=10, fontstyle="italic", color="#333333")
    if stride:
        x_conv, x_bn = xs[4], xs[6]
        ax.plot([x_split, x_split], [0.0, _Y_SHORT], **line)
        _arrow(ax, (x_split, _Y_SHORT), (x_conv - _W / 2, _Y_SHORT))
        _draw_box(ax, x_conv, _Y_SHORT, _W, 1.05, f"Conv2D 1×1\n{_dim(filters[2])} filters\n{stride}\n1",
                  "Conv2D", "shortcut")
        _draw_box(ax, x_bn, _Y_SHORT, _W, 1.05, "BatchNorm\n1", "BatchNorm", "shortcut")
        _arrow(ax, (x_conv + _W / 2, _Y_SHORT), (x_bn - _W / 2, _Y_SHORT))
        ax.plot([x_bn + _W / 2, x_add], [_Y_SHORT, _Y_SHORT], **line)
        label = ax.text((x_split + x_conv - _W / 2) / 2, _Y_SHORT + 0.08, "shortcut", **italic)
        _shape_label(ax, (x_bn + _W / 2 + x_add) / 2, _Y_SHORT + 0.08,
                     _shape_text("m", *out_hw, filters[2]), "bottom")
    else:
        ax.plot([x_split, x_split, x_add], [0.0, _Y_SHORT, _Y_SHORT], **line)
        label = ax.text((x_split + x_add) / 2, _Y_SHORT + 0.08, "shortcut: X", **italic)
        _shape_label(ax, (x_split + x_add) / 2, _Y_SHORT - 0.08, _shape_text("m", *shape), "top")
    label.set_gid("path")


def _block_labels(ax, xs, s):
    """The path labels, the layer-name note, the legend and the title."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    t = ax.text((xs[1] + xs[8]) / 2, _H / 2 + 0.12, "main path", ha="center", va="bottom", fontsize=10,
                fontstyle="italic", color="#333333")
    t.set_gid("path")
    ax.text(xs[_RELU_OUT], _H / 2 + 0.12, "ReLU after Add", ha="center", va="bottom", fontsize=8.5,
            fontweight="bold", color="black")
    names = "2a, 2b, 2c" + (", 1" if s is not None else "")
    ax.text(xs[0] - 0.45, -1.72, f"{names}: suffixes of the layer names, e.g. 2a = conv_name_base + '2a' "
            "(Conv2D), bn_name_base + '2a' (BatchNorm)", ha="left", va="bottom", fontsize=7.5, color="#555555")
    handles = [Patch(facecolor=_KIND_COLOURS[k], edgecolor="#555555", label=k)
               for k in ("Conv2D", "BatchNorm", "ReLU", "Add")]
    handles.append(Line2D([], [], color="#333333", linewidth=1.1, label="tensor (shape below)"))
    ax.legend(handles=handles, loc="lower right", ncols=5, fontsize=8, frameon=False,
              bbox_to_anchor=(1.0, -0.02), handlelength=1.4, columnspacing=1.2)
    if s is not None:
        ax.set_title("Convolutional block: the first main-path Conv2D and the shortcut Conv2D have "
                     f"stride ({_dim(s)}, {_dim(s)})", fontsize=11)
    else:
        ax.set_title("Identity block: the shortcut is the input X itself (same shape in and out)",
                     fontsize=11)


def _residual_block_figure(f, filters, shape, s):
    """Draw the identity block (``s is None``) or the convolutional block (stride ``s``)."""
    out_hw = _block_out_hw(filters, shape, s)
    stride = f"stride ({_dim(s)}, {_dim(s)})" if s is not None else None
    main = _block_main_path(f, filters, stride)
    xs = [i * _PITCH for i in range(len(main))]
    fig = _figure(figsize=(12, 3.9))
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(-0.85, xs[-1] + 0.85)
    ax.set_ylim(-1.75, _Y_SHORT + 0.85)
    ax.axis("off")
    _draw_main_path(ax, main, xs)
    _draw_edge_shapes(ax, xs, filters, shape, out_hw, s is not None)
    _draw_shortcut(ax, xs, filters, shape, out_hw, stride)
    _block_labels(ax, xs, s)
    return fig


#: The two units of He et al. 2016b, Fig. 4, from input x_l (bottom) to x_{l+1} (top):
#: (a) original (post-activation), (e) full pre-activation. Entries: (text, kind).
UNIT_ORDERS = {
    "(a) original (v1)": [("weight", "Conv2D"), ("BN", "BatchNorm"), ("ReLU", "ReLU"),
                          ("weight", "Conv2D"), ("BN", "BatchNorm"), ("addition", "Add"),
                          ("ReLU", "ReLU")],
    "(e) full pre-activation (v2)": [("BN", "BatchNorm"), ("ReLU", "ReLU"), ("weight", "Conv2D"),
                                     ("BN", "BatchNorm"), ("ReLU", "ReLU"), ("weight", "Conv2D"),
                                     ("addition", "Add")],
}


def plot_unit_orders():
    """The original and the full pre-activation residual unit side by side (He et al. 2016b,
    *Identity Mappings in Deep Residual Networks*, Fig. 4 (a) and (e)), input at the bottom.

    In (a) a ReLU follows the addition, so the shortcut of the next unit starts from
    ReLU(x_l + F(x_l)); in (e) nothing follows it: x_{l+1} = x_l + F(x_l), and BatchNorm and
    ReLU come before each weight layer.

    Returns:
        The :class:`~matplotlib.figure.Figure`: one axes per unit, titled with
        :data:`UNIT_ORDERS`' keys; each box's text has gid "layer", the shortcut's label
        gid "shortcut".
    """
    fig = _figure(figsize=(7.5, 5.6))
    pitch, w, h = 0.72, 1.6, 0.5
    for col, (title, layers) in enumerate(UNIT_ORDERS.items()):
        ax = fig.add_subplot(1, 2, col + 1)
        ax.set_xlim(-1.3, 2.1)
        ax.set_ylim(-0.5, (len(layers) + 1) * pitch + 0.45)
        ax.axis("off")
        ax.set_title(title, fontsize=11)
        ys = [(i + 1) * pitch for i in range(len(layers))]
        _draw_box(ax, 0, 0, 0.9, 0.42, "$x_l$", "tensor", "tensor", fontsize=10)
        top = (len(layers) + 1) * pitch
        _draw_box(ax, 0, top, 0.9, 0.42, "$x_{l+1}$", "tensor", "tensor", fontsize=10)
        previous = 0.21
        for y, (text, kind) in zip(ys, layers):
            t = _draw_box(ax, 0, y, w, h, text, kind, "layer", fontsize=9,
                          bold_edge=(kind == "ReLU" and y > ys[layers.index(("addition", "Add"))]))
            t.set_gid("layer")
            _arrow(ax, (0, previous), (0, y - h / 2))
            previous = y + h / 2
        _arrow(ax, (0, previous), (0, top - 0.21))
        y_add = ys[layers.index(("addition", "Add"))]
        line = dict(color="#333333", linewidth=1.1, zorder=1)
        ax.plot([0, 1.35, 1.35], [0.33, 0.33, y_add], **line)
        _arrow(ax, (1.35, y_add), (w / 2, y_add))
        t = ax.text(1.45, (0.33 + y_add) / 2, "identity\nshortcut", ha="left", va="center",
                    fontsize=9, fontstyle="italic", rotation=90)
        t.set_gid("shortcut")
    fig.suptitle("He et al. 2016b, Fig. 4: where BatchNorm and ReLU sit (input at the bottom)",
                 fontsize=10)
    return fig


@not_drawn_when_graded
def plot_identity_block(f="f", filters=("F1", "F2", "F3"), shape=("n_H", "n_W", "n_C")):
    """Diagram of ResNet50's identity block (bottleneck with an identity shortcut).

    Main path: Conv2D 1×1 (F1, ``2a``) → BatchNorm (``2a``) → ReLU → Conv2D f×f 'same'
    (F2, ``2b``) → BatchNorm (``2b``) → ReLU → Conv2D 1×1 (F3, ``2c``) → BatchNorm
    (``2c``) → Add → ReLU; the shortcut carries the input X around it into the Add. The ReLU
    comes after the Add (there is none between the last BatchNorm and the Add). The edges
    are annotated with the tensor shapes, the boxes with the layer names' suffixes
    (``conv_name_base + '2a'`` shown as "2a").

    Args:
        f: the middle convolution's window size; symbol or number.
        filters: ``(F1, F2, F3)``; symbols or numbers.
        shape: the input's ``(n_H, n_W, n_C)``; symbols or numbers. Where numbers are given,
            the shapes are computed and written as numbers.

    Returns:
        The :class:`~matplotlib.figure.Figure` (one axes without ticks). Its texts carry a
        gid: "main" for the main path's boxes (left to right), "shortcut" for the shortcut's,
        "shape" for the tensor shapes and "path" for the labels "main path" / "shortcut: X".
        While nbgrader runs the notebook, a :class:`~resnet_utils.config.NotDrawn` line instead.

    Raises:
        ValueError: ``n_C`` and ``F3`` are different numbers (the Add needs equal shapes).
    """
    f, filters, shape = _block_args(f, filters, shape)
    return _residual_block_figure(f, filters, shape, None)


@not_drawn_when_graded
def plot_convolutional_block(f="f", filters=("F1", "F2", "F3"), s="s", shape=("n_H", "n_W", "n_C")):
    """Diagram of ResNet50's convolutional block (bottleneck with a projection shortcut).

    As :func:`plot_identity_block`, but the first main-path Conv2D 1×1 has stride (s, s)
    and the shortcut holds Conv2D 1×1 (F3 filters, stride (s, s), name suffix ``1``) →
    BatchNorm (``1``) before the Add. After the strided convolution the spatial size is
    ⌈n_H/s⌉ × ⌈n_W/s⌉ (computed when ``shape`` and ``s`` are numbers).

    Args:
        f: the middle convolution's window size.
        filters: ``(F1, F2, F3)``.
        s: the stride of the first main-path convolution and of the shortcut convolution.
        shape: the input's ``(n_H, n_W, n_C)``.

    Returns:
        The :class:`~matplotlib.figure.Figure` (texts tagged as in :func:`plot_identity_block`);
        while nbgrader runs the notebook, a :class:`~resnet_utils.config.NotDrawn` line instead.

    Raises:
        ValueError: ``s`` is a number below 1.
    """
    f, filters, shape = _block_args(f, filters, shape)
    if _is_int(s) and int(s) < 1:
        raise ValueError(f"the stride s must be at least 1, got {int(s)}")
    return _residual_block_figure(f, filters, shape, s)


def _stage_label(stage):
    stage = str(stage)
    return f"stage {stage}" if stage.isdigit() else stage


def _share(part, total):
    """``part / total`` as a percentage for a bar label ("<1%" rather than a misleading "0%")."""
    if part == 0 or total == 0:
        return "0%"
    return "<1%" if part / total < 0.01 else f"{part / total:.0%}"


def plot_resnet_stages(rows):
    """ResNet50 stage by stage: the output of each stage drawn to scale, and its parameters.

    Args:
        rows: one dict per stage, in order, with keys ``stage`` (e.g. ``"input"``, ``"1"``,
            ..., ``"head"``; digits are shown as "stage 1"), ``output_shape`` (without the
            batch axis, e.g. ``(15, 15, 256)`` or ``(6,)``; a leading ``None`` is dropped),
            ``params`` (the stage's parameter count) and optionally ``layers`` (a short
            description).

    Returns:
        The :class:`~matplotlib.figure.Figure` with two axes: left, one box per stage whose
        height grows with the spatial size and width with the number of channels (both on a
        log scale), annotated with the output shape, the parameter count and the layers;
        right, a horizontal bar chart of the parameters per stage, titled with the total
        (e.g. "total 23,600,006 parameters").

    Raises:
        ValueError: ``rows`` is empty or a row lacks a key or has a bad shape / count.
    """
    import textwrap

    from matplotlib.patches import Rectangle
    from matplotlib.ticker import StrMethodFormatter

    rows = list(rows)
    if not rows:
        raise ValueError("rows is empty: expected one dict per stage")
    stages = []
    for k, row in enumerate(rows):
        if not isinstance(row, dict) or not {"stage", "output_shape", "params"} <= set(row):
            raise ValueError(f"row {k} must be a dict with keys stage, output_shape and params, got {row!r}")
        shape = tuple(row["output_shape"])
        while shape and shape[0] is None:
            shape = shape[1:]
        if not shape or not all(_is_int(d) and d > 0 for d in shape):
            raise ValueError(f"row {k} ({row['stage']}): output_shape must be positive integers, "
                             f"got {row['output_shape']!r}")
        params = row["params"]
        if not _is_int(params) or params < 0:
            raise ValueError(f"row {k} ({row['stage']}): params must be a non-negative integer, got {params!r}")
        stages.append((_stage_label(row["stage"]), tuple(int(d) for d in shape), int(params),
                       str(row.get("layers", "") or "")))
    total = sum(p for _, _, p, _ in stages)
    n = len(stages)

    fig = _figure(figsize=(12, 4.6))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.75, 1.0])
    colours = [_STAGE_COLOURS[k % len(_STAGE_COLOURS)] for k in range(n)]

    # left: one box per stage
    ax = fig.add_subplot(grid[0, 0])
    spatial = [shape[0] if len(shape) > 1 else 1 for _, shape, _, _ in stages]
    channels = [shape[-1] for _, shape, _, _ in stages]
    log_h = np.log2(np.asarray(spatial, dtype=float) + 1.0)
    log_c = np.log2(np.asarray(channels, dtype=float) + 1.0)
    box_h = 0.35 + 2.65 * log_h / log_h.max()
    box_w = 0.2 + 0.65 * log_c / log_c.max()
    top = box_h.max() / 2
    for k, (label, shape, params, layers) in enumerate(stages):
        ax.add_patch(Rectangle((k - box_w[k] / 2, -box_h[k] / 2), box_w[k], box_h[k],
                               facecolor=colours[k], edgecolor="#444444", linewidth=0.9))
        ax.text(k, top + 0.12, label, ha="center", va="bottom", fontsize=9.5, fontweight="bold",
                gid="stage")
        shape_text = "(" + ", ".join(str(d) for d in shape) + (",)" if len(shape) == 1 else ")")
        ax.text(k, -top - 0.12, shape_text, ha="center", va="top", fontsize=8.5, gid="shape")
        ax.text(k, -top - 0.52, f"{params:,}\nparameters", ha="center", va="top", fontsize=8,
                color="#333333", gid="params", linespacing=1.1)
        if layers:
            ax.text(k, -top - 1.25, textwrap.fill(layers, 17), ha="center", va="top", fontsize=7,
                    color="#666666", gid="layers", linespacing=1.15)
    for k in range(n - 1):
        _arrow(ax, (k + box_w[k] / 2 + 0.03, 0.0), (k + 1 - box_w[k + 1] / 2 - 0.03, 0.0),
               mutation_scale=8)
    ax.set_xlim(-0.55, n - 0.45)
    ax.set_ylim(-top - 2.7, top + 0.55)
    ax.axis("off")
    ax.set_title("Output of each stage (box height: log of the height, width: log of the channels)",
                 fontsize=10)

    # right: parameters per stage
    bx = fig.add_subplot(grid[0, 1])
    y = np.arange(n)
    params = [p for _, _, p, _ in stages]
    bars = bx.barh(y, params, color=colours, edgecolor="#444444", linewidth=0.6)
    bx.bar_label(bars, labels=[f"{p:,} ({_share(p, total)})" for p in params],
                 fontsize=8, padding=3)
    bx.set_yticks(y, [label for label, _, _, _ in stages])
    bx.invert_yaxis()
    bx.set_xlim(0, max(max(params), 1) * 1.6)
    bx.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    bx.tick_params(axis="x", labelsize=8)
    bx.set_xlabel("parameters")
    bx.grid(axis="x", alpha=0.3)
    bx.set_title(f"Parameters per stage: total {total:,} parameters", fontsize=10)
    return fig


# --------------------------------------------------------------------------------------
# the whole ResNet50 at a glance: the overview diagram, read from a built model
# --------------------------------------------------------------------------------------

#: A layer name of a residual block in the specification: ``res`` (Conv2D) or ``bn``
#: (BatchNormalization), the stage, the block's letter, the branch (``2a``, ``2b``, ``2c``: the
#: main path; ``1``: the shortcut of a convolutional block), e.g. ``res3b_branch2a``.
_BLOCK_NAME = r"(res|bn)(\d+)([a-z]+)_branch(1|2[abc])"

#: The stages made of residual blocks.
_BLOCK_STAGES = ("2", "3", "4", "5")

#: Fill colours of the overview's boxes: the layers as in the block diagrams, pooling and
#: reshaping in neutral tones, a convolutional block light blue, an identity block white.
_OVERVIEW_COLOURS = {
    "Input": _KIND_COLOURS["tensor"],
    "ZeroPadding2D": _KIND_COLOURS["tensor"],
    "Conv2D": _KIND_COLOURS["Conv2D"],
    "BatchNormalization": _KIND_COLOURS["BatchNorm"],
    "ReLU": _KIND_COLOURS["ReLU"],
    "MaxPooling2D": "#dadaeb",
    "convolutional block": "#c6dbef",
    "identity block": "#ffffff",
    "AveragePooling2D": "#dadaeb",
    "Flatten": _KIND_COLOURS["tensor"],
    "Dense": "#fee391",
}

#: The note beside the head: what the shapes are.
_OVERVIEW_NOTE = ("Shapes (n_H, n_W, n_C),\nwithout the batch axis:\nunder a layer, its output\n"
                  "where it changes;\nunder stages 2 to 5,\nthe stage's output.")

#: The overview's two lines of groups: the input, stages 1 to 3; then stages 4, 5 and the head.
_OVERVIEW_LINES = (("input", "1", "2", "3"), ("4", "5", "head"))

#: What the overview says when it cannot read everything from the layer names.
_OVERVIEW_NAMES_HINT = ("the diagram needs the layer names of the specification (conv1, bn_conv1; "
                        "res2a_branch2a, bn2a_branch2a, ... in the blocks; avg_pool, fc + classes)")


def _tuple_text(shape):
    """A shape as Python writes a tuple: ``(15, 15, 256)``, ``(6,)``."""
    return str(tuple(None if d is None else int(d) for d in shape))


def _output_shape(layer):
    """The layer's output shape without the batch axis, as a tuple (``None`` for an unknown size)."""
    return tuple(None if d is None else int(d) for d in layer.output.shape[1:])


def _pair(value):
    """A window or stride from a layer's configuration as a tuple of ints (``2`` -> ``(2, 2)``)."""
    return tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value, value)))


def _stride_text(value):
    """A stride as written in a box: ``2`` for equal sides, else the tuple."""
    sides = _pair(value)
    return str(sides[0]) if len(set(sides)) == 1 else str(sides)


def _layer_kind(layer):
    """The layer's class name, with ``Activation('relu')`` written as ReLU."""
    name = type(layer).__name__
    if name == "Activation" and layer.get_config().get("activation") == "relu":
        return "ReLU"
    return name


def _layer_row(stage, layer):
    """One box of the input, stage 1 or the head: the layer's kind, its text (settings read from
    its configuration, and its name) and its output shape."""
    kind, cfg, name = _layer_kind(layer), layer.get_config(), layer.name

    def window(key):
        return "×".join(str(v) for v in _pair(cfg[key]))

    def stride():
        return _stride_text(cfg.get("strides") or cfg.get("pool_size"))

    if kind == "InputLayer":
        kind, text = "Input", "Input"
    elif kind == "ZeroPadding2D":
        pad = tuple(tuple(int(v) for v in side) for side in cfg["padding"])
        text = f"ZeroPad\n{pad[0] if len(set(pad)) == 1 else pad}"
    elif kind == "Conv2D":
        text = f"Conv2D\n{window('kernel_size')}, {cfg['filters']}\nstride {stride()}\n{name}"
    elif kind == "BatchNormalization":
        text = f"BatchNorm\n{name}"
    elif kind == "ReLU":
        text = "ReLU"
    elif kind == "MaxPooling2D":
        text = f"MaxPool\n{window('pool_size')}\nstride {stride()}"
    elif kind == "AveragePooling2D":  # its stride is written where it is not the pool size
        strided = _pair(cfg.get("strides") or cfg["pool_size"]) != _pair(cfg["pool_size"])
        text = f"AvgPool\n{window('pool_size')}\n{f'stride {stride()}' + chr(10) if strided else ''}{name}"
    elif kind == "Flatten":
        text = "Flatten"
    elif kind == "Dense":
        text = f"Dense {cfg['units']}\n{cfg.get('activation')}\n{name}"
    else:
        text = f"{kind}\n{name}"
    return {"stage": stage, "kind": kind, "name": name, "label": text, "output_shape": _output_shape(layer)}


def _missing_row(stage, text):
    """A box standing for what could not be read (a stage without a block of the specification)."""
    return {"stage": stage, "kind": "missing", "name": None, "label": text, "output_shape": None}


def _graph_ends(model):
    """``(layers, consumers, input layer, output layer)`` of a model with one input and one output;
    ``consumers`` maps ``id(layer)`` to the layers its output feeds."""
    from resnet_utils.summary import inputs_of

    layers = list(model.layers)
    consumers = {}
    for layer in layers:
        for parent in inputs_of(layer):
            consumers.setdefault(id(parent), []).append(layer)
    inputs = [layer for layer in layers if type(layer).__name__ == "InputLayer"]
    outputs = [layer for layer in layers if not consumers.get(id(layer)) and layer not in inputs]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"plot_resnet50_overview draws a model with one input and one output, this one has "
                         f"{len(inputs)} input(s) and {len(outputs)} output(s)")
    return layers, consumers, inputs[0], outputs[0]


def _stem_and_head(consumers, first, last):
    """The layers of stage 1 (from the input ``first`` to the first layer that feeds two layers)
    and of the head (from the last block's ReLU to the output ``last``), read from the graph."""
    import re

    from resnet_utils.summary import inputs_of

    def in_block(layer):
        return _layer_kind(layer) == "Add" or re.fullmatch(_BLOCK_NAME, layer.name) is not None

    stem, layer = [], first
    while len(consumers.get(id(layer), [])) == 1 and not in_block(consumers[id(layer)][0]):
        layer = consumers[id(layer)][0]
        stem.append(layer)
    head, layer, seen = [], last, {id(x) for x in [first, *stem]}
    while id(layer) not in seen and not in_block(layer):
        parents = inputs_of(layer)
        if len(parents) == 1 and _layer_kind(parents[0]) == "Add":
            break  # the ReLU that ends the last block
        head.append(layer)
        if len(parents) != 1:
            break
        layer = parents[0]
    return stem, head[::-1]


def _blocks_by_stage(layers):
    """The residual blocks, by their layers' names: ``{stage: {letter: set of the block's names}}``."""
    import re

    blocks = {}
    for layer in layers:
        match = re.fullmatch(_BLOCK_NAME, layer.name)
        if match and match.group(2) in _BLOCK_STAGES:
            blocks.setdefault(match.group(2), {}).setdefault(match.group(3), set()).add(layer.name)
    if not blocks:
        raise ValueError("plot_resnet50_overview: the model has no layer named 'res2a_branch2a' (nor any "
                         "other res<stage><block>_branch<...> layer of stages 2 to 5), so it shows no "
                         f"residual block: {_OVERVIEW_NAMES_HINT}.")
    return blocks


def _block_row(stage, letter, names, by_name, problems):
    """The box of block ``stage``+``letter`` (``names``: its layers' names); the specification's
    names it lacks are added to ``problems``."""
    conv = bool({f"res{stage}{letter}_branch1", f"bn{stage}{letter}_branch1"} & names)
    wanted = [f"{p}{stage}{letter}_branch{b}" for b in ("2a", "2b", "2c", *(("1",) if conv else ()))
              for p in ("res", "bn")]
    problems += [f"no layer named '{name}'" for name in wanted if name not in names]
    branch2a = by_name.get(f"res{stage}{letter}_branch2a")
    s = "?"
    if conv and branch2a is not None and "strides" in branch2a.get_config():
        s = _stride_text(branch2a.get_config()["strides"])
    return {"stage": stage, "kind": "convolutional block" if conv else "identity block", "name": stage + letter,
            "label": f"CONV\n{stage}{letter}\ns = {s}" if conv else f"ID\n{stage}{letter}", "output_shape": None}


def _stage_output(stage, letter, by_name, consumers):
    """The output shape of the block ``stage``+``letter``: that of the ReLU after the Add that its
    ``bn..._branch2c`` feeds (or of the Add); None when it cannot be found by the names."""
    end = by_name.get(f"bn{stage}{letter}_branch2c")
    adds = [x for x in consumers.get(id(end), []) if _layer_kind(x) == "Add"] if end is not None else []
    if len(adds) != 1:
        return None
    after = consumers.get(id(adds[0]), [])
    return _output_shape(after[0] if len(after) == 1 and _layer_kind(after[0]) == "ReLU" else adds[0])


def _stage_rows(stage, blocks, by_name, consumers, problems):
    """The boxes of one of stages 2 to 5 and the note beside its label."""
    letters = sorted(blocks.get(stage, {}), key=lambda b: (len(b), b))
    if not letters:
        problems.append(f"no layer named 'res{stage}a_branch2a'")
        return [_missing_row(stage, "?\nno block\nfound")], None
    expected = [chr(ord("a") + k) for k in range(ord(letters[-1][-1]) - ord("a") + 1)] \
        if all(len(b) == 1 for b in letters) else letters
    problems += [f"no layer named 'res{stage}{letter}_branch2a'" for letter in expected if letter not in letters]
    rows = [_block_row(stage, letter, blocks[stage][letter], by_name, problems) for letter in letters]
    rows[-1]["output_shape"] = _stage_output(stage, letters[-1], by_name, consumers)
    first = [by_name.get(f"res{stage}{letters[0]}_branch2{c}") for c in "abc"]
    return rows, "filters " + ", ".join(str(getattr(layer, "filters", "?")) for layer in first)


def _read_resnet50(model):
    """What the overview draws, read from a built model: ``(rows, details, problems)``.

    ``rows``: one dict per box, in the order of the network (``stage``, ``kind``, ``name``,
    ``label``, ``output_shape``; the last block of a stage has the stage's output, that of the
    ReLU after the Add fed by its ``bn..._branch2c`` (else, if every name was found, the stage's
    row of :func:`resnet_utils.summary.stage_summary`), the other blocks ``None``). ``details``:
    the note beside each group's label. ``problems``: the named layers that were not found.

    The input, stage 1 and the head are read from the graph (:func:`_stem_and_head`), the blocks
    from the names: ``res{stage}{block}_branch2a`` etc.; a block with a ``..._branch1`` layer is a
    convolutional block, its stride that of its ``..._branch2a`` convolution.
    """
    import re

    from resnet_utils.summary import NAMED_KINDS, stage_summary

    layers, consumers, first, last = _graph_ends(model)
    stem, head = _stem_and_head(consumers, first, last)
    blocks = _blocks_by_stage(layers)
    by_name = {layer.name: layer for layer in layers}
    problems = [f"no layer named '{name}'" for name in ("conv1", "bn_conv1", "avg_pool") if name not in by_name]
    dense = [layer for layer in head if type(layer).__name__ == "Dense"]
    if dense and dense[-1].name != f"fc{dense[-1].units}":
        problems.append(f"no layer named 'fc{dense[-1].units}'")
    rows = [_layer_row("input", first)]
    rows += [_layer_row("1", layer) for layer in stem] or [_missing_row("1", "?\nnot found")]
    details, unresolved = {"1": "the stem", "head": "classifier"}, []
    for stage in _BLOCK_STAGES:
        stage_rows, note = _stage_rows(stage, blocks, by_name, consumers, problems)
        rows += stage_rows
        if note is not None:
            details[stage] = note
            if stage_rows[-1]["output_shape"] is None:
                unresolved.append(stage_rows[-1])
    rows += [_layer_row("head", layer) for layer in head] or [_missing_row("head", "?\nnot found")]
    known = re.compile(rf"conv1|bn_conv1|avg_pool|fc\d+|{_BLOCK_NAME}")  # the specification's names
    problems += [f"{_layer_kind(layer)} '{layer.name}' has no name of the specification" for layer in layers
                 if _layer_kind(layer) in NAMED_KINDS and not known.fullmatch(layer.name)]
    if not problems:  # every name found: a stage's output shape can come from stage_summary
        stage_shapes = {row["stage"]: tuple(row["output_shape"]) for row in stage_summary(model)}
        for row in unresolved:
            row["output_shape"] = stage_shapes.get(row["stage"])
    return rows, details, problems


def _overview_layout(rows, pitch=1.0, gap=0.45, line_step=2.9):
    """Group the rows by stage and place them: ``[{"stage", "rows", "xs", "y", "before"}, ...]``
    (``before``: the output shape of the previous stage, ``None`` for the input).

    Each line of :data:`_OVERVIEW_LINES` starts at x = 0; boxes are ``pitch`` apart, groups
    ``gap`` more; line ``i`` is at y = ``-i * line_step``.
    """
    groups, before = [], None
    for line, stages in enumerate(_OVERVIEW_LINES):
        x = 0.0
        for stage in stages:
            members = [r for r in rows if r["stage"] == stage]
            xs = [x + k * pitch for k in range(len(members))]
            groups.append({"stage": stage, "rows": members, "xs": xs, "y": -line * line_step,
                           "before": before})
            before = members[-1]["output_shape"]
            x = xs[-1] + pitch + gap
    return groups


def _overview_box(ax, x, y, text, colour, w=0.78, h=0.78):
    """A rounded box in the style of :func:`_draw_box` with the text tagged "layer"."""
    from matplotlib.patches import FancyBboxPatch

    pad = 0.04
    ax.add_patch(FancyBboxPatch((x - w / 2 + pad, y - h / 2 + pad), w - 2 * pad, h - 2 * pad,
                                boxstyle=f"round,pad={pad}", facecolor=colour, edgecolor="#555555",
                                linewidth=0.9, zorder=2))
    ax.text(x, y, text, ha="center", va="center", fontsize=7.5, zorder=3, linespacing=1.2, gid="layer")


def _overview_shortcut(ax, x, y, projection, half=0.5, rise=0.92):
    """The shortcut of the block at ``x``: an arch from the edge before the box to the edge
    after it, solid for an identity shortcut, dashed for a projection (Conv2D 1×1 + BatchNorm)."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    path = Path([(x - half, y), (x - half, y + rise), (x + half, y + rise), (x + half, y + 0.02)],
                [Path.MOVETO, Path.CURVE4, Path.CURVE4, Path.CURVE4])
    ax.add_patch(FancyArrowPatch(path=path, arrowstyle="-|>", mutation_scale=7, linewidth=1.0,
                                 linestyle=(0, (3, 2)) if projection else "-", color="#333333",
                                 zorder=1, gid="shortcut"))


def _overview_group(ax, k, group, detail, pitch=1.0):
    """The background, the labels and the output shape(s) of one stage; its boxes and shortcuts.

    ``k`` is the group's index (input 0, stage 1 is 1, ..., head 6): its background has the
    colour of the same row in :func:`plot_resnet_stages`; ``detail`` is the note beside its label.
    """
    from matplotlib.patches import FancyBboxPatch

    xs, y, rows, stage = group["xs"], group["y"], group["rows"], group["stage"]
    left, right = xs[0] - pitch / 2 + 0.05, xs[-1] + pitch / 2 - 0.05
    ax.add_patch(FancyBboxPatch((left, y - 0.78), right - left, 1.68, boxstyle="round,pad=0.02",
                                facecolor=_STAGE_COLOURS[k % len(_STAGE_COLOURS)], alpha=0.45,
                                edgecolor="#888888", linewidth=0.8, zorder=0, gid=f"group {stage}"))
    ax.text(left + 0.04, y + 0.94, _stage_label(stage), ha="left", va="bottom", fontsize=9,
            fontweight="bold", gid="stage")
    if detail:
        ax.text(right - 0.04, y + 0.94, detail, ha="right", va="bottom", fontsize=7.5,
                color="#444444", gid="detail")
    for x, row in zip(xs, rows):
        _overview_box(ax, x, y, row["label"], _OVERVIEW_COLOURS.get(row["kind"], _KIND_COLOURS["tensor"]))
        if row["kind"].endswith(" block"):
            _overview_shortcut(ax, x, y, projection=row["kind"] == "convolutional block")
    for a, b in zip(xs, xs[1:]):
        _arrow(ax, (a + 0.39, y), (b - 0.39, y), mutation_scale=7)
    # the shapes: under a layer of the input, stage 1 or the head where it changes; under a stage its output
    if stage in _BLOCK_STAGES:
        spots = [((xs[0] + xs[-1]) / 2, rows[-1]["output_shape"])]
    else:
        spots, previous = [], group["before"]
        for x, row in zip(xs, rows):
            if row["output_shape"] != previous:
                spots.append((x, row["output_shape"]))
            previous = row["output_shape"]
    for x, shape in spots:
        if shape is not None:
            ax.text(x, y - 0.46, _tuple_text(shape), ha="center", va="top", fontsize=7.5, color="#222222",
                    gid="shape")


def _overview_connections(ax, groups, half=0.39):
    """The arrows from each stage to the next; the last of a line wraps round to the next line."""
    line = dict(color="#333333", linewidth=1.1, zorder=1)
    for a, b in zip(groups, groups[1:]):
        start, end = (a["xs"][-1] + half, a["y"]), (b["xs"][0] - half, b["y"])
        if a["y"] == b["y"]:
            _arrow(ax, start, end, mutation_scale=8)
            continue
        x_out, x_in, y_mid = start[0] + 0.25, end[0] - 0.3, (a["y"] + b["y"]) / 2 + 0.1
        ax.plot([start[0], x_out, x_out, x_in, x_in], [a["y"], a["y"], y_mid, y_mid, b["y"]], **line)
        _arrow(ax, (x_in, b["y"]), end, mutation_scale=8)


def _overview_legend(ax):
    """The legend of the box colours and the two kinds of shortcut, under the diagram."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    kinds = [("Conv2D", "Conv2D"), ("BatchNormalization", "BatchNorm"), ("ReLU", "ReLU"),
             ("MaxPooling2D", "pooling"), ("Dense", "Dense"), ("convolutional block", "CONV: convolutional block"),
             ("identity block", "ID: identity block")]
    handles = [Patch(facecolor=_OVERVIEW_COLOURS[k], edgecolor="#555555", label=label) for k, label in kinds]
    handles += [Line2D([], [], color="#333333", linewidth=1.0, label="identity shortcut (X)"),
                Line2D([], [], color="#333333", linewidth=1.0, linestyle=(0, (3, 2)),
                       label="projection shortcut (Conv2D 1×1, stride s + BatchNorm)")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncols=5, fontsize=7.5,
              frameon=False, handlelength=1.6, columnspacing=1.2)


def _overview_problems_text(problems, shown=4):
    """The red note of an overview that could not read every name (wrapped to the figure's width)."""
    import textwrap

    listed = "; ".join(problems[:shown]) + (f"; and {len(problems) - shown} more" if len(problems) > shown else "")
    text = f"Incomplete diagram: {listed}. {_OVERVIEW_NAMES_HINT[0].upper()}{_OVERVIEW_NAMES_HINT[1:]}."
    return "\n".join(textwrap.wrap(text, 170))


def plot_resnet50_overview(model):
    """The whole ResNet50 in one diagram, read from the built model: stages, blocks and shapes.

    Left to right, in two lines read like text: the input; stage 1, the stem (ZeroPad,
    conv1, bn_conv1, ReLU, MaxPool in the assignment); stages 2 to 5, each made of a
    convolutional block "CONV" and identity blocks "ID" (one box per block, named by stage and
    letter, e.g. "3a"), an arch over each block for its shortcut (solid: identity, dashed:
    projection); the head (avg_pool, Flatten, Dense). The groups are coloured as the stages of
    :func:`plot_resnet_stages`, the layers as in :func:`plot_identity_block`.

    Everything drawn is read from ``model``: the layers of stage 1 and of the head, their
    settings and output shapes; the blocks from the layer names of the specification
    (``res{stage}{block}_branch2a`` etc.; a block with a ``res{stage}{block}_branch1`` layer is
    a convolutional block, its stride ``s`` that of its ``branch2a`` convolution), the filters
    beside each stage from its first block's convolutions; each stage's output shape from
    :func:`resnet_utils.summary.stage_summary`. Shapes are drawn without the batch axis:
    under a layer of stage 1 or the head, its output where it changes; under stages 2 to 5,
    the stage's output.

    A layer without its name of the specification does not stop the diagram: what can be read
    is drawn (a stage without any block found is one "?" box), a red note under it says which
    named layers were not found, and a :class:`UserWarning` says the same.

    Args:
        model: the built Keras ResNet50, e.g. ``resnet = ResNet50(input_shape=(64, 64, 3),
            classes=6)``.

    Returns:
        The :class:`~matplotlib.figure.Figure` (one axes without ticks). Its texts carry a
        gid: "stage" for the group labels ("input", "stage 1" to "stage 5", "head"),
        "detail" for the note beside them (the filters of stages 2 to 5), "layer" for the
        boxes (first line: "CONV", "ID", "Conv2D", ...), "shape" for the shapes, "problems"
        for the red note; each shortcut is a patch with gid "shortcut", each group's
        background "group <stage>".

    Raises:
        TypeError: ``model`` is not a Keras model (e.g. an input shape).
        ValueError: the model has no layer of a residual block named as in the specification
            (nothing of stages 2 to 5 can be read), or not one input and one output.
    """
    import warnings

    if not hasattr(model, "layers") or not hasattr(model, "get_layer"):
        raise TypeError("plot_resnet50_overview takes the built ResNet50 model, e.g. resnet = "
                        "ResNet50(input_shape=(64, 64, 3), classes=6), then plot_resnet50_overview(resnet); "
                        f"got {type(model).__name__}")
    rows, details, problems = _read_resnet50(model)
    if problems:
        listed = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        warnings.warn(f"plot_resnet50_overview: {listed}: {_OVERVIEW_NAMES_HINT}.", stacklevel=2)
    note = _overview_problems_text(problems) if problems else ""
    extra = 0.25 * (note.count("\n") + 1) if note else 0.0
    groups = _overview_layout(rows)
    fig = _figure(figsize=(12, 5.2 + 0.45 * bool(note) + 0.18 * note.count("\n")))
    ax = fig.add_subplot(1, 1, 1)
    for k, group in enumerate(groups):
        _overview_group(ax, k, group, details.get(group["stage"], ""))
    _overview_connections(ax, groups)
    right = max(g["xs"][-1] for g in groups) + 0.8
    ax.set_xlim(-0.75, right)
    head = groups[-1]
    ax.text(head["xs"][-1] + 0.55, head["y"] + 0.94, _OVERVIEW_NOTE, ha="left", va="top", fontsize=7.5,
            color="#444444", linespacing=1.3, gid="note")
    bottom = groups[-1]["y"] - 0.85 - extra
    if note:
        ax.text(-0.7, bottom + 0.03, note, ha="left", va="bottom", fontsize=8, color="#b30000",
                linespacing=1.3, gid="problems")
    ax.set_ylim(bottom, 1.2)
    ax.axis("off")
    _overview_legend(ax)
    n_blocks = sum(r["kind"].endswith(" block") for r in rows)
    out = rows[-1]["output_shape"]
    classes = f" and {out[-1]} classes" if out else ""
    ax.set_title(f"ResNet50 for {_tuple_text(rows[0]['output_shape'])} inputs{classes}: "
                 f"stage 1, {n_blocks} residual blocks in stages 2 to 5, the head", fontsize=11)
    return fig


# --------------------------------------------------------------------------------------
# the walkthroughs' figures (notebooks/0*.ipynb; the numbers come from resnet_utils.experiments)
# --------------------------------------------------------------------------------------

#: Colours of the two kinds of network in the walkthroughs' figures.
_RUN_COLOURS = {"plain": "tab:red", "residual": "tab:blue"}


def _run_colour(label, i):
    """Red for a label naming a plain network, blue for a residual one, else the i-th default colour."""
    low = label.lower()
    if "plain" in low:
        return _RUN_COLOURS["plain"]
    if "res" in low:
        return _RUN_COLOURS["residual"]
    return f"C{i}"


def plot_gradient_norms(
    panels: Mapping[str, Mapping[str, np.ndarray]], ylabel: str = r"$\|\partial L/\partial W^{[l]}\|_2$", sharey: bool = True
):
    """One log-scale panel per entry of ``panels`` (``{panel title: {curve label: norms}}``).

    Each curve is a per-layer gradient-norm array from
    :func:`resnet_utils.experiments.gradient_norms`, plotted against the layer index (1 =
    first layer).  Zeros (underflow) are drawn at the bottom of the axis with an ``x``
    marker.  Returns the Figure (one Axes per panel).
    """
    fig = _figure(figsize=(4.2 * len(panels), 3.4))
    axes = fig.subplots(1, len(panels), sharey=sharey, squeeze=False)
    floor = None
    positives = [v for curves in panels.values() for c in curves.values() for v in np.ravel(c) if v > 0]
    if positives:
        floor = min(positives) / 10
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for i, (label, norms) in enumerate(curves.items()):
            norms = np.asarray(norms, dtype="float64")
            layers = np.arange(1, len(norms) + 1)
            ls = "--" if "res" in label.lower() and "plain" not in label.lower() else "-"
            ax.semilogy(layers, np.where(norms > 0, norms, np.nan), ls, marker=".", color=_run_colour(label, i),
                        label=label)
            if floor is not None and np.any(norms <= 0):
                ax.plot(layers[norms <= 0], np.full((norms <= 0).sum(), floor), "x", color=_run_colour(label, i))
        ax.set_title(title)
        ax.set_xlabel("layer $l$ (1 = input side)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0, 0].set_ylabel(ylabel)
    return fig


def plot_gradient_history(
    tracks: Mapping[str, Mapping[str, np.ndarray]], floor: float = 1e-30, vmax: float | None = None
):
    """Heat maps of ``log10`` gradient norm (layer x training step) plus the loss curves.

    ``tracks`` is ``{label: result of resnet_utils.experiments.track_gradients}``.  One heat
    map per entry (same colour scale, values below ``floor`` -- including exact zeros from
    float32 underflow -- drawn in the darkest colour, NaN left blank) and a last panel with
    the mini-batch loss of every run.  Returns the Figure.
    """
    n = len(tracks)
    fig = _figure(figsize=(4.0 * n + 5.0, 3.6))
    axes = fig.subplots(1, n + 2, gridspec_kw={"width_ratios": [1.0] * n + [0.06, 1.1]})
    logs = {k: np.log10(np.maximum(np.asarray(t["grad_norms"], "float64"), floor)) for k, t in tracks.items()}
    lo = max(min(float(np.nanmin(v)) for v in logs.values()), np.log10(floor))
    hi = vmax if vmax is not None else max(float(np.nanmax(v)) for v in logs.values())
    hi = max(hi, lo + 1)
    im = None
    for ax, (label, lg) in zip(axes[:n], logs.items()):
        im = ax.imshow(lg.T, aspect="auto", origin="lower", cmap="viridis", vmin=lo, vmax=hi,
                       extent=(-0.5, lg.shape[0] - 0.5, 0.5, lg.shape[1] + 0.5), interpolation="nearest")
        ax.set_title(label)
        ax.set_xlabel("training step")
        ax.set_ylabel("layer $l$ (1 = input side)")
    fig.colorbar(im, cax=axes[n], label=r"$\log_{10}\|\partial L/\partial W^{[l]}\|$")
    loss_ax = axes[n + 1]
    for i, (label, t) in enumerate(tracks.items()):
        loss_ax.plot(t["loss"], color=_run_colour(label, i), label=label, ls="-" if "plain" in label.lower() else "--")
    loss_ax.set_title("training loss")
    loss_ax.set_xlabel("training step")
    loss_ax.legend(fontsize=8)
    return fig


def plot_singular_values(spectra: Mapping[str, np.ndarray]):
    """Log-scale plot of Jacobian singular values (``{label: values}``, from
    :func:`resnet_utils.experiments.jacobian_singular_values`), sorted largest first.
    Returns the Figure."""
    from matplotlib import colormaps

    fig = _figure(figsize=(8, 3.8))
    ax = fig.subplots()
    kinds = ["plain" if "plain" in label.lower() else "residual" for label in spectra]
    totals = {k: kinds.count(k) for k in set(kinds)}
    seen = {"plain": 0, "residual": 0}
    for label, kind, sv in zip(spectra, kinds, spectra.values()):
        sv = np.asarray(sv, dtype="float64")
        shade = 0.4 + 0.55 * seen[kind] / max(totals[kind] - 1, 1)  # later entries darker
        seen[kind] += 1
        color = colormaps["Reds" if kind == "plain" else "Blues"](shade)
        ax.semilogy(np.arange(1, len(sv) + 1), np.where(sv > 0, sv, np.nan), label=label,
                    color=color, ls="-" if kind == "plain" else "--")
    ax.axhline(1.0, color="gray", lw=0.8)
    ax.set_xlabel("index $k$ (sorted)")
    ax.set_ylabel(r"singular value $\sigma_k$ of $\partial a^{[L]}/\partial a^{[0]}$")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, alpha=0.3)
    return fig


def plot_error_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], title: str | None = None):
    """Training error (left) and test error (right) in % per epoch, like Fig. 1/6 of He et al.

    ``histories`` is ``{label: result of resnet_utils.experiments.train_model}``; plain
    networks are drawn solid red shades, residual ones dashed blue shades, deeper = darker
    (by order of appearance).  Returns the Figure with two Axes.
    """
    from matplotlib import colormaps

    fig = _figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2, sharey=True)
    counts = {"plain": 0, "residual": 0}
    for label, h in histories.items():
        kind = "plain" if "plain" in label.lower() else "residual"
        counts[kind] += 1
        cmap = colormaps["Reds" if kind == "plain" else "Blues"]
        color = cmap(0.45 + 0.25 * (counts[kind] - 1))
        ls = "-" if kind == "plain" else "--"
        epochs = np.arange(1, len(h["accuracy"]) + 1)
        axes[0].plot(epochs, 100 * (1 - np.asarray(h["accuracy"])), ls, color=color, label=label)
        if "val_accuracy" in h:
            axes[1].plot(epochs, 100 * (1 - np.asarray(h["val_accuracy"])), ls, color=color, label=label)
    axes[0].set_title("training error")
    axes[1].set_title("test error")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("error (%)")
    if title:
        fig.suptitle(title)
    return fig


def plot_residual_ratios(ratios: Mapping[str, Mapping[str, float]], title: str | None = None):
    r"""Bar chart of :math:`\|F(x)\|/\|x\|` per block (``{label: residual_ratios(...)}``, from
    :func:`resnet_utils.experiments.residual_ratios`).

    Returns the Figure."""
    fig = _figure(figsize=(max(6, 0.45 * max(len(r) for r in ratios.values()) + 2), 3.6))
    ax = fig.subplots()
    k = len(ratios)
    width = 0.8 / k
    names = list(next(iter(ratios.values())).keys())
    for i, (label, r) in enumerate(ratios.items()):
        ax.bar(np.arange(len(names)) + (i - (k - 1) / 2) * width, [r[nm] for nm in names], width, label=label,
               color=f"C{i}")
    ax.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(names)), names, rotation=60, fontsize=8)
    ax.set_ylabel(r"$\|F(x)\| \,/\, \|\mathrm{shortcut}(x)\|$")
    ax.set_xlabel("residual block (stage, block)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_feature_maps(maps: Mapping[str, np.ndarray], image=None, index: int = 0, channels: int = 8):
    """The first ``channels`` feature maps of image ``index`` at each stage (one row each).

    ``maps`` is the result of :func:`resnet_utils.experiments.stage_outputs`; ``image``
    (optional, ``(m, h, w, 3)``) draws the input in the first column.  Returns the Figure.
    """
    rows = len(maps)
    cols = channels + (1 if image is not None else 0)
    fig = _figure(figsize=(1.3 * cols, 1.4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, (label, fm) in enumerate(maps.items()):
        c0 = 0
        if image is not None:
            axes[r, 0].imshow(np.clip(image[index], 0, 1))
            axes[r, 0].set_title("input" if r == 0 else "", fontsize=8)
            c0 = 1
        for c in range(channels):
            ax = axes[r, c0 + c]
            if c < fm.shape[-1]:
                ax.imshow(fm[index, :, :, c], cmap="magma")
            if c == 0:
                ax.set_ylabel(f"{label}\n{fm.shape[1]}x{fm.shape[2]}x{fm.shape[3]}", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def plot_ablation(results: Mapping[str, Mapping[str, float]], chance: float | None = None, title: str | None = None):
    """Test accuracy after deleting one block at a time (``{label: ablate_blocks(...)}``, from
    :func:`resnet_utils.experiments.ablate_blocks`).

    Horizontal lines mark each network's unchanged accuracy (``"full"``) and, if given,
    chance level.  Returns the Figure."""
    names = [k for k in next(iter(results.values())) if k != "full"]
    fig = _figure(figsize=(max(6, 0.45 * len(names) + 2) + 2.5, 3.6))
    ax = fig.subplots()
    for i, (label, r) in enumerate(results.items()):
        color = _run_colour(label, i)
        ax.plot(np.arange(len(names)), [100 * r[nm] for nm in names], "o-" if "plain" in label.lower() else "s--",
                color=color, label=f"{label}: one block deleted")
        ax.axhline(100 * r["full"], color=color, lw=1, ls=":", label=f"{label}: all blocks")
    if chance is not None:
        ax.axhline(100 * chance, color="gray", lw=1, label="chance")
    ax.set_xticks(np.arange(len(names)), names, rotation=60, fontsize=8)
    ax.set_xlabel("deleted block")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig
