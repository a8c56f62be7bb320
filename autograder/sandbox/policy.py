"""The grading kernel's sandbox, seen from the grading worker: its rules, and the directory
that holds them.

- The rules: what the kernel may read (the Python installation, :data:`SYSTEM_READ_DIRS`,
  :data:`ETC_READ_FILES` ..., the packages named in ``read_packages``) and write (the
  submission's directory and a scratch directory, nothing else), and which environment
  variables reach it (:data:`ENV_PASSTHROUGH`: the instructor's secrets do not).
- :func:`prepare` writes, into a worker's private directory (:class:`SandboxDirs`), the
  sandbox policy, the kernel launcher (``kernel_launcher.py``: memory cap, capabilities,
  Landlock, audit hook) and a ``python3`` kernelspec that starts the kernel through it, and
  returns the environment the worker (and so nbgrader's kernel) must run with. Its steps:
  :func:`make_dirs`, :func:`write_policy` (``sandbox/policy.json``), :func:`write_kernelspec`
  (the launcher, the IPython startup file, ``kernel.json``) and :func:`kernel_env`.
  :func:`add_kernel_name` makes that kernelspec answer to another name too.
- What every kernel reads, prepared once for all of them: matplotlib's font cache
  (:func:`mpl_cache`, copied into each kernel's by :func:`use_mpl_cache`) and the course's
  data folder (:func:`course_data`).
- After the kernel ran: the refused accesses its audit hook logged (:func:`read_denials`,
  without the kernel's own harmless ones, :data:`QUIET_DENIALS`).

Each worker of ``python -m autograder grade`` calls :func:`prepare` for its student; under
plain ``nbgrader autograde``, :class:`~autograder.sandbox.execute.SandboxedExecute` calls it
for every notebook.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from typing import Any

from .. import settings
from .zygote import Zygote

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


# ------------------------------------------------------------------- the sandbox's directory
@dataclasses.dataclass(frozen=True)
class SandboxDirs:
    """Where :func:`prepare` puts the sandbox in a worker's directory ``root`` (a real path)."""

    root: str

    @classmethod
    def of(cls, workdir: str) -> SandboxDirs:
        return cls(os.path.realpath(workdir))

    @property
    def scratch(self) -> str:
        """The kernel's HOME, TMPDIR and caches (writable)."""
        return os.path.join(self.root, "scratch")

    @property
    def runtime(self) -> str:
        """Jupyter's runtime directory: the kernel's connection file (readable)."""
        return os.path.join(self.root, "runtime")

    @property
    def sandbox(self) -> str:
        """The policy, the launcher (readable: tracebacks show its source) and the denials log."""
        return os.path.join(self.root, "sandbox")

    @property
    def jupyter(self) -> str:
        """The kernel's JUPYTER_PATH: the kernelspec."""
        return os.path.join(self.root, "jupyter")

    @property
    def kernels(self) -> str:
        return os.path.join(self.jupyter, "kernels")

    @property
    def pkgs(self) -> str:
        """Links to the readable packages: the kernel's PYTHONPATH."""
        return os.path.join(self.root, "pkgs")

    @property
    def startup(self) -> str:
        """The IPython startup folder of the kernel's profile."""
        return os.path.join(self.scratch, "ipython", "profile_default", "startup")

    @property
    def policy_path(self) -> str:
        return os.path.join(self.sandbox, "policy.json")

    @property
    def launcher(self) -> str:
        return os.path.join(self.sandbox, "kernel_launcher.py")

    @property
    def denials_log(self) -> str:
        return os.path.join(self.sandbox, "denials.log")


def make_dirs(workdir: str, kernel_cwd: str) -> SandboxDirs:
    """Create the sandbox's folders in ``workdir``, and ``kernel_cwd``."""
    dirs = SandboxDirs.of(workdir)
    for d in (dirs.scratch, dirs.runtime, dirs.sandbox, dirs.startup,
              os.path.join(dirs.scratch, "tmp"), os.path.join(dirs.scratch, "mpl")):
        os.makedirs(d, exist_ok=True)
    os.makedirs(kernel_cwd, exist_ok=True)
    return dirs


# ------------------------------------------------------------------------------- prepare
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
    zygote: Zygote | None = None,
) -> dict[str, str]:
    """Prepare the sandbox in ``workdir``; return the environment for the worker.

    ``kernel_cwd`` (the submission's autograded directory, where nbgrader runs the
    kernel) and ``workdir/scratch`` (HOME, TMPDIR, caches) are the only writable
    places; the Python installation, the packages named in ``read_packages``, the
    ``extra_read_dirs`` and a few system files are readable; nothing else is.
    With a ``zygote`` (and ``enabled``), the kernel is forked from it, and the paths the
    kernel is given name the zygote's link to ``workdir`` (see :mod:`.zygote`).
    """
    dirs = make_dirs(workdir, kernel_cwd)
    write_policy(dirs, kernel_cwd, memory_cap_bytes=memory_cap_bytes, file_size_cap_bytes=file_size_cap_bytes,
                 read_packages=read_packages, extra_read_dirs=extra_read_dirs, course_root=course_root,
                 landlock=landlock, audit_hook=audit_hook)
    zygote = zygote if enabled else None
    write_kernelspec(dirs, enabled=enabled, zygote=zygote)
    seen = SandboxDirs(zygote.point_at(dirs.root)) if zygote else dirs
    return kernel_env(seen, enabled=enabled, threads=threads, extra_env=extra_env)


def readable_dirs(dirs: SandboxDirs, read_packages: tuple[str, ...], extra_read_dirs: tuple[str, ...]) -> list[str]:
    """The folders the kernel may read; links the packages it may import into ``dirs.pkgs``."""
    read_dirs = [d for d in SYSTEM_READ_DIRS + ETC_READ_DIRS if os.path.exists(d)]
    # the allowed packages, importable whatever way they are installed (editable install,
    # PYTHONPATH ...): links to them in a folder put on the kernel's PYTHONPATH
    os.makedirs(dirs.pkgs, exist_ok=True)
    for name in read_packages:
        d = package_dir(name)
        if d:
            read_dirs.append(d)
            link = os.path.join(dirs.pkgs, os.path.basename(d))
            if not os.path.lexists(link):
                os.symlink(d, link)
    read_dirs.append(dirs.pkgs)
    read_dirs += [os.path.realpath(d) for d in extra_read_dirs]
    read_dirs.append(dirs.runtime)  # the kernel's connection file
    read_dirs.append(dirs.sandbox)  # the launcher itself (tracebacks show its source)
    return read_dirs


def write_policy(
    dirs: SandboxDirs,
    kernel_cwd: str,
    *,
    memory_cap_bytes: int,
    file_size_cap_bytes: int = 1 << 30,
    read_packages: tuple[str, ...] = settings.READ_PACKAGES.default,
    extra_read_dirs: tuple[str, ...] = (),
    course_root: str | None = None,
    landlock: bool = True,
    audit_hook: bool = True,
) -> dict[str, Any]:
    """Write the policy the kernel launcher enforces (what the kernel may read and write, its
    memory and file-size caps) to ``dirs.policy_path``; return it."""
    policy = {
        "log_path": dirs.denials_log,
        "memory_cap_bytes": int(memory_cap_bytes or 0),
        "file_size_cap_bytes": int(file_size_cap_bytes or 0),
        "read_dirs": readable_dirs(dirs, read_packages, extra_read_dirs),
        "write_dirs": [os.path.realpath(kernel_cwd), dirs.scratch],
        "read_files": ETC_READ_FILES + PROC_READ_FILES + DEV_READ_FILES,
        "rw_files": DEV_RW_FILES,
        "list_dirs": ["/proc"],
        "course_root": os.path.realpath(course_root) if course_root else None,
        "landlock": bool(landlock),
        "debug": bool(os.environ.get("AUTOGRADER_SANDBOX_DEBUG")),
        "audit_hook": bool(audit_hook),
    }
    with open(dirs.policy_path, "w") as fh:
        json.dump(policy, fh, indent=1)
    return policy


def write_kernelspec(dirs: SandboxDirs, *, enabled: bool = True, zygote: Zygote | None = None) -> dict[str, Any]:
    """Copy the kernel launcher and the kernel's IPython startup file into the sandbox and write
    the ``python3`` kernelspec that starts the kernel through the launcher (forked from the
    ``zygote`` when there is one; straight, without the launcher, when not ``enabled``);
    return the kernelspec."""
    here = os.path.dirname(__file__)
    shutil.copyfile(os.path.join(here, "kernel_startup.py"), os.path.join(dirs.startup, "00-autograder.py"))
    shutil.copyfile(os.path.join(here, "kernel_launcher.py"), dirs.launcher)
    kdir = os.path.join(dirs.kernels, "python3")
    os.makedirs(kdir, exist_ok=True)
    if zygote:
        seen = SandboxDirs(zygote.link)
        argv = zygote.launch_argv(seen.launcher, seen.policy_path)
    elif enabled:
        argv = [sys.executable, dirs.launcher, dirs.policy_path, "-f", "{connection_file}"]
    else:
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "Python 3 (autograder sandbox)",
            "language": "python", "metadata": {"debugger": False}}
    with open(os.path.join(kdir, "kernel.json"), "w") as fh:
        json.dump(spec, fh, indent=1)
    return spec


def kernel_env(dirs: SandboxDirs, *, enabled: bool = True, threads: int | None = None,
               extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The kernel's environment: of this process's variables only those of :data:`ENV_PASSTHROUGH`
    (or with a prefix of :data:`ENV_PASSTHROUGH_PREFIXES`); HOME, TMPDIR, caches and configs inside
    ``dirs.scratch``, Jupyter's paths inside the sandbox's directory, the linked packages on
    PYTHONPATH, ``AUTOGRADER_SANDBOX`` (1 when ``enabled``), ``extra_env`` on top, and ``threads``
    threads for TensorFlow and the math libraries."""
    scratch = dirs.scratch
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
        "JUPYTER_RUNTIME_DIR": dirs.runtime,
        "JUPYTER_DATA_DIR": os.path.join(scratch, "jupyter"),
        "JUPYTER_CONFIG_DIR": os.path.join(scratch, "jupyter-config"),
        "JUPYTER_PATH": dirs.jupyter,
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "agg",
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        "AUTOGRADER_SANDBOX": "1" if enabled else "0",
    })
    env["PYTHONPATH"] = dirs.pkgs
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
    kdir = SandboxDirs.of(workdir).kernels
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
                f"data.load_dataset({data_dir!r})\n")
        try:
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900,
                                  env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
            if proc.returncode != 0:
                last_line = (proc.stderr.strip().splitlines() or ["?"])[-1][:200]
                problem = f"could not prepare the dataset cache in {data_dir}: {last_line}"
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = f"could not prepare the dataset cache in {data_dir}: {exc}"
    if not os.path.isdir(data_dir):
        return [], {}, problem
    return [data_dir], {"RESNET_DATA_DIR": data_dir}, problem


# ------------------------------------------------------------------ after the kernel ran
#: refusals that the kernel's own machinery causes (ipykernel's child-process check at shutdown)
#: and matplotlib's / platform's probes for system tools
QUIET_DENIALS = re.compile(r"^(os\.listdir read /proc|open read /proc/\d+/stat"
                           r"|subprocess\.Popen (fc-list|uname|ldconfig|nvidia-smi|lscpu))$")


def read_denials(workdir: str) -> tuple[list[str], list[str]]:
    """(denial lines, info lines) written by the kernel launcher's audit hook."""
    path = SandboxDirs.of(workdir).denials_log
    deny, info = [], []
    try:
        with open(path, "rb") as fh:
            data = fh.read(1 << 20)
    except OSError:
        return deny, info
    ready = False  # a kernel's start-up (launcher, IPython) is done: a refusal now is student code's
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("DENY "):
            if ready and line[5:] not in deny and not QUIET_DENIALS.match(line[5:]):
                deny.append(line[5:])
        elif line.startswith("INFO "):
            if line[5:] not in info:
                info.append(line[5:])
            if line == "INFO ready":
                ready = True
            elif line.startswith("INFO limits "):  # the launcher's first line: a kernel (re)starts
                ready = False
    return deny, info
