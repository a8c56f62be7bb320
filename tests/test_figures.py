"""Tests of resnet_utils.plots: each function returns a Figure with the expected content
(the assignment's figures, then the walkthroughs')."""

import io
import warnings
from contextlib import contextmanager
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from resnet_utils import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _no_show_and_no_leaks(monkeypatch):
    """The helpers must never call plt.show() nor leave figures registered with pyplot."""
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plt.show() was called"))
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a helper created a pyplot-managed figure"


def render(fig):
    """Draw the figure to PNG: raises on errors that only show up when drawing."""
    fig.savefig(io.BytesIO(), format="png")


def images(m=30, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(m, size, size, 3), dtype=np.uint8)


def texts(ax):
    return [t.get_text() for t in ax.texts]


# --------------------------------------------------------------------------------------


def test_show_samples_grid_and_titles():
    X = images(30)
    Y = (np.arange(30) % 6).reshape(1, 30)
    fig = plots.show_samples(X, Y, classes=np.arange(6), n=12, cols=4, seed=1)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 12
    chosen = np.sort(np.random.default_rng(1).choice(30, size=12, replace=False))
    assert [ax.get_title() for ax in fig.axes] == [f"y = {Y[0, i]}" for i in chosen]
    # the images shown are the chosen ones, in order
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), X[chosen[0]])
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (3, 4)
    render(fig)


def test_show_samples_accepts_other_label_shapes_and_clamps_n():
    X = images(5)
    for Y in (np.arange(5), np.arange(5).reshape(5, 1), np.eye(6)[np.arange(5)]):
        fig = plots.show_samples(X, Y, n=24)
        assert len(fig.axes) == 5
        assert sorted(ax.get_title() for ax in fig.axes) == [f"y = {k}" for k in range(5)]
    names = ["zero", "one", "two", "three", "four", "five"]
    fig = plots.show_samples(X, np.arange(5), classes=names, n=5)
    assert sorted(ax.get_title() for ax in fig.axes) == sorted(f"y = {n}" for n in names[:5])
    # float images in [0, 1] are fine too
    render(plots.show_samples(X / 255.0, np.arange(5), n=3))
    with pytest.raises(ValueError, match="one label each"):
        plots.show_samples(X, np.arange(4))


def test_show_samples_is_reproducible():
    X, Y = images(40), np.arange(40) % 6

    def shown(seed):
        return np.stack([ax.images[0].get_array() for ax in plots.show_samples(X, Y, n=10, seed=seed).axes])

    np.testing.assert_array_equal(shown(3), shown(3))  # same seed, same images
    assert not np.array_equal(shown(3), shown(4))  # the seed chooses them


HISTORY = {
    "loss": [1.8, 1.2, 0.9, 0.7],
    "accuracy": [0.2, 0.5, 0.7, 0.8],
    "val_loss": [1.9, 1.4, 1.1, 1.0],
    "val_accuracy": [0.15, 0.4, 0.6, 0.7],
}


def test_plot_history_from_a_history_object_and_a_dict():
    for h in (SimpleNamespace(history=HISTORY), HISTORY):
        fig = plots.plot_history(h)
        assert isinstance(fig, Figure)
        assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
        loss_ax, acc_ax = fig.axes
        assert [line.get_label() for line in loss_ax.lines] == ["train", "validation"]
        np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), HISTORY["loss"])
        np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), HISTORY["val_accuracy"])
        np.testing.assert_array_equal(acc_ax.lines[0].get_xdata(), [1, 2, 3, 4])
        assert loss_ax.get_xlabel() == "epoch" and acc_ax.get_ylabel() == "accuracy"
        assert loss_ax.get_legend() is not None
        render(fig)


def test_plot_history_without_validation_or_accuracy():
    fig = plots.plot_history({"loss": [1.0, 0.5], "accuracy": [0.3, 0.6]})
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    fig = plots.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.9]})
    assert [ax.get_title() for ax in fig.axes] == ["Loss"]
    fig = plots.plot_history({"loss": [1.0], "acc": [0.5], "val_acc": [0.4]})  # old Keras names
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    with pytest.raises(ValueError, match="neither loss nor accuracy"):
        plots.plot_history({"lr": [0.1]})
    with pytest.raises(ValueError, match="History"):
        plots.plot_history([1, 2, 3])


def test_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
    cm = plots.confusion_matrix(y_true, y_pred, 3)
    assert cm.dtype.kind == "i"
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert cm.sum() == 9
    # labels shaped (1, m) and predictions given as probabilities give the same matrix
    probs = np.eye(3)[y_pred] * 0.8 + 0.05
    np.testing.assert_array_equal(plots.confusion_matrix(y_true.reshape(1, -1), probs, 3), cm)
    # a class that never occurs still gets its row and column
    assert plots.confusion_matrix([0, 1], [1, 1], 4).shape == (4, 4)


def test_confusion_matrix_rejects_bad_input():
    with pytest.raises(ValueError, match="3 labels but y_pred has 2"):
        plots.confusion_matrix([0, 1, 2], [0, 1], 3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\): \[5\]"):
        plots.confusion_matrix([0, 1, 5], [0, 1, 2], 3)
    with pytest.raises(ValueError, match="columns"):
        plots.confusion_matrix([0, 1], np.ones((2, 4)) / 4, 3)


def test_plot_confusion_matrix_writes_counts_in_cells():
    cm = np.array([[5, 1, 0], [2, 7, 1], [0, 0, 4]])
    fig = plots.plot_confusion_matrix(cm, classes=["a", "b", "c"])
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the matrix and its colour bar
    assert texts(ax) == [str(v) for v in cm.ravel()]
    # each count sits in its cell (x = predicted column, y = true row)
    positions = [t.get_position() for t in ax.texts]
    assert positions[1] == (1, 0) and positions[3] == (0, 1)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert "accuracy 80.0%" in ax.get_title() and "20 images" in ax.get_title()
    # dark cells get white text
    assert ax.texts[4].get_color() == "white" and ax.texts[1].get_color() == "black"
    render(fig)
    assert [t.get_text() for t in plots.plot_confusion_matrix(cm).axes[0].get_xticklabels()] == ["0", "1", "2"]


def test_show_misclassified_titles():
    X = images(10)
    y_true = np.arange(10) % 3
    y_pred = y_true.copy()
    y_pred[[2, 5, 7]] = [0, 1, 2]  # 2->0, 2->1, 1->2
    probs = np.full((10, 3), 0.1)
    probs[np.arange(10), y_pred] = 0.8
    fig = plots.show_misclassified(X, y_true, y_pred, probs=probs)
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == ["2 / 0 (0.80)", "2 / 1 (0.80)", "1 / 2 (0.80)"]
    assert "3 of 10" in fig.get_suptitle()
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), X[5])
    render(fig)
    # probabilities passed as y_pred; without probabilities; at most n images
    fig = plots.show_misclassified(X, y_true, probs)
    assert fig.axes[0].get_title() == "2 / 0 (0.80)"
    fig = plots.show_misclassified(X, y_true.reshape(1, -1), y_pred, n=2)
    assert [ax.get_title() for ax in fig.axes] == ["2 / 0", "2 / 1"]


def test_show_misclassified_when_all_are_right():
    X = images(4)
    fig = plots.show_misclassified(X, [0, 1, 2, 3], [0, 1, 2, 3])
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert texts(fig.axes[0]) == ["No misclassified images: all 4 predictions are correct."]
    render(fig)


def test_show_prediction():
    image = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    probs = np.array([[0.05, 0.1, 0.6, 0.1, 0.1, 0.05]])
    fig = plots.show_prediction(image, probs, classes=np.arange(6))
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    img_ax, bar_ax = fig.axes
    assert img_ax.get_title() == "prediction: 2 (p = 0.60)"
    assert img_ax.images[0].get_array().shape == (64, 64, 3)
    heights = [p.get_height() for p in bar_ax.patches]
    np.testing.assert_allclose(heights, probs[0])
    assert bar_ax.get_title() == "Class probabilities"
    assert [t.get_text() for t in bar_ax.get_xticklabels()] == ["0", "1", "2", "3", "4", "5"]
    assert "0.60" in texts(bar_ax)  # the values are written on the bars
    assert bar_ax.patches[2].get_facecolor() != bar_ax.patches[0].get_facecolor()  # highlighted
    render(fig)
    # a uint8 image without the batch axis and class names
    fig = plots.show_prediction(np.zeros((64, 64, 3), np.uint8), [0.7, 0.3], classes=["fist", "one"])
    assert fig.axes[0].get_title() == "prediction: fist (p = 0.70)"


def test_plots_on_the_course_data():
    """The helpers work with what resnet_utils.data returns (a generated mini set)."""
    from resnet_utils import data, hands

    X, y = hands.generate_hands(2, seed=5)
    fig = plots.show_samples(X, y.reshape(1, -1), classes=np.arange(6), n=12, cols=6)
    assert len(fig.axes) == 12
    render(fig)
    fig = plots.show_prediction(data.load_image(data.example_image_path()), np.eye(6)[3], np.arange(6))
    assert fig.axes[0].get_title() == "prediction: 3 (p = 1.00)"
    render(fig)


def _shift(values, ratios):
    return {"names": [f"bn{i}" for i in range(len(values))], "mean_shift": np.array(values),
            "std_ratio": np.array(ratios)}


def test_plot_batchnorm_shift_panels_and_lines():
    before, after = _shift([0.5, 1.2, 2.0], [0.6, 0.5, 0.3]), _shift([0.01, 0.02, 0.01], [1.0, 0.99, 1.01])
    fig = plots.plot_batchnorm_shift(before, after, 0.39, 0.91)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Test accuracy", "Mean shift", "Standard deviation ratio"]
    assert texts(fig.axes[0]) == ["0.390", "0.910"]
    for ax, key in ((fig.axes[1], "mean_shift"), (fig.axes[2], "std_ratio")):
        lines = {line.get_label(): line.get_ydata() for line in ax.get_lines() if not line.get_label().startswith("_")}
        np.testing.assert_array_equal(lines["moving statistics"], before[key])
        np.testing.assert_array_equal(lines["recalibrated"], after[key])
    render(fig)
    assert [ax.get_title() for ax in plots.plot_batchnorm_shift(before, after).axes] == [
        "Mean shift", "Standard deviation ratio"]


def test_plot_batchnorm_shift_rejects_mismatched_input():
    good = _shift([0.1], [1.0])
    with pytest.raises(ValueError, match="batchnorm_shift returns"):
        plots.plot_batchnorm_shift({"names": ["a"]}, good)
    with pytest.raises(ValueError, match="different BatchNorm layers"):
        plots.plot_batchnorm_shift(good, {**good, "names": ["other"]})


# --------------------------------------------------------------------------------------
# diagrams of the blocks and of the stages


def tagged(fig, gid):
    """Texts of the figure's first axes carrying ``gid``, left to right (then top to bottom)."""
    found = [t for t in fig.axes[0].texts if t.get_gid() == gid]
    return [t.get_text() for t in sorted(found, key=lambda t: (t.get_position()[0], -t.get_position()[1]))]


def block_shapes(fig):
    """The shapes of a block diagram: those under the main path's edges (left to right) and the shortcut's."""
    found = [t for t in fig.axes[0].texts if t.get_gid() == "shape"]
    main = sorted((t for t in found if t.get_position()[1] < 0), key=lambda t: t.get_position()[0])
    shortcut = [t.get_text() for t in found if t.get_position()[1] > 0]
    return [t.get_text() for t in main], shortcut


def first_lines(strings):
    return [s.split("\n")[0] for s in strings]


def all_texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def assert_no_overlapping_texts(fig):
    """No two non-empty texts of the figure overlap once drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts if t.get_text()]
    for i, (a, box_a) in enumerate(boxes):
        for b, box_b in boxes[i + 1:]:
            assert not box_a.overlaps(box_b), f"{a!r} overlaps {b!r}"


IDENTITY_MAIN_PATH = ["X", "Conv2D 1×1", "BatchNorm", "ReLU", "Conv2D 3×3", "BatchNorm", "ReLU",
                      "Conv2D 1×1", "BatchNorm", "Add", "ReLU", "output"]


def test_plot_identity_block_layers_in_order_with_relu_after_add():
    fig = plots.plot_identity_block(f=3, filters=(64, 64, 256), shape=(15, 15, 256))
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    main = tagged(fig, "main")
    # BatchNorm 2c goes straight into the Add, and the ReLU comes after the Add
    assert first_lines(main) == IDENTITY_MAIN_PATH
    assert [s.split("\n")[-1] for s in main if s.startswith(("Conv2D", "BatchNorm"))] == [
        "2a", "2a", "2b", "2b", "2c", "2c"]
    assert "64 filters" in main[1] and "64 filters" in main[4] and "256 filters" in main[7]
    assert "'same'" in main[4] and "stride" not in "".join(main)
    texts_all = all_texts(fig)
    assert texts_all.count("Add") == 1
    assert "ReLU after Add" in texts_all
    assert tagged(fig, "shortcut") == []  # the shortcut holds no layer
    assert sorted(tagged(fig, "path")) == ["main path", "shortcut: X"]
    # the shapes keep n_H x n_W, with F1, F2, F3 channels; the shortcut carries the input
    assert block_shapes(fig) == (
        ["(m, 15, 15, 256)", "(m, 15, 15, 64)", "(m, 15, 15, 64)", "(m, 15, 15, 256)", "(m, 15, 15, 256)"],
        ["(m, 15, 15, 256)"])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:4] == ["Conv2D", "BatchNorm", "ReLU", "Add"]
    assert_no_overlapping_texts(fig)
    render(fig)


def test_plot_identity_block_symbolic_and_other_numbers():
    fig = plots.plot_identity_block()
    main = tagged(fig, "main")
    assert first_lines(main)[4] == "Conv2D f×f"
    assert "F1 filters" in main[1] and "F3 filters" in main[7]
    assert block_shapes(fig) == (
        ["(m, n_H, n_W, n_C)\nn_C = F3", "(m, n_H, n_W, F1)", "(m, n_H, n_W, F2)", "(m, n_H, n_W, F3)",
         "(m, n_H, n_W, F3)"],
        ["(m, n_H, n_W, n_C)"])
    assert "shortcut: X" in all_texts(fig)
    assert_no_overlapping_texts(fig)
    render(fig)
    fig = plots.plot_identity_block(f=2, filters=[4, 5, 6], shape=(7, 9, 6))
    assert first_lines(tagged(fig, "main"))[4] == "Conv2D 2×2"
    assert block_shapes(fig) == (
        ["(m, 7, 9, 6)", "(m, 7, 9, 4)", "(m, 7, 9, 5)", "(m, 7, 9, 6)", "(m, 7, 9, 6)"], ["(m, 7, 9, 6)"])
    with pytest.raises(ValueError, match="n_C must equal F3"):
        plots.plot_identity_block(f=3, filters=(64, 64, 256), shape=(15, 15, 64))
    with pytest.raises(ValueError, match="three values"):
        plots.plot_identity_block(filters=(1, 2))


def test_plot_convolutional_block_stride_and_shortcut_conv():
    fig = plots.plot_convolutional_block(f=3, filters=(64, 64, 256), s=2, shape=(15, 15, 256))
    assert isinstance(fig, Figure)
    main = tagged(fig, "main")
    assert first_lines(main) == IDENTITY_MAIN_PATH
    assert main[1] == "Conv2D 1×1\n64 filters\nstride (2, 2)\n2a"
    assert [s for s in main if "stride" in s] == [main[1]]  # only the first main-path conv is strided
    # the shortcut: Conv2D 1x1 with F3 filters and stride (s, s), name 1, then BatchNorm 1
    assert tagged(fig, "shortcut") == ["Conv2D 1×1\n256 filters\nstride (2, 2)\n1", "BatchNorm\n1"]
    assert all_texts(fig).count("Add") == 1
    assert sorted(tagged(fig, "path")) == ["main path", "shortcut"]
    # ceil(15 / 2) = 8 after the strided convolutions, on both paths
    assert block_shapes(fig) == (
        ["(m, 15, 15, 256)", "(m, 8, 8, 64)", "(m, 8, 8, 64)", "(m, 8, 8, 256)", "(m, 8, 8, 256)"],
        ["(m, 8, 8, 256)"])
    assert "stride (2, 2)" in fig.axes[0].get_title()
    assert_no_overlapping_texts(fig)
    render(fig)


def test_plot_convolutional_block_symbolic_and_stride_one():
    fig = plots.plot_convolutional_block()
    assert tagged(fig, "main")[1] == "Conv2D 1×1\nF1 filters\nstride (s, s)\n2a"
    assert tagged(fig, "shortcut") == ["Conv2D 1×1\nF3 filters\nstride (s, s)\n1", "BatchNorm\n1"]
    assert block_shapes(fig) == (
        ["(m, n_H, n_W, n_C)", "(m, ⌈n_H/s⌉, ⌈n_W/s⌉, F1)", "(m, ⌈n_H/s⌉, ⌈n_W/s⌉, F2)",
         "(m, ⌈n_H/s⌉, ⌈n_W/s⌉, F3)", "(m, ⌈n_H/s⌉, ⌈n_W/s⌉, F3)"],
        ["(m, ⌈n_H/s⌉, ⌈n_W/s⌉, F3)"])
    assert_no_overlapping_texts(fig)
    render(fig)
    # stage 2 of ResNet50: s = 1 keeps 15 x 15; odd sizes round up
    fig = plots.plot_convolutional_block(f=3, filters=(64, 64, 256), s=1, shape=(15, 15, 64))
    assert block_shapes(fig) == (
        ["(m, 15, 15, 64)", "(m, 15, 15, 64)", "(m, 15, 15, 64)", "(m, 15, 15, 256)", "(m, 15, 15, 256)"],
        ["(m, 15, 15, 256)"])
    fig = plots.plot_convolutional_block(f=2, filters=(4, 4, 6), s=3, shape=(7, 4, 6))
    assert block_shapes(fig) == (
        ["(m, 7, 4, 6)", "(m, 3, 2, 4)", "(m, 3, 2, 4)", "(m, 3, 2, 6)", "(m, 3, 2, 6)"], ["(m, 3, 2, 6)"])
    # a symbolic size with a numeric stride
    fig = plots.plot_convolutional_block(s=2)
    assert block_shapes(fig)[1] == ["(m, ⌈n_H/2⌉, ⌈n_W/2⌉, F3)"]
    with pytest.raises(ValueError, match="at least 1"):
        plots.plot_convolutional_block(s=0)


STAGE_ROWS = [
    {"stage": "input", "output_shape": (64, 64, 3), "params": 0, "layers": "input"},
    {"stage": "1", "output_shape": (15, 15, 64), "params": 9536, "layers": "conv1, bn_conv1, ReLU, max-pool"},
    {"stage": "2", "output_shape": (15, 15, 256), "params": 220032, "layers": "conv block a, identity blocks b, c"},
    {"stage": "3", "output_shape": (8, 8, 512), "params": 1230336, "layers": "conv block a, identity blocks b, c, d"},
    {"stage": "4", "output_shape": (4, 4, 1024), "params": 7129088, "layers": "conv block a, identity blocks b to f"},
    {"stage": "5", "output_shape": (2, 2, 2048), "params": 14998720, "layers": "conv block a, identity blocks b, c"},
    {"stage": "head", "output_shape": (6,), "params": 12294, "layers": "avg_pool, flatten, fc6"},
]


def test_plot_resnet_stages_boxes_and_bars():
    fig = plots.plot_resnet_stages(STAGE_ROWS)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    boxes, bars = fig.axes
    names = ["input", "stage 1", "stage 2", "stage 3", "stage 4", "stage 5", "head"]
    assert tagged(fig, "stage") == names
    assert tagged(fig, "shape") == ["(64, 64, 3)", "(15, 15, 64)", "(15, 15, 256)", "(8, 8, 512)",
                                    "(4, 4, 1024)", "(2, 2, 2048)", "(6,)"]
    assert tagged(fig, "params")[5] == "14,998,720\nparameters"
    assert "avg_pool," in tagged(fig, "layers")[-1]
    # box heights follow the spatial size, widths the channels
    rects = boxes.patches[: len(STAGE_ROWS)]
    heights = [r.get_height() for r in rects]
    widths = [r.get_width() for r in rects]
    assert heights[0] > heights[1] == heights[2] > heights[3] > heights[4] > heights[5] > heights[6]
    assert widths[0] < widths[1] < widths[2] < widths[3] < widths[4] < widths[5]
    # the bar chart: one bar per stage, in order, with the total in the title
    assert [t.get_text() for t in bars.get_yticklabels()] == names
    np.testing.assert_array_equal([p.get_width() for p in bars.patches], [r["params"] for r in STAGE_ROWS])
    assert bars.get_title() == "Parameters per stage: total 23,600,006 parameters"
    assert "14,998,720 (64%)" in texts(bars) and "9,536 (<1%)" in texts(bars) and "0 (0%)" in texts(bars)
    assert_no_overlapping_texts(fig)
    render(fig)


def test_plot_resnet_stages_computes_the_total_for_other_rows():
    rows = [
        {"stage": "input", "output_shape": (None, 32, 32, 3), "params": 0, "layers": "input"},
        {"stage": 1, "output_shape": (7, 7, 64), "params": 1234},
        {"stage": "head", "output_shape": (10,), "params": 1_000_001, "layers": "fc10"},
    ]
    fig = plots.plot_resnet_stages(rows)
    assert tagged(fig, "stage") == ["input", "stage 1", "head"]
    assert tagged(fig, "shape") == ["(32, 32, 3)", "(7, 7, 64)", "(10,)"]
    assert fig.axes[1].get_title() == "Parameters per stage: total 1,001,235 parameters"
    assert [t.get_text() for t in fig.axes[1].get_yticklabels()] == ["input", "stage 1", "head"]
    render(fig)
    with pytest.raises(ValueError, match="empty"):
        plots.plot_resnet_stages([])
    with pytest.raises(ValueError, match="keys stage, output_shape and params"):
        plots.plot_resnet_stages([{"stage": "1", "params": 3}])
    with pytest.raises(ValueError, match="params must be"):
        plots.plot_resnet_stages([{"stage": "1", "output_shape": (2, 2, 3), "params": -1}])


# --------------------------------------------------------------------------------------
# the whole ResNet50: plot_resnet50_overview, read from the built reference model

#: (input_shape, classes): the assignment's default, and a non-square grey input whose odd sizes
#: round (23 -> 12 in stage 3's strided convolutions, 3 -> 1 in avg_pool).
OVERVIEW_CASES = [((64, 64, 3), 6), ((96, 80, 1), 10)]
OVERVIEW_STAGES = ["input", "stage 1", "stage 2", "stage 3", "stage 4", "stage 5", "head"]
IDENTITY_BLOCKS = {"2": 2, "3": 3, "4": 5, "5": 2}


@pytest.fixture(scope="module")
def reference_resnet50(solution):
    """``{(input_shape, classes): the reference solution's ResNet50}`` for :data:`OVERVIEW_CASES`."""
    return {(shape, classes): solution["ResNet50"](input_shape=shape, classes=classes)
            for shape, classes in OVERVIEW_CASES}


@contextmanager
def renamed(model, names):
    """The model with some layers renamed (``{name: new name}``) for the ``with`` block only:
    the module's reference models are shared by the tests."""
    layers = {name: model.get_layer(name) for name in names}
    try:
        for name, layer in layers.items():
            layer.name = names[name]
        yield model
    finally:
        for name, layer in layers.items():
            layer.name = name


def output_shape(layer):
    return tuple(int(d) for d in layer.output.shape[1:])


def only_layer(model, kind):
    """The model's single layer of class ``kind`` (ZeroPadding2D, MaxPooling2D, Flatten)."""
    found = [layer for layer in model.layers if type(layer).__name__ == kind]
    assert len(found) == 1, f"{len(found)} {kind} layers"
    return found[0]


def model_blocks(model):
    """``[(stage, block name, "CONV" or "ID", stride or None), ...]`` of the model, from its
    layer names (the stride of a convolutional block: that of its branch2a convolution)."""
    import re

    names = [layer.name for layer in model.layers]
    blocks = [m.groups() for n in names if (m := re.fullmatch(r"res(\d)([a-z])_branch2a", n))]
    out = []
    for stage, letter in blocks:
        conv = f"res{stage}{letter}_branch1" in names
        s = model.get_layer(f"res{stage}{letter}_branch2a").strides[0] if conv else None
        out.append((stage, stage + letter, "CONV" if conv else "ID", s))
    return out


def reading_order(fig, gid):
    """Texts of the figure's first axes carrying ``gid``, as one reads them: the lines of the
    diagram from the top, each from left to right."""
    found = [t for t in fig.axes[0].texts if t.get_gid() == gid]
    return [t.get_text() for t in sorted(found, key=lambda t: (-t.get_position()[1], t.get_position()[0]))]


def assert_inside_figure(fig):
    """Nothing is cut off: the texts, the legend and the title lie inside the figure, the
    patches and lines (clipped to the axes) inside the axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]

    def inside(artist, frame):
        box = artist.get_window_extent(renderer)
        assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1 and frame.y0 - 1 <= box.y0 \
            and box.y1 <= frame.y1 + 1, f"{artist} is cut off: {box} outside {frame}"

    for artist in [*ax.texts, ax.get_legend(), ax.title]:
        inside(artist, fig.bbox)
    for artist in [*ax.patches, *ax.lines]:
        inside(artist, ax.bbox)


def assert_legend_clear_of_texts(fig):
    """The legend under the diagram overlaps none of its texts (the red note included)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    for t in ax.texts:
        assert not t.get_window_extent(renderer).overlaps(legend), f"{t.get_text()!r} overlaps the legend"


@pytest.mark.parametrize("input_shape, classes", OVERVIEW_CASES)
def test_plot_resnet50_overview_draws_what_the_model_has(reference_resnet50, input_shape, classes):
    from resnet_utils.summary import stage_summary

    model = reference_resnet50[input_shape, classes]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a model with the specification's names: no warning
        fig = plots.plot_resnet50_overview(model)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert "problems" not in [t.get_gid() for t in fig.axes[0].texts]
    stages = {r["stage"]: r["output_shape"] for r in stage_summary(model)}
    # read in the model: the input; what zero-padding, conv1 and max-pooling make; each
    # stage's output (as stage_summary says); then avg_pool, flatten and the Dense layer
    expected = [input_shape, output_shape(only_layer(model, "ZeroPadding2D")),
                output_shape(model.get_layer("conv1")), output_shape(only_layer(model, "MaxPooling2D")),
                *(stages[s] for s in "2345"), output_shape(model.get_layer("avg_pool")),
                output_shape(only_layer(model, "Flatten")), output_shape(model.get_layer(f"fc{classes}"))]
    assert reading_order(fig, "shape") == [str(tuple(s)) for s in expected]
    assert stages["1"] == expected[3] and stages["head"] == expected[-1]
    assert f"{input_shape} inputs and {classes} classes" in fig.axes[0].get_title()
    # the boxes: the stem's and the head's layers with their settings, the blocks with their kind and stride
    boxes = reading_order(fig, "layer")
    assert first_lines(boxes) == ["Input", "ZeroPad", "Conv2D", "BatchNorm", "ReLU", "MaxPool",
                                  *(kind for _, _, kind, _ in model_blocks(model)), "AvgPool", "Flatten",
                                  f"Dense {classes}"]
    conv1, pool = model.get_layer("conv1"), only_layer(model, "MaxPooling2D")
    assert boxes[1] == f"ZeroPad\n{only_layer(model, 'ZeroPadding2D').padding[0]}"
    assert boxes[2] == (f"Conv2D\n{conv1.kernel_size[0]}×{conv1.kernel_size[1]}, {conv1.filters}\n"
                        f"stride {conv1.strides[0]}\nconv1")
    assert boxes[3] == "BatchNorm\nbn_conv1"
    assert boxes[5] == f"MaxPool\n{pool.pool_size[0]}×{pool.pool_size[1]}\nstride {pool.strides[0]}"
    assert boxes[-3] == "AvgPool\n2×2\navg_pool" and boxes[-1] == f"Dense {classes}\nsoftmax\nfc{classes}"
    blocks = [b for b in boxes if b.startswith(("CONV", "ID"))]
    assert blocks == [f"CONV\n{name}\ns = {s}" if kind == "CONV" else f"ID\n{name}"
                      for _, name, kind, s in model_blocks(model)]
    # the filters written beside each stage are those of its convolutions
    filters = [", ".join(str(model.get_layer(f"res{s}a_branch2{c}").filters) for c in "abc") for s in "2345"]
    assert reading_order(fig, "detail") == ["the stem", *(f"filters {f}" for f in filters), "classifier"]
    assert_no_overlapping_texts(fig)
    assert_inside_figure(fig)
    render(fig)


def test_plot_resnet50_overview_groups_blocks_and_shortcuts(reference_resnet50):
    fig = plots.plot_resnet50_overview(reference_resnet50[(64, 64, 3), 6])
    ax = fig.axes[0]
    assert reading_order(fig, "stage") == OVERVIEW_STAGES
    # every box, read line by line, is the network from its input to its output
    boxes = reading_order(fig, "layer")
    blocks = [["CONV"] + ["ID"] * IDENTITY_BLOCKS[s] for s in "2345"]
    assert first_lines(boxes) == ["Input", "ZeroPad", "Conv2D", "BatchNorm", "ReLU", "MaxPool",
                                  *(b for stage in blocks for b in stage), "AvgPool", "Flatten", "Dense 6"]
    assert [b.split("\n")[1] for b in boxes if b.startswith(("CONV", "ID"))] == [
        s + letter for s in "2345" for letter in "abcdef"[: 1 + IDENTITY_BLOCKS[s]]]
    assert [b.split("\n")[-1] for b in boxes if b.startswith("CONV")] == ["s = 1", "s = 2", "s = 2", "s = 2"]
    assert "conv1" in boxes[2] and "7×7" in boxes[2] and "avg_pool" in boxes[-3] and "fc6" in boxes[-1]
    assert "16 residual blocks" in ax.get_title()
    # one group per stage, holding its boxes: stage k holds one CONV and its identity blocks
    groups = {p.get_gid()[len("group "):]: p for p in ax.patches if (p.get_gid() or "").startswith("group ")}
    assert list(groups) == ["input", "1", "2", "3", "4", "5", "head"]
    for stage, patch in groups.items():
        inside = [t.get_text().split("\n")[0] for t in ax.texts if t.get_gid() == "layer"
                  and patch.get_x() < t.get_position()[0] < patch.get_x() + patch.get_width()
                  and patch.get_y() < t.get_position()[1] < patch.get_y() + patch.get_height()]
        if stage in IDENTITY_BLOCKS:
            assert inside == ["CONV"] + ["ID"] * IDENTITY_BLOCKS[stage], stage
        else:
            assert len(inside) == {"input": 1, "1": 5, "head": 3}[stage] and "CONV" not in inside, stage
    # the groups of a line follow one another without overlapping
    for a, b in zip(list(groups.values()), list(groups.values())[1:]):
        assert a.get_y() != b.get_y() or a.get_x() + a.get_width() < b.get_x(), (a.get_gid(), b.get_gid())
    # a shortcut over every block (16), dashed (a projection) over the convolutional blocks only
    shortcuts = [p for p in ax.patches if p.get_gid() == "shortcut"]
    assert len(shortcuts) == 16
    assert ["projection" if p.get_linestyle() != "-" else "identity" for p in shortcuts] == [
        "projection" if b == "CONV" else "identity" for stage in blocks for b in stage]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:3] == ["Conv2D", "BatchNorm", "ReLU"] and "identity shortcut (X)" in legend
    assert_no_overlapping_texts(fig)
    assert_inside_figure(fig)
    assert_legend_clear_of_texts(fig)
    render(fig)


def test_plot_resnet50_overview_with_misnamed_layers_draws_what_it_can_and_says_what_is_missing(
        reference_resnet50):
    """A student's misnamed layers do not stop the cell: the diagram draws what the names tell,
    a red note and a warning say which named layers were not found."""
    model = reference_resnet50[(64, 64, 3), 6]
    stage4 = {layer.name: layer.name.replace("4", "_4_", 1) for layer in model.layers
              if layer.name.startswith(("res4", "bn4"))}
    with renamed(model, {"res3b_branch2a": "res3b_branch2A", "fc6": "output", **stage4}):
        with pytest.warns(UserWarning, match="no layer named 'fc6'.*no layer named 'res3b_branch2a'.*"
                                             "layer names of the specification"):
            fig = plots.plot_resnet50_overview(model)
        shape_stage3 = output_shape(model.get_layer("bn3d_branch2c"))
    ax = fig.axes[0]
    note = reading_order(fig, "problems")
    assert len(note) == 1
    for said in ("no layer named 'fc6'", "no layer named 'res3b_branch2a'", "no layer named 'res4a_branch2a'",
                 "layer names of the specification"):
        assert said in " ".join(note[0].split()), said
    # drawn: block 3b (its other layers keep their names), a "?" for stage 4, the Dense by its new name
    boxes = reading_order(fig, "layer")
    assert first_lines(boxes) == ["Input", "ZeroPad", "Conv2D", "BatchNorm", "ReLU", "MaxPool",
                                  "CONV", "ID", "ID", "CONV", "ID", "ID", "ID", "?", "CONV", "ID", "ID",
                                  "AvgPool", "Flatten", "Dense 6"]
    assert boxes[-1] == "Dense 6\nsoftmax\noutput"
    assert len([p for p in ax.patches if p.get_gid() == "shortcut"]) == 3 + 4 + 3
    # stage 3's output is its own last block's, not stage 4's (whose misnamed layers stage_summary puts in stage 3)
    shapes = reading_order(fig, "shape")
    assert shapes[5] == str(shape_stage3) == "(8, 8, 512)" and "(4, 4, 1024)" not in shapes
    assert_no_overlapping_texts(fig)
    assert_inside_figure(fig)
    assert_legend_clear_of_texts(fig)
    render(fig)
    # the names are back: the reference draws without a note
    assert "problems" not in [t.get_gid() for t in plots.plot_resnet50_overview(model).axes[0].texts]


def test_plot_resnet50_overview_refuses_what_it_cannot_read(reference_resnet50):
    model = reference_resnet50[(64, 64, 3), 6]
    blocks = {layer.name: "x" + layer.name for layer in model.layers
              if layer.name.startswith(("res", "bn")) and "_branch" in layer.name}
    with renamed(model, blocks):
        with pytest.raises(ValueError, match="no layer named 'res2a_branch2a'.*layer names of the specification"):
            plots.plot_resnet50_overview(model)
    with pytest.raises(TypeError, match="built ResNet50 model"):
        plots.plot_resnet50_overview((64, 64, 3))  # the former signature: an input shape
    assert not hasattr(plots, "resnet50_shapes") and "resnet50_shapes" not in plots.__all__
    assert "plot_resnet50_overview" in plots.__all__


# --------------------------------------------------------------------------------------
# the walkthroughs' figures (their numbers come from resnet_utils.experiments)


def curves(ax):
    """``{label: y data}`` of the labelled lines of ``ax``."""
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()
            if not line.get_label().startswith("_")}


def test_plot_gradient_norms_log_axes_one_panel_each():
    panels = {"10 layers": {"plain": np.array([1e-8, 0.0, 1e-6]), "residual": np.array([0.1, 0.2, 0.3])},
              "30 layers": {"plain": np.array([1e-20, 1e-19, 1e-18]), "residual": np.array([0.1, 0.1, 0.1])}}
    fig = plots.plot_gradient_norms(panels)
    assert len(fig.axes) == 2
    assert all(ax.get_yscale() == "log" for ax in fig.axes)
    assert [ax.get_title() for ax in fig.axes] == ["10 layers", "30 layers"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["plain", "residual"]
    assert fig.axes[0].get_ylabel() == r"$\|\partial L/\partial W^{[l]}\|_2$"
    first = curves(fig.axes[0])
    np.testing.assert_array_equal(first["plain"], [1e-8, np.nan, 1e-6])  # a zero is not drawn on the line...
    np.testing.assert_array_equal(first["residual"], [0.1, 0.2, 0.3])
    # ... but marked with an x at a tenth of the smallest positive norm of all panels
    marks = [line for line in fig.axes[0].get_lines() if line.get_marker() == "x"]
    assert len(marks) == 1
    np.testing.assert_array_equal(marks[0].get_xdata(), [2])
    np.testing.assert_allclose(marks[0].get_ydata(), [1e-21])
    plain, res = (line for line in fig.axes[1].get_lines() if line.get_marker() == ".")
    assert (plain.get_color(), plain.get_linestyle()) == ("tab:red", "-")
    assert (res.get_color(), res.get_linestyle()) == ("tab:blue", "--")
    np.testing.assert_array_equal(plain.get_xdata(), [1, 2, 3])  # layers counted from 1
    render(fig)
    fig = plots.plot_gradient_norms(panels, ylabel="custom")
    assert fig.axes[0].get_ylabel() == "custom"


def test_plot_gradient_history_heatmaps_and_loss():
    rng = np.random.default_rng(0)
    track = {"loss": rng.random(5), "accuracy": rng.random(5), "grad_norms": rng.random((5, 4)) + 0.5}
    zeros = {**track, "loss": rng.random(5), "grad_norms": np.zeros((5, 4))}
    fig = plots.plot_gradient_history({"plain-4": zeros, "residual-4": track})
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["plain-4", "residual-4", "training loss"]
    assert len(fig.axes) == 4  # two heat maps, their colour bar, the loss curves
    plain_map, res_map = (ax.images[0].get_array() for ax in titled[:2])
    assert plain_map.shape == (4, 5)  # layer x step
    np.testing.assert_array_equal(plain_map, np.full((4, 5), -30.0))  # exact zeros drawn at the floor, 1e-30
    np.testing.assert_allclose(res_map, np.log10(track["grad_norms"]).T)
    assert titled[0].images[0].get_clim() == titled[1].images[0].get_clim()  # one colour scale
    loss = curves(titled[2])
    assert sorted(loss) == ["plain-4", "residual-4"]
    np.testing.assert_array_equal(loss["residual-4"], track["loss"])
    np.testing.assert_array_equal(loss["plain-4"], zeros["loss"])
    render(fig)


def test_plot_singular_values_sorted_spectra_in_two_families():
    sv = {"plain, 1 block": np.array([0.5, 0.1, 0.0]), "residual, 1 block": np.array([1.2, 1.0, 0.9]),
          "plain, 5 blocks": np.array([0.1, 0.01, 0.001])}
    fig = plots.plot_singular_values(sv)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = curves(ax)
    assert list(lines) == list(sv)
    np.testing.assert_array_equal(lines["plain, 1 block"], [0.5, 0.1, np.nan])  # zero: not drawn
    styles = {line.get_label(): (line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
    (c1, ls1), (c5, ls5), (cr, lsr) = (styles[k] for k in ("plain, 1 block", "plain, 5 blocks", "residual, 1 block"))
    assert ls1 == ls5 == "-" and lsr == "--"
    assert c1[0] > c1[2] and cr[2] > cr[0]  # plain in reds, residual in blues
    assert sum(c5[:3]) < sum(c1[:3])  # the later (deeper) plain network is darker
    assert any(list(line.get_ydata()) == [1.0, 1.0] for line in ax.get_lines())  # the line sigma = 1
    render(fig)


HIST = {"loss": [1, 0.5], "accuracy": [0.5, 0.8], "val_loss": [1, 0.7], "val_accuracy": [0.4, 0.7]}


@pytest.mark.filterwarnings("ignore:No artists with labels found")  # the empty test-error panel's legend
def test_plot_error_curves_training_and_test_error_in_percent():
    hist = {"plain-20": HIST, "plain-56": HIST, "ResNet-20": HIST, "ResNet-56": {**HIST, "accuracy": [0.6, 0.9]}}
    fig = plots.plot_error_curves(hist, title="four networks")
    assert [ax.get_title() for ax in fig.axes] == ["training error", "test error"]
    assert fig.get_suptitle() == "four networks"
    assert fig.axes[0].get_ylabel() == "error (%)" and fig.axes[1].get_xlabel() == "epoch"
    train, test = curves(fig.axes[0]), curves(fig.axes[1])
    assert list(train) == list(test) == list(hist)
    np.testing.assert_allclose(train["plain-20"], [50, 20])
    np.testing.assert_allclose(train["ResNet-56"], [40, 10])
    np.testing.assert_allclose(test["ResNet-56"], [60, 30])
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 2])  # epochs from 1
    assert [line.get_linestyle() for line in fig.axes[0].get_lines()] == ["-", "-", "--", "--"]
    render(fig)
    # a history without validation: only the training panel gets a line
    fig = plots.plot_error_curves({"plain-8": {"loss": [1.0], "accuracy": [0.25]}})
    assert [len(ax.get_lines()) for ax in fig.axes] == [1, 0]
    assert fig.get_suptitle() == ""


def test_plot_residual_ratios_one_bar_per_block_and_network():
    ratios = {"ResNet-20": {"s1b1": 0.5, "s1b2": 0.3}, "ResNet-56": {"s1b1": 0.2, "s1b2": 0.1}}
    fig = plots.plot_residual_ratios(ratios, title="ratios")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [0.5, 0.3, 0.2, 0.1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s1b1", "s1b2"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ResNet-20", "ResNet-56"]
    assert ax.get_title() == "ratios"
    # the two networks' bars of a block stand side by side around the block's tick
    xs = [p.get_x() + p.get_width() / 2 for p in ax.patches]
    assert xs[0] < 0 < xs[2] < xs[1] < 1 < xs[3]
    render(fig)


def test_plot_feature_maps_one_row_per_stage():
    rng = np.random.default_rng(0)
    maps = {"stage1": rng.random((2, 8, 8, 16)), "stage2": rng.random((2, 4, 4, 3))}
    image = rng.random((2, 8, 8, 3))
    fig = plots.plot_feature_maps(maps, image=image, index=1, channels=4)
    assert len(fig.axes) == 2 * 5  # the input, then 4 channels, per stage
    row1, row2 = fig.axes[:5], fig.axes[5:]
    np.testing.assert_array_equal(row1[0].images[0].get_array(), image[1])
    assert row1[0].get_title() == "input"
    np.testing.assert_array_equal(row1[3].images[0].get_array(), maps["stage1"][1, :, :, 2])
    assert row1[1].get_ylabel() == "stage1\n8x8x16" and row2[1].get_ylabel() == "stage2\n4x4x3"
    assert len(row2[4].images) == 0  # stage2 has only 3 channels
    render(fig)
    assert len(plots.plot_feature_maps(maps, channels=2).axes) == 2 * 2  # without the input column


def test_plot_ablation_accuracy_per_deleted_block():
    abl = {"plain-20": {"full": 0.9, "s1b1": 0.2, "s1b2": 0.1}, "ResNet-20": {"full": 0.9, "s1b1": 0.8, "s1b2": 0.85}}
    fig = plots.plot_ablation(abl, chance=1 / 6, title="ablation")
    ax = fig.axes[0]
    assert ax.get_ylabel() == "test accuracy (%)" and ax.get_title() == "ablation"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["s1b1", "s1b2"]
    lines = curves(ax)
    np.testing.assert_allclose(lines["plain-20: one block deleted"], [20, 10])
    np.testing.assert_allclose(lines["ResNet-20: one block deleted"], [80, 85])
    np.testing.assert_allclose(lines["ResNet-20: all blocks"], [90, 90])
    np.testing.assert_allclose(lines["chance"], [100 / 6] * 2)
    assert ax.get_ylim() == (0, 105)
    render(fig)
    assert "chance" not in curves(plots.plot_ablation(abl).axes[0])
