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
from typing import Any, Callable

from . import gradebook, mistakes, report, sandbox, scan, settings
from .config import course_config, coursedir_for, quiet_nbgrader, venv_on_path
from .files import write_json
from .pool import GradingPool, Limits, WorkerPool, feedback_in_processes
from .records import GradingRun, Problem, StudentResult, WorkerSpec

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
    kernel_preload: tuple[str, ...] = settings.KERNEL_PRELOAD.default  # (): no kernel zygote
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
                   progress=not args.quiet, scheduler=getattr(args, "scheduler", None),
                   kernel_preload=settings.KERNEL_PRELOAD.default if args.kernel_preload else ())


class GradeRunError(RuntimeError):
    """The grading run cannot go on (no gradebook, another run on the course, an unreachable
    Dask scheduler, a gradebook damaged after grading): ``python -m autograder`` says why.
    Not :class:`resnet_utils.grading.GradingError`, a check of a test cell that failed."""


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
        jobs, threads = _jobs_and_threads(opts, len(students))
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
            specs = SpecFiles(WorkerSpec(
                course_root=root, config_file=os.path.join(root, "nbgrader_config.py"), assignment=a,
                student="", workdir="", gradebook_template=template, result_path="", timeout=opts.timeout,
                memory_cap=opts.memory_cap, threads=threads, sandbox=opts.sandbox, landlock=opts.landlock,
                read_packages=list(opts.read_packages), extra_read_dirs=list(opts.extra_read_dirs) + data_read,
                kernel_env=kernel_env, mpl_cache=mpl_cache, max_output_bytes=opts.max_output_bytes,
                kernel_preload=list(opts.kernel_preload)),
                workdir_root=opts.workdir_root)

            # 3.-4. grade each student in a worker, merge each result as it comes
            results = {s: _no_submission(cd, s, a) for s in students if s not in everyone}
            progress = report.Progress(len(students), enabled=opts.progress)
            progress.update(done=len(results), running=0)
            save = partial(_save_student, cfg=cfg, cd=cd, assignment=a, layout=layout, root=root, logs=logs)
            _grade_and_merge(pool, [s for s in students if s not in results], specs, save, results, progress,
                             max_total, keep_workdirs=opts.keep_workdirs)

        # 5. feedback and grades.csv
        ordered = [results[s] for s in students]
        graded = [r.student for r in ordered if r.graded]
        if opts.feedback and graded:
            for s, err in feedback_in_processes(root, a, graded, jobs, state).items():
                if err:
                    results[s].problems.append(Problem("grader.other", f"no feedback: {err}"))
        if opts.export:
            gradebook.export_csv(cfg, cd, os.path.join(root, "grades.csv"))
        _check_integrity_after_grading(db, os.path.join(state, "gradebook.backup.db"))

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
def _jobs_and_threads(opts: Options, students: int) -> tuple[int, int | None]:
    """How many students at a time, and the TF/BLAS threads of each kernel (None: all)."""
    jobs = max(1, min(opts.jobs or os.cpu_count() or 1, students or 1))
    threads = opts.threads if opts.threads or opts.scheduler else (
        max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None)
    return jobs, threads


def _pool(opts: Options, jobs: int, logs: str, limits: Limits) -> GradingPool:
    """The local worker pool, or with ``opts.scheduler`` the Dask cluster (same interface)."""
    if not opts.scheduler:
        return WorkerPool(jobs, logs, limits, keep_workdirs=opts.keep_workdirs)
    from .integrations.cluster import DaskPool

    try:
        return DaskPool(opts.scheduler, logs, limits, keep_workdirs=opts.keep_workdirs)
    except RuntimeError as exc:
        raise GradeRunError(str(exc)) from exc


@dataclasses.dataclass
class SpecFiles:
    """Each student's temporary directory and spec file, made when the pool asks for them
    (:data:`autograder.pool.Prepare`): ``base`` is the spec of every student, whose
    ``student``, ``workdir`` and ``result_path`` :meth:`prepare` fills in."""

    base: WorkerSpec
    workdir_root: str | None = None  # where the temporary directories go (None: the system's)
    workdirs: dict[str, str] = dataclasses.field(default_factory=dict)  # student -> its directory

    def prepare(self, student: str) -> tuple[str, str]:
        """The student's new temporary directory and its ``spec.json``: ``(workdir, spec_path)``."""
        wd = tempfile.mkdtemp(prefix=f"ag-{student[:20]}-", dir=self.workdir_root or None)
        self.workdirs[student] = wd
        spec = dataclasses.replace(self.base, student=student, workdir=wd, result_path=os.path.join(wd, "result.json"))
        spec_path = os.path.join(wd, "spec.json")
        with open(spec_path, "w") as fh:
            json.dump(spec.to_dict(), fh)
        return wd, spec_path


def _no_submission(cd, student: str, assignment: str) -> StudentResult:
    """The result of a student asked for who has no submission."""
    where = os.path.join(cd.submitted_directory, student, assignment)
    missing = Problem("grader.no_submission", f"no submission found in {where}")
    return StudentResult(student, status="missing", problems=[missing])


def _grade_and_merge(pool: GradingPool, students: list[str], specs: SpecFiles,
                     save: Callable[..., None], results: dict[str, StudentResult], progress: report.Progress,
                     max_total: float, keep_workdirs: bool = False) -> None:
    """Grade ``students`` in the pool; save each result as it comes (``save(result,
    workdir=...)``: :func:`_save_student`) and add it to ``results``; Ctrl-C or SIGTERM stops
    everything (the pool kills every worker and kernel)."""
    failed = len(results)
    with _sigterm_as_keyboard_interrupt(), _closing_progress(progress):
        futures = [pool.submit(s, partial(specs.prepare, s)) for s in students]
        for future in as_completed(futures):
            r = future.result()
            save(r, workdir=specs.workdirs[r.student])
            if not keep_workdirs:
                shutil.rmtree(specs.workdirs[r.student], ignore_errors=True)
            results[r.student] = r
            failed += bool(r.problems or not r.graded)
            first = f"  ({r.problems[0].text[:70]})" if r.problems else ""
            progress.update(done=len(results), failed=failed, running=pool.running(),
                            note=f"{r.student}: {report.fmt_points(r.total)}/{report.fmt_points(max_total)}{first}")


def _check_integrity_after_grading(db: str, backup: str) -> None:
    """GradeRunError when the gradebook fails SQLite's integrity check (``backup``: the copy
    taken before the run)."""
    ok = gradebook.integrity(db)
    if ok != "ok":
        raise GradeRunError(f"gradebook.db integrity check failed after grading: {ok} (backup in {backup})")


def _checked_gradebook(cd, assignment: str) -> str:
    """The gradebook's file, once it is known to hold the assignment and to be sound."""
    from nbgrader.api import Gradebook, MissingEntry

    try:
        db = gradebook.sqlite_path(cd.db_url)
    except ValueError as exc:
        raise GradeRunError(str(exc))
    if not os.path.exists(db):
        raise GradeRunError(f"no gradebook at {db}: run `python -m autograder release` (nbgrader "
                            "generate_assignment) first")
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise GradeRunError(f"assignment {assignment!r} is not in the gradebook: run generate_assignment first")
    ok = gradebook.integrity(db)
    if ok != "ok":
        raise GradeRunError(f"gradebook.db fails SQLite's integrity check: {ok}")
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
        raise GradeRunError(f"another `autograder grade` is running on this course ({state})")
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


def _save_student(r: StudentResult, *, cfg, cd, assignment: str, layout: dict[str, Any], root: str, logs: str,
                  workdir: str) -> None:
    """One student's result as the worker left it -> into the gradebook, the report and the logs."""
    r.worker_log = os.path.relpath(r.worker_log, root)
    r.problems += _not_autograded(r)
    worker_scores = dict(r.scores)
    try:
        saved = gradebook.merge_with_retries(cfg, cd, assignment, r.student, list(layout),
                                             os.path.join(workdir, "course") if r.graded else None)
    except Exception as exc:  # never lose the batch because of one student
        saved = gradebook.SavedGrades({}, None, None)
        r.status = "failed"
        r.problems.append(Problem("grader.not_saved", f"could not save grades: {type(exc).__name__}: {exc}"))
    if r.graded:
        r.problems += _score_differences(worker_scores, saved.scores)
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


def _not_autograded(r: StudentResult) -> list[Problem]:
    """Why a submission that was not autograded was not, unless its problems already say it."""
    if r.graded:
        return []
    if r.error and not any(r.error in p.text for p in r.problems) and r.error not in ("no gradable notebook",
                                                                                     "unreadable notebook"):
        return [Problem("grader.not_autograded", f"not autograded: {r.error}")]
    if not r.problems:
        return [Problem("grader.not_autograded", f"not autograded (see {r.worker_log})")]
    return []


def _score_differences(worker: dict[str, float | None], saved: dict[str, float | None]) -> list[Problem]:
    """A warning per cell whose score in the gradebook is not the worker's (a manual grade kept ...)."""
    return [Problem("grader.score_differs", f"grader warning: {gid} scored {sc} in the worker, {saved[gid]} "
                                            "in the gradebook")
            for gid, sc in worker.items()
            if sc is not None and saved.get(gid) is not None and abs(float(sc) - float(saved[gid])) > 1e-9]
