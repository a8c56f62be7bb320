"""Grade a whole class with nbgrader, several students at a time, safely.

``python -m autograder grade ASSIGNMENT [--jobs N] [--timeout S] [--student ID ...]``,
or ``grade(Options(assignment, ...))`` from Python.  :func:`grade` reads top to bottom:

1. The gradebook is checked (``PRAGMA integrity_check``) and backed up to
   ``.autograder/gradebook.backup.db``; a *template* copy holding only the assignments'
   definitions (every student removed) is made (:mod:`autograder.gradebook`).
2. The kernels' shared read-only data is prepared once: the course's dataset cache and
   matplotlib's font cache.
3. Each student is graded by nbgrader's own ``Autograde`` in a worker process
   (:mod:`autograder.pool` runs them, :mod:`autograder.worker` is the process) with its own
   temporary course directory and its own copy of the template gradebook, at most
   ``--jobs`` at a time.  The grading kernel runs in a sandbox
   (:mod:`autograder.sandbox`: memory cap, Landlock, audit hook, no secrets in its
   environment, its own HOME/TMPDIR), with one TensorFlow/BLAS thread per job when
   jobs > 1.  The pool kills a worker over the wall-clock, memory or disk limit, with
   its kernel.
4. As each student finishes, *this* process -- the only writer of ``gradebook.db`` --
   merges the result (:func:`autograder.gradebook.merge_student`): it creates/updates the
   student and the submission (timestamp from ``timestamp.txt``, as nbgrader does),
   copies the autograded notebook into ``autograded/<student>/<assignment>/`` and saves
   its grades with nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties``
   preprocessors (so the scores are exactly nbgrader's).  A submission that could not be
   autograded keeps no stale automatic scores: they are reset and flagged
   ``needs_manual_grade`` (manual grades are never touched).  Students not being graded
   are never touched.
5. ``generate_feedback`` (nbgrader, with :class:`autograder.plugins.feedback.StripHiddenTests`)
   for every autograded student, then ``grades.csv`` with nbgrader's CSV export.
6. The result (:class:`autograder.records.GradingRun`) is saved as
   ``.autograder/<assignment>-results.json``; :func:`format_report` makes the table:
   student, points per exercise, total, one line per problem found.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import as_completed
from functools import partial
from typing import Any

from . import gradebook, mistakes, report, sandbox, scan, settings
from .config import course_config, coursedir_for, quiet_nbgrader, venv_on_path
from .files import write_json
from .pool import Limits, WorkerPool, feedback_in_processes
from .records import GradingRun, StudentResult, WorkerSpec

@dataclasses.dataclass
class Options:
    assignment: str
    course_root: str = "."
    jobs: int = settings.JOBS.default
    timeout: int | None = settings.TIMEOUT.default
    students: list[str] | None = None
    memory_cap: int = settings.MEMORY_CAP.default
    wall_limit: int = settings.WALL_LIMIT.default
    disk_cap: int = settings.DISK_CAP.default
    sandbox: bool = True
    landlock: bool = settings.LANDLOCK.default
    feedback: bool = True
    export: bool = True
    progress: bool = True
    keep_workdirs: bool = False
    read_packages: tuple[str, ...] = settings.READ_PACKAGES.default
    extra_read_dirs: tuple[str, ...] = ()
    max_output_bytes: int | None = None  # None: SandboxedExecute's (settings.MAX_OUTPUT_BYTES)
    threads: int | None = None  # TF/BLAS threads per kernel; None: cores // jobs when jobs > 1
    workdir_root: str | None = None  # where the per-student temporary directories go
    prepare_data: bool = True  # build the course's dataset cache once, read-only for the kernels
    scheduler: str | None = None  # a Dask scheduler's address: grade there (autograder.integrations.cluster)

    @classmethod
    def from_args(cls, args, assignment: str, students: list[str] | None = None) -> Options:
        """The options of ``python -m autograder grade|class-demo`` (see autograder.__main__)."""
        return cls(assignment=assignment, course_root=args.course_root, jobs=args.jobs, timeout=args.timeout,
                   students=students, memory_cap=args.memory_cap, wall_limit=args.wall_limit,
                   sandbox=args.sandbox, feedback=args.feedback, keep_workdirs=args.keep_workdirs,
                   progress=not args.quiet, scheduler=getattr(args, "scheduler", None))


class GradingError(RuntimeError):
    pass


def grade(opts: Options) -> GradingRun:
    """Grade the class (see the module docstring); the result is also written to
    ``.autograder/<assignment>-results.json``."""
    quiet_nbgrader()
    t_start = time.time()
    venv_on_path()
    root = os.path.realpath(opts.course_root)
    cfg = course_config(root)
    cd = coursedir_for(cfg, root)
    a = opts.assignment
    db = _checked_gradebook(cd, a)
    state = os.path.join(root, ".autograder")
    logs = os.path.join(state, "logs", a)
    os.makedirs(logs, exist_ok=True)
    with _one_run_at_a_time(state):
        # the class, then the workers: they start (and import nbgrader) while the gradebook is prepared
        everyone = find_students(cd, a)
        students = list(dict.fromkeys(opts.students)) if opts.students else everyone
        jobs = max(1, min(opts.jobs or os.cpu_count() or 1, len(students) or 1))
        threads = opts.threads if opts.threads or opts.scheduler else (
            max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None)
        limits = Limits(wall_limit=opts.wall_limit, memory_cap=opts.memory_cap, disk_cap=opts.disk_cap)
        with _pool(opts, jobs, logs, limits) as pool:
            # 1. the gradebook: backup, template, layout of the assignment
            gradebook.backup_db(db, os.path.join(state, "gradebook.backup.db"))
            template = os.path.join(state, f"template-{a}.db")
            gradebook.make_template(db, template)
            layout = scan.gradebook_layout("sqlite:///" + template, a)
            exercises, max_points = _exercises(layout)
            max_total = sum(max_points.values())

            # 2. what every kernel reads
            data_read, kernel_env, data_problem = sandbox.course_data(opts.read_packages, opts.prepare_data)
            mpl_cache = sandbox.mpl_cache(state)
            if data_problem and opts.progress:
                print("warning: " + data_problem, file=sys.stderr)

            # 3.-4. grade each student in a worker, merge each result as it comes
            results = {s: StudentResult(s, status="missing", problems=["no submission found in %s" % os.path.join(
                       cd.submitted_directory, s, a)]) for s in students if s not in everyone}
            progress = report.Progress(len(students), enabled=opts.progress)
            progress.update(done=len(results), running=0)
            failed = len(results)
            workdirs: dict[str, str] = {}

            def prepare(student: str) -> tuple[str, str]:
                """The student's temporary directory and spec file (called by the pool)."""
                wd = tempfile.mkdtemp(prefix=f"ag-{student[:20]}-", dir=opts.workdir_root or None)
                workdirs[student] = wd
                spec = WorkerSpec(
                    course_root=root, config_file=os.path.join(root, "nbgrader_config.py"), assignment=a,
                    student=student, workdir=wd, gradebook_template=template,
                    result_path=os.path.join(wd, "result.json"), timeout=opts.timeout, memory_cap=opts.memory_cap,
                    threads=threads, sandbox=opts.sandbox, landlock=opts.landlock,
                    read_packages=list(opts.read_packages), extra_read_dirs=list(opts.extra_read_dirs) + data_read,
                    kernel_env=kernel_env, mpl_cache=mpl_cache, max_output_bytes=opts.max_output_bytes)
                spec_path = os.path.join(wd, "spec.json")
                with open(spec_path, "w") as fh:
                    json.dump(spec.to_dict(), fh)
                return wd, spec_path

            with _sigterm_as_keyboard_interrupt(), _closing_progress(progress):
                futures = [pool.submit(s, partial(prepare, s)) for s in students if s not in results]
                for future in as_completed(futures):
                    r = future.result()
                    _save_student(r, cfg, cd, a, layout, root, logs, workdirs[r.student])
                    if not opts.keep_workdirs:
                        shutil.rmtree(workdirs[r.student], ignore_errors=True)
                    results[r.student] = r
                    failed += bool(r.problems or not r.graded)
                    progress.update(done=len(results), failed=failed, running=pool.running(),
                                    note="%s: %s/%s%s" % (r.student, report.fmt_points(r.total),
                                                          report.fmt_points(max_total),
                                                          "  (%s)" % r.problems[0][:70] if r.problems else ""))

        # 5. feedback and grades.csv
        ordered = [results[s] for s in students]
        graded = [r.student for r in ordered if r.graded]
        if opts.feedback and graded:
            for s, err in feedback_in_processes(root, a, graded, jobs, state).items():
                if err:
                    results[s].problems.append(f"no feedback: {err}")
        if opts.export:
            gradebook.export_csv(cfg, cd, os.path.join(root, "grades.csv"))
        ok = gradebook.integrity(db)
        if ok != "ok":
            raise GradingError("gradebook.db integrity check failed after grading: %s (backup in %s)"
                               % (ok, os.path.join(state, "gradebook.backup.db")))

        # 6. the record of the run
        run = GradingRun(assignment=a, exercises=exercises, max_points=max_points, max_total=max_total,
                         results=ordered, wall=round(time.time() - t_start, 1), jobs=jobs, threads=threads)
        record = run.to_dict()
        path = os.path.join(state, f"{a}-results.json")
        if opts.students:  # some students graded again: the others keep their saved results
            record["results"] = _merged_results(path, record["results"])
        write_json(path, record)
        return run


def _merged_results(path: str, new: list[dict]) -> list[dict]:
    """The saved results of the class (``path``) with the students in ``new`` replaced or added."""
    try:
        with open(path) as fh:
            saved = json.load(fh).get("results", [])
    except (OSError, ValueError):
        return new
    fresh = {r["student"]: r for r in new}
    out = [fresh.pop(r["student"], r) for r in saved]
    return out + [r for r in new if r["student"] in fresh]


def format_report(run: GradingRun) -> str:
    """The grade table (one line per problem found under each student) and a summary line."""
    return report.table(run.results, run.exercises, run.max_points, run.max_total) + "\n\n" + \
        report.summary(run.results, run.wall, run.jobs)


# --------------------------------------------------------------------------- the steps
def _pool(opts: Options, jobs: int, logs: str, limits: Limits):
    """The local worker pool, or with ``opts.scheduler`` the Dask cluster (same interface)."""
    if not opts.scheduler:
        return WorkerPool(jobs, logs, limits, keep_workdirs=opts.keep_workdirs)
    from .integrations.cluster import DaskPool

    try:
        return DaskPool(opts.scheduler, logs, limits, keep_workdirs=opts.keep_workdirs)
    except RuntimeError as exc:
        raise GradingError(str(exc)) from exc


def _checked_gradebook(cd, assignment: str) -> str:
    """The gradebook's file, once it is known to hold the assignment and to be sound."""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        db = gradebook.sqlite_path(cd.db_url)
    except ValueError as exc:
        raise GradingError(str(exc))
    if not os.path.exists(db):
        raise GradingError("no gradebook at %s: run `python -m autograder release` (nbgrader "
                           "generate_assignment) first" % db)
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradingError(f"assignment {assignment!r} is not in the gradebook: run generate_assignment first")
    ok = gradebook.integrity(db)
    if ok != "ok":
        raise GradingError(f"gradebook.db fails SQLite's integrity check: {ok}")
    return db


@contextlib.contextmanager
def _one_run_at_a_time(state: str):
    """An exclusive lock on the course's ``.autograder/grade.lock``."""
    import fcntl

    lock = open(os.path.join(state, "grade.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise GradingError(f"another `autograder grade` is running on this course ({state})")
    try:
        yield
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


@contextlib.contextmanager
def _sigterm_as_keyboard_interrupt():
    """SIGTERM stops the run like Ctrl-C does (the pool then kills every worker and kernel)."""
    def _term(signum, frame):
        raise KeyboardInterrupt

    old = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        try:
            signal.signal(signal.SIGTERM, old)
        except (ValueError, TypeError):
            pass


@contextlib.contextmanager
def _closing_progress(progress: report.Progress):
    try:
        yield
    finally:
        progress.close()


def find_students(cd, assignment: str) -> list[str]:
    """The students with a folder for ``assignment`` in ``submitted/``, sorted."""
    base = os.path.join(cd.root, cd.submitted_directory)
    out = []
    if os.path.isdir(base):
        for s in sorted(os.listdir(base)):
            if os.path.isdir(os.path.join(base, s, assignment)) and not s.startswith("."):
                out.append(s)
    return out


def _exercises(layout: dict[str, Any]) -> tuple[list[str], dict[str, float]]:
    """The exercises in notebook order and the points of each."""
    exercises: list[str] = []
    max_points: dict[str, float] = {}
    for nb in layout.values():
        for gid, e in nb["exercise"].items():
            if e not in exercises:
                exercises.append(e)
            max_points[e] = max_points.get(e, 0.0) + nb["grade"][gid]
    return exercises, max_points


def _exercise_points(scores: dict[str, float | None], layout: dict[str, Any]) -> dict[str, float]:
    ex: dict[str, float] = {}
    for nb in layout.values():
        for gid, e in nb["exercise"].items():
            ex[e] = ex.get(e, 0.0) + float(scores.get(gid) or 0.0)
    return ex


def _save_student(r: StudentResult, cfg, cd, assignment: str, layout: dict[str, Any], root: str, logs: str,
                  workdir: str) -> None:
    """One student's result as the worker left it -> into the gradebook, the report and the logs."""
    r.worker_log = os.path.relpath(r.worker_log, root)
    if not r.graded and r.error:
        if not any(r.error in p for p in r.problems) and r.error not in ("no gradable notebook",
                                                                         "unreadable notebook"):
            r.problems.append(f"not autograded: {r.error}")
    if not r.graded and not r.problems:
        r.problems.append(f"not autograded (see {r.worker_log})")
    worker_scores = dict(r.scores)
    try:
        saved = gradebook.merge_with_retries(cfg, cd, assignment, r.student, list(layout),
                                             os.path.join(workdir, "course") if r.graded else None)
    except Exception as exc:  # never lose the batch because of one student
        saved = gradebook.SavedGrades({}, None, None)
        r.status = "failed"
        r.problems.append(f"could not save grades: {type(exc).__name__}: {exc}")
    if r.graded:
        for gid, sc in worker_scores.items():
            if sc is not None and saved.scores.get(gid) is not None and abs(float(sc) - float(saved.scores[gid])) > 1e-9:
                r.problems.append("grader warning: %s scored %s in the worker, %s in the gradebook"
                                  % (gid, sc, saved.scores[gid]))
    r.mistakes = mistakes.student_mistakes(r.problems + r.flags, [m for m in r.mistakes if m.get("cell")])
    r.scores = saved.scores
    r.total = saved.total
    r.max_total = saved.max_total
    r.exercises = _exercise_points(r.scores, layout)
    record = r.to_dict()
    del record["log"]
    write_json(os.path.join(logs, r.student + ".json"), record)
    if r.log:
        with open(os.path.join(logs, r.student + ".nbgrader.log"), "w") as fh:
            fh.write(r.log)
