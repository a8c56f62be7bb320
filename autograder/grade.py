"""Grade a whole class with nbgrader, several students at a time, safely.

``python -m autograder grade ASSIGNMENT [--jobs N] [--timeout S] [--student ID ...]``

How it works (see also :mod:`autograder.worker` and :mod:`autograder.sandbox`):

1. The gradebook is checked (``PRAGMA integrity_check``) and backed up to
   ``.autograder/gradebook.backup.db``; a *template* copy holding only the assignments'
   definitions (every student removed) is made once.
2. Each student is graded by nbgrader's own ``Autograde`` in a separate worker process
   (``python -m autograder.worker``) with its own temporary course directory and its own
   copy of the template gradebook, at most ``--jobs`` at a time.  The grading kernel runs
   in a sandbox (memory cap, Landlock, audit hook, no secrets in its environment, its own
   HOME/TMPDIR), with one TensorFlow/BLAS thread per job when jobs > 1.  The grader
   watches each worker: wall-clock limit, memory (RSS of the worker and its kernel) and
   disk use of its directory; a worker over a limit is killed with its kernel.
3. As each worker finishes, *this* process -- the only writer of ``gradebook.db`` --
   merges the result, one student at a time: it creates/updates the student and the
   submission (timestamp from ``timestamp.txt``, as nbgrader does), copies the autograded
   notebook into ``autograded/<student>/<assignment>/`` and saves its grades with
   nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties`` preprocessors (so the
   scores are exactly nbgrader's).  A submission that could not be autograded keeps no
   stale automatic scores: they are reset and flagged ``needs_manual_grade`` (manual
   grades are never touched).  Students not being graded are never touched.
4. ``generate_feedback`` (nbgrader, with :class:`autograder.feedback.StripHiddenTests`)
   for every autograded student, then ``grades.csv`` with nbgrader's CSV export.
5. A table: student, points per exercise, total, one line per problem found.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from . import report, scan
from .worker import cfg_get, load_config, venv_on_path

GiB = 1 << 30


@dataclasses.dataclass
class Options:
    assignment: str
    course_root: str = "."
    jobs: int = 0  # 0: number of cores
    timeout: int | None = None  # per cell; None: nbgrader's Execute.timeout
    students: list[str] | None = None
    memory_cap: int = 6 * GiB  # address-space cap of the grading kernel
    wall_limit: int = 1800  # seconds per student
    disk_cap: int = 2 * GiB  # bytes per student work directory
    sandbox: bool = True
    landlock: bool = True
    feedback: bool = True
    export: bool = True
    progress: bool = True
    keep_workdirs: bool = False
    read_packages: tuple[str, ...] = ("resnet_utils",)
    extra_read_dirs: tuple[str, ...] = ()
    max_output_bytes: int | None = None
    threads: int | None = None  # TF/BLAS threads per kernel; None: cores // jobs when jobs > 1
    workdir_root: str | None = None  # where the per-student temporary directories go
    prepare_data: bool = True  # build the course's dataset cache once, read-only for the kernels


class GradingError(RuntimeError):
    pass


# ------------------------------------------------------------------------------ setup
def course_config(root: str):
    cfg = load_config(os.path.join(root, "nbgrader_config.py"))
    cfg.CourseDirectory.root = root
    return cfg


def coursedir_for(cfg, root: str):
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory(config=cfg)
    cd.root = root
    return cd


def sqlite_path(db_url: str) -> str:
    if not db_url.startswith("sqlite:///"):
        raise GradingError("only SQLite gradebooks are supported (got %s)" % db_url)
    return db_url[len("sqlite:///"):]


def backup_db(src: str, dst: str) -> None:
    """Consistent copy of a SQLite database (the backup API, safe while others read/write)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".tmp"
    if os.path.exists(tmp):
        os.remove(tmp)
    s = sqlite3.connect(src)
    d = sqlite3.connect(tmp)
    try:
        with d:
            s.backup(d)
    finally:
        d.close()
        s.close()
    os.replace(tmp, dst)


def integrity(path: str) -> str:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def make_template(main_db: str, dst: str) -> None:
    """A copy of the gradebook with the assignment definitions and no student at all."""
    from nbgrader.api import Gradebook

    backup_db(main_db, dst)
    with Gradebook("sqlite:///" + dst) as gb:
        for st in list(gb.students):
            gb.remove_student(st.id)
    con = sqlite3.connect(dst)
    try:
        con.execute("VACUUM")
    finally:
        con.close()


def find_students(cd, assignment: str) -> list[str]:
    base = os.path.join(cd.root, cd.submitted_directory)
    out = []
    if os.path.isdir(base):
        for s in sorted(os.listdir(base)):
            if os.path.isdir(os.path.join(base, s, assignment)) and not s.startswith("."):
                out.append(s)
    return out


# ---------------------------------------------------------------------------- workers
class Worker:
    """A grading worker process (``python -m autograder.worker --serve``): it grades the
    students it is given one after the other (each in its own directory, with its own
    kernel); the grader kills and replaces it when a student goes over a limit."""

    def __init__(self, index: int, log_path: str):
        self.index = index
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen([sys.executable, "-m", "autograder.worker", "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True)
        self.tail: collections.deque[bytes] = collections.deque(maxlen=200)
        self.log_path = log_path
        self.pids: dict[int, float] = {}  # pid -> create_time of every process seen in the tree
        self.student: str | None = None
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def assign(self, student: str, workdir: str, spec_path: str) -> None:
        self.student = student
        self.workdir = workdir
        self.result_path = os.path.join(workdir, "result.json")
        self.t0 = time.time()
        self.peak_rss = 0
        self.peak_vms = 0  # largest address space of a process under the worker (the kernel)
        self.killed: str | None = None
        self._last_disk = 0.0
        self.proc.stdin.write((spec_path + "\n").encode())
        self.proc.stdin.flush()

    def finished(self) -> bool:
        return self.student is not None and os.path.exists(self.result_path)

    def _drain(self) -> None:
        """Keep the worker's (and its kernels') output tail, and at most 4 MB of it on disk."""
        written = 0
        cap = 4 << 20
        with open(self.log_path, "ab") as fh:
            while True:
                chunk = self.proc.stdout.read1(65536)
                if not chunk:
                    break
                self.tail.append(chunk[-4096:])
                if written < cap:
                    fh.write(chunk[: cap - written])
                    fh.flush()
                    written += len(chunk)
                    if written >= cap:
                        fh.write(b"\n[autograder] log truncated\n")

    def tree(self):
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            procs = [root] + root.children(recursive=True)
        except psutil.Error:
            procs = []
        for p in procs:
            try:
                self.pids.setdefault(p.pid, p.create_time())
            except psutil.Error:
                pass
        return procs

    def kill_tree(self) -> None:
        import psutil

        self.tree()
        for pid, ctime in list(self.pids.items()):
            try:
                p = psutil.Process(pid)
                if abs(p.create_time() - ctime) < 1e-3:
                    p.kill()
            except psutil.Error:
                pass
        try:
            self.proc.kill()
        except OSError:
            pass

    def reap_kernels(self) -> None:
        """Kill what is left below the worker (a kernel the last student left behind)."""
        import psutil

        try:
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                p.kill()
        except psutil.Error:
            pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            self.proc.wait()
        self.reader.join(timeout=5)


def dir_size(path: str) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


# ----------------------------------------------------------------------------- merging
def merge_student(cfg, cd, assignment: str, student: str, result: dict[str, Any], layout: dict[str, Any],
                  worker_root: str | None) -> dict[str, float | None]:
    """Write one student's result into the real gradebook (the only place that writes it)."""
    from nbformat import read as nbread

    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    db_url = cd.db_url
    sub_dir = cd.format_path(cd.submitted_directory, student, assignment)
    ts = cd.get_existing_timestamp(sub_dir)
    with Gradebook(db_url, cd.course_id) as gb:
        gb.update_or_create_student(student)
        if ts:
            gb.update_or_create_submission(assignment, student, timestamp=ts)
        else:
            gb.update_or_create_submission(assignment, student)

    dest = cd.format_path(cd.autograded_directory, student, assignment)
    graded = result.get("status") == "graded" and worker_root is not None
    src = os.path.join(worker_root, cd.autograded_directory, student, assignment) if worker_root else None
    if graded and not (src and os.path.isdir(src)):
        graded = False
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    if graded:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = dest + ".incoming"
        if os.path.exists(tmp):
            shutil.rmtree(tmp)
        shutil.copytree(src, tmp, symlinks=False)
        os.replace(tmp, dest)
        for nb_name in layout:
            path = os.path.join(dest, nb_name + ".ipynb")
            if os.path.exists(path):
                nb = nbread(path, as_version=4)
                resources = {"nbgrader": {"notebook": nb_name, "assignment": assignment, "student": student,
                                          "db_url": db_url}}
                for pp_cls in (SaveAutoGrades, AssignLatePenalties):
                    pp = pp_cls(config=cfg)
                    nb, resources = pp.preprocess(nb, resources)
            elif not os.path.exists(os.path.join(sub_dir, nb_name + ".ipynb")):
                # nbgrader: a notebook that was not submitted scores zero
                with Gradebook(db_url) as gb:
                    snb = gb.find_submission_notebook(nb_name, assignment, student)
                    for g in snb.grades:
                        g.auto_score = 0
                        g.needs_manual_grade = False
                    gb.db.commit()
    else:
        # could not be autograded: no stale automatic scores; a human has to look at it
        with Gradebook(db_url) as gb:
            for nb_name in layout:
                snb = gb.find_submission_notebook(nb_name, assignment, student)
                for g in snb.grades:
                    g.auto_score = None
                    g.needs_manual_grade = True
                for c in snb.comments:
                    c.auto_comment = None
                snb.late_submission_penalty = None
            gb.db.commit()
    # what the gradebook now says
    scores: dict[str, float | None] = {}
    with Gradebook(db_url) as gb:
        sub = gb.find_submission(assignment, student)
        for snb in sub.notebooks:
            for g in snb.grades:
                scores[g.cell.name] = g.score
        scores["__total__"] = sub.score
        scores["__max__"] = sub.max_score
    return scores


def merge_with_retries(*args, attempts: int = 5) -> dict[str, float | None]:
    """:func:`merge_student`, retried while another program (formgrader ...) locks the database."""
    import sqlalchemy.exc

    for i in range(attempts):
        try:
            return merge_student(*args)
        except sqlalchemy.exc.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(1.0 + i)
    raise RuntimeError("unreachable")


# ---------------------------------------------------------------------------- feedback
def generate_feedback(cfg, root: str, assignment: str, students: list[str]) -> dict[str, str | None]:
    """nbgrader generate_feedback for each student, with hidden tests stripped."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log

    from .feedback import feedback_preprocessors

    fcfg = copy.deepcopy(cfg)
    fcfg.GenerateFeedback.preprocessors = feedback_preprocessors(cfg_get(cfg, "GenerateFeedback", "preprocessors"))
    errors: dict[str, str | None] = {}
    for s in students:
        cd = coursedir_for(fcfg, root)
        cd.assignment_id = assignment
        cd.student_id = s
        app = GenerateFeedback(coursedir=cd, config=fcfg)
        app.force = True
        out = capture_log(app)
        errors[s] = None if out.get("success") else (out.get("error") or "failed").strip().splitlines()[-1][:200]
    return errors


def export_csv(cfg, cd, path: str) -> None:
    """nbgrader's CSV export (the ``nbgrader export`` plugin) to ``path``."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    plugin = CsvExportPlugin(config=cfg)
    plugin.to = path
    with Gradebook(cd.db_url, cd.course_id) as gb:
        plugin.export(gb)


# -------------------------------------------------------------------------------- main
def prepare_mpl_cache(state: str) -> str | None:
    """Build matplotlib's font cache once; each kernel gets a copy instead of rebuilding it."""
    d = os.path.join(state, "mplcache")
    os.makedirs(d, exist_ok=True)
    if any(f.startswith("fontlist") for f in os.listdir(d)):
        return d
    try:
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], capture_output=True, timeout=300,
                       env=dict(os.environ, MPLCONFIGDIR=d, MPLBACKEND="agg"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return d if any(f.startswith("fontlist") for f in os.listdir(d)) else None


def parallel_feedback(root: str, assignment: str, students: list[str], jobs: int, state: str) -> dict[str, str | None]:
    """generate_feedback in ``jobs`` processes at once (they only read the gradebook)."""
    if not students:
        return {}
    chunks = [students[i::jobs] for i in range(max(1, min(jobs, len(students))))]
    procs = []
    for i, chunk in enumerate(chunks):
        out = os.path.join(state, "feedback-%d.json" % i)
        if os.path.exists(out):
            os.remove(out)
        p = subprocess.Popen([sys.executable, "-m", "autograder.worker", "--feedback", root, assignment, out] + chunk,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append((p, out, chunk))
    errors: dict[str, str | None] = {}
    for p, out, chunk in procs:
        _, err = p.communicate()
        try:
            with open(out) as fh:
                errors.update(json.load(fh))
        except (OSError, ValueError):
            tail = (err or b"").decode("utf-8", "replace").strip().splitlines()
            for s in chunk:
                errors[s] = "feedback process failed: %s" % (tail[-1][:150] if tail else p.returncode)
    return errors


def prepare_course_data(opts: Options) -> tuple[list[str], dict[str, str], str | None]:
    """The course's data folder (resnet_utils' dataset cache), filled once here so that the
    kernels only read it: (extra read dirs, kernel environment, problem or None)."""
    from .sandbox import package_dir

    if "resnet_utils" not in opts.read_packages:
        return [], {}, None
    pkg = package_dir("resnet_utils")
    if not pkg:
        return [], {}, None
    data_dir = os.environ.get("RESNET_DATA_DIR") or os.path.join(os.path.dirname(pkg), "datasets")
    data_dir = os.path.realpath(data_dir)
    problem = None
    if opts.prepare_data:
        code = ("import warnings; warnings.simplefilter('ignore')\n"
                "from resnet_utils import data\n"
                "data.load_dataset(%r)\n" % data_dir)
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
            if proc.returncode != 0:
                problem = "could not prepare the dataset cache in %s: %s" % (
                    data_dir, (proc.stderr.strip().splitlines() or ["?"])[-1][:200])
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = "could not prepare the dataset cache in %s: %s" % (data_dir, exc)
    if not os.path.isdir(data_dir):
        return [], {}, problem
    return [data_dir], {"RESNET_DATA_DIR": data_dir}, problem


def _worker_spec(opts: Options, root: str, student: str, workdir: str, template: str, threads: int | None,
                 extra_read: list[str] = (), kernel_env: dict | None = None, mpl_cache: str | None = None) -> dict:
    return {
        "mpl_cache": mpl_cache,
        "kernel_env": kernel_env or {},
        "course_root": root, "config_file": os.path.join(root, "nbgrader_config.py"),
        "assignment": opts.assignment, "student": student, "workdir": workdir,
        "gradebook_template": template, "timeout": opts.timeout, "memory_cap": opts.memory_cap,
        "threads": threads, "sandbox": opts.sandbox, "landlock": opts.landlock,
        "read_packages": list(opts.read_packages), "extra_read_dirs": list(opts.extra_read_dirs) + list(extra_read),
        "max_output_bytes": opts.max_output_bytes, "result_path": os.path.join(workdir, "result.json"),
    }


def _exercise_points(scores: dict[str, float | None], layout: dict[str, Any]) -> dict[str, float]:
    ex: dict[str, float] = {}
    for nb in layout.values():
        for gid, e in nb["exercise"].items():
            ex[e] = ex.get(e, 0.0) + float(scores.get(gid) or 0.0)
    return ex


def grade(opts: Options) -> dict[str, Any]:
    """Grade the class; return {"results": [...], "exercises": [...], ...} (also written to
    ``.autograder/<assignment>-results.json``)."""
    from nbgrader.api import Gradebook, MissingEntry

    import warnings

    warnings.filterwarnings("ignore", message=".*not in session.*")  # nbgrader's own SQLAlchemy noise
    t_start = time.time()
    venv_on_path()
    root = os.path.realpath(opts.course_root)
    cfg = course_config(root)
    cd = coursedir_for(cfg, root)
    a = opts.assignment
    db = sqlite_path(cd.db_url)
    if not os.path.exists(db):
        raise GradingError("no gradebook at %s: run `python -m autograder release` (nbgrader "
                           "generate_assignment) first" % db)
    with Gradebook(cd.db_url, cd.course_id) as gb:
        try:
            gb.find_assignment(a)
        except MissingEntry:
            raise GradingError("assignment %r is not in the gradebook: run generate_assignment first" % a)
    ok = integrity(db)
    if ok != "ok":
        raise GradingError("gradebook.db fails SQLite's integrity check: %s" % ok)

    state = os.path.join(root, ".autograder")
    logs = os.path.join(state, "logs", a)
    os.makedirs(logs, exist_ok=True)
    import fcntl

    lock = open(os.path.join(state, "grade.lock"), "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        raise GradingError("another `autograder grade` is running on this course (%s)" % state)
    try:
        return _grade_locked(opts, root, cfg, cd, a, db, state, logs, t_start)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()


def _grade_locked(opts: Options, root: str, cfg, cd, a: str, db: str, state: str, logs: str,
                  t_start: float) -> dict[str, Any]:
    backup_db(db, os.path.join(state, "gradebook.backup.db"))
    template = os.path.join(state, "template-%s.db" % a)
    make_template(db, template)
    layout = scan.gradebook_layout("sqlite:///" + template, a)

    data_read, kernel_env, data_problem = prepare_course_data(opts)
    mpl_cache = prepare_mpl_cache(state)
    if data_problem and opts.progress:
        print("warning: " + data_problem, file=sys.stderr)

    everyone = find_students(cd, a)
    if opts.students:
        students = list(dict.fromkeys(opts.students))
    else:
        students = everyone
    jobs = opts.jobs or os.cpu_count() or 1
    jobs = max(1, min(jobs, len(students) or 1))
    threads = opts.threads if opts.threads else (max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None)

    exercises: list[str] = []
    max_points: dict[str, float] = {}
    for nb in layout.values():
        for gid, e in nb["exercise"].items():
            if e not in exercises:
                exercises.append(e)
            max_points[e] = max_points.get(e, 0.0) + nb["grade"][gid]
    max_total = sum(max_points.values())

    results: dict[str, dict[str, Any]] = {}
    queue = collections.deque()
    for s in students:
        if s not in everyone:
            results[s] = {"student": s, "status": "missing", "problems": ["no submission found in %s" % os.path.join(
                cd.submitted_directory, s, a)], "flags": []}
        else:
            queue.append(s)
    progress = report.Progress(len(students), enabled=opts.progress)
    progress.update(done=len(results), running=0)
    workers: list[Worker] = []
    n_workers = 0
    wroot = opts.workdir_root or None
    done = len(results)
    failed = sum(1 for r in results.values() if r.get("problems"))
    last_watch = 0.0

    def finish(w: Worker) -> None:
        nonlocal done, failed
        result: dict[str, Any]
        log_rel = os.path.relpath(w.log_path, root)
        if w.killed:
            result = {"student": w.student, "status": "failed", "problems": [w.killed], "flags": []}
        elif os.path.exists(w.result_path):
            with open(w.result_path) as fh:
                result = json.load(fh)
        else:
            time.sleep(0.5)
            tail = b"".join(w.tail)[-600:].decode("utf-8", "replace").strip().splitlines()
            result = {"student": w.student, "status": "failed", "flags": [],
                      "problems": ["grading worker crashed (exit code %s)%s" % (
                          w.proc.returncode, (": " + tail[-1][:150]) if tail else "")]}
        result.setdefault("problems", [])
        result.setdefault("flags", [])
        if result.get("status") != "graded" and result.get("error"):
            err = result["error"]
            if not any(err in p for p in result["problems"]) and err not in ("no gradable notebook",
                                                                            "unreadable notebook"):
                result["problems"].append("not autograded: %s" % err)
        if result.get("status") != "graded" and not result["problems"]:
            result["problems"].append("not autograded (see %s)" % log_rel)
        result["peak_rss"] = w.peak_rss
        result["peak_kernel_vms"] = w.peak_vms
        result["elapsed"] = round(time.time() - w.t0, 1)
        worker_scores = dict(result.get("scores") or {})
        try:
            scores = merge_with_retries(cfg, cd, a, w.student, result, layout,
                                        os.path.join(w.workdir, "course") if not w.killed else None)
        except Exception as exc:  # never lose the batch because of one student
            scores = {}
            result["status"] = "failed"
            result["problems"].append("could not save grades: %s: %s" % (type(exc).__name__, exc))
        if result.get("status") == "graded":
            for gid, sc in worker_scores.items():
                if sc is not None and scores.get(gid) is not None and abs(float(sc) - float(scores[gid])) > 1e-9:
                    result["problems"].append("grader warning: %s scored %s in the worker, %s in the gradebook"
                                              % (gid, sc, scores[gid]))
        result["scores"] = {k: v for k, v in scores.items() if not k.startswith("__")}
        result["total"] = scores.get("__total__")
        result["max_total"] = scores.get("__max__")
        result["exercises"] = _exercise_points(result["scores"], layout)
        result["worker_log"] = log_rel
        results[w.student] = result
        with open(os.path.join(logs, w.student + ".json"), "w") as fh:
            json.dump({k: v for k, v in result.items() if k != "log"}, fh, indent=1, default=str)
        if result.get("log"):
            with open(os.path.join(logs, w.student + ".nbgrader.log"), "w") as fh:
                fh.write(result["log"])
        if not opts.keep_workdirs:
            shutil.rmtree(w.workdir, ignore_errors=True)
        done += 1
        if result.get("problems") or result.get("status") != "graded":
            failed += 1
        student = w.student
        w.student = None
        progress.update(done=done, failed=failed, running=sum(1 for x in workers if x.student),
                        note="%s: %s/%s%s" % (student, report._fmt(result.get("total")), report._fmt(max_total),
                                              "" if not result["problems"] else "  (%s)" % result["problems"][0][:70]))

    old_sigterm = signal.getsignal(signal.SIGTERM)

    def _term(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except ValueError:
        pass
    try:
        while queue or any(w.student for w in workers):
            # start workers as needed, give idle ones the next student
            while queue and len(workers) < jobs:
                n_workers += 1
                workers.append(Worker(n_workers, os.path.join(logs, "worker-%d.log" % n_workers)))
            for w in [w for w in workers if w.student is None and w.proc.poll() is not None]:
                workers.remove(w)  # an idle worker that exited: replaced on the next round
            for w in workers:
                if queue and w.student is None:
                    s = queue.popleft()
                    wd = tempfile.mkdtemp(prefix="ag-%s-" % s[:20], dir=wroot)
                    spec = _worker_spec(opts, root, s, wd, template, threads, data_read, kernel_env, mpl_cache)
                    spec_path = os.path.join(wd, "spec.json")
                    with open(spec_path, "w") as fh:
                        json.dump(spec, fh)
                    w.assign(s, wd, spec_path)
                    progress.update(running=sum(1 for x in workers if x.student))
            time.sleep(0.2)
            now = time.time()
            watch = now - last_watch >= 1.0
            if watch:
                last_watch = now
            for w in list(workers):
                if w.student is None:
                    continue
                if w.finished():
                    w.reap_kernels()
                    finish(w)
                    continue
                if w.proc.poll() is not None:  # the worker died
                    w.kill_tree()
                    workers.remove(w)
                    finish(w)
                    continue
                if not watch:
                    continue
                rss = 0
                for p in w.tree():
                    try:
                        mi = p.memory_info()
                        rss += mi.rss
                        if p.pid != w.proc.pid:
                            w.peak_vms = max(w.peak_vms, mi.vms)
                    except Exception:
                        pass
                w.peak_rss = max(w.peak_rss, rss)
                if now - w.t0 > opts.wall_limit:
                    w.killed = "wall-clock limit hit: stopped after %d s" % opts.wall_limit
                elif opts.memory_cap and rss > opts.memory_cap + GiB:
                    w.killed = "memory cap hit: %s in use (cap %s); stopped" % (
                        report.human_bytes(rss), report.human_bytes(opts.memory_cap))
                elif now - w._last_disk > 5:
                    w._last_disk = now
                    size = dir_size(w.workdir)
                    if size > opts.disk_cap:
                        w.killed = "disk cap hit: %s written (cap %s); stopped" % (
                            report.human_bytes(size), report.human_bytes(opts.disk_cap))
                if w.killed:
                    w.kill_tree()
                    w.proc.wait()
                    workers.remove(w)
                    finish(w)
        for w in workers:
            w.close()
    except KeyboardInterrupt:
        for w in workers:
            w.kill_tree()
            if not opts.keep_workdirs and w.student:
                shutil.rmtree(w.workdir, ignore_errors=True)
        progress.close()
        raise
    finally:
        try:
            signal.signal(signal.SIGTERM, old_sigterm)
        except (ValueError, TypeError):
            pass
    progress.close()

    ordered = [results[s] for s in students]
    graded = [r["student"] for r in ordered if r.get("status") == "graded"]
    if opts.feedback and graded:
        fb = parallel_feedback(root, a, graded, jobs, state)
        for s, err in fb.items():
            if err:
                results[s]["problems"].append("no feedback: %s" % err)
    if opts.export:
        export_csv(cfg, cd, os.path.join(root, "grades.csv"))
    ok = integrity(db)
    if ok != "ok":
        raise GradingError("gradebook.db integrity check failed after grading: %s (backup in %s)"
                           % (ok, os.path.join(state, "gradebook.backup.db")))
    out = {"assignment": a, "exercises": exercises, "max_points": max_points, "max_total": max_total,
           "results": ordered, "wall": round(time.time() - t_start, 1), "jobs": jobs, "threads": threads}
    with open(os.path.join(state, "%s-results.json" % a), "w") as fh:
        json.dump(out, fh, indent=1, default=str)
    return out


def format_report(out: dict[str, Any]) -> str:
    return report.table(out["results"], out["exercises"], out["max_points"], out["max_total"]) + "\n\n" + \
        report.summary(out["results"], out["wall"], out["jobs"])


def grade_assignment(assignment: str, course_root: str = ".", jobs: int | None = None,
                     students: list[str] | None = None, **options) -> dict[str, Any]:
    """Python entry point: ``grade(Options(...))`` with keyword options (see :class:`Options`)."""
    opts = Options(assignment=assignment, course_root=str(course_root), jobs=jobs or 0,
                   students=list(students) if students else None, **options)
    return grade(opts)
