"""Benchmark of the generated hand-sign data: speed of generation and how learnable it is.

    python bench/bench_dataset.py                 # generation + linear vs. small CNN
    python bench/bench_dataset.py --resnet50 5    # also Keras' ResNet50 from scratch, 5 epochs
    python bench/bench_dataset.py --json bench/out/dataset.json

Prints (and optionally writes as JSON): the time to draw all 1200 images (wall clock and
CPU time of this process), the time to read the cache, the test accuracy of softmax
regression on raw pixels (best epoch) and of a small CNN (final epoch); the slow test in
tests/test_dataset.py runs the same comparison (:func:`learnability`). Nothing is written to
the repository's datasets/ folder.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from resnet_utils import data  # noqa: E402


def timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def learnability(x_train, y_train, x_test, y_test, cnn_epochs=15, log=None):
    """How learnable the data is: softmax regression on the raw pixels vs. a small CNN.

    ``x_*`` are normalised images ``(m, 64, 64, 3)``, ``y_*`` integer labels ``(m,)``.
    Returns ``{"linear": {"test_acc_best_epoch", ...}, "small_cnn": {"test_acc", ...}}``: the
    linear model's best epoch (generous) and the CNN's final one. ``tests/test_dataset.py``
    (slow) asserts the gap between them.
    """
    import keras

    L = keras.layers
    results = {}

    keras.utils.set_random_seed(0)
    linear = keras.Sequential([keras.Input((64, 64, 3)), L.Flatten(), L.Dense(6, activation="softmax")])
    linear.compile(keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    h = linear.fit(x_train, y_train, epochs=25, batch_size=64, validation_data=(x_test, y_test), verbose=0)
    results["linear"] = {"test_acc_best_epoch": round(max(h.history["val_accuracy"]), 3),
                         "train_acc": round(h.history["accuracy"][-1], 3), "s": round(time.perf_counter() - t, 1)}
    if log:
        log("softmax regression on pixels:", results["linear"])

    def conv(filters, strides=1):
        return [L.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False),
                L.BatchNormalization(momentum=0.9), L.ReLU()]

    keras.utils.set_random_seed(0)
    cnn = keras.Sequential([
        keras.Input((64, 64, 3)), L.RandomFlip("horizontal"),
        *conv(32, strides=2), L.MaxPooling2D(), *conv(64), L.MaxPooling2D(), *conv(64), L.MaxPooling2D(),
        L.Flatten(), L.Dropout(0.3), L.Dense(6, activation="softmax"),
    ])
    steps = cnn_epochs * int(np.ceil(len(x_train) / 32))
    cnn.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    h = cnn.fit(x_train, y_train, epochs=cnn_epochs, batch_size=32, validation_data=(x_test, y_test), verbose=0)
    results["small_cnn"] = {"epochs": cnn_epochs, "params": cnn.count_params(),
                            "test_acc": round(h.history["val_accuracy"][-1], 3),
                            "train_acc": round(h.history["accuracy"][-1], 3),
                            "val_acc_per_epoch": [round(v, 3) for v in h.history["val_accuracy"]],
                            "s": round(time.perf_counter() - t, 1)}
    if log:
        log("small CNN:", results["small_cnn"])
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cnn-epochs", type=int, default=15)
    parser.add_argument("--resnet50", type=int, default=0, metavar="EPOCHS", help="also train ResNet50 (0: skip)")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args()
    results = {}

    with tempfile.TemporaryDirectory() as tmp:
        _, wall, cpu = timed(data.load_dataset, tmp)  # generate + write the cache
        results["generate_and_cache_s"] = {"wall": round(wall, 2), "cpu": round(cpu, 2)}
        (X_train, Y_train, X_test, Y_test, _), wall, cpu = timed(data.load_dataset, tmp)
        results["read_cache_s"] = {"wall": round(wall, 3), "cpu": round(cpu, 3)}
    print("generate + cache 1200 images:", results["generate_and_cache_s"], "| read cache:", results["read_cache_s"])

    x_train, x_test = data.normalize(X_train), data.normalize(X_test)
    y_train, y_test = Y_train[0], Y_test[0]
    results.update(learnability(x_train, y_train, x_test, y_test, cnn_epochs=args.cnn_epochs, log=print))

    if args.resnet50:
        import keras

        keras.utils.set_random_seed(0)
        model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=6)
        model.compile(keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        t = time.perf_counter()
        h = model.fit(x_train, y_train, epochs=args.resnet50, batch_size=32, validation_data=(x_test, y_test), verbose=0)
        results["resnet50"] = {"epochs": args.resnet50,
                               "train_acc_per_epoch": [round(v, 3) for v in h.history["accuracy"]],
                               "test_acc_per_epoch": [round(v, 3) for v in h.history["val_accuracy"]],
                               "s": round(time.perf_counter() - t, 1)}
        print("ResNet50 from scratch:", results["resnet50"])

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print("wrote", args.json)


if __name__ == "__main__":
    main()
