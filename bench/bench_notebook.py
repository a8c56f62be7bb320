"""Measure a student's full top-to-bottom run of the assignment notebook.

    python bench/bench_notebook.py [--fast] [--notebook PATH] [--epochs N] [--batch-size N]

Executes the *source* notebook (the reference solution stands in for a student's
correct work) with nbclient exactly as a student's "Run All" would, in full mode unless
``--fast``, and prints the wall time, the peak resident memory (RSS) of the kernel
process and the test accuracy the notebook printed. The targets: about 10 minutes on 2
CPU cores, and under 2 GB (mybinder.org's limit). ``--epochs``/``--batch-size`` try other
training settings (through ``RESNET_EPOCHS`` / ``RESNET_BATCH_SIZE``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


class PeakRSS(threading.Thread):
    """Polls the RSS of a process and its children every ``interval`` seconds."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self._halt = pid, interval, 0, threading.Event()

    def run(self):
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
            time.sleep(self.interval)

    def stop(self):
        self._halt.set()
        self.join()


def run(notebook: Path, fast: bool, env_extra: dict) -> dict:
    nb = nbformat.read(notebook, as_version=4)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **env_extra)
    env.pop("NBGRADER_EXECUTION", None)
    if fast:
        env["RESNET_FAST"] = "1"
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    client = NotebookClient(nb, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook.parent)}})
    start = time.perf_counter()
    monitor = None
    try:
        with client.setup_kernel():
            monitor = PeakRSS(client.km.provisioner.process.pid)
            monitor.start()
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
    finally:
        os.environ.clear()
        os.environ.update(old)
        if monitor:
            monitor.stop()
    wall = time.perf_counter() - start
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    acc = re.findall(r"test accuracy: ([0-9.]+) on (\d+) images", text)
    epochs = re.findall(r"Epoch (\d+)/(\d+)", text)
    return {"wall_s": wall, "peak_rss_mb": (monitor.peak if monitor else 0) / 2**20,
            "test_accuracy": acc[-1][0] if acc else None, "epochs": epochs[-1][1] if epochs else None}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebook", type=Path, default=ROOT / "source" / "residual_networks" / "Residual_Networks.ipynb")
    parser.add_argument("--fast", action="store_true", help="nbgrader's fast mode instead of a student's full run")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    args = parser.parse_args(argv)
    extra = {}
    if args.epochs:
        extra["RESNET_EPOCHS"] = str(args.epochs)
    if args.batch_size:
        extra["RESNET_BATCH_SIZE"] = str(args.batch_size)
    print(f"running {args.notebook.relative_to(ROOT)} ({'fast' if args.fast else 'full'} mode) "
          f"on {os.cpu_count()} CPU cores ...", flush=True)
    r = run(args.notebook, args.fast, extra)
    print(f"wall time      {r['wall_s']:8.1f} s")
    print(f"peak RSS       {r['peak_rss_mb']:8.0f} MB (kernel process tree)")
    print(f"epochs         {r['epochs']}")
    if r["test_accuracy"]:
        print(f"test accuracy  {float(r['test_accuracy']):8.3f} ({r['test_accuracy']}, as printed by the notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
