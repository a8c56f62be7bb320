"""nbgrader's ``Execute`` preprocessor made safe for untrusted notebooks: :class:`SandboxedExecute`.

It starts the kernel in the sandbox that :func:`~autograder.sandbox.policy.prepare` sets up
(:mod:`.policy`), and adds three safeguards to nbgrader's ``Execute``: a cap on the bytes of
output kept per cell (an output flood cannot blow up the worker's memory or the autograded
notebook), a kernel that dies (or stops answering) no longer aborts the whole notebook (the
cells already run keep their outputs, every later code cell gets an error output so that no
test can pass without having run), a notebook whose kernel failed in a way no student code
causes (it did not start, or a cell's output never arrived after the kernel's reply) is run
once more from the submitted cells, and it records what happened for the report
(:data:`EVENTS`). It does not run the code cells after the last graded test cell
(:func:`last_test_index`), which cannot change a grade (the assignments' training, saving and
plots): each gets a note (:data:`NOT_RUN_AFTER_LAST_TEST`; ``run_after_last_test = True`` runs
them).

One implementation serves both ways of grading:

- ``python -m autograder grade``: each worker process calls :func:`~.policy.prepare` for its
  student and runs with the returned environment (``AUTOGRADER_SANDBOX`` is set);
  :class:`SandboxedExecute` then starts the kernel the worker prepared.
- plain ``nbgrader autograde`` (the course's ``nbgrader_config.py`` lists
  ``autograder.sandbox.SandboxedExecute`` in ``Autograde.autograde_preprocessors``):
  no worker prepared anything, so :class:`SandboxedExecute` prepares a sandbox of its
  own for every notebook (a temporary folder, removed afterwards), starts the kernel in
  it with the sandbox's environment (the instructor's own environment never reaches
  student code), and logs every refused file access as a warning.  The kernel gets the
  same memory cap, file rules and guard of the grading helpers; what the parallel
  grader adds on top (a private copy of the course per student, a wall-clock and disk
  limit per student, the report) is not there.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import shutil
import tempfile
import time
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode

from nbgrader.preprocessors import Execute

from .. import settings
from .policy import add_kernel_name, course_data, mpl_cache, prepare, read_denials, use_mpl_cache

#: events recorded by :class:`SandboxedExecute` in this (worker) process
EVENTS: list[dict[str, Any]] = []

#: the report's line (and the instructor's log line) for a notebook run a second time, of why
REGRADED = "graded a second time: {} on the first try"

#: the output of a code cell after the last graded test cell, which grading does not run
NOT_RUN_AFTER_LAST_TEST = ("Not run when graded: no test cell comes after this cell, so it cannot change the "
                           "grade. Run it yourself in JupyterLab.\n")


def last_test_index(nb) -> int | None:
    """The index of the notebook's last graded test cell (nbgrader ``grade`` metadata); None if none."""
    graded = [i for i, cell in enumerate(nb.cells)
              if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell.cell_type == "code"]
    return graded[-1] if graded else None


# ------------------------------------------------------------------------- preprocessor
def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


def _out_size(out: NotebookNode) -> int:
    if out.get("output_type") == "stream":
        return len(out.get("text", ""))
    if out.get("output_type") == "error":
        return sum(len(x) for x in out.get("traceback", [])) + len(out.get("evalue", ""))
    size = 0
    for v in (out.get("data") or {}).values():
        size += len(v) if isinstance(v, str) else len(json.dumps(v))
    return size


class SandboxedExecute(Execute):
    """nbgrader's Execute, made safe for untrusted notebooks (see module docstring)."""

    max_output_bytes = settings.MAX_OUTPUT_BYTES.trait()
    max_total_output_bytes = settings.MAX_TOTAL_OUTPUT_BYTES.trait()
    iopub_timeout = settings.IOPUB_TIMEOUT.trait()
    run_after_last_test = settings.RUN_AFTER_LAST_TEST.trait()
    unresponsive_grace = settings.UNRESPONSIVE_GRACE.trait()

    # -- used only when no grading worker prepared the sandbox (plain `nbgrader autograde`)
    memory_cap = settings.MEMORY_CAP.trait("Plain nbgrader only (`python -m autograder grade` takes --memory-cap).")
    read_packages = settings.READ_PACKAGES.trait("Plain nbgrader only.")
    landlock = settings.LANDLOCK.trait("Plain nbgrader only.")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("shutdown_kernel", "immediate")  # no graceful shutdown: nothing to save
        super().__init__(*args, **kwargs)
        self._own_workdir: str | None = None
        self._own_env: dict[str, str] | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._last_test = None if self.run_after_last_test else last_test_index(nb)
        if km is None and "AUTOGRADER_SANDBOX" not in os.environ:
            self._prepare_own_sandbox(resources)
        try:
            submitted, first = copy.deepcopy(nb.cells), len(EVENTS)
            why = self._execute(nb, resources, km, last_try=km is not None)
            if why:  # the kernel failed, not the student's code: once more, from the submitted cells
                del EVENTS[first:]  # the first run's events: only the second run counts
                EVENTS.append({"event": "regraded", "cell": None, "detail": why})
                self.log.warning(REGRADED.format(why))
                nb.cells = submitted
                self._execute(nb, resources, km, last_try=True)
            return nb, resources
        finally:
            self._finish_own_sandbox()

    def _execute(self, nb, resources, km, last_try: bool) -> str | None:
        """Run the notebook once. Unless ``last_try``, return why to run it again when the
        kernel failed in a way no code of the student's causes: it did not start (no cell had
        run), or a cell's output never arrived after the kernel's reply (IOPub timeout, e.g. on
        an overloaded machine). None when the run stands."""
        self._dead: str | None = None
        self._total = 0
        self._cells_started = 0
        self._output_lost = False
        try:
            super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError, RuntimeError, TimeoutError) as exc:
            # the kernel did not start, or died between cells
            if not last_try and not self._cells_started:
                first = str(exc).splitlines()[0][:120] if str(exc) else ""
                return f"the kernel did not start ({type(exc).__name__}: {first})"
            if not isinstance(exc, (DeadKernelError, CellTimeoutError)):
                raise  # nbgrader reports the notebook as not autograded
            EVENTS.append({"event": "kernel_died", "cell": None, "detail": str(exc)[:200]})
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.source.strip() and not cell.get("outputs"):
                    cell.outputs = [_error_output("KernelDied", "not run: the kernel died")]
        if self._output_lost and not last_try:
            return "a cell's output never arrived after the kernel's reply (IOPub timeout)"
        return None

    # ------------------------------------------------- a sandbox of its own (plain nbgrader)
    def _prepare_own_sandbox(self, resources) -> None:
        """Prepare a sandbox for this notebook, as a grading worker would (see the module docstring)."""
        cwd = ((resources or {}).get("metadata") or {}).get("path") or os.getcwd()
        work = tempfile.mkdtemp(prefix="autograder-sandbox-")
        data_read, data_env, problem = _course_data_once(tuple(self.read_packages))
        if problem:
            self.log.warning(problem)
        env = prepare(work, cwd, memory_cap_bytes=self.memory_cap, read_packages=tuple(self.read_packages),
                      extra_read_dirs=tuple(data_read), course_root=_course_root(), landlock=self.landlock,
                      extra_env=data_env)
        use_mpl_cache(_mpl_cache_once(), env)
        self._own_workdir, self._own_env = work, env

    def _finish_own_sandbox(self) -> None:
        work, self._own_workdir, self._own_env = self._own_workdir, None, None
        if not work:
            return
        denials, _ = read_denials(work)
        for d in denials[:20]:
            self.log.warning("tampering blocked by the sandbox: %s", d[:200])
        if len(denials) > 20:
            self.log.warning("tampering blocked by the sandbox: %d more attempt(s)", len(denials) - 20)
        shutil.rmtree(work, ignore_errors=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if self._own_workdir:  # the sandbox's kernelspec, whatever the name asked for
            from jupyter_client.kernelspec import KernelSpecManager

            add_kernel_name(self._own_workdir, km.kernel_name)
            km.kernel_spec_manager = KernelSpecManager(
                kernel_dirs=[os.path.join(self._own_workdir, "jupyter", "kernels")], ensure_native_kernel=False)
            # the connection file where the sandboxed kernel may read it
            km.connection_file = os.path.join(self._own_workdir, "runtime", "kernel-autograde.json")
        return km

    async def async_start_new_kernel(self, **kwargs):
        if self._own_env is not None:
            kwargs.setdefault("env", dict(self._own_env))
        return await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)  # nbclient binds the sync name to its own function

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.source.strip():
            return super().preprocess_cell(cell, resources, index)
        if self._dead:
            cell.outputs = [_error_output("KernelDied", f"not run: the kernel {self._dead} earlier")]
            return cell, resources
        if self._last_test is not None and index > self._last_test:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=NOT_RUN_AFTER_LAST_TEST)]
            return cell, resources
        self._cell_bytes = 0
        self._dropped = 0
        self._cells_started += 1
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        started = time.monotonic()
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = "died"
            EVENTS.append({"event": "kernel_died", "cell": grade_id, "index": index})
            cell.outputs = list(cell.get("outputs", [])) + [
                _error_output("KernelDied", "the kernel died while running this cell")]
            self._kill_kernel()
        except CellTimeoutError as exc:
            # the kernel did not come back after the timeout's interrupt, or its output did not
            self._dead = "stopped responding"
            # the output went missing although the cell finished in time (after a timeout's
            # interrupt it is the student's code that holds the kernel)
            in_time = self.timeout is None or time.monotonic() - started < self.timeout
            self._output_lost |= in_time and "Timeout waiting for IOPub output" in str(exc)
            EVENTS.append({"event": "kernel_unresponsive", "cell": grade_id, "index": index,
                           "detail": str(exc).splitlines()[0][:200] if str(exc) else ""})
            cell.outputs = list(cell.get("outputs", [])) + [
                _error_output("CellTimeoutError", "the kernel stopped responding in this cell")]
            self._kill_kernel()
        finally:
            if self._dropped:
                EVENTS.append({"event": "output_truncated", "cell": grade_id, "index": index,
                               "dropped_bytes": self._dropped})
        if not self._dead and any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", [])):
            # the timeout interrupted the cell: is the kernel back, or stuck in code that ignores it?
            if not self._ping(self.unresponsive_grace):
                self._dead = "stopped responding"
                EVENTS.append({"event": "kernel_unresponsive", "cell": grade_id, "index": index})
                cell.outputs.append(_error_output(
                    "KernelDied", "the kernel stopped responding after the timeout and was stopped"))
                self._kill_kernel()
        if self._dropped:
            # first, so that LimitOutput keeps it; stdout: a stderr output would cost a test its points
            cell.outputs.insert(0, NotebookNode(
                output_type="stream", name="stdout",
                text=f"[autograder] this cell printed too much: {self._dropped} bytes of its output were dropped\n"))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                EVENTS.append({"event": "error", "cell": grade_id, "index": index,
                               "ename": out.get("ename", "")})
        return cell, resources

    def _ping(self, timeout: float) -> bool:
        """Does the kernel answer a kernel_info request within ``timeout`` seconds?"""
        from queue import Empty
        from time import monotonic

        from jupyter_core.utils import ensure_async, run_sync

        async def ping():
            msg_id = self.kc.kernel_info()
            deadline = monotonic() + timeout
            while True:
                left = deadline - monotonic()
                if left <= 0:
                    return False
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
                except Empty:
                    return False
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True

        try:
            return bool(run_sync(ping)())
        except Exception:
            return False

    def _kill_kernel(self):
        try:
            if self.km is not None and self.km.has_kernel:
                self.km.provisioner and self.km.provisioner.process and self.km.provisioner.process.kill()
        except Exception:
            pass

    def output(self, outs, msg, display_id, cell_index):
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or not outs or outs[-1] is not out:
            return out
        size = _out_size(out)
        cap = self.max_output_bytes
        tcap = self.max_total_output_bytes
        room = min(cap - self._cell_bytes if cap >= 0 else size,
                   tcap - self._total if tcap >= 0 else size)
        if size <= room:
            self._cell_bytes += size
            self._total += size
            return out
        # over the cap: keep what fits of a text stream, drop the rest
        outs.pop()
        if out.get("output_type") == "stream" and room > 0:
            out.text = out.text[:room]
            outs.append(out)
            self._cell_bytes += room
            self._total += room
            self._dropped += size - room
        else:
            self._dropped += size
        return out


# ------------------------------------------------- plain nbgrader: shared by every notebook
@functools.cache
def _course_data_once(read_packages: tuple[str, ...]):
    return course_data(read_packages)


@functools.cache
def _mpl_cache_once() -> str | None:
    import atexit

    state = tempfile.mkdtemp(prefix="autograder-mpl-")
    atexit.register(shutil.rmtree, state, True)
    return mpl_cache(state)


def _course_root() -> str:
    """The course root of plain nbgrader: the folder it runs in (nbgrader reads its config there)."""
    return os.path.realpath(os.getcwd())
