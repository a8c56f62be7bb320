"""Measure a student's full top-to-bottom run of the assignment notebook, over several seeds.

    python bench/bench_notebook.py [--assignment residual_networks|resnet_cifar] [--seeds 3] [--fast]
                                   [--notebook PATH] [--epochs N] [--batch-size N] [--output FILE]

Executes the *source* notebook (the reference solution stands in for a student's correct
work) with nbclient exactly as a student's "Run All" would, in full mode unless
``--fast``, once per seed (``RESNET_SEED``), each in a fresh kernel of the course's
kernelspec and in a temporary working folder (the notebook saves its trained model
there). Per run it records the wall time, the peak resident memory (RSS) of the kernel's
process tree, the wall time and running peak memory after each code cell, and what the notebook printed: the
training and validation accuracy of the last epoch, the test accuracy with BatchNorm's
moving statistics and after recalibration, and the prediction for the example image.

Full-mode results go to ``bench/results/notebook.json`` (with the CPU model and count,
the load average, the package versions and the training settings); the numbers that the
notebook and the README quote come from that file (:func:`quoted_figures`), and
``tests/test_quoted_figures.py`` fails when they disagree.

Targets (issue 8): test accuracy median >= 0.95 over 3 seeds, every seed >= 0.90, each
run <= 600 s wall on 2 CPU cores. Its bar of 1.8 GB peak RSS is retired (issue 20): RSS counts
shared library pages that the kernel can evict, while a container enforces a memory cgroup,
which ``bench/binder_check.py`` measures against (the peak RSS is still recorded).

``--assignment resnet_cifar`` measures the second assignment's notebook the same way
(its short run of the student's ResNet-20 v1, :data:`resnet_utils.cifar.SHORT` for the data
it found, and the unit signals of a ResNet-110 v1 and v2) and writes
``bench/results/cifar_notebook.json``: the final training accuracy, the best validation
accuracy and the test accuracy of the best epoch, what the unit-signal cell printed, and
which data the run used (CIFAR-10, or the offline fallback with the reason CIFAR-10 was
unavailable). Targets (issues 12 and 21): a full Run All <= 600 s wall on 2 CPU cores, peak
RSS <= 1.8 GB, test accuracy >= 0.80 in every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_NB = ROOT / "source" / "residual_networks" / "Residual_Networks.ipynb"
RESULTS = ROOT / "bench" / "results" / "notebook.json"
TARGETS = {"test_accuracy_median": 0.95, "test_accuracy_min": 0.90, "wall_s_max": 600.0}
CIFAR_SOURCE_NB = ROOT / "source" / "resnet_cifar" / "ResNet_CIFAR.ipynb"
CIFAR_RESULTS = ROOT / "bench" / "results" / "cifar_notebook.json"
CIFAR_TARGETS = {"wall_s_max": 600.0, "peak_rss_mib_max": 1.8e9 / 2**20,   # issue 12: 10 min, 1.8 GB
                 "test_accuracy_min": 0.80}                                   # issue 21, offline fallback

#: assignment -> (source notebook, default results file, targets)
ASSIGNMENTS = {"residual_networks": (SOURCE_NB, RESULTS, TARGETS),
               "resnet_cifar": (CIFAR_SOURCE_NB, CIFAR_RESULTS, CIFAR_TARGETS)}

#: What the notebook prints, and the keys the results file stores it under.
PATTERNS = {
    "epochs": r"after (\d+) epochs?: training accuracy",
    "train_accuracy": r"after \d+ epochs?: training accuracy ([0-9.]+)",
    "val_accuracy": r"after \d+ epochs?: .*validation accuracy ([0-9.]+)",
    "test_accuracy_moving": r"test accuracy with the moving statistics: ([0-9.]+)",
    "test_accuracy_recalibrated": r"test accuracy with recalibrated statistics: ([0-9.]+)",
    "test_accuracy": r"test accuracy: ([0-9.]+) on \d+ images",
    "example_prediction": r"\.png: predicted (\S+) \(p = ([0-9.]+)\)",
    "reload_identical": r"the reloaded model predicts the same: (True|False)",
    "resnet50_parameters": r"(?m)^total\s+([\d,]+)\s*$",
}


class PeakRSS(threading.Thread):
    """Polls the summed RSS of a process and its children every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self._halt = pid, interval, 0, threading.Event()

    def run(self):
        import psutil

        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                self.peak = max(self.peak, rss)
            except psutil.Error:
                pass
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


def parse_outputs(text: str) -> dict:
    """The figures the notebook printed (see :data:`PATTERNS`); missing ones are absent."""
    out: dict = {}
    for key, pattern in PATTERNS.items():
        found = re.findall(pattern, text)
        if not found:
            continue
        last = found[-1]
        if key == "example_prediction":
            out[key] = {"class": last[0], "probability": float(last[1])}
        elif key == "epochs":
            out[key] = int(last)
        elif key == "reload_identical":
            out[key] = last == "True"
        elif key == "resnet50_parameters":
            out[key] = int(last.replace(",", ""))
        else:
            out[key] = float(last)
    return out


#: What the CIFAR notebook prints (cells load-data, params, unit-signals and train-v1).
CIFAR_NETWORK = re.compile(r"(?m)^(ResNet-\d+ v[12]): final training accuracy ([0-9.]+), best validation accuracy "
                           r"([0-9.]+), test accuracy of the best epoch ([0-9.]+) \((\d+) test images, ([\w-]+)\)")
CIFAR_PARAMS = re.compile(r"(?m)^ResNet-(\d+)\s+(v[12]):\s+([\d,]+) parameters")
CIFAR_UNAVAILABLE = re.compile(r"CIFAR-10 is not available \((.*)\)\.\n")
CIFAR_SIGNALS = re.compile(r"(?m)^(ResNet-\d+ v[12]): RMS of the convolution inputs ([0-9.]+) \(first unit\) to "
                           r"([0-9.]+) \(last unit\); gradient RMS ([0-9.]+) times larger at the first unit")


def parse_cifar_outputs(text: str) -> dict:
    """What the CIFAR-10 notebook printed: the data it used, each network's parameter count and
    accuracies (keys ``data_source``, ``cifar10_unavailable``, ``parameters``, ``networks``)."""
    out: dict = {"networks": {}, "parameters": {}}
    for label, train, val, test, n_test, source in CIFAR_NETWORK.findall(text):
        out["networks"][label] = {"train_accuracy": float(train), "best_val_accuracy": float(val),
                                  "test_accuracy": float(test), "test_images": int(n_test)}
        out["data_source"] = source
    for depth, version, count in CIFAR_PARAMS.findall(text):
        out["parameters"][f"ResNet-{depth} {version}"] = int(count.replace(",", ""))
    out["unit_signals"] = {label: {"conv_input_rms_first": float(first), "conv_input_rms_last": float(last),
                                   "gradient_ratio_first_to_last": float(ratio)}
                           for label, first, last, ratio in CIFAR_SIGNALS.findall(text)}
    found = CIFAR_UNAVAILABLE.search(text)
    out["cifar10_unavailable"] = found.group(1) if found else None
    for line in text.splitlines():
        if re.match(r"(cifar10|signs-fallback): \d+ training and \d+ test images", line):
            out["data"] = line.strip()
        elif line.startswith(("short run:", "fast mode:", "paper recipe")):
            out["recipe"] = line.strip()
    return out


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


#: Run before the CIFAR notebook by ``--with-cifar10-shaped``: ``resnet_utils.data.load_cifar10``
#: returns random images of CIFAR-10's shapes (50,000 + 10,000 of 32x32x3, 10 classes), so that
#: an offline machine measures the time and memory of the real data's sizes (not its accuracy).
CIFAR10_SHAPED_PRELUDE = """\
import numpy as _np
import resnet_utils.data as _data

def _cifar10_shaped():
    rng = _np.random.default_rng(0)
    return ((rng.integers(0, 256, (50000, 32, 32, 3), dtype=_np.uint8), rng.integers(0, 10, (50000, 1), dtype=_np.uint8)),
            (rng.integers(0, 256, (10000, 32, 32, 3), dtype=_np.uint8), rng.integers(0, 10, (10000, 1), dtype=_np.uint8)))

_data.load_cifar10 = _cifar10_shaped
"""


def run(notebook: Path, fast: bool, env_extra: dict, timeout: int = 1800, parse=parse_outputs,
        prelude: str | None = None) -> dict:
    """Execute ``notebook`` once in a fresh kernel; return the measurements. ``prelude``: code
    run in the kernel first (its time counts)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    if prelude:
        nb.cells.insert(0, nbformat.v4.new_code_cell(prelude))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env_extra)
    env.pop("NBGRADER_EXECUTION", None)
    env.pop("RESNET_FAST", None)
    if fast:
        env["RESNET_FAST"] = "1"
    old = dict(os.environ)
    cells: list = []
    monitor = None
    with tempfile.TemporaryDirectory(prefix="bench-notebook-") as work:
        os.environ.clear()
        os.environ.update(env)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": work}})
        start = time.perf_counter()
        try:
            with client.setup_kernel():
                monitor = PeakRSS(client.km.provisioner.process.pid)
                monitor.start()
                for index, cell in enumerate(nb.cells):
                    t0 = time.perf_counter()
                    client.execute_cell(cell, index)
                    if cell.cell_type == "code":
                        cells.append({"cell": index, "first_line": cell.source.split("\n", 1)[0][:80],
                                      "wall_s": round(time.perf_counter() - t0, 1),
                                      "peak_rss_mib_so_far": round(monitor.peak / 2**20)})
        finally:
            os.environ.clear()
            os.environ.update(old)
            if monitor:
                monitor.stop()
        wall = time.perf_counter() - start
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    images = sum(1 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                 if "image/png" in o.get("data", {}))
    return {"wall_s": round(wall, 1), "peak_rss_mib": round((monitor.peak if monitor else 0) / 2**20),
            **parse(text), "figures": images,
            "cells": cells}


def summarise(runs: list) -> dict:
    """Median and extremes over the seeds."""
    tests = [r["test_accuracy"] for r in runs if "test_accuracy" in r]
    moving = [r["test_accuracy_moving"] for r in runs if "test_accuracy_moving" in r]
    out = {"seeds": len(runs), "wall_s_max": max(r["wall_s"] for r in runs),
           "wall_s_median": statistics.median(r["wall_s"] for r in runs),
           "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs)}
    if tests:
        out.update(test_accuracy_median=statistics.median(tests), test_accuracy_min=min(tests),
                   test_accuracy_max=max(tests))
    if moving:
        out.update(test_accuracy_moving_median=statistics.median(moving),
                   test_accuracy_moving_min=min(moving), test_accuracy_moving_max=max(moving))
    networks = sorted({label for r in runs for label in r.get("networks", {})})
    if networks:  # the CIFAR notebook: one test accuracy per network and run
        out["test_accuracy_min"] = min(n["test_accuracy"] for r in runs for n in r.get("networks", {}).values())
        out["test_accuracy"] = {}
        for label in networks:
            accs = [r["networks"][label]["test_accuracy"] for r in runs if label in r.get("networks", {})]
            out["test_accuracy"][label] = {"median": statistics.median(accs), "min": min(accs), "max": max(accs)}
    return out


def meets_targets(summary: dict, targets: dict = TARGETS) -> dict:
    """Each target of ``targets`` (default :data:`TARGETS`) and whether the summary meets it."""
    return {key: (summary.get(key) is not None
                  and (summary[key] >= bound if key.startswith("test") else summary[key] <= bound))
            for key, bound in targets.items()}


def time_and_memory(targets: dict) -> dict:
    """The targets without the accuracy ones (for a run on random images)."""
    return {k: v for k, v in targets.items() if not k.startswith("test")}


def quoted_figures(results: dict) -> dict:
    """The exact strings that the notebook and the README quote from a results file.

    One place formats them, so that the test that compares the texts with the file and
    a person updating the texts after a new benchmark use the same numbers.
    """
    s, m = results["summary"], results["machine"]
    return {
        "seeds": f"{s['seeds']} seeds",
        "epochs": f"{results['settings']['epochs']} epochs",
        "wall": f"{s['wall_s_max']:.0f} s",
        "memory": f"{s['peak_rss_mib_max'] / 1024:.2f} GiB",
        "cpu": f"{m['cpu_count']}-core {m['cpu_model']}",
        "test_median": f"{s['test_accuracy_median']:.3f}",
        "test_min": f"{s['test_accuracy_min']:.3f}",
        "moving_median": f"{s['test_accuracy_moving_median']:.3f}",
    }


def cifar_quoted_figures(results: dict) -> dict:
    """The exact strings that README and the CIFAR notebook quote from ``cifar_notebook.json``."""
    s, runs = results["summary"], results["runs"]
    accs = s["test_accuracy"]["ResNet-20 v1"]
    shaped = results.get("cifar10_shaped_run", {}).get("run")
    out = {
        "seeds": f"{s['seeds']} seeds",
        "test_range": f"{accs['min']:.3f} to {accs['max']:.3f}",
        "test_images": f"{runs[0]['networks']['ResNet-20 v1']['test_images']} test images",
        "wall": f"{s['wall_s_max']:.0f} s",
        "memory": f"{s['peak_rss_mib_max']} MiB",
        "cpu": f"{results['machine']['cpu_count']}-core {results['machine']['cpu_model']}",
    }
    if shaped:
        out.update(shaped_wall=f"{shaped['wall_s']:.0f} s", shaped_memory=f"{shaped['peak_rss_mib']} MiB")
    return out


def record_point(results: dict, key: str, point: dict, output: Path) -> None:
    """Append ``point`` to ``results[key]``, print it, and write the results file: a run that
    stops half-way keeps what it measured."""
    results[key].append(point)
    print(json.dumps(point), flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=1) + "\n")


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("tensorflow-cpu", "tensorflow", "keras", "numpy", "nbclient"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", choices=sorted(ASSIGNMENTS), default="residual_networks",
                        help="which assignment's source notebook to run (default residual_networks)")
    parser.add_argument("--notebook", type=Path, default=None,
                        help="another notebook (default: the assignment's source notebook)")
    parser.add_argument("--seeds", type=int, default=1, help="runs with RESNET_SEED=0, 1, ... (default 1)")
    parser.add_argument("--fast", action="store_true", help="nbgrader's fast mode instead of a student's full run")
    parser.add_argument("--with-cifar10-shaped", action="store_true",
                        help="resnet_cifar only: when CIFAR-10 is not available, also run once with random images of "
                             "CIFAR-10's sizes (time and memory of the real data; stored as cifar10_shaped_run)")
    parser.add_argument("--epochs", type=int, help="residual_networks only")
    parser.add_argument("--batch-size", type=int, help="residual_networks only")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(ROOT)}, or "
                             f"{CIFAR_RESULTS.relative_to(ROOT)} for resnet_cifar, for a full run "
                             "with default settings; other runs are written only when given)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    cifar_run = args.assignment == "resnet_cifar"
    if args.with_cifar10_shaped and not cifar_run:
        parser.error("--with-cifar10-shaped applies to resnet_cifar only")
    if cifar_run and (args.epochs or args.batch_size):
        parser.error("--epochs and --batch-size apply to residual_networks only "
                     "(the CIFAR notebook's recipe is resnet_utils.cifar.SHORT)")
    default_nb, default_results, targets = ASSIGNMENTS[args.assignment]
    notebook = args.notebook or default_nb

    extra = {}
    if args.epochs:
        extra["RESNET_EPOCHS"] = str(args.epochs)
    if args.batch_size:
        extra["RESNET_BATCH_SIZE"] = str(args.batch_size)
    machine = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    print(f"running {notebook.name} ({'fast' if args.fast else 'full'} mode), {args.seeds} seed(s), "
          f"on {machine['cpu_count']} x {machine['cpu_model']} ...", flush=True)
    runs = []
    for seed in range(args.seeds):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        r = {"seed": seed, "load_average_before": load,
             **run(notebook, args.fast, dict(extra, RESNET_SEED=str(seed)),
                   parse=parse_cifar_outputs if cifar_run else parse_outputs)}
        runs.append(r)
        print(json.dumps({k: v for k, v in r.items() if k != "cells"}), flush=True)
    if cifar_run:
        import dataclasses

        from resnet_utils import cifar

        source = runs[0].get("data_source", "signs-fallback")
        settings = dataclasses.asdict(cifar.FAST if args.fast else cifar.SHORT[source])
    else:
        from resnet_utils import training

        settings = dict(training.FAST if args.fast else training.FULL)
        settings.update({k: int(v) for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v})
    results = {"notebook": str(notebook.relative_to(ROOT)) if notebook.is_relative_to(ROOT) else str(notebook),
               "mode": "fast" if args.fast else "full",
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine, "versions": versions(), "settings": settings,
               "targets": targets, "runs": runs, "summary": summarise(runs)}
    if cifar_run:
        sources = sorted({r.get("data_source", "unknown") for r in runs})
        reasons = sorted({r["cifar10_unavailable"] for r in runs if r.get("cifar10_unavailable")})
        results["data"] = {
            "source": sources[0] if len(sources) == 1 else sources,
            "cifar10_unavailable": reasons or None,
            "note": ("CIFAR-10 could not be loaded on the benchmark machine (no network, not in Keras' cache): "
                     "the run used the offline fallback, the course's hand-sign images at 32x32 (6 classes); "
                     "the code and the networks are the same, the accuracies are not CIFAR-10 accuracies "
                     "and the time per epoch is that of the fallback's image count")
            if "signs-fallback" in sources else "CIFAR-10"}
        if args.with_cifar10_shaped and "signs-fallback" in sources:
            print("CIFAR-10 unavailable: one more run with random images of CIFAR-10's sizes ...", flush=True)
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            shaped = {"seed": 0, "load_average_before": load,
                      **run(notebook, args.fast, dict(extra, RESNET_SEED="0"), parse=parse_cifar_outputs,
                            prelude=CIFAR10_SHAPED_PRELUDE)}
            shaped["data_source"] = "random images of CIFAR-10's sizes (50,000 + 10,000, 32x32x3, 10 classes)"
            print(json.dumps({k: v for k, v in shaped.items() if k != "cells"}), flush=True)
            summary = summarise([shaped])
            summary.pop("test_accuracy", None)  # random labels: chance level, not a result
            summary.pop("test_accuracy_min", None)
            results["cifar10_shaped_run"] = {
                "note": ("the same notebook with resnet_utils.data.load_cifar10 replaced by random images of "
                         "CIFAR-10's sizes (bench_notebook.CIFAR10_SHAPED_PRELUDE, run as a first cell): the time "
                         "and memory of a student's run on the real data set; its accuracies are chance level"),
                "settings": dataclasses.asdict(cifar.FAST if args.fast else cifar.SHORT["cifar10"]),
                "run": shaped, "summary": summary, "meets_targets": meets_targets(summary, time_and_memory(targets))}
    results["meets_targets"] = meets_targets(results["summary"], targets)
    print(json.dumps(results["summary"], indent=1))
    print("targets:", json.dumps(results["meets_targets"]))
    output = args.output
    if output is None and not (args.fast or args.epochs or args.batch_size or args.notebook):
        output = default_results
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
