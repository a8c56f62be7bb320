"""Grading on a Dask distributed cluster: ``python -m autograder grade ASSIGNMENT --scheduler ADDRESS``.

:class:`DaskPool` has the interface of :class:`autograder.pool.WorkerPool`
(:class:`autograder.pool.GradingPool`: ``submit``, ``running``, a context manager), so
:func:`autograder.grade.grade` runs the same steps with either.  Each student is one Dask task:

1. on the instructor's machine, the student's files are packed (:func:`pack`): the
   course's ``nbgrader_config.py``, the gradebook template (the assignment's definition,
   no student and no grade), the assignment's non-notebook source files and the
   submission (copied with the worker's own rules first: no symlinks or special files,
   at most ``max_submission_bytes``);
2. on a Dask worker, :func:`grade_on_worker` unpacks them into a temporary course and
   grades the student exactly as on one machine: a :class:`~autograder.pool.WorkerPool`
   of one (the same wall-clock, memory and disk limits, the kernel's process tree killed
   when over them) running :mod:`autograder.worker` (the same sandbox); the dataset cache
   and the matplotlib font cache are prepared once per Dask worker process;
3. the task returns the :class:`~autograder.records.StudentResult`, the worker's log and
   the autograded notebook; the instructor's machine unpacks them into the student's local
   work directory and :func:`autograder.grade.grade` merges the grades into the gradebook
   there -- the only writer of ``gradebook.db``, as with the local pool.

The Dask workers need the course's Python environment (the same packages, ``autograder``
and ``resnet_utils`` importable); they need no shared file system. Results never depend
on where a student was graded.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tarfile
import tempfile
import threading
import time
import uuid
from concurrent.futures import Future
from ..pool import Limits, Prepare, WorkerPool
from ..records import Problem, StudentResult, WorkerSpec

BUNDLE_VERSION = 1


# ------------------------------------------------------------------ instructor's side
def _tar(members: list[tuple[str, str]]) -> bytes:
    """A gzip'ed tar of ``[(path on disk, name in the archive)]`` (files or folders)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, name in members:
            if os.path.exists(path):
                tar.add(path, arcname=name)
    return buf.getvalue()


def _untar(data: bytes, dest: str) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")  # no absolute paths, links out or special files


def pack(spec: WorkerSpec) -> tuple[dict, list[Problem]]:
    """The task's input for ``spec`` (a local worker spec): ``(bundle, problems)``."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    from ..config import load_config
    from ..worker import copy_submission

    cfg = load_config(spec.config_file)
    cd = CourseDirectory(config=cfg)
    cd.root = spec.course_root
    a, s = spec.assignment, spec.student
    staging = tempfile.mkdtemp(prefix="ag-pack-", dir=spec.workdir)
    try:
        sub = os.path.join(staging, "submission")
        problems = copy_submission(cd.format_path(cd.submitted_directory, s, a), sub, spec.max_submission_bytes)
        src = cd.format_path(cd.source_directory, ".", a)
        members = [(spec.config_file, "nbgrader_config.py"), (spec.gradebook_template, "template.db"),
                   (sub, "submission")]
        if os.path.isdir(src):
            members += [(f, os.path.join("source", os.path.relpath(f, src)))
                        for f in find_all_files(src, list(cd.ignore) + ["*.ipynb"])]
        data = _tar(members)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    fields = spec.to_dict()
    for local in ("course_root", "config_file", "workdir", "gradebook_template", "result_path", "extra_read_dirs",
                  "kernel_env", "mpl_cache"):
        fields.pop(local)
    return {"version": BUNDLE_VERSION, "spec": fields, "files": data}, problems


def unpack_result(out: dict, workdir: str, log_path: str) -> StudentResult:
    """The task's output into the student's local work directory (``course/autograded/...``,
    where :func:`autograder.gradebook.merge_with_retries` reads it) and the worker's log
    into ``log_path`` -> the result."""
    result = StudentResult.from_dict(out["result"])
    if out.get("autograded"):
        _untar(out["autograded"], os.path.join(workdir, "course"))
    with open(log_path, "w") as fh:
        fh.write(f"graded on the Dask worker {out.get('host', '?')}\n")
        fh.write(out.get("log", ""))
    result.worker_log = log_path
    return result


# ---------------------------------------------------------------------- worker's side
@functools.cache
def _shared(read_packages: tuple[str, ...]) -> tuple[list[str], dict[str, str], str | None]:
    """What every kernel of this Dask worker process reads: dataset cache, font cache."""
    from .. import sandbox

    data_read, kernel_env, _ = sandbox.course_data(read_packages)
    state = tempfile.mkdtemp(prefix="autograder-dask-")
    return data_read, kernel_env, sandbox.mpl_cache(state)


def grade_on_worker(bundle: dict, limits: dict) -> dict:
    """Grade one student from :func:`pack`'s bundle on this machine (a Dask task)."""
    import socket

    from nbgrader.coursedir import CourseDirectory

    from ..config import load_config

    if bundle.get("version") != BUNDLE_VERSION:
        raise RuntimeError("this Dask worker runs another version of the autograder "
                           f"(bundle {bundle.get('version')}, expected {BUNDLE_VERSION})")
    fields = dict(bundle["spec"])
    a, s = fields["assignment"], fields["student"]
    tmp = tempfile.mkdtemp(prefix=f"ag-dask-{s[:20]}-")
    try:
        inbox = os.path.join(tmp, "inbox")
        _untar(bundle["files"], inbox)
        root = os.path.join(tmp, "course")
        config_file = os.path.join(root, "nbgrader_config.py")
        os.makedirs(root)
        shutil.copyfile(os.path.join(inbox, "nbgrader_config.py"), config_file)
        cd = CourseDirectory(config=load_config(config_file))
        cd.root = root
        if os.path.isdir(os.path.join(inbox, "source")):
            shutil.copytree(os.path.join(inbox, "source"), cd.format_path(cd.source_directory, ".", a))
        shutil.copytree(os.path.join(inbox, "submission"), cd.format_path(cd.submitted_directory, s, a))
        data_read, kernel_env, mpl = _shared(tuple(fields.get("read_packages") or ()))
        work = os.path.join(tmp, "work")
        os.makedirs(work)
        spec = WorkerSpec.from_dict(dict(
            fields, course_root=root, config_file=config_file, workdir=work,
            gradebook_template=os.path.join(inbox, "template.db"), result_path=os.path.join(work, "result.json"),
            extra_read_dirs=data_read, kernel_env=kernel_env, mpl_cache=mpl,
            kernel_preload=[]))  # a pool of one per task: a zygote would import as much as it saves
        spec_path = os.path.join(tmp, "spec.json")
        with open(spec_path, "w") as fh:
            json.dump(spec.to_dict(), fh)
        logs = os.path.join(tmp, "logs")
        os.makedirs(logs)
        with WorkerPool(1, logs, Limits(**limits)) as pool:
            result = pool.submit(s, lambda: (work, spec_path)).result()
        autograded = os.path.join(work, "course", "autograded", s)
        log = ""
        if result.worker_log and os.path.exists(result.worker_log):
            with open(result.worker_log, errors="replace") as fh:
                log = fh.read()[-200_000:]
        return {"result": result.to_dict(), "log": log, "host": socket.gethostname(),
                "autograded": _tar([(autograded, os.path.join("autograded", s))]) if os.path.isdir(autograded) else None}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ------------------------------------------------------------------------- the pool
class DaskPool:
    """Students graded as tasks on a Dask cluster (a :class:`autograder.pool.GradingPool`, as
    :class:`~autograder.pool.WorkerPool` is)."""

    def __init__(self, address: str, log_dir: str, limits: Limits, keep_workdirs: bool = False,
                 connect_timeout: float = 30):
        try:
            from distributed import Client
        except ImportError as exc:
            raise RuntimeError("--scheduler needs Dask's distributed package: pip install distributed") from exc
        try:
            self.client = Client(address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise RuntimeError(f"cannot reach the Dask scheduler at {address}: {exc}") from exc
        self.log_dir = log_dir
        self.limits = limits
        self._lock = threading.Lock()
        self._running: set[str] = set()
        self._futures: list = []

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.client.cancel(self._futures)
        self.client.close()

    def workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def submit(self, student: str, prepare: Prepare) -> Future[StudentResult]:
        done: Future[StudentResult] = Future()
        t0 = time.time()
        workdir, spec_path = prepare()
        with open(spec_path) as fh:
            spec = WorkerSpec.from_dict(json.load(fh))
        bundle, problems = pack(spec)
        limits = {"wall_limit": self.limits.wall_limit, "memory_cap": self.limits.memory_cap,
                  "disk_cap": self.limits.disk_cap}
        fut = self.client.submit(grade_on_worker, bundle, limits, key=f"autograde-{student}-{uuid.uuid4().hex[:8]}",
                                 pure=False, retries=0)
        self._futures.append(fut)
        with self._lock:
            self._running.add(student)

        log_path = os.path.join(self.log_dir, f"dask-{student}.log")

        def finished(f):
            try:
                result = unpack_result(f.result(), workdir, log_path)
            except BaseException as exc:  # the task failed: reported, the batch goes on
                why = f"grading task failed on the Dask cluster: {type(exc).__name__}: {str(exc)[:200]}"
                result = StudentResult(student, status="failed", problems=[Problem("grader.crashed", why)])
                result.worker_log = log_path
                result.elapsed = round(time.time() - t0, 1)  # queueing included: no better measure
            copied = {p.text for p in problems}  # what pack() dropped, said once
            result.problems = problems + [p for p in result.problems if p.text not in copied]
            with self._lock:
                self._running.discard(student)
            done.set_result(result)

        fut.add_done_callback(finished)
        return done

    def running(self) -> int:
        with self._lock:
            return len(self._running)
