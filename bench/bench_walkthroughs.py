"""Time the ungraded walkthrough notebooks (``notebooks/*.ipynb``) and measure their memory.

Each notebook is executed top to bottom with nbclient in a fresh ``python3`` kernel (cwd
``notebooks/``), one at a time, and the script prints its wall time and the peak resident
memory (RSS) of the kernel's process tree, sampled every 0.2 s with psutil. The kernel's own
``getrusage`` high-water mark and its CPU time (user + system, read by a cell appended at the
end) are printed too: on a shared machine the wall time depends on the load (printed as the
1-minute load average at the end of each run), the CPU time much less. The mybinder.org budget the notebooks are sized for is about 10 minutes on 2 CPU
cores and 2 GB of memory.

Usage::

    python bench/bench_walkthroughs.py                 # all notebooks, full mode
    python bench/bench_walkthroughs.py --fast          # RESNET_FAST=1 (what the tests run)
    python bench/bench_walkthroughs.py 02_degradation  # only the notebooks whose name matches
    python bench/bench_walkthroughs.py --save bench/out  # also keep the executed notebooks
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bench_notebook import PeakRSS  # the same peak-RSS sampler as the assignment's benchmark

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RSS_CELL = (
    "import json as _json, resource as _resource, sys as _sys\n"
    "_ru = _resource.getrusage(_resource.RUSAGE_SELF)\n"
    "_scale = 1 if _sys.platform == 'darwin' else 1024  # ru_maxrss: bytes on macOS, KiB on Linux\n"
    "print('BENCH_MAXRSS', _json.dumps([_ru.ru_maxrss * _scale, _ru.ru_utime + _ru.ru_stime]))"
)


def run_notebook(path: Path, fast: bool, timeout: int, save: Path | None) -> dict:
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(RSS_CELL))
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)  # it, too, switches on fast mode (resnet_utils.config)
    env.pop("RESNET_FAST", None)
    if fast:
        env["RESNET_FAST"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    monitor = None
    error = None
    with client.setup_kernel(env=env, cwd=str(NOTEBOOKS)):
        monitor = PeakRSS(client.km.provisioner.process.pid)
        monitor.start()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except Exception as exc:  # report and go on with the next notebook
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            monitor.stop()
    wall = time.perf_counter() - t0
    kernel_maxrss = kernel_cpu = None
    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("BENCH_MAXRSS"):
                kernel_maxrss, kernel_cpu = json.loads(line.split(maxsplit=1)[1])
    figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nb.cells.pop()
        nbformat.write(nb, save / path.name)
    return {"notebook": path.name, "mode": "fast" if fast else "full", "wall_s": round(wall, 1),
            "peak_rss_tree_mb": round(monitor.peak / 2**20), "kernel_maxrss_mb": None if kernel_maxrss is None else round(kernel_maxrss / 2**20),
            "kernel_cpu_s": None if kernel_cpu is None else round(kernel_cpu, 1),
            "load_avg_1min": round(os.getloadavg()[0], 2), "figures": figures, "error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    parser.add_argument("--fast", action="store_true", help="set RESNET_FAST=1 (the quick mode the tests use)")
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    parser.add_argument("--save", type=Path, help="folder to write the executed notebooks to")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 2
    results = []
    print(f"{'notebook':36s} {'mode':5s} {'wall':>8s} {'kernel CPU':>10s} {'peak RSS (tree)':>16s} {'kernel maxrss':>14s} {'figures':>8s} {'load':>5s}")
    for path in paths:
        r = run_notebook(path, args.fast, args.timeout, args.save)
        results.append(r)
        kernel = "?" if r["kernel_maxrss_mb"] is None else f"{r['kernel_maxrss_mb']} MB"
        cpu = "?" if r["kernel_cpu_s"] is None else f"{r['kernel_cpu_s']:.0f}s"
        print(f"{r['notebook']:36s} {r['mode']:5s} {r['wall_s']:7.1f}s {cpu:>10s} {r['peak_rss_tree_mb']:13d} MB {kernel:>14s} "
              f"{r['figures']:8d} {r['load_avg_1min']:5.1f}" + (f"   ERROR {r['error']}" if r["error"] else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 1 if any(r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
