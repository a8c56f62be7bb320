"""The worker processes: several students graded at a time, each watched and stoppable.

:class:`WorkerPool` runs ``jobs`` students at once.  Each student is graded by a worker
process (``python -m autograder.worker --serve``, :mod:`autograder.worker`) whose nbgrader
starts the student's kernel below it (forked from the worker's kernel zygote, or on its own).  While it runs, the pool watches the worker and
everything below it: wall-clock time, memory (RSS of the worker and its kernel; the worker's
kernel zygote, :mod:`autograder.sandbox.zygote`, is nobody's and not counted) and the
disk use of the student's directory; a worker over a limit is killed together with its
whole process tree (kernel included) and the student is reported with the reason.  Each
worker's output (and its kernels') goes to ``worker-N.log``.

Executor: a standard :class:`concurrent.futures.ThreadPoolExecutor` with ``jobs``
threads schedules the students; each thread drives one worker process, which grades that
thread's students one after the other and is replaced when it is killed or dies.

- Not a ``ProcessPoolExecutor``: killing one of its processes (a student over a limit)
  breaks the whole pool (``BrokenProcessPool`` fails every pending student), it knows
  nothing of the kernel, a grandchild that must die too, and it gives no per-worker log.
- Not one fresh process per student: a new Python that imports nbgrader would add a
  noticeable part of the time one student takes (``bench/results/grading.json`` has the
  measured time per student).  The worker resets what one student could leave for the
  next (environment, working directory, temporary directory, the sandbox's event list) and
  kills any kernel left over (:meth:`WorkerProcess.reap_kernels`); student code itself only
  ever runs in the kernel.

:func:`feedback_in_processes` runs nbgrader's ``generate_feedback`` in a few processes
at once (they only read the gradebook).

:class:`GradingPool` is what :func:`autograder.grade.grade` uses of a pool: this module's
:class:`WorkerPool` and the Dask cluster's :class:`autograder.integrations.cluster.DaskPool`
both have it.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Protocol

from .records import Problem, StudentResult
from .sandbox.zygote import home_prefix, is_zygote
from .report import human_bytes
from .settings import GiB

#: called by a pool when a student's turn comes: makes the student's temporary directory and
#: spec file (:class:`~autograder.records.WorkerSpec`), returns ``(workdir, spec_path)``
Prepare = Callable[[], tuple[str, str]]


class GradingPool(Protocol):
    """What :func:`autograder.grade.grade` uses of a pool of graders (:class:`WorkerPool`,
    :class:`autograder.integrations.cluster.DaskPool`).

    A context manager: leaving it normally waits for every student, leaving it on an
    exception (Ctrl-C, SIGTERM) stops grading now."""

    def __enter__(self) -> GradingPool: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...

    def submit(self, student: str, prepare: Prepare) -> Future[StudentResult]:
        """Grade ``student``: a future of the :class:`~autograder.records.StudentResult` as its
        grader left it, plus what the pool measured (elapsed time, peak memory, the log)."""
        ...

    def running(self) -> int:
        """How many students are being graded now."""
        ...


@dataclass(frozen=True)
class Limits:
    """Per-student limits; a worker over one is killed with its kernel."""

    wall_limit: int  # seconds
    memory_cap: int  # bytes of RSS of the worker and its kernel, beyond one GiB of slack (0: none)
    disk_cap: int  # bytes written in the student's directory


class WorkerProcess:
    """A grading worker process (``python -m autograder.worker --serve``): it grades the
    students it is given one after the other (each in its own directory, with its own
    kernel); the pool kills and replaces it when a student goes over a limit."""

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
        self.last_disk_check = 0.0
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
        """The worker and every process below it (remembered, to kill them later)."""
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
        """Kill the worker and every process ever seen below it (not a recycled pid)."""
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
        for home in glob.glob(os.path.join(tempfile.gettempdir(), glob.escape(home_prefix(self.proc.pid)) + "*")):
            shutil.rmtree(home, ignore_errors=True)  # the killed worker's zygote folder

    def is_zygote(self, p) -> bool:
        """Whether ``p`` (a psutil process of :meth:`tree`) is the worker's kernel zygote
        (:mod:`autograder.sandbox.zygote`): no student's, it stays between students and is not
        counted in their memory (each kernel forked from it is)."""
        try:
            return p.ppid() == self.proc.pid and is_zygote(p.cmdline())
        except Exception:
            return False

    def reap_kernels(self) -> None:
        """Kill what is left below the worker (a kernel the last student left behind), except
        the zygote."""
        import psutil

        try:
            for p in psutil.Process(self.proc.pid).children(recursive=True):
                if not self.is_zygote(p):
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


class WorkerPool:
    """Grade students ``jobs`` at a time (see the module docstring).

    ``submit(student, prepare)`` returns a future of the student's :class:`StudentResult`
    as the worker left it, plus what the pool measured (peak memory, elapsed time, the
    worker's log); ``prepare()``, called in the pool when the student's turn comes, makes
    the student's directory and spec file and returns ``(workdir, spec_path)``.
    """

    def __init__(self, jobs: int, log_dir: str, limits: Limits, keep_workdirs: bool = False):
        self.log_dir = log_dir
        self.limits = limits
        self.keep_workdirs = keep_workdirs
        self._executor = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="autograder-pool")
        self._local = threading.local()  # this thread's worker process
        self._lock = threading.Lock()
        self._workers: list[WorkerProcess] = []  # alive or busy, to close or kill at the end
        self._started = 0
        self._stop = threading.Event()
        # started now, so that they import nbgrader while the grader prepares the gradebook
        self._spare = [self._new_worker() for _ in range(jobs)]

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()

    def submit(self, student: str, prepare: Prepare) -> Future[StudentResult]:
        return self._executor.submit(self._grade, student, prepare)

    def running(self) -> int:
        """How many students are being graded now."""
        with self._lock:
            return sum(1 for w in self._workers if w.student)

    def close(self) -> None:
        """Wait for every student, then let the workers exit."""
        self._executor.shutdown(wait=True)
        for w in self._workers:
            w.close()

    def kill(self) -> None:
        """Stop now (Ctrl-C, SIGTERM): kill every worker with its kernels, grade no one
        else, remove the directories of the students that were being graded."""
        self._stop.set()
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            w.kill_tree()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if not self.keep_workdirs:
            for w in self._workers:
                if w.student:
                    shutil.rmtree(w.workdir, ignore_errors=True)

    # ------------------------------------------------------------- in the pool's threads
    def _worker(self) -> WorkerProcess:
        w = getattr(self._local, "worker", None)
        if w is not None and w.proc.poll() is None:
            return w
        with self._lock:
            if w is not None:
                self._workers.remove(w)  # an idle worker that exited: replaced
            w = self._spare.pop() if self._spare else self._new_worker()
        self._local.worker = w
        return w

    def _new_worker(self) -> WorkerProcess:
        """Start a worker process (with the lock held, or before the pool's threads run)."""
        self._started += 1
        w = WorkerProcess(self._started, os.path.join(self.log_dir, f"worker-{self._started}.log"))
        self._workers.append(w)
        return w

    def _retire(self, w: WorkerProcess) -> None:
        with self._lock:
            self._workers.remove(w)
        self._local.worker = None

    def _grade(self, student: str, prepare: Prepare) -> StudentResult | None:
        if self._stop.is_set():
            return None
        w = self._worker()
        workdir, spec_path = prepare()
        w.assign(student, workdir, spec_path)
        killed = None
        last_watch = 0.0
        while True:
            time.sleep(0.05)  # a finished student is noticed at once; the limits are checked once a second
            if self._stop.is_set():
                w.kill_tree()
                return None
            if w.finished():
                w.reap_kernels()
                break
            if w.proc.poll() is not None:  # the worker died
                w.kill_tree()
                self._retire(w)
                break
            now = time.time()
            if now - last_watch < 1.0:
                continue
            last_watch = now
            killed = self._over_limit(w, now)
            if killed:
                w.kill_tree()
                w.proc.wait()
                self._retire(w)
                break
        result = self._result(w, killed)
        w.student = None
        return result

    def _over_limit(self, w: WorkerProcess, now: float) -> Problem | None:
        """Measure the worker's tree; the reason to stop it, or None."""
        rss = 0
        for p in w.tree():
            if w.is_zygote(p):
                continue
            try:
                mi = p.memory_info()
                rss += mi.rss
                if p.pid != w.proc.pid:
                    w.peak_vms = max(w.peak_vms, mi.vms)
            except Exception:
                pass
        w.peak_rss = max(w.peak_rss, rss)
        lim = self.limits
        if now - w.t0 > lim.wall_limit:
            return Problem("grader.wall_clock_limit", f"wall-clock limit hit: stopped after {lim.wall_limit} s")
        if lim.memory_cap and rss > lim.memory_cap + GiB:
            return Problem("grader.memory_cap", f"memory cap hit: {human_bytes(rss)} in use "
                                                f"(cap {human_bytes(lim.memory_cap)}); stopped")
        if now - w.last_disk_check > 5:
            w.last_disk_check = now
            size = dir_size(w.workdir)
            if size > lim.disk_cap:
                return Problem("grader.disk_cap", f"disk cap hit: {human_bytes(size)} written "
                                                  f"(cap {human_bytes(lim.disk_cap)}); stopped")
        return None

    @staticmethod
    def _result(w: WorkerProcess, killed: Problem | None) -> StudentResult:
        if killed:
            result = StudentResult(w.student, status="failed", problems=[killed])
        elif os.path.exists(w.result_path):
            with open(w.result_path) as fh:
                result = StudentResult.from_dict(json.load(fh))
        else:
            time.sleep(0.5)  # the rest of the worker's output
            tail = b"".join(w.tail)[-600:].decode("utf-8", "replace").strip().splitlines()
            last = f": {tail[-1][:150]}" if tail else ""
            crashed = Problem("grader.crashed", f"grading worker crashed (exit code {w.proc.returncode}){last}")
            result = StudentResult(w.student, status="failed", problems=[crashed])
        result.peak_rss = w.peak_rss
        result.peak_kernel_vms = w.peak_vms
        result.elapsed = round(time.time() - w.t0, 1)
        result.worker_log = w.log_path
        return result


def feedback_in_processes(root: str, assignment: str, students: list[str], jobs: int,
                          state: str) -> dict[str, str | None]:
    """nbgrader generate_feedback in ``jobs`` processes at once (``python -m autograder.worker
    --feedback``; they only read the gradebook): {student: None, or why there is no feedback}."""
    if not students:
        return {}
    chunks = [students[i::jobs] for i in range(max(1, min(jobs, len(students))))]
    procs = []
    for i, chunk in enumerate(chunks):
        out = os.path.join(state, f"feedback-{i}.json")
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
                errors[s] = f"feedback process failed: {tail[-1][:150] if tail else p.returncode}"
    return errors
