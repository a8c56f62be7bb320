"""Tests of resnet_utils.data and resnet_utils.hands: the generated SIGNS-compatible data set
(the drawings, the files and their cache) and the data helpers.

The full data set is generated once per test session into a temporary folder (a few
seconds); everything else uses small arrays. Nothing here touches the network, the
repository's datasets/ folder or ~/.cache. The learnability test (marked ``slow``) trains
a linear model and a small CNN for about a minute (bench/bench_dataset.py's comparison).
"""

import hashlib
import shutil
import socket
import sys
import urllib.error
import warnings
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
from PIL import Image

from resnet_utils import data, hands

ROOT = Path(__file__).resolve().parents[1]
M_TRAIN, M_TEST = 1080, 120

# SHA-256 of the generated data. If the drawing code, the seeds or the NumPy/Pillow
# versions change, these change: then bump hands.DATASET_VERSION, recompute the stored
# reference outputs (`make reference`) and update the hashes here.
GOLDEN = {
    "small": "1451819e21541f8952d80da9908a37f89ad2354af780f665af4e547d6f22b66c",
    "train": "9531e0b11ccbd322ce6a7c72c8bd2b0aecd5a5e01cc82ad3f497cd4a9ab86bb5",
    "test": "e5189f8726a6386a50b9cab7caddf929e62f197f57a1e8eb609db9da536d3d26",
}


def sha(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    """No test may use the real user cache, $RESNET_DATA_DIR or the network."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("RESNET_DATA_DIR", raising=False)

    def no_network(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", no_network)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    """A data folder holding the generated cache files (generated once per session)."""
    d = tmp_path_factory.mktemp("datasets")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # generating into an empty folder must not warn
        data.load_dataset(d)
    return d


@pytest.fixture(scope="session")
def dataset(cache_dir):
    return data.load_dataset(cache_dir)


def copy_cache(src, dst):
    dst.mkdir(parents=True, exist_ok=True)
    for name in (data.TRAIN_FILE, data.TEST_FILE):
        shutil.copy(src / name, dst / name)
    return dst


def write_signs(directory, m_train=12, m_test=6, train_keys=None, x_shape=(64, 64, 3), value=7):
    """Small fake original SIGNS files: every pixel equals ``value``, labels cycle 0..5."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, split, m in ((data.SIGNS_TRAIN_FILE, "train", m_train), (data.SIGNS_TEST_FILE, "test", m_test)):
        keys = {f"{split}_set_x": np.full((m, *x_shape), value, np.uint8),
                f"{split}_set_y": np.arange(m, dtype=np.int64) % 6,
                "list_classes": np.arange(6, dtype=np.int64)}
        if split == "train" and train_keys is not None:
            keys = train_keys(keys)
        with h5py.File(directory / name, "w") as f:
            for k, v in keys.items():
                f.create_dataset(k, data=v)


# --------------------------------------------------------------------------------------
# the generated data set
# --------------------------------------------------------------------------------------


def test_load_dataset_shapes_dtypes_and_balance(dataset):
    X_train, Y_train, X_test, Y_test, classes = dataset
    assert X_train.shape == (M_TRAIN, 64, 64, 3) and X_train.dtype == np.uint8
    assert X_test.shape == (M_TEST, 64, 64, 3) and X_test.dtype == np.uint8
    assert Y_train.shape == (1, M_TRAIN) and Y_test.shape == (1, M_TEST)
    assert np.issubdtype(Y_train.dtype, np.integer) and np.issubdtype(Y_test.dtype, np.integer)
    assert classes.ndim == 1 and classes.tolist() == [0, 1, 2, 3, 4, 5]
    assert np.bincount(Y_train[0], minlength=6).tolist() == [180] * 6
    assert np.bincount(Y_test[0], minlength=6).tolist() == [20] * 6
    # shuffled, like SIGNS (not sorted by class)
    assert not np.all(np.diff(Y_train[0]) >= 0)
    # real images: full dynamic range, no two identical, train and test disjoint
    assert X_train.min() < 30 and X_train.max() > 225
    hashes_train = {sha(x) for x in X_train}
    hashes_test = {sha(x) for x in X_test}
    assert len(hashes_train) == M_TRAIN and len(hashes_test) == M_TEST
    assert not hashes_train & hashes_test


def test_classes_differ_in_content(dataset):
    """More raised fingers means more hand above the palm: the mean image differs by class."""
    X_train, Y_train = dataset[0], dataset[1]
    means = np.stack([X_train[Y_train[0] == c].astype(float).mean(axis=0) for c in range(6)])
    for a in range(6):
        for b in range(a + 1, 6):
            assert np.abs(means[a] - means[b]).mean() > 0.5


def test_cache_files_have_the_signs_layout(cache_dir):
    for name, split, m in ((data.TRAIN_FILE, "train", M_TRAIN), (data.TEST_FILE, "test", M_TEST)):
        with h5py.File(cache_dir / name, "r") as f:
            assert set(f.keys()) == {f"{split}_set_x", f"{split}_set_y", "list_classes"}
            assert f[f"{split}_set_x"].shape == (m, 64, 64, 3)
            assert f[f"{split}_set_x"].dtype == np.uint8
            assert f[f"{split}_set_y"].shape == (m,)
            assert np.issubdtype(f[f"{split}_set_y"].dtype, np.integer)
            assert f["list_classes"][()].tolist() == [0, 1, 2, 3, 4, 5]
            assert f.attrs["generator_version"] == hands.DATASET_VERSION


def test_cache_is_reused_without_regenerating(cache_dir, dataset, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("the valid cache should have been read, not regenerated")

    monkeypatch.setattr(hands, "generate_hands", fail)
    again = data.load_dataset(cache_dir)
    for a, b in zip(again, dataset):
        np.testing.assert_array_equal(a, b)


def test_generation_is_deterministic():
    X1, y1 = hands.generate_hands(2, seed=123)
    X2, y2 = hands.generate_hands(2, seed=123)
    assert X1.shape == (12, 64, 64, 3) and X1.dtype == np.uint8
    assert y1.shape == (12,) and sorted(y1.tolist()) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert sha(X1, y1) == sha(X2, y2)
    X3, _ = hands.generate_hands(2, seed=124)
    assert sha(X3) != sha(X1)
    # one image depends only on its own generator, not on what was drawn before
    a = hands.draw_hand(3, np.random.default_rng([5, 3, 0]))
    hands.draw_hand(1, np.random.default_rng(99))
    b = hands.draw_hand(3, np.random.default_rng([5, 3, 0]))
    np.testing.assert_array_equal(a, b)
    # and the set holds exactly those images: image 0 of class 3 is somewhere in X1
    assert any(np.array_equal(x, hands.draw_hand(3, np.random.default_rng([123, 3, 0]))) for x in X1)


def test_generated_data_matches_the_pinned_hashes(dataset):
    """Guards the notebooks' stored reference outputs against silent changes of the data."""
    X_small, y_small = hands.generate_hands(2, seed=123)
    X_train, Y_train, X_test, Y_test, _ = dataset
    got = {"small": sha(X_small, y_small), "train": sha(X_train, Y_train), "test": sha(X_test, Y_test)}
    assert got == GOLDEN, (
        "The generated data changed. If intended, bump hands.DATASET_VERSION, run "
        f"`make reference`, and set GOLDEN in tests/test_dataset.py to {got}"
    )


def test_draw_hand_arguments():
    img = hands.draw_hand(5, 7, image_size=32)  # an int seed is accepted
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    np.testing.assert_array_equal(img, hands.draw_hand(5, np.random.default_rng(7), image_size=32))
    for bad in (-1, 6):
        with pytest.raises(ValueError, match="between 0 and 5"):
            hands.draw_hand(bad, np.random.default_rng(0))
    with pytest.raises(ValueError, match=">= 0"):
        hands.generate_hands(-1, seed=0)


# --------------------------------------------------------------------------------------
# where the data comes from: original SIGNS files, cache problems, unwritable folders
# --------------------------------------------------------------------------------------


def test_original_signs_files_are_read_instead(tmp_path, monkeypatch):
    write_signs(tmp_path, m_train=12, m_test=6, value=7)
    monkeypatch.setattr(hands, "generate_hands", lambda *a, **k: pytest.fail("must not generate"))
    X_train, Y_train, X_test, Y_test, classes = data.load_dataset(tmp_path)
    assert X_train.shape == (12, 64, 64, 3) and X_test.shape == (6, 64, 64, 3)
    assert X_train.dtype == np.uint8 and np.all(X_train == 7)
    assert Y_train.shape == (1, 12) and Y_test.shape == (1, 6)
    assert Y_train[0].tolist() == [0, 1, 2, 3, 4, 5] * 2
    assert classes.tolist() == [0, 1, 2, 3, 4, 5]
    assert not (tmp_path / data.TRAIN_FILE).exists()  # no cache written next to them
    # the same through the environment variable
    monkeypatch.setenv("RESNET_DATA_DIR", str(tmp_path))
    assert data.load_dataset()[0].shape == (12, 64, 64, 3)


def test_signs_file_with_wrong_keys_gives_a_clear_error(tmp_path):
    def rename(keys):
        keys["images"] = keys.pop("train_set_x")
        return keys

    write_signs(tmp_path, train_keys=rename)
    with pytest.raises(ValueError) as err:
        data.load_dataset(tmp_path)
    msg = str(err.value)
    assert "train_signs.h5" in msg and "'train_set_x'" in msg and "'images'" in msg
    assert "delete both" in msg  # says what to do


def test_signs_file_with_wrong_shape_gives_a_clear_error(tmp_path):
    write_signs(tmp_path, x_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"shape \(12, 32, 32, 3\), expected \(m, 64, 64, 3\)"):
        data.load_dataset(tmp_path)


def test_signs_file_with_bad_labels_gives_a_clear_error(tmp_path):
    def bad_labels(keys):
        keys["train_set_y"] = keys["train_set_y"] + 3
        return keys

    write_signs(tmp_path, train_keys=bad_labels)
    with pytest.raises(ValueError, match="labels 0..5"):
        data.load_dataset(tmp_path)


def test_unreadable_signs_file_gives_a_clear_error(tmp_path):
    write_signs(tmp_path)
    (tmp_path / data.SIGNS_TEST_FILE).write_bytes(b"this is not an HDF5 file")
    with pytest.raises(ValueError, match="test_signs.h5"):
        data.load_dataset(tmp_path)


def test_only_one_signs_file_warns_and_uses_generated_data(tmp_path, cache_dir, dataset):
    copy_cache(cache_dir, tmp_path)
    write_signs(tmp_path)
    (tmp_path / data.SIGNS_TEST_FILE).unlink()
    with pytest.warns(RuntimeWarning, match="test_signs.h5"):
        out = data.load_dataset(tmp_path)
    np.testing.assert_array_equal(out[0], dataset[0])


@pytest.mark.parametrize("damage", ["garbage", "truncated", "pixels", "missing key"])
def test_damaged_cache_is_regenerated_with_a_warning(tmp_path, cache_dir, dataset, damage, monkeypatch):
    copy_cache(cache_dir, tmp_path)
    path = tmp_path / data.TRAIN_FILE
    if damage == "garbage":
        path.write_bytes(b"\x00garbage" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "pixels":  # a valid HDF5 file whose data changed: the checksum catches it
        with h5py.File(path, "r+") as f:
            f["train_set_x"][0, 0, 0, 0] ^= 0xFF
    else:
        with h5py.File(path, "r+") as f:
            del f["train_set_y"]
    calls = []
    real = data._generate_splits
    monkeypatch.setattr(data, "_generate_splits", lambda: calls.append(1) or real_splits(dataset))
    with pytest.warns(RuntimeWarning, match="damaged or unreadable.*regenerating"):
        out = data.load_dataset(tmp_path)
    assert calls == [1]
    for a, b in zip(out, dataset):
        np.testing.assert_array_equal(a, b)
    # the file was rewritten and is valid again
    monkeypatch.setattr(data, "_generate_splits", real)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data._read_cache(tmp_path) is not None


def real_splits(dataset):
    X_train, Y_train, X_test, Y_test, _ = dataset
    return [(X_train, Y_train[0]), (X_test, Y_test[0])]


def test_cache_from_other_drawing_code_is_regenerated_quietly(tmp_path, cache_dir, dataset, monkeypatch):
    copy_cache(cache_dir, tmp_path)
    with h5py.File(tmp_path / data.TEST_FILE, "r+") as f:
        f.attrs["generator_version"] = hands.DATASET_VERSION + 100
    calls = []
    monkeypatch.setattr(data, "_generate_splits", lambda: calls.append(1) or real_splits(dataset))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data.load_dataset(tmp_path)
    assert calls == [1]
    # a cache whose images differ from what the current code draws is also remade
    copy_cache(cache_dir, tmp_path)
    with h5py.File(tmp_path / data.TRAIN_FILE, "r+") as f:
        x = f["train_set_x"][()]
        x[:] = 255 - x
        f["train_set_x"][...] = x
        f.attrs["sha256"] = data._digest(x, f["train_set_y"][()])
    data.load_dataset(tmp_path)
    assert calls == [1, 1]


def test_unwritable_data_dir_falls_back_to_user_cache(tmp_path, dataset, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("a folder cannot be created inside a file")
    monkeypatch.setattr(data, "_generate_splits", lambda: real_splits(dataset))
    out = data.load_dataset(blocker / "datasets")
    np.testing.assert_array_equal(out[2], dataset[2])
    user_cache = tmp_path / "xdg-cache" / "resnet_course"
    assert (user_cache / data.TRAIN_FILE).is_file() and (user_cache / data.TEST_FILE).is_file()
    # the next call reads the user cache
    monkeypatch.setattr(data, "_generate_splits", lambda: pytest.fail("must read the user cache"))
    np.testing.assert_array_equal(data.load_dataset(blocker / "datasets")[0], dataset[0])


def test_nothing_writable_returns_data_from_memory(tmp_path, dataset, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    monkeypatch.setattr(data, "_generate_splits", lambda: real_splits(dataset))
    with pytest.warns(RuntimeWarning, match="from memory"):
        out = data.load_dataset(blocker / "datasets")
    assert out[0].shape == (M_TRAIN, 64, 64, 3) and out[3].shape == (1, M_TEST)


def test_missing_default_folder_is_not_created(tmp_path, dataset, monkeypatch):
    """E.g. an installed (not editable) package: no datasets/ folder next to it."""
    missing = tmp_path / "site-packages" / "datasets"
    monkeypatch.setattr(data, "_default_data_dir", lambda: (missing, False))
    monkeypatch.setattr(data, "_generate_splits", lambda: real_splits(dataset))
    data.load_dataset()
    assert not missing.exists()
    assert (tmp_path / "xdg-cache" / "resnet_course" / data.TRAIN_FILE).is_file()


def test_default_folder_is_datasets_at_the_repository_root(monkeypatch):
    directory, explicit = data._default_data_dir()
    assert directory == ROOT / "datasets" and not explicit
    monkeypatch.setenv("RESNET_DATA_DIR", "/somewhere/else")
    assert data._default_data_dir() == (Path("/somewhere/else"), True)


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 5), (5, 1), (5,)])
def test_convert_to_one_hot_shapes(shape):
    y = np.array([0, 2, 5, 1, 2]).reshape(shape)
    out = data.convert_to_one_hot(y, 6)
    assert out.shape == (5, 6) and out.dtype == np.float32
    np.testing.assert_array_equal(out.argmax(axis=1), [0, 2, 5, 1, 2])
    np.testing.assert_array_equal(out.sum(axis=1), np.ones(5))


def test_convert_to_one_hot_on_the_dataset_labels(dataset):
    Y = data.convert_to_one_hot(dataset[1], 6)
    assert Y.shape == (M_TRAIN, 6)
    np.testing.assert_array_equal(Y.sum(axis=0), [180] * 6)
    # float labels with integer values are fine
    np.testing.assert_array_equal(data.convert_to_one_hot(np.array([1.0, 3.0]), 4), [[0, 1, 0, 0], [0, 0, 0, 1]])


def test_convert_to_one_hot_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"labels must be in \[0, 6\).*\[6\]"):
        data.convert_to_one_hot(np.array([[0, 6, 1]]), 6)
    with pytest.raises(ValueError, match=r"\[0, 3\).*\[-1\]"):
        data.convert_to_one_hot(np.array([-1, 0]), 3)
    with pytest.raises(ValueError, match="non-integer"):
        data.convert_to_one_hot(np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match="shape"):
        data.convert_to_one_hot(np.zeros((2, 3), int), 3)
    with pytest.raises(ValueError, match="positive integer"):
        data.convert_to_one_hot(np.array([0]), 0)


def test_normalize():
    x = np.array([[0, 51, 255]], dtype=np.uint8)
    out = data.normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]], rtol=1e-6)
    np.testing.assert_array_equal(data.normalize(out), out)  # normalising twice is harmless
    np.testing.assert_allclose(data.normalize(np.array([0.0, 127.5, 255.0])), [0, 0.5, 1])
    for bad in (np.array([-1.0, 2.0]), np.array([0.0, 256.0]), np.array([np.nan])):
        with pytest.raises(ValueError, match="between 0 and 255"):
            data.normalize(bad)


def _save(tmp_path, name, array, mode=None):
    path = tmp_path / name
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_load_image_png_any_size(tmp_path):
    rgb = np.zeros((100, 80, 3), np.uint8)
    rgb[..., 0] = 255  # pure red, 100 high x 80 wide
    out = data.load_image(_save(tmp_path, "red.png", rgb))
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, ..., 0], 1.0)
    np.testing.assert_allclose(out[0, ..., 1:], 0.0)
    assert data.load_image(tmp_path / "red.png", size=(32, 48)).shape == (1, 32, 48, 3)


def test_load_image_jpeg_greyscale_and_rgba(tmp_path):
    grey = np.tile(np.linspace(0, 255, 50).astype(np.uint8), (50, 1))
    out = data.load_image(_save(tmp_path, "grey.png", grey))
    assert out.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(out[0, ..., 0], out[0, ..., 1])  # grey stays grey
    assert 0.0 <= out.min() < 0.1 and 0.9 < out.max() <= 1.0

    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:20, :, :] = [0, 0, 255, 255]  # opaque blue top half, transparent bottom half
    out = data.load_image(_save(tmp_path, "rgba.png", rgba))
    np.testing.assert_allclose(out[0, 5, 30], [0, 0, 1], atol=0.02)
    np.testing.assert_allclose(out[0, 60, 30], [1, 1, 1], atol=0.02)  # transparent -> white

    Image.fromarray(np.full((30, 30, 3), 200, np.uint8)).save(tmp_path / "photo.jpg", quality=95)
    out = data.load_image(tmp_path / "photo.jpg")
    np.testing.assert_allclose(out, 200 / 255, atol=0.02)


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_file.png"):
        data.load_image(tmp_path / "no_such_file.png")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match="Could not read .*notes.png as an image"):
        data.load_image(tmp_path / "notes.png")


def test_example_image(dataset):
    path = data.example_image_path()
    assert path.is_file() and path.suffix == ".png"
    assert path.parent.name == "assets"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB"
    img = data.load_image(path)
    assert img.shape == (1, 64, 64, 3) and 0.0 <= img.min() and img.max() <= 1.0
    assert img.std() > 0.05  # a picture, not a flat colour


# --------------------------------------------------------------------------------------
# CIFAR-10 (never downloaded in the tests)
# --------------------------------------------------------------------------------------


def fake_keras(monkeypatch, load_data):
    """Put a stand-in for ``keras`` (only ``keras.datasets.cifar10.load_data``) in sys.modules:
    load_cifar10 imports keras when called, and the real one takes seconds to import."""
    fake = SimpleNamespace(datasets=SimpleNamespace(cifar10=SimpleNamespace(load_data=load_data)))
    monkeypatch.setitem(sys.modules, "keras", fake)


def test_load_cifar10_offline_gives_a_clear_error(monkeypatch):
    def offline():
        err = urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        raise Exception(f"URL fetch failure on https://www.cs.toronto.edu/: None -- {err.reason}")

    fake_keras(monkeypatch, offline)
    with pytest.raises(RuntimeError) as err:
        data.load_cifar10()
    msg = str(err.value)
    assert "CIFAR-10" in msg and "Temporary failure in name resolution" in msg
    assert "offline" in msg and "load_dataset()" in msg and "needs no network" in msg
    assert "cifar-10-python.tar.gz" in msg and "cifar-10-batches-py-target_archive" in msg
    assert str(err.value.__cause__).startswith("URL fetch failure")  # the original error is chained

    def url_error():
        raise urllib.error.URLError("no route to host")

    fake_keras(monkeypatch, url_error)
    with pytest.raises(RuntimeError, match="no route to host"):
        data.load_cifar10()


def test_load_cifar10_success_path(monkeypatch):
    fake = ((np.zeros((4, 32, 32, 3), np.uint8), np.arange(4, dtype=np.uint8).reshape(4, 1)),
            (np.ones((2, 32, 32, 3), np.uint8), np.array([[1], [2]], np.uint8)))
    fake_keras(monkeypatch, lambda: fake)
    (x_train, y_train), (x_test, y_test) = data.load_cifar10()
    # passed on exactly as Keras returns them: the same arrays, in the same order
    got = (x_train, y_train, x_test, y_test)
    assert all(a is b for a, b in zip(got, (fake[0][0], fake[0][1], fake[1][0], fake[1][1])))


# --------------------------------------------------------------------------------------
# learnability (slow: about a minute on 2 CPU cores)
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_small_cnn_learns_what_a_linear_model_cannot(dataset, monkeypatch):
    """The task needs spatial features: a small CNN trained for ~15 epochs is far above
    softmax regression on the raw pixels (measured: CNN ~0.9, linear ~0.3)."""
    pytest.importorskip("keras")
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_dataset  # the same comparison as `python bench/bench_dataset.py`

    X_train, Y_train, X_test, Y_test, _ = dataset
    results = bench_dataset.learnability(data.normalize(X_train), Y_train[0], data.normalize(X_test), Y_test[0])
    linear_acc = results["linear"]["test_acc_best_epoch"]  # the linear model's best epoch: generous
    cnn_acc = results["small_cnn"]["test_acc"]  # the final model, not its best epoch

    print(f"test accuracy: linear {linear_acc:.3f}, CNN {cnn_acc:.3f}")
    assert linear_acc <= 0.5, f"a linear model reaches {linear_acc:.2f}: the task is too easy"
    assert cnn_acc >= 0.8, f"the small CNN reaches only {cnn_acc:.2f}: the task is too hard"
    assert cnn_acc - linear_acc >= 0.3
