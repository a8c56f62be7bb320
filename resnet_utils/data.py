"""The course's embedded, SIGNS-compatible hand-sign dataset and small data helpers.

The Coursera "SIGNS" dataset (photos of hands showing 0 to 5 fingers) cannot be shipped
with the course, and nothing may be downloaded while a notebook runs or is graded. So the
course *draws* its own hands, deterministically (:mod:`resnet_utils.hands`), and caches
them in HDF5 files with the exact SIGNS layout:

=================  ======================================  =========================
file               dataset                                 shape, dtype
=================  ======================================  =========================
``train_*.h5``     ``train_set_x``                         (1080, 64, 64, 3) uint8
                   ``train_set_y``                         (1080,) int64
                   ``list_classes``                        (6,) int64 = 0..5
``test_*.h5``      ``test_set_x``                          (120, 64, 64, 3) uint8
                   ``test_set_y``                          (120,) int64
                   ``list_classes``                        (6,) int64 = 0..5
=================  ======================================  =========================

The label is the number of raised fingers, **the thumb included** (so "5" is an open
hand and "0" a fist). Classes are balanced: 180 training and 20 test images per class.

Where the data comes from (:func:`load_dataset`):

1. If the *original* SIGNS files ``train_signs.h5`` and ``test_signs.h5`` are in the data
   folder, they are read (and checked) instead of the generated data.
2. Otherwise the cached generated files ``train_hands.h5`` / ``test_hands.h5`` are read.
   A missing cache is generated (about 5 s). A damaged one (unreadable, wrong layout,
   SHA-256 mismatch) is regenerated with a warning; one written by other drawing code or
   other NumPy/Pillow versions (a version number and a redraw of 6 images tell) is
   regenerated quietly.
3. The data folder is ``datasets/`` at the repository root, or ``$RESNET_DATA_DIR``, or the
   ``data_dir`` argument. If it cannot be written, the cache goes to
   ``$XDG_CACHE_HOME/resnet_course`` (default ``~/.cache/resnet_course``); if that fails
   too, the generated arrays are simply returned from memory (with a warning).

Determinism: the same seeds give the same bytes with the same NumPy and Pillow versions
(see :mod:`resnet_utils.hands`; ``tests/test_dataset.py`` pins the SHA-256 of the data for the
pinned versions).

Run ``python -m resnet_utils.data`` to build the cache and print a summary
(``--example`` also redraws the example picture in ``resnet_utils/assets``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import hands
from .hands import DATASET_VERSION, IMAGE_SIZE, N_CLASSES

__all__ = [
    "load_dataset",
    "convert_to_one_hot",
    "normalize",
    "load_image",
    "example_image_path",
    "load_cifar10",
    "N_CLASSES",
    "IMAGE_SIZE",
]

#: Images per class in the training and the test set (1080 and 120 images in all).
TRAIN_PER_CLASS = 180
TEST_PER_CLASS = 20
#: Seeds of the two splits (different seeds: no image is shared between them).
TRAIN_SEED = 1
TEST_SEED = 2

TRAIN_FILE = "train_hands.h5"
TEST_FILE = "test_hands.h5"
SIGNS_TRAIN_FILE = "train_signs.h5"
SIGNS_TEST_FILE = "test_signs.h5"

_ASSETS = Path(__file__).resolve().parent / "assets"
_EXAMPLE_IMAGE = "hand_three.png"


# --------------------------------------------------------------------------------------
# HDF5 files: reading, checking, caching
# --------------------------------------------------------------------------------------


class DatasetFileError(ValueError):
    """An HDF5 file that does not have the SIGNS layout (keys, shapes, dtypes, labels)."""


def _default_data_dir():
    """``$RESNET_DATA_DIR`` if set, else ``datasets/`` at the repository root."""
    env = os.environ.get("RESNET_DATA_DIR")
    if env:
        return Path(env).expanduser(), True
    return Path(__file__).resolve().parents[1] / "datasets", False


def _user_cache_dir():
    """``$XDG_CACHE_HOME/resnet_course``, default ``~/.cache/resnet_course``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "resnet_course"


def _digest(x, y):
    """SHA-256 of an image array and its labels (detects silently damaged cache files)."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(x).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


def _read_split(path, split, image_size=IMAGE_SIZE):
    """Read and check one SIGNS-layout file; return ``(x, y, classes, attrs)``.

    Raises :class:`DatasetFileError` (what is wrong) or ``OSError`` (unreadable file).
    """
    import h5py

    kx, ky = f"{split}_set_x", f"{split}_set_y"
    with h5py.File(path, "r") as f:
        missing = [k for k in (kx, ky, "list_classes") if k not in f]
        if missing:
            raise DatasetFileError(
                f"{path} has no dataset {', '.join(repr(k) for k in missing)} "
                f"(it has: {', '.join(repr(k) for k in f.keys()) or 'nothing'}); "
                f"a SIGNS {split} file needs {kx!r}, {ky!r} and 'list_classes'"
            )
        not_arrays = [k for k in (kx, ky, "list_classes") if not isinstance(f[k], h5py.Dataset)]
        if not_arrays:
            raise DatasetFileError(f"{path}: {', '.join(map(repr, not_arrays))} must be datasets, not groups")
        x, y, classes = f[kx][()], f[ky][()], f["list_classes"][()]
        attrs = dict(f.attrs)
    want = (image_size, image_size, 3)
    if x.ndim != 4 or x.shape[1:] != want:
        raise DatasetFileError(
            f"{path}: {kx!r} has shape {x.shape}, expected (m, {want[0]}, {want[1]}, {want[2]}) "
            "(m RGB images of 64x64 pixels)"
        )
    if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < 0 or x.max() > 255)):
        raise DatasetFileError(f"{path}: {kx!r} must hold 0-255 integer pixels, got dtype {x.dtype}")
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DatasetFileError(
            f"{path}: {ky!r} has shape {y.shape}, expected ({x.shape[0]},) (one label per image)"
        )
    classes = np.asarray(classes).reshape(-1)
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= N_CLASSES)):
        raise DatasetFileError(f"{path}: {ky!r} must hold integer labels 0..{N_CLASSES - 1}")
    if classes.shape != (N_CLASSES,) or not np.issubdtype(classes.dtype, np.integer):
        raise DatasetFileError(
            f"{path}: 'list_classes' has shape {classes.shape} and dtype {classes.dtype}, "
            f"expected the {N_CLASSES} integers 0..{N_CLASSES - 1}"
        )
    return x.astype(np.uint8, copy=False), y.astype(np.int64), classes.astype(np.int64), attrs


def _write_split(path, split, x, y):
    """Write one split atomically (temporary file + rename, safe for parallel graders)."""
    import h5py

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(f"{split}_set_x", data=x)
            f.create_dataset(f"{split}_set_y", data=y.astype(np.int64))
            f.create_dataset("list_classes", data=np.arange(N_CLASSES, dtype=np.int64))
            f.attrs["generator"] = "resnet_utils.hands.generate_hands"
            f.attrs["generator_version"] = DATASET_VERSION
            f.attrs["sha256"] = _digest(x, y)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(directory):
    """The cached generated splits in ``directory``, or ``None`` when they must be (re)made."""
    out = []
    for name, split, n, seed in (
        (TRAIN_FILE, "train", TRAIN_PER_CLASS, TRAIN_SEED),
        (TEST_FILE, "test", TEST_PER_CLASS, TEST_SEED),
    ):
        path = Path(directory) / name
        if not path.is_file():
            return None
        try:
            x, y, _, attrs = _read_split(path, split)
            if x.shape[0] != N_CLASSES * n or attrs.get("sha256") != _digest(x, y):
                raise DatasetFileError(f"{path}: contents do not match its checksum")
            if attrs.get("generator_version") != DATASET_VERSION or not _spot_check(x, y, seed, n):
                return None  # made by other drawing code or library versions: remake it quietly
        except (OSError, DatasetFileError, KeyError, ValueError) as err:
            warnings.warn(
                f"The cached dataset file {path} is damaged or unreadable ({err}); "
                "regenerating it (this takes a few seconds).",
                RuntimeWarning,
                stacklevel=3,
            )
            return None
        out.append((x, y))
    return out


def _spot_check(x, y, seed, n_per_class):
    """Redraw the first image of each class and compare it with the cached one.

    Cheap (6 images) and catches a cache written by different drawing code or different
    NumPy/Pillow versions, which a version number alone would miss.
    """
    order = np.random.default_rng(seed).permutation(N_CLASSES * n_per_class)
    where = np.argsort(order)  # where[k]: position of generated image k after shuffling
    for label in range(N_CLASSES):
        pos = where[label * n_per_class]
        expected = hands.draw_hand(label, np.random.default_rng([seed, label, 0]), x.shape[1])
        if y[pos] != label or not np.array_equal(x[pos], expected):
            return False
    return True


def _generate_splits():
    return [
        hands.generate_hands(TRAIN_PER_CLASS, TRAIN_SEED),
        hands.generate_hands(TEST_PER_CLASS, TEST_SEED),
    ]


def _write_cache(directory, splits):
    """Try to cache ``splits`` in ``directory``; return ``True`` on success."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for name, split, (x, y) in zip((TRAIN_FILE, TEST_FILE), ("train", "test"), splits):
            _write_split(Path(directory) / name, split, x, y)
        return True
    except OSError:
        return False


def _result(splits, classes=None):
    (xtr, ytr), (xte, yte) = splits
    if classes is None:
        classes = np.arange(N_CLASSES, dtype=np.int64)
    return xtr, ytr.reshape(1, -1), xte, yte.reshape(1, -1), classes


def _load_signs(directory):
    """Read the original SIGNS files, turning a layout problem into a clear error."""
    splits, classes = [], None
    for name, split in ((SIGNS_TRAIN_FILE, "train"), (SIGNS_TEST_FILE, "test")):
        path = Path(directory) / name
        try:
            x, y, classes, _ = _read_split(path, split)
        except (DatasetFileError, OSError, KeyError) as err:
            raise DatasetFileError(
                f"Could not use the original SIGNS file {path}: {err}.\n"
                f"Replace it with the original '{name}' from the Coursera course, or delete "
                f"both {SIGNS_TRAIN_FILE} and {SIGNS_TEST_FILE} from {directory} to use the "
                "course's generated hand-sign data instead."
            ) from err
        splits.append((x, y))
    return _result(splits, classes)


def load_dataset(data_dir=None):
    """Load the hand-sign data set (SIGNS layout), generating and caching it if needed.

    Reads the original SIGNS files ``train_signs.h5`` and ``test_signs.h5`` when both are
    in the data folder; otherwise the course's generated data (cached as
    ``train_hands.h5`` / ``test_hands.h5``, regenerated when missing or damaged).
    Nothing is downloaded.

    Args:
        data_dir: folder of the data files. Default: ``$RESNET_DATA_DIR`` if set, else
            ``datasets/`` at the repository root. When it cannot be written, the cache is
            kept in ``~/.cache/resnet_course`` (``$XDG_CACHE_HOME``), or only in memory.

    Returns:
        ``(X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes)``: images as
        ``uint8`` arrays ``(1080, 64, 64, 3)`` and ``(120, 64, 64, 3)``, labels as
        ``int64`` arrays of shape ``(1, 1080)`` and ``(1, 120)`` (number of raised
        fingers, thumb included), ``classes`` the ``int64`` array ``[0 1 2 3 4 5]``.

    Raises:
        DatasetFileError (a ``ValueError``): the original SIGNS files are present but do
            not have the SIGNS layout (the message says what is wrong and what to do).
    """
    if data_dir is None:
        directory, explicit = _default_data_dir()
    else:
        directory, explicit = Path(data_dir).expanduser(), True

    have = [(directory / n).is_file() for n in (SIGNS_TRAIN_FILE, SIGNS_TEST_FILE)]
    if all(have):
        return _load_signs(directory)
    if any(have):
        present, absent = (SIGNS_TRAIN_FILE, SIGNS_TEST_FILE)
        if not have[0]:
            present, absent = absent, present
        warnings.warn(
            f"{directory} has {present} but not {absent}; both original SIGNS files are needed. "
            "Using the course's generated hand-sign data instead.",
            RuntimeWarning,
            stacklevel=2,
        )

    # The main cache folder (used when it exists or was asked for), then the user's cache.
    candidates = [directory] if (explicit or directory.is_dir()) else []
    candidates.append(_user_cache_dir())
    splits = None
    for d in candidates:
        cached = _read_cache(d) if d.is_dir() else None
        if cached is not None:
            return _result(cached)
        if not _writable(d):
            continue
        if splits is None:
            splits = _generate_splits()
        if _write_cache(d, splits):
            return _result(splits)
    if splits is None:
        splits = _generate_splits()
    warnings.warn(
        f"Could not write the dataset cache to {' or '.join(str(c) for c in candidates)}; "
        "using the generated data from memory (it is regenerated in each session).",
        RuntimeWarning,
        stacklevel=2,
    )
    return _result(splits)


def _writable(directory):
    """Whether ``directory`` exists (or can be created) and can be written to."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


# --------------------------------------------------------------------------------------
# Small helpers for the notebooks
# --------------------------------------------------------------------------------------


def convert_to_one_hot(Y, C):
    """One-hot encode integer labels.

    Args:
        Y: labels 0..C-1, shaped ``(1, m)`` (as :func:`load_dataset` returns them),
            ``(m, 1)`` or ``(m,)``; integers, or floats with integer values.
        C: number of classes.

    Returns:
        ``float32`` array of shape ``(m, C)``; row ``i`` is 1 at column ``Y[i]``.

    Raises:
        ValueError: ``Y`` has another shape, non-integer values or labels outside
            ``[0, C)``, or ``C`` is not a positive integer.
    """
    if isinstance(C, bool) or not isinstance(C, (int, np.integer)) or C < 1:
        raise ValueError(f"C must be a positive integer number of classes, got {C!r}")
    y = np.asarray(Y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ValueError(f"Y must have shape (1, m), (m, 1) or (m,), got {np.shape(Y)}")
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise ValueError(f"Y must hold integer class labels, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating) and not np.all(np.isfinite(y) & (y == np.round(y))):
        raise ValueError("Y must hold integer class labels, got non-integer values")
    bad = (y < 0) | (y >= C)
    if np.any(bad):
        raise ValueError(
            f"labels must be in [0, {C}) for C={C}; found {np.unique(y[bad])[:10].tolist()} "
            f"(at positions {np.flatnonzero(bad)[:5].tolist()}...)"
        )
    out = np.zeros((y.shape[0], C), dtype=np.float32)
    out[np.arange(y.shape[0]), y.astype(np.int64)] = 1.0
    return out


def normalize(X):
    """Scale pixel values to ``float32`` in ``[0, 1]``.

    Integer images (0..255) are divided by 255. Float input already in ``[0, 1]`` is
    returned as a ``float32`` copy unchanged (so normalising twice is harmless); other
    float input is taken to be on the 0..255 scale and divided by 255.

    Raises:
        ValueError: values below 0 or above 255, or NaN.
    """
    x = np.asarray(X)
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"normalize expects a numeric image array, got dtype {x.dtype}")
    x = x.astype(np.float32)
    if x.size == 0:
        return x
    lo, hi = float(np.min(x)), float(np.max(x))
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi > 255:
        raise ValueError(f"pixel values must be between 0 and 255, got min {lo} and max {hi}")
    if np.issubdtype(np.asarray(X).dtype, np.floating) and hi <= 1.0:
        return x
    return x / np.float32(255.0)


def load_image(path, size=(IMAGE_SIZE, IMAGE_SIZE)):
    """Load any picture as a model input: ``float32`` array ``(1, height, width, 3)`` in [0, 1].

    The image is turned upright (EXIF orientation), converted to RGB (a transparent
    background becomes white, greyscale becomes grey RGB), centre-cropped to the aspect
    ratio of ``size`` (so the hand is not squashed) and resized with a Lanczos filter.

    Args:
        path: file name of a PNG, JPEG, ... image.
        size: ``(height, width)`` of the result, default ``(64, 64)``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not an image Pillow can read.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"No image file at {path} (working folder: {Path.cwd()}). Check the name, or put "
            "your picture next to the notebook and pass its file name."
        )
    height, width = int(size[0]), int(size[1])
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            im.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"Could not read {path} as an image ({err}); use a PNG or JPEG file.") from err
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    im = im.convert("RGB")
    im = ImageOps.fit(im, (width, height), method=Image.Resampling.LANCZOS)
    arr = np.asarray(im, dtype=np.float32) / np.float32(255.0)
    return arr[None, ...]


def example_image_path():
    """Path of the example picture shipped with the course (a drawn hand showing 3 fingers).

    It is drawn by :func:`resnet_utils.hands.draw_hand` at 128x128 pixels from a seed that the
    data set does not use, so it is not a training or test image. Use it with :func:`load_image`.
    """
    return _ASSETS / _EXAMPLE_IMAGE


def _make_example_image(path=None):
    """(Re)draw the example picture in ``resnet_utils/assets`` (run once; it is committed)."""
    from PIL import Image

    path = Path(path) if path is not None else example_image_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    img = hands.draw_hand(3, np.random.default_rng([20240, 3]), image_size=128)
    Image.fromarray(img).save(path, optimize=True)
    return path


def keras_home():
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def load_cifar10():
    """CIFAR-10 through ``keras.datasets.cifar10.load_data()``, with a clear offline error.

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` exactly as Keras returns them.

    Raises:
        RuntimeError: the download (or reading Keras' cache) failed, e.g. no network.
    """
    import keras

    try:
        return keras.datasets.cifar10.load_data()
    except Exception as err:  # Keras turns URLError/HTTPError into a bare Exception
        target = keras_home() / "datasets" / "cifar-10-batches-py-target_archive"
        raise RuntimeError(
            f"Could not load CIFAR-10 with keras.datasets.cifar10.load_data(): "
            f"{type(err).__name__}: {err}\n"
            "CIFAR-10 is downloaded from the internet the first time (about 170 MB), and "
            "this machine seems to be offline. The course's own data, load_dataset(), needs "
            "no network, so everything else works.\n"
            "To use CIFAR-10 offline, download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz "
            f"on a machine with internet access and copy it (renamed) to {target}; Keras "
            "checks and unpacks it on the next call."
        ) from err


if __name__ == "__main__":  # python -m resnet_utils.data [--example]
    import sys
    import time

    if "--example" in sys.argv:
        print("wrote", _make_example_image())
    t0 = time.perf_counter()
    Xtr, Ytr, Xte, Yte, cls = load_dataset()
    print(
        f"train {Xtr.shape} {Xtr.dtype}, test {Xte.shape}, classes {cls.tolist()}, "
        f"train counts {np.bincount(Ytr[0]).tolist()}, test counts {np.bincount(Yte[0]).tolist()} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
