"""Time -> accuracy curve of the default training recipe: how many epochs buy how much accuracy.

    python bench/bench_training_curve.py [--epochs 5 12] [--seed 0] [--output FILE]

For each epoch count, trains the reference solution's ResNet50 (from the source notebook)
from scratch with ``training.settings(epochs=E)`` (the schedule spans the E epochs), then
records the time ``fit`` took, the last epoch's training accuracy and the test accuracy
with BatchNorm's moving statistics and after recalibration. The test images only measure:
nothing is chosen with them. Results go to ``bench/results/training_curve.json`` (CPU
model and count, versions), written after every point so that a partial run keeps what it
measured. A full notebook run adds about 60-70 s to the fit time on a slow 2-core CPU
(``bench/results/notebook.json`` has the time of every cell).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "training_curve.json"


def reference_resnet50():
    """The ResNet50 function of the source notebook's solution."""
    from autograder.course import SOURCE_NB
    from autograder.example_classes.submissions import load_functions, solution_sources

    return load_functions(solution_sources(SOURCE_NB))["ResNet50"]


def point(ResNet50, epochs: int, seed: int) -> dict:
    """Train once with ``epochs`` epochs; return the measurements."""
    import keras

    from resnet_utils import data, training

    for var in ("NBGRADER_EXECUTION", "RESNET_FAST", *training.ENV_OVERRIDES.values()):
        os.environ.pop(var, None)
    X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes = data.load_dataset()
    X_train, X_test = data.normalize(X_train_orig), data.normalize(X_test_orig)
    Y_train = data.convert_to_one_hot(Y_train_orig, len(classes))
    s = training.settings(epochs=epochs, seed=seed, verbose=0)
    keras.utils.set_random_seed(s.seed)
    model = ResNet50(input_shape=X_train.shape[1:], classes=len(classes))
    training.prepare(model, s)
    training.compile_with_settings(model, s, len(X_train))
    t0 = time.perf_counter()
    history = training.fit(model, X_train, Y_train, s)
    fit_s = time.perf_counter() - t0
    moving = training.accuracy(model, X_test, Y_test_orig, s)
    X_fit, _, _, _ = training.split(X_train, Y_train, s)
    training.recalibrate_batchnorm(model, X_fit, s)
    recalibrated = training.accuracy(model, X_test, Y_test_orig, s)
    del model
    keras.backend.clear_session()
    return {"epochs": epochs, "seed": seed, "fit_s": round(fit_s, 1),
            "train_accuracy": round(float(history.history["accuracy"][-1]), 3),
            "val_accuracy": round(float(history.history["val_accuracy"][-1]), 3),
            "test_accuracy_moving": round(moving, 3), "test_accuracy": round(recalibrated, 3),
            "load_average": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None}


def quoted_points(results: dict) -> list[str]:
    """How the README quotes each point: ``"3 epochs: 365 s fit, test 0.842"``."""
    return [f"{p['epochs']} epochs: {p['fit_s']:.0f} s fit, test {p['test_accuracy']:.3f}"
            for p in results["points"]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[5, 12])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from resnet_utils.cpu import tune

    cpu = tune()   # as the notebook's first cell does (oneDNN, malloc), before TensorFlow loads
    from bench_notebook import cpu_model, record_point, versions
    from resnet_utils import training

    results = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count()},
               "cpu_settings": {"TF_ENABLE_ONEDNN_OPTS": cpu["onednn"], "malloc_mmap_threshold_fixed": cpu["malloc"]},
               "versions": versions(), "settings": dict(training.FULL, verbose=0), "points": []}
    ResNet50 = reference_resnet50()
    for epochs in args.epochs:
        record_point(results, "points", point(ResNet50, epochs, args.seed), args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
