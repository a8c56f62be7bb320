"""The grading kernel's sandbox, seen from the grading worker.

- :func:`prepare` writes, into a worker's private directory, the sandbox policy, the
  kernel launcher (``kernel_launcher.py``: memory cap, capabilities, Landlock, audit
  hook) and a ``python3`` kernelspec that starts the kernel through it, and returns
  the environment the worker (and so nbgrader's kernel) must run with.
- :class:`SandboxedExecute` is nbgrader's ``Execute`` preprocessor with three extra
  safeguards: a cap on the bytes of output kept per cell (an output flood cannot
  blow up the worker's memory or the autograded notebook), a kernel that dies (or
  stops answering) no longer aborts the whole notebook (the cells already run keep
  their outputs, every later code cell gets an error output so that no test can
  pass without having run), and it records what happened for the report. It does not
  run the code cells after the last graded test cell, which cannot change a grade (the
  assignments' training, saving and plots): each gets a note (:data:`NOT_RUN_AFTER_LAST_TEST`;
  ``run_after_last_test = True`` runs them).

One implementation serves both ways of grading:

- ``python -m autograder grade``: each worker process calls :func:`prepare` for its
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

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode

from nbgrader.preprocessors import Execute

from .. import settings

#: events recorded by :class:`SandboxedExecute` in this (worker) process
EVENTS: list[dict[str, Any]] = []

#: the output of a code cell after the last graded test cell, which grading does not run
NOT_RUN_AFTER_LAST_TEST = ("Not run when graded: no test cell comes after this cell, so it cannot change the "
                           "grade. Run it yourself in JupyterLab.\n")


def last_test_index(nb) -> int | None:
    """The index of the notebook's last graded test cell (nbgrader ``grade`` metadata); None if none."""
    graded = [i for i, cell in enumerate(nb.cells)
              if cell.get("metadata", {}).get("nbgrader", {}).get("grade") and cell.cell_type == "code"]
    return graded[-1] if graded else None

#: /etc files a Python/TensorFlow kernel may need (the rest of /etc stays unreadable)
ETC_READ_FILES = [
    "/etc/ld.so.cache", "/etc/localtime", "/etc/timezone", "/etc/nsswitch.conf", "/etc/passwd",
    "/etc/group", "/etc/hosts", "/etc/host.conf", "/etc/resolv.conf", "/etc/os-release",
    "/etc/lsb-release", "/etc/mime.types", "/etc/gai.conf", "/etc/debian_version",
]
ETC_READ_DIRS = ["/etc/ssl", "/etc/ca-certificates", "/etc/fonts", "/etc/alternatives",
                 "/etc/matplotlibrc", "/etc/jupyter", "/etc/ipython", "/etc/ld.so.conf.d",
                 "/etc/python3", "/etc/pki"]
SYSTEM_READ_DIRS = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/sys",
                    "/opt/conda"]
PROC_READ_FILES = ["/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg",
                   "/proc/uptime", "/proc/version", "/proc/filesystems", "/proc/sys/kernel/osrelease", "/proc/sys/vm/overcommit_memory",
                   "/proc/pressure/cpu", "/proc/pressure/memory"]
DEV_READ_FILES = ["/dev/urandom", "/dev/random", "/dev/zero"]
DEV_RW_FILES = ["/dev/null", "/dev/full"]

#: environment variables passed through to the grading kernel (everything else is dropped,
#: so that instructors' tokens and secrets never reach student code)
ENV_PASSTHROUGH = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "CI", "TF_CPP_MIN_LOG_LEVEL",
                   "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND", "PYTHONHASHSEED", "NBGRADER_EXECUTION")
ENV_PASSTHROUGH_PREFIXES = ("LC_", "RESNET_", "COURSE_")


def package_dir(name: str) -> str | None:
    """The directory of an importable top-level package, without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return os.path.realpath(list(spec.submodule_search_locations)[0])
    if spec.origin:
        return os.path.realpath(spec.origin)
    return None


def prepare(
    workdir: str,
    kernel_cwd: str,
    *,
    memory_cap_bytes: int,
    file_size_cap_bytes: int = 1 << 30,
    threads: int | None = None,
    read_packages: tuple[str, ...] = settings.READ_PACKAGES.default,
    extra_read_dirs: tuple[str, ...] = (),
    course_root: str | None = None,
    landlock: bool = True,
    audit_hook: bool = True,
    enabled: bool = True,
    extra_env: dict[str, str] | None = None,
) -> dict[str, str]:
    """Prepare the sandbox in ``workdir``; return the environment for the worker.

    ``kernel_cwd`` (the submission's autograded directory, where nbgrader runs the
    kernel) and ``workdir/scratch`` (HOME, TMPDIR, caches) are the only writable
    places; the Python installation, the packages named in ``read_packages``, the
    ``extra_read_dirs`` and a few system files are readable; nothing else is.
    """
    workdir = os.path.realpath(workdir)
    scratch = os.path.join(workdir, "scratch")
    runtime = os.path.join(workdir, "runtime")
    sbox = os.path.join(workdir, "sandbox")
    jpath = os.path.join(workdir, "jupyter")
    for d in (scratch, runtime, sbox, os.path.join(scratch, "ipython", "profile_default", "startup"),
              os.path.join(scratch, "tmp"), os.path.join(scratch, "mpl")):
        os.makedirs(d, exist_ok=True)
    os.makedirs(kernel_cwd, exist_ok=True)

    read_dirs = [d for d in SYSTEM_READ_DIRS + ETC_READ_DIRS if os.path.exists(d)]
    # the allowed packages, importable whatever way they are installed (editable install,
    # PYTHONPATH ...): links to them in a folder put on the kernel's PYTHONPATH
    pkgs = os.path.join(workdir, "pkgs")
    os.makedirs(pkgs, exist_ok=True)
    for name in read_packages:
        d = package_dir(name)
        if d:
            read_dirs.append(d)
            link = os.path.join(pkgs, os.path.basename(d))
            if not os.path.lexists(link):
                os.symlink(d, link)
    read_dirs.append(pkgs)
    read_dirs += [os.path.realpath(d) for d in extra_read_dirs]
    read_dirs.append(runtime)  # the kernel's connection file
    read_dirs.append(sbox)  # the launcher itself (tracebacks show its source)
    policy = {
        "log_path": os.path.join(sbox, "denials.log"),
        "memory_cap_bytes": int(memory_cap_bytes or 0),
        "file_size_cap_bytes": int(file_size_cap_bytes or 0),
        "read_dirs": read_dirs,
        "write_dirs": [os.path.realpath(kernel_cwd), scratch],
        "read_files": ETC_READ_FILES + PROC_READ_FILES + DEV_READ_FILES,
        "rw_files": DEV_RW_FILES,
        "list_dirs": ["/proc"],
        "course_root": os.path.realpath(course_root) if course_root else None,
        "landlock": bool(landlock),
        "debug": bool(os.environ.get("AUTOGRADER_SANDBOX_DEBUG")),
        "audit_hook": bool(audit_hook),
    }
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "kernel_startup.py"),
                    os.path.join(scratch, "ipython", "profile_default", "startup", "00-autograder.py"))
    policy_path = os.path.join(sbox, "policy.json")
    with open(policy_path, "w") as fh:
        json.dump(policy, fh, indent=1)
    launcher = os.path.join(sbox, "kernel_launcher.py")
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "kernel_launcher.py"), launcher)

    kdir = os.path.join(jpath, "kernels", "python3")
    os.makedirs(kdir, exist_ok=True)
    if enabled:
        argv = [sys.executable, launcher, policy_path, "-f", "{connection_file}"]
    else:
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    with open(os.path.join(kdir, "kernel.json"), "w") as fh:
        json.dump({"argv": argv, "display_name": "Python 3 (autograder sandbox)",
                   "language": "python", "metadata": {"debugger": False}}, fh, indent=1)

    env = {k: v for k, v in os.environ.items()
           if k in ENV_PASSTHROUGH or k.startswith(ENV_PASSTHROUGH_PREFIXES)}
    env.update({
        "HOME": scratch,
        "TMPDIR": os.path.join(scratch, "tmp"),
        "IPYTHONDIR": os.path.join(scratch, "ipython"),
        "MPLCONFIGDIR": os.path.join(scratch, "mpl"),
        "KERAS_HOME": os.path.join(scratch, "keras"),
        "XDG_CACHE_HOME": os.path.join(scratch, "cache"),
        "XDG_CONFIG_HOME": os.path.join(scratch, "config"),
        "JUPYTER_RUNTIME_DIR": runtime,
        "JUPYTER_DATA_DIR": os.path.join(scratch, "jupyter"),
        "JUPYTER_CONFIG_DIR": os.path.join(scratch, "jupyter-config"),
        "JUPYTER_PATH": jpath,
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "agg",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "AUTOGRADER_SANDBOX": "1" if enabled else "0",
    })
    env["PYTHONPATH"] = pkgs
    try:  # packages installed with `pip install --user` stay importable under the new HOME
        import site

        if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
            env["PYTHONUSERBASE"] = site.getuserbase()
            env.pop("PYTHONNOUSERSITE", None)
    except Exception:
        pass
    env.update(extra_env or {})
    if threads:
        t = str(int(threads))
        env.update({"TF_NUM_INTRAOP_THREADS": t, "TF_NUM_INTEROP_THREADS": t,
                    "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t,
                    "NUMEXPR_NUM_THREADS": t})
    return env


def add_kernel_name(workdir: str, kernel_name: str) -> None:
    """Make the sandbox's kernelspec (written by :func:`prepare` as ``python3``) also answer to
    ``kernel_name`` (the course's ``Execute.kernel_name`` or the notebook's kernelspec)."""
    kdir = os.path.join(os.path.realpath(workdir), "jupyter", "kernels")
    if kernel_name and kernel_name != "python3" and os.sep not in kernel_name:
        shutil.copytree(os.path.join(kdir, "python3"), os.path.join(kdir, kernel_name), dirs_exist_ok=True)


# ------------------------------------------------------------ what every kernel reads
def mpl_cache(state: str) -> str | None:
    """Build matplotlib's font cache once in ``state/mplcache``; each kernel gets a copy
    (:func:`use_mpl_cache`) instead of rebuilding it. None when it could not be built."""
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


def use_mpl_cache(cache: str | None, env: dict[str, str]) -> None:
    """Copy the prebuilt font cache into the kernel's ``MPLCONFIGDIR`` (from :func:`prepare`)."""
    if cache and os.path.isdir(cache):
        for f in os.listdir(cache):
            if f.startswith("fontlist") and f.endswith(".json"):
                shutil.copyfile(os.path.join(cache, f), os.path.join(env["MPLCONFIGDIR"], f))


def course_data(read_packages: tuple[str, ...] | list[str], prepare_data: bool = True
                ) -> tuple[list[str], dict[str, str], str | None]:
    """The course's data folder (resnet_utils' dataset cache), filled once here so that the
    kernels only read it: (extra read dirs, kernel environment, problem or None)."""
    if "resnet_utils" not in read_packages:
        return [], {}, None
    pkg = package_dir("resnet_utils")
    if not pkg:
        return [], {}, None
    data_dir = os.environ.get("RESNET_DATA_DIR") or os.path.join(os.path.dirname(pkg), "datasets")
    data_dir = os.path.realpath(data_dir)
    problem = None
    if prepare_data:
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
            problem = f"could not prepare the dataset cache in {data_dir}: {exc}"
    if not os.path.isdir(data_dir):
        return [], {}, problem
    return [data_dir], {"RESNET_DATA_DIR": data_dir}, problem


#: refusals that the kernel's own machinery causes (ipykernel's child-process check at shutdown)
#: and matplotlib's / platform's probes for system tools
QUIET_DENIALS = re.compile(r"^(os\.listdir read /proc|open read /proc/\d+/stat"
                           r"|subprocess\.Popen (fc-list|uname|ldconfig|nvidia-smi|lscpu))$")


def read_denials(workdir: str) -> tuple[list[str], list[str]]:
    """(denial lines, info lines) written by the kernel launcher's audit hook."""
    path = os.path.join(os.path.realpath(workdir), "sandbox", "denials.log")
    deny, info = [], []
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return deny, info
    ready = False
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("DENY "):
            if ready and line[5:] not in deny and not QUIET_DENIALS.match(line[5:]):
                deny.append(line[5:])
        elif line.startswith("INFO "):
            info.append(line[5:])
            if line == "INFO ready":
                ready = True
    return deny, info


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
        self._dead: str | None = None
        self._total = 0
        self._last_test = None if self.run_after_last_test else last_test_index(nb)
        if km is None and "AUTOGRADER_SANDBOX" not in os.environ:
            self._prepare_own_sandbox(resources)
        try:
            return super().preprocess(nb, resources, km=km)
        except (DeadKernelError, CellTimeoutError) as exc:
            # the kernel died while starting or between cells
            EVENTS.append({"event": "kernel_died", "cell": None, "detail": str(exc)[:200]})
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.source.strip() and not cell.get("outputs"):
                    cell.outputs = [_error_output("KernelDied", "not run: the kernel died")]
            return nb, resources
        finally:
            self._finish_own_sandbox()

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
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = "died"
            EVENTS.append({"event": "kernel_died", "cell": grade_id, "index": index})
            cell.outputs = list(cell.get("outputs", [])) + [
                _error_output("KernelDied", "the kernel died while running this cell")]
            self._kill_kernel()
        except CellTimeoutError as exc:
            # the kernel did not come back after the timeout's interrupt
            self._dead = "stopped responding"
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
                text="[autograder] this cell printed too much: %d bytes of its output were dropped\n"
                % self._dropped))
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
