"""Measure a student's full top-to-bottom run of the assignment notebook, over several seeds.

    python bench/bench_notebook.py [--seeds 3] [--fast] [--notebook PATH] [--epochs N]
                                   [--batch-size N] [--output FILE]

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
run <= 600 s wall on 2 CPU cores with a peak RSS <= 1.8 GB.
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
TARGETS = {"test_accuracy_median": 0.95, "test_accuracy_min": 0.90, "wall_s_max": 600.0,
           "peak_rss_mib_max": 1.8e9 / 2**20}   # 1.8 GB

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


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(notebook: Path, fast: bool, env_extra: dict, timeout: int = 1800) -> dict:
    """Execute ``notebook`` once in a fresh kernel; return the measurements."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
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
            **parse_outputs(text), "figures": images,
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
    return out


def meets_targets(summary: dict) -> dict:
    """Each target of :data:`TARGETS` and whether the summary meets it."""
    return {key: (summary.get(key) is not None
                  and (summary[key] >= bound if key.startswith("test") else summary[key] <= bound))
            for key, bound in TARGETS.items()}


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
    parser.add_argument("--notebook", type=Path, default=SOURCE_NB)
    parser.add_argument("--seeds", type=int, default=1, help="runs with RESNET_SEED=0, 1, ... (default 1)")
    parser.add_argument("--fast", action="store_true", help="nbgrader's fast mode instead of a student's full run")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--output", type=Path, default=None,
                        help=f"results file (default {RESULTS.relative_to(ROOT)} for a full run "
                             "with default settings; other runs are written only when given)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from resnet_utils import training

    extra = {}
    if args.epochs:
        extra["RESNET_EPOCHS"] = str(args.epochs)
    if args.batch_size:
        extra["RESNET_BATCH_SIZE"] = str(args.batch_size)
    machine = {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()}
    print(f"running {args.notebook.name} ({'fast' if args.fast else 'full'} mode), {args.seeds} seed(s), "
          f"on {machine['cpu_count']} x {machine['cpu_model']} ...", flush=True)
    runs = []
    for seed in range(args.seeds):
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        r = {"seed": seed, "load_average_before": load, **run(args.notebook, args.fast,
                                                             dict(extra, RESNET_SEED=str(seed)))}
        runs.append(r)
        print(json.dumps({k: v for k, v in r.items() if k != "cells"}), flush=True)
    settings = dict(training.FAST if args.fast else training.FULL)
    settings.update({k: int(v) for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v})
    results = {"notebook": str(args.notebook.relative_to(ROOT)) if args.notebook.is_relative_to(ROOT) else str(args.notebook),
               "mode": "fast" if args.fast else "full",
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": machine, "versions": versions(), "settings": settings,
               "targets": TARGETS, "runs": runs, "summary": summarise(runs)}
    results["meets_targets"] = meets_targets(results["summary"])
    print(json.dumps(results["summary"], indent=1))
    print("targets:", json.dumps(results["meets_targets"]))
    output = args.output
    if output is None and not (args.fast or args.epochs or args.batch_size):
        output = RESULTS
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
