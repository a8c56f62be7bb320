"""The grading worker's kernel zygote, seen from the worker (the process itself:
:mod:`.kernel_zygote`).

Importing TensorFlow is the kernel's largest single cost: its first cell, about 2.5 s of a
correct notebook's 8 s under plain nbgrader (``bench/results/autograde.json`` has the
breakdown); ``bench/results/grading.json`` has a class graded with and without the zygote
(``parallel`` and ``parallel_no_preload``).  A worker grades its students
one after the other, so it starts one zygote, which imports what every notebook imports
(:data:`autograder.settings.KERNEL_PRELOAD`) once; each student's kernel is then forked from
it and skips those imports.

What keeps each kernel as it was without the zygote:

- The same environment. Imports read it: Keras's home, matplotlib's config folder and
  ``tempfile``'s folder are remembered at import. So the zygote imports with the kernel's own
  environment, and its paths (HOME, TMPDIR, the caches, PYTHONPATH, Jupyter's folders) name
  the worker's link ``HOME/sandbox``, not the student's folder. Before each student's kernel
  starts, the worker points that link at the student's sandbox folder (:meth:`Zygote.point_at`).
  The zygote serves no kernel whose environment differs from its own: that kernel starts
  without it.
- The same sandbox: the child runs the same launcher script, which applies the memory cap,
  drops the capabilities, applies Landlock and the audit hook before ipykernel starts.
- The same start for every student: the child gets fresh random seeds, and the zygote keeps
  nothing a kernel does (each kernel is a copy).

A kernel that cannot be forked (the zygote is not running, refuses, or dies) starts through
the launcher as before; grading only takes longer.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from .kernel_zygote import env_difference  # the zygote's own check, also the worker's

__all__ = ["SCRIPT", "Zygote", "env_difference", "home_prefix", "is_zygote"]

SCRIPT = "kernel_zygote.py"


def is_zygote(cmdline: Sequence[str]) -> bool:
    """Whether a process's command line is a zygote's (``python .../kernel_zygote.py serve ...``)."""
    return len(cmdline) >= 3 and os.path.basename(cmdline[1]) == SCRIPT and cmdline[2] == "serve"


def home_prefix(worker_pid: int) -> str:
    """The start of the name of a worker's zygote folder in the temporary directory (the pool
    removes it when it kills that worker)."""
    return f"ag-zygote-{worker_pid}-"


class Zygote:
    """One grading worker's zygote: its folder (``home``: the socket, the script, the link to
    the current student's sandbox folder), the modules it imports (``preload``) and, once
    :meth:`ensure` started it, its process."""

    def __init__(self, home: str | None = None, ready_timeout: float = 300.0):
        self.preload: tuple[str, ...] = ()
        self.home = home or tempfile.mkdtemp(prefix=home_prefix(os.getpid()))
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.env: dict[str, str] | None = None
        self.failed: dict[tuple[str, ...], str] = {}  # preload -> why its zygote did not start
        os.makedirs(self.home, mode=0o700, exist_ok=True)
        shutil.copyfile(os.path.join(os.path.dirname(__file__), SCRIPT), self.script)

    @property
    def script(self) -> str:
        return os.path.join(self.home, SCRIPT)

    @property
    def socket(self) -> str:
        return os.path.join(self.home, "zygote.sock")

    @property
    def link(self) -> str:
        """The path that the kernel's environment names instead of the student's sandbox folder."""
        return os.path.join(self.home, "sandbox")

    def point_at(self, root: str) -> str:
        """Point :attr:`link` at ``root`` (a student's sandbox folder); return the link."""
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(root, tmp)
        os.replace(tmp, self.link)
        return self.link

    def launch_argv(self, launcher: str, policy_path: str) -> list[str]:
        """The kernelspec's command: have the zygote fork the kernel (else run ``launcher``)."""
        return [sys.executable, "-I", "-S", self.script, "launch", self.socket, launcher, policy_path,
                "-f", "{connection_file}"]

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self, env: dict[str, str], preload: Sequence[str]) -> str | None:
        """Have a zygote running that imported ``preload`` with ``env`` (the kernel's
        environment): keep the one running when both are the same, else start one and wait
        until it is ready. None when it runs, else why not (the kernels then start without it;
        a zygote that did not start is not tried again)."""
        if (self.running() and self.env is not None and self.preload == tuple(preload)
                and not env_difference(self.env, env)):
            return None
        if tuple(preload) in self.failed:
            return self.failed[tuple(preload)]
        self.stop()
        self.env, self.preload = dict(env), tuple(preload)
        self.proc = subprocess.Popen([sys.executable, self.script, "serve", self.socket, *self.preload],
                                     env=self.env, cwd=self.home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        deadline = time.monotonic() + self.ready_timeout
        while select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            line = self.proc.stdout.readline()
            if line.strip() == b"ready":
                return None
            if not line:  # it exited
                break
            sys.stderr.buffer.write(line)  # what a preloaded module printed
        why = (f"the kernel zygote did not start (importing {', '.join(self.preload)}): see the worker's log; "
               "every kernel imports for itself")
        self.failed[self.preload] = why
        self.stop()
        return why

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
        self.proc, self.env, self.preload = None, None, ()

    def close(self) -> None:
        """Stop the zygote and remove its folder."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)
