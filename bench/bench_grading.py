"""Benchmark: plain serial ``nbgrader autograde`` vs ``python -m autograder grade --jobs N``.

Builds a class of 20 submissions of the real assignment (the ``make demo`` examples, copies
of the reference solution, and broken-but-harmless submissions -- no memory bomb, no file
writers: plain nbgrader has no sandbox), twice, in two temporary course roots; grades one
with plain ``nbgrader autograde --force`` (one process, one student after the other) and the
other with the parallel grader; prints both wall times, their ratio, the time per correct
submission and the peak memory of each run (RSS of the whole process tree), and checks that
both runs gave the same grades where nbgrader can grade at all.

    .venv/bin/python bench/bench_grading.py [--jobs 2] [--students 20] [--out bench/out]

On the 2-core reference machine the target is a ratio >= 1.7 and <= 60 s per student.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from autograder import classroom, course, examples  # noqa: E402
from autograder.cases import Case  # noqa: E402


def bench_class(n: int) -> list[Case]:
    """n students: the demo examples, the harmless broken cases, then correct copies."""
    full = {st.name: st for st in classroom.full_class()}
    names = [ex.name for ex in examples.EXAMPLES] + [
        "h01_syntax_error", "h02_exception", "h04_deleted_test_cell", "h05_deleted_solution_cell",
        "h06_edited_test_cell", "h12_sys_exit"]
    out = [full[n_] for n_ in names if n_ in full]
    i = 1
    while len(out) < n:
        out.append(Case("c%02d_correct" % i, "the reference solution", lambda c: c.filled(),
                        classroom.earned(classroom.I, classroom.C, classroom.R)))
        i += 1
    return out[:n]


class PeakMemory:
    """Peak RSS (sum over a process and all its descendants), sampled twice a second."""

    def __init__(self, pid: int):
        import psutil

        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                for p in [self.proc] + self.proc.children(recursive=True):
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.5)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak


def run(cmd, cwd, log_path):
    env = course.nbgrader_env()
    t0 = time.time()
    with open(log_path, "w") as log:
        p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
        mem = PeakMemory(p.pid)
        rc = p.wait()
    return time.time() - t0, mem.stop(), rc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"))
    ap.add_argument("--skip-serial", action="store_true")
    ap.add_argument("--with-feedback", action="store_true",
                    help="let the parallel run generate feedback too (plain `nbgrader autograde` does not)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    students = bench_class(args.students)
    names = [s.name for s in students]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    roots = {}
    for kind in ("serial", "parallel"):
        root = tmp / kind
        course.new_course(root)
        course.generate_release(root, quiet=True)
        classroom.write_class(str(root), students)
        roots[kind] = root
    print("class of %d submissions in %s; %d CPU cores" % (len(names), tmp, os.cpu_count()), flush=True)

    res = {"students": len(names), "cores": os.cpu_count(), "jobs": args.jobs}
    if not args.skip_serial:
        print("plain nbgrader autograde (serial) ...", flush=True)
        wall, peak, rc = run([sys.executable, "-m", "nbgrader", "autograde", course.ASSIGNMENT, "--force",
                              "--log-level=WARN"], roots["serial"], os.path.join(args.out, "serial.log"))
        res.update(serial_wall=round(wall, 1), serial_peak_rss=peak, serial_rc=rc)
        print("  %.0f s, peak %.2f GiB (exit %d)" % (wall, peak / 2**30, rc), flush=True)

    print("python -m autograder grade --jobs %d ..." % args.jobs, flush=True)
    cmd = [sys.executable, "-m", "autograder", "grade", course.ASSIGNMENT, "--jobs", str(args.jobs), "--quiet"]
    if not args.with_feedback:
        cmd.append("--no-feedback")  # like for like: `nbgrader autograde` makes no feedback
    wall, peak, rc = run(cmd, roots["parallel"], os.path.join(args.out, "parallel.log"))
    res.update(parallel_wall=round(wall, 1), parallel_peak_rss=peak, parallel_rc=rc)
    print("  %.0f s, peak %.2f GiB (exit %d)" % (wall, peak / 2**30, rc), flush=True)

    results = json.loads((roots["parallel"] / ".autograder" / ("%s-results.json" % course.ASSIGNMENT)).read_text())
    correct = [r for r in results["results"] if r["student"].startswith(("c", "ada"))
               and r.get("total") == r.get("max_total")]
    res["parallel_per_correct_student_s"] = round(sum(r["elapsed"] for r in correct) / max(1, len(correct)), 1)
    res["parallel_peak_rss_per_student"] = max((r.get("peak_rss") or 0) for r in results["results"])
    if "serial_wall" in res:
        res["ratio"] = round(res["serial_wall"] / res["parallel_wall"], 2)
        res["serial_per_student_s"] = round(res["serial_wall"] / len(names), 1)
        serial = course.read_grades(roots["serial"])
        parallel = course.read_grades(roots["parallel"])
        res["grades_differ"] = sorted(s for s in names if s in serial and serial[s] != parallel.get(s))
        res["not_graded_by_plain_nbgrader"] = sorted(s for s in names if s not in serial)
    print()
    print("serial nbgrader autograde : %s s" % res.get("serial_wall", "-"))
    print("autograder --jobs %d       : %s s" % (args.jobs, res["parallel_wall"]))
    if "ratio" in res:
        print("ratio                     : %.2f  (target >= 1.7)" % res["ratio"])
        print("serial, per student       : %s s" % res["serial_per_student_s"])
    print("parallel, per correct student (worker wall time): %s s  (target <= 60)"
          % res["parallel_per_correct_student_s"])
    print("peak memory: serial %.2f GiB, parallel %.2f GiB (largest student %.2f GiB)" % (
        res.get("serial_peak_rss", 0) / 2**30, res["parallel_peak_rss"] / 2**30,
        res["parallel_peak_rss_per_student"] / 2**30))
    if res.get("grades_differ"):
        print("grades that differ between the runs:", res["grades_differ"])
    with open(os.path.join(args.out, "bench_grading.json"), "w") as fh:
        json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
