"""Benchmark: the class throughput of ``python -m autograder grade --jobs N`` (and plain ``nbgrader autograde``).

Builds a class of 20 submissions of the real assignment (the ``make demo`` examples, copies
of the reference solution, and broken-but-harmless submissions -- no memory bomb, no file
writers: plain nbgrader has no sandbox) in temporary course roots and grades it:

- ``parallel``: ``python -m autograder grade --jobs N`` as the course is configured;
- ``parallel_every_cell``: the same with ``c.SandboxedExecute.run_after_last_test = True`` in the
  course's ``nbgrader_config.py``: every cell run, as grading did before issue 24 (the baseline,
  measured in the same run on the same code);
- ``parallel_no_preload``: the same with ``--no-kernel-preload``: every kernel imports TensorFlow
  for itself instead of being forked from its worker's kernel zygote (what the zygote saves);
- ``serial`` (``--serial``): plain ``nbgrader autograde --force``, one student after the other.

- ``baseline_commit`` (``--baseline-commit``, default :data:`BASELINE_COMMIT`, the commit before
  issue 24): that commit's own ``bench/bench_grading.py`` grades that commit's bench class with
  that commit's grader, from a git worktree, in the same run (issue 24's target: ``parallel``
  at least 3 times its throughput).

Records each wall time, the throughput ratios (baseline commit / parallel; every cell / parallel),
the time per correct submission (worker wall time), the peak memory of each run (RSS of the
whole process tree), whether the runs gave the same grades, and the machine, in
``bench/results/grading.json`` (README quotes it; a test checks the quotes).

    .venv/bin/python bench/bench_grading.py [--jobs 2] [--students 20] [--serial] [--out bench/out]
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

from autograder.example_classes import classroom, examples
from autograder import course  # noqa: E402
from autograder.example_classes.cases import Case  # noqa: E402


def bench_class(n: int) -> list[Case]:
    """n students: the demo examples, the harmless broken cases, then correct copies."""
    full = {st.name: st for st in classroom.full_class()}
    names = [ex.name for ex in examples.EXAMPLES] + [
        "h01_syntax_error", "h02_exception", "h04_deleted_test_cell", "h05_deleted_solution_cell",
        "h06_edited_test_cell", "h12_sys_exit"]
    out = [full[n_] for n_ in names if n_ in full]
    i = 1
    while len(out) < n:
        out.append(Case(f"c{i:02}_correct", "the reference solution", lambda c: c.filled(),
                        classroom.earned(*classroom.RESNET.exercises)))
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


RESULTS = ROOT / "bench" / "results" / "grading.json"
TARGET_RATIO = 3.0  # issue 24: the class graded at least 3 times faster than by the baseline commit
RUN_EVERY_CELL = "\nc.SandboxedExecute.run_after_last_test = True  # bench baseline: every cell run\n"


def grade_parallel(root: Path, jobs: int, log_path: str, feedback: bool, extra: tuple[str, ...] = ()) -> dict:
    """``python -m autograder grade`` of the class in ``root`` (with the ``extra`` options):
    wall time, peak memory, per-student times."""
    cmd = [sys.executable, "-m", "autograder", "grade", course.ASSIGNMENT, "--jobs", str(jobs), "--quiet", *extra]
    if not feedback:
        cmd.append("--no-feedback")  # like for like: `nbgrader autograde` makes no feedback
    wall, peak, rc = run(cmd, root, log_path)
    results = json.loads((root / ".autograder" / f"{course.ASSIGNMENT}-results.json").read_text())
    correct = [r for r in results["results"] if r["student"].startswith(("c", "ada"))
               and r.get("total") == r.get("max_total")]
    return {"wall_s": round(wall, 1), "peak_rss": peak, "rc": rc,
            "per_correct_student_s": round(sum(r["elapsed"] for r in correct) / max(1, len(correct)), 1),
            "peak_rss_per_student": max((r.get("peak_rss") or 0) for r in results["results"])}


#: the commit before issue 24's work: its own grader and notebooks are the committed baseline
BASELINE_COMMIT = "644904f"


def grade_at_commit(rev: str, jobs: int, students: int, out: str) -> dict:
    """The parallel grading of that commit's own bench class (its examples, its notebooks, its
    grader), run from a git worktree of ``rev`` with that commit's ``bench/bench_grading.py``."""
    tree = Path(tempfile.mkdtemp(prefix="bench-grading-base-")) / "tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), rev], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        log = os.path.join(out, f"commit-{rev}.log")
        with open(log, "w") as fh:
            subprocess.run([sys.executable, "bench/bench_grading.py", "--skip-serial", "--jobs", str(jobs),
                            "--students", str(students), "--out", out], cwd=tree, stdout=fh,
                           stderr=subprocess.STDOUT, check=True, env=course.nbgrader_env(PYTHONPATH=str(tree)))
        old = json.loads(Path(out, "bench_grading.json").read_text())
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
    return {"commit": rev, "wall_s": old["parallel_wall"], "peak_rss": old["parallel_peak_rss"],
            "rc": old["parallel_rc"], "per_correct_student_s": old["parallel_per_correct_student_s"]}


def readme_quote(res: dict) -> str:
    """How README quotes ``bench/results/grading.json``."""
    base, now, every = res["baseline_commit"], res["parallel"], res["parallel_every_cell"]
    alone = res["parallel_no_preload"]
    return (f"{res['students']} submissions graded with `--jobs {res['jobs']}` in {now['wall_s']:.0f} s, "
            f"{res['ratio_to_baseline_commit']:.2f} times the throughput of commit {base['commit']} "
            f"({base['wall_s']:.0f} s, graded in the same run) and {res['ratio_to_every_cell']:.2f} times that "
            f"of the same code with every cell run ({every['wall_s']:.0f} s); {alone['wall_s']:.0f} s with "
            f"`--no-kernel-preload` (each kernel imports TensorFlow itself); a correct submission took "
            f"{now['per_correct_student_s']:.1f} s of a worker's time (before: {base['per_correct_student_s']:.1f} s); "
            f"peak memory of the whole run {now['peak_rss'] / 2**30:.2f} GiB "
            f"({alone['peak_rss'] / 2**30:.2f} GiB without the zygotes)")


def machine() -> dict:
    from importlib.metadata import version
    import platform

    from bench_notebook import cpu_model   # this folder is on sys.path (the script's own)

    return {"machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
            "versions": {name: version(name) for name in ("nbgrader", "tensorflow-cpu", "keras")}}


def main(argv=None) -> int:
    from datetime import datetime, timezone

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--students", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out"), help="logs of the runs")
    ap.add_argument("--serial", action="store_true", help="also grade with plain serial nbgrader autograde")
    ap.add_argument("--with-feedback", action="store_true",
                    help="let the parallel runs generate feedback too (plain `nbgrader autograde` does not)")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--baseline-commit", default=BASELINE_COMMIT,
                    help="also grade that commit's bench class with that commit's grader ('' to skip)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    students = bench_class(args.students)
    names = [s.name for s in students]
    tmp = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    kinds = ("parallel_every_cell", "parallel_no_preload", "parallel") + (("serial",) if args.serial else ())
    roots = {}
    for kind in kinds:
        root = roots[kind] = tmp / kind
        course.new_course(root)
        course.generate_release(root, quiet=True)
        classroom.write_class(str(root), students)
    with open(roots["parallel_every_cell"] / "nbgrader_config.py", "a") as fh:
        fh.write(RUN_EVERY_CELL)
    print(f"class of {len(names)} submissions in {tmp}; {os.cpu_count()} CPU cores", flush=True)
    res = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **machine(),
           "students": len(names), "jobs": args.jobs, "load_average_before": os.getloadavg()[0]}
    for kind in ("parallel_every_cell", "parallel_no_preload", "parallel"):
        print(f"python -m autograder grade --jobs {args.jobs} ({kind}) ...", flush=True)
        extra = ("--no-kernel-preload",) if kind == "parallel_no_preload" else ()
        res[kind] = grade_parallel(roots[kind], args.jobs, os.path.join(args.out, f"{kind}.log"), args.with_feedback,
                                   extra)
        print(f"  {res[kind]['wall_s']:.0f} s, peak {res[kind]['peak_rss'] / 2**30:.2f} GiB (exit {res[kind]['rc']})",
              flush=True)
    if args.baseline_commit:
        print(f"python -m autograder grade --jobs {args.jobs} at commit {args.baseline_commit} ...", flush=True)
        res["baseline_commit"] = grade_at_commit(args.baseline_commit, args.jobs, args.students, args.out)
        res["ratio_to_baseline_commit"] = round(res["baseline_commit"]["wall_s"] / res["parallel"]["wall_s"], 2)
        print(f"  {res['baseline_commit']['wall_s']:.0f} s", flush=True)
    if args.serial:
        print("plain nbgrader autograde (serial) ...", flush=True)
        wall, peak, rc = run([sys.executable, "-m", "nbgrader", "autograde", course.ASSIGNMENT, "--force",
                              "--log-level=WARN"], roots["serial"], os.path.join(args.out, "serial.log"))
        res["serial"] = {"wall_s": round(wall, 1), "peak_rss": peak, "rc": rc}
    res["load_average_end"] = os.getloadavg()[0]
    res["ratio_to_every_cell"] = round(res["parallel_every_cell"]["wall_s"] / res["parallel"]["wall_s"], 2)
    res["ratio_to_no_preload"] = round(res["parallel_no_preload"]["wall_s"] / res["parallel"]["wall_s"], 2)
    res["target_ratio"] = TARGET_RATIO
    grades = {kind: course.read_grades(root) for kind, root in roots.items()}
    res["grades_differ"] = sorted({s for g in grades.values() for s in names
                                   if s in g and g[s] != grades["parallel"].get(s)})
    ratio = res.get("ratio_to_baseline_commit", res["ratio_to_every_cell"])
    print(f"\nthroughput: {ratio:.2f} times the baseline's (target >= {TARGET_RATIO:g}); every cell run: "
          f"{res['ratio_to_every_cell']:.2f}; a correct submission {res['parallel']['per_correct_student_s']} s; "
          f"grades that differ: {res['grades_differ']}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(res, indent=1) + "\n")
    return 0 if ratio >= TARGET_RATIO and not res["grades_differ"] else 1


if __name__ == "__main__":
    sys.exit(main())
