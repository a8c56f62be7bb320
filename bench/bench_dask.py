"""Benchmark: the local worker pool vs a Dask cluster (``grade --scheduler``) on the same class.

Builds the ``make demo`` examples of the real assignment (7 students) twice, in two temporary
course roots, grades one with ``python -m autograder grade --jobs W`` and the other through a
local Dask cluster of W worker processes started here (one thread each), checks that both
gave the expected grades, and writes ``bench/results/dask.json``: wall time of each run, the
overhead of the cluster, the mean time per student, the machine and package versions, and
the estimate for a class of 1,000 students quoted in the README.

    .venv/bin/python bench/bench_dask.py [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder.example_classes import cases, examples
from autograder import course  # noqa: E402
from autograder.grade import Options, grade  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "dask.json"
GiB = 1 << 30
#: the class size of the README's estimate, and the concurrent students it assumes
ESTIMATE_STUDENTS = 1000
ESTIMATE_CONCURRENT = 50  # e.g. 25 machines with 4 cores, 2 students at a time each


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def estimate(per_student_s: float, overhead: float, students: int = ESTIMATE_STUDENTS,
             concurrent: int = ESTIMATE_CONCURRENT) -> float:
    """Wall seconds for ``students`` graded ``concurrent`` at a time, each taking
    ``per_student_s`` times ``1 + overhead`` (the cluster's measured overhead)."""
    waves = -(-students // concurrent)
    return round(waves * per_student_s * (1 + overhead), 0)


def _class(root: str):
    course.new_course(Path(root))
    course.generate_release(Path(root), quiet=True)
    examples.write_submissions(Path(root))
    return list(examples.EXAMPLES)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    import distributed

    w = args.workers
    runs = {}
    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp:
        for name in ("local", "dask"):
            root = os.path.join(tmp, name)
            students = _class(root)
            load = os.getloadavg()[0]
            if name == "local":
                t0 = time.time()
                out = grade(Options(assignment=course.ASSIGNMENT, course_root=root, jobs=w, memory_cap=5 * GiB,
                                    progress=False, feedback=False))
                wall = time.time() - t0
            else:
                with distributed.LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                                              dashboard_address=None, silence_logs=40) as cluster:
                    t0 = time.time()
                    out = grade(Options(assignment=course.ASSIGNMENT, course_root=root, jobs=w, memory_cap=5 * GiB,
                                        progress=False, feedback=False, threads=1,
                                        scheduler=cluster.scheduler_address))
                    wall = time.time() - t0
            bad = cases.check(out, students)
            elapsed = [r.elapsed for r in out.results if r.graded]
            runs[name] = {"wall_s": round(wall, 1), "students": len(out.results), "graded": len(elapsed),
                          "mean_student_s": round(sum(elapsed) / len(elapsed), 1), "as_expected": not bad,
                          "differences": bad, "load_average_before": round(load, 2),
                          "grades": {r.student: r.total for r in out.results}}
            print(name, runs[name], flush=True)
    overhead = round(runs["dask"]["wall_s"] / runs["local"]["wall_s"] - 1, 3)
    per_student = runs["local"]["mean_student_s"]
    import dask

    res = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": f"python bench/bench_dask.py --workers {w}",
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": {"python": platform.python_version(), "dask": dask.__version__,
                     "distributed": distributed.__version__},
        "class": f"the make demo examples ({runs['local']['students']} students)",
        "workers": w,
        "runs": runs,
        "same_grades": runs["local"]["grades"] == runs["dask"]["grades"],
        "overhead": overhead,
        "estimate": {"students": ESTIMATE_STUDENTS, "concurrent": ESTIMATE_CONCURRENT,
                     "per_student_s": per_student,
                     "wall_s": estimate(per_student, max(overhead, 0.0))},
    }
    RESULTS.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps({k: res[k] for k in ("overhead", "same_grades", "estimate")}, indent=1))
    return 0 if res["same_grades"] and runs["local"]["as_expected"] and runs["dask"]["as_expected"] else 1


if __name__ == "__main__":
    sys.exit(main())
