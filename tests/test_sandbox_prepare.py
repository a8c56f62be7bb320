"""The sandbox's set-up, piece by piece, without starting a kernel: the folders, the policy the
kernel launcher enforces (policy.json), the kernelspec, the kernel's environment, and what
:func:`autograder.sandbox.prepare` makes of them together."""

import json
import os
import sys
from pathlib import Path

import pytest

from autograder.sandbox import policy as sp

SANDBOX_SRC = Path(sp.__file__).parent
SCRATCH_VARS = ("HOME", "TMPDIR", "IPYTHONDIR", "MPLCONFIGDIR", "KERAS_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR")


def inside(path, folder) -> bool:
    """Is ``path`` the folder ``folder`` or in it?"""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """An importable package ``sandboxprobe_pkg`` outside the Python installation: its folder."""
    site = tmp_path / "site"
    pkg = site / "sandboxprobe_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(site))
    return os.path.realpath(pkg)


@pytest.fixture
def work(tmp_path):
    """(the worker's directory, reached through a link; the submission's directory, not yet there)."""
    real = tmp_path / "real-work"
    real.mkdir()
    link = tmp_path / "work-link"
    link.symlink_to(real, target_is_directory=True)
    return str(link), str(tmp_path / "course-copy" / "autograded" / "s1" / "a1")


# ------------------------------------------------------------------------------- folders
def test_make_dirs_creates_the_sandbox_folders_and_the_submission_directory(tmp_path, work):
    workdir, kernel_cwd = work
    dirs = sp.make_dirs(workdir, kernel_cwd)
    assert dirs.root == str(tmp_path / "real-work")  # the real path, not the link
    for d in (dirs.scratch, dirs.runtime, dirs.sandbox, dirs.startup, os.path.join(dirs.scratch, "tmp"),
              os.path.join(dirs.scratch, "mpl"), kernel_cwd):
        assert os.path.isdir(d), d
    for d in (dirs.scratch, dirs.runtime, dirs.sandbox, dirs.jupyter, dirs.pkgs):
        assert os.path.dirname(d) == dirs.root, d
    assert dirs.startup == os.path.join(dirs.scratch, "ipython", "profile_default", "startup")
    assert dirs.policy_path == os.path.join(dirs.sandbox, "policy.json")


# -------------------------------------------------------------------------------- policy
def write_policy(work, **kw):
    workdir, kernel_cwd = work
    dirs = sp.make_dirs(workdir, kernel_cwd)
    kw.setdefault("memory_cap_bytes", 2 << 30)
    return dirs, sp.write_policy(dirs, kernel_cwd, **kw)


def test_the_policy_lets_the_kernel_write_only_the_submission_and_the_scratch_directory(work):
    dirs, policy = write_policy(work, read_packages=())
    assert policy["write_dirs"] == [os.path.realpath(work[1]), dirs.scratch]
    assert policy["rw_files"] == ["/dev/null", "/dev/full"]
    with open(dirs.policy_path) as fh:
        assert json.load(fh) == policy  # what the launcher reads is what was returned


def test_the_policy_reads_the_allowed_packages_but_not_the_course_root(tmp_path, work, fake_package):
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    data = tmp_path / "data"
    data.mkdir()
    dirs, policy = write_policy(work, read_packages=("sandboxprobe_pkg", "no_such_package_xyz"),
                                extra_read_dirs=(str(tmp_path / "data" / ".." / "data"),), course_root=str(course))
    read = policy["read_dirs"]
    assert fake_package in read
    # importable from the kernel's PYTHONPATH through a link, whatever way it is installed
    assert os.readlink(os.path.join(dirs.pkgs, "sandboxprobe_pkg")) == fake_package and dirs.pkgs in read
    assert str(data) in read  # the extra read dirs, as real paths
    assert dirs.runtime in read and dirs.sandbox in read  # the connection file; the launcher
    assert "/usr" in read and not any(d.startswith("/etc") for d in read if d not in sp.ETC_READ_DIRS)
    assert policy["course_root"] == str(course)
    assert not [d for d in read + policy["write_dirs"] if inside(d, course)]
    assert dirs.root not in read and dirs.scratch not in read  # the worker's own files; scratch is writable
    assert "/etc/passwd" in policy["read_files"] and "/etc/shadow" not in policy["read_files"]
    assert "/proc/meminfo" in policy["read_files"] and "/dev/urandom" in policy["read_files"]


def test_the_policy_holds_the_memory_and_file_size_caps_and_the_switches(work, monkeypatch):
    monkeypatch.delenv("AUTOGRADER_SANDBOX_DEBUG", raising=False)
    dirs, policy = write_policy(work, memory_cap_bytes=3 * (1 << 30) + 7, read_packages=())
    assert policy["memory_cap_bytes"] == 3 * (1 << 30) + 7
    assert policy["file_size_cap_bytes"] == 1 << 30
    assert policy["landlock"] is True and policy["audit_hook"] is True and policy["debug"] is False
    assert policy["course_root"] is None
    assert policy["log_path"] == os.path.join(dirs.sandbox, "denials.log")

    monkeypatch.setenv("AUTOGRADER_SANDBOX_DEBUG", "1")
    _, policy = write_policy(work, memory_cap_bytes=None, file_size_cap_bytes=5000, read_packages=(),
                             landlock=False, audit_hook=False)
    assert policy["memory_cap_bytes"] == 0 and policy["file_size_cap_bytes"] == 5000
    assert policy["landlock"] is False and policy["audit_hook"] is False and policy["debug"] is True


# ----------------------------------------------------------------------------- kernelspec
def test_the_kernelspec_runs_the_copied_launcher_with_the_policy_file(work):
    dirs = sp.make_dirs(*work)
    spec = sp.write_kernelspec(dirs)
    with open(os.path.join(dirs.kernels, "python3", "kernel.json")) as fh:
        assert json.load(fh) == spec
    assert spec["argv"] == [sys.executable, os.path.join(dirs.sandbox, "kernel_launcher.py"),
                            os.path.join(dirs.sandbox, "policy.json"), "-f", "{connection_file}"]
    assert spec["display_name"] == "Python 3 (autograder sandbox)" and spec["language"] == "python"
    assert spec["metadata"] == {"debugger": False}
    # the launcher and the IPython startup file are copies of the package's
    assert Path(dirs.launcher).read_bytes() == (SANDBOX_SRC / "kernel_launcher.py").read_bytes()
    assert (Path(dirs.startup) / "00-autograder.py").read_bytes() == (SANDBOX_SRC / "kernel_startup.py").read_bytes()


def test_without_the_sandbox_the_kernelspec_starts_ipykernel_directly(work):
    dirs = sp.make_dirs(*work)
    spec = sp.write_kernelspec(dirs, enabled=False)
    assert spec["argv"] == [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


@pytest.mark.parametrize("name, answers", [("resnet", True), ("python3", False), ("", False),
                                           (os.path.join("a", "b"), False)])
def test_add_kernel_name_makes_the_kernelspec_answer_to_another_name(work, name, answers):
    dirs = sp.make_dirs(*work)
    sp.write_kernelspec(dirs)
    sp.add_kernel_name(work[0], name)
    kernels = sorted(os.listdir(dirs.kernels))
    if answers:
        assert kernels == ["python3", name]
        assert (Path(dirs.kernels) / name / "kernel.json").read_text() == \
            (Path(dirs.kernels) / "python3" / "kernel.json").read_text()
    else:
        assert kernels == ["python3"]


# ---------------------------------------------------------------------------- environment
def test_the_environment_keeps_the_passthrough_variables_and_drops_the_others(work, monkeypatch):
    kept = {"LANG": "C.UTF-8", "LC_ALL": "C", "RESNET_DATA_DIR": "/data", "COURSE_NAME": "resnet",
            "NBGRADER_EXECUTION": "autograde", "CUDA_VISIBLE_DEVICES": "", "PATH": os.environ.get("PATH", "/usr/bin")}
    dropped = {"INSTRUCTOR_SECRET_TOKEN": "s3cret", "AWS_SECRET_ACCESS_KEY": "k", "JUPYTERHUB_API_TOKEN": "t",
               "LD_PRELOAD": "/tmp/evil.so", "XRESNET_X": "1"}
    for k, v in {**kept, **dropped}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("PYTHONPATH", "/instructor/path")
    dirs = sp.make_dirs(*work)
    env = sp.kernel_env(dirs)
    for k, v in kept.items():
        assert env[k] == v, k
    assert not set(dropped) & set(env)
    assert env["PYTHONPATH"] == dirs.pkgs  # not the instructor's
    assert env["AUTOGRADER_SANDBOX"] == "1"
    assert sp.kernel_env(dirs, enabled=False)["AUTOGRADER_SANDBOX"] == "0"


def test_the_environment_points_home_and_tmpdir_inside_the_work_directory(work, monkeypatch):
    monkeypatch.setenv("HOME", "/root-of-instructor")
    monkeypatch.setenv("TMPDIR", "/tmp/instructor")
    dirs = sp.make_dirs(*work)
    env = sp.kernel_env(dirs)
    assert env["HOME"] == dirs.scratch and env["TMPDIR"] == os.path.join(dirs.scratch, "tmp")
    for k in SCRATCH_VARS:
        assert inside(env[k], dirs.scratch), (k, env[k])
    assert env["JUPYTER_RUNTIME_DIR"] == dirs.runtime and env["JUPYTER_PATH"] == dirs.jupyter
    assert env["JUPYTER_PLATFORM_DIRS"] == "1" and env["MPLBACKEND"] == "agg"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_the_environment_sets_the_threads_and_ends_with_extra_env(work, monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    dirs = sp.make_dirs(*work)
    env = sp.kernel_env(dirs)
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "2" and "OMP_NUM_THREADS" not in env
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    env = sp.kernel_env(dirs, threads=3, extra_env={"RESNET_DATA_DIR": "/srv/data", "TMPDIR": "/srv/tmp"})
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "0"
    for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        assert env[k] == "3", k
    assert env["RESNET_DATA_DIR"] == "/srv/data" and env["TMPDIR"] == "/srv/tmp"


# -------------------------------------------------------------------------------- prepare
def test_prepare_writes_the_policy_and_kernelspec_and_returns_the_environment(tmp_path, work, monkeypatch,
                                                                                fake_package):
    monkeypatch.setenv("INSTRUCTOR_SECRET_TOKEN", "s3cret")
    workdir, kernel_cwd = work
    env = sp.prepare(workdir, kernel_cwd, memory_cap_bytes=1 << 31, threads=2,
                     read_packages=("sandboxprobe_pkg",), course_root=str(tmp_path / "course"),
                     extra_env={"RESNET_DATA_DIR": "/srv/data"})
    dirs = sp.SandboxDirs.of(workdir)
    with open(dirs.policy_path) as fh:
        policy = json.load(fh)
    assert policy["memory_cap_bytes"] == 1 << 31 and fake_package in policy["read_dirs"]
    assert policy["write_dirs"] == [os.path.realpath(kernel_cwd), dirs.scratch]
    assert policy["course_root"] == str(tmp_path / "course")
    with open(os.path.join(dirs.kernels, "python3", "kernel.json")) as fh:
        assert json.load(fh)["argv"][1:3] == [dirs.launcher, dirs.policy_path]
    assert os.path.isfile(dirs.launcher) and os.path.isfile(os.path.join(dirs.startup, "00-autograder.py"))
    assert env == sp.kernel_env(dirs, threads=2, extra_env={"RESNET_DATA_DIR": "/srv/data"})
    assert "INSTRUCTOR_SECRET_TOKEN" not in env and env["HOME"] == dirs.scratch
    assert os.path.isdir(env["TMPDIR"]) and os.path.isdir(env["MPLCONFIGDIR"])  # made, for the kernel


def test_with_a_zygote_every_student_gets_the_same_environment_through_its_link(tmp_path, monkeypatch):
    """The kernel's paths name the zygote's link, re-pointed at each student's folder: two
    students, one environment (what the zygote imported with); the kernelspec asks the zygote."""
    from autograder.sandbox.zygote import Zygote

    monkeypatch.delenv("PYTHONPATH", raising=False)
    zygote = Zygote(home=str(tmp_path / "zygote-home"))
    envs = []
    for student in ("s1", "s2"):
        workdir, kernel_cwd = str(tmp_path / f"work-{student}"), str(tmp_path / f"cwd-{student}")
        os.makedirs(workdir)
        envs.append(sp.prepare(workdir, kernel_cwd, memory_cap_bytes=1 << 31, zygote=zygote))
        dirs = sp.SandboxDirs.of(workdir)
        assert os.path.realpath(zygote.link) == dirs.root  # this student's folder, now
        assert os.path.realpath(envs[-1]["HOME"]) == dirs.scratch
        with open(os.path.join(dirs.kernels, "python3", "kernel.json")) as fh:
            argv = json.load(fh)["argv"]
        link = sp.SandboxDirs(zygote.link)
        assert argv == [sys.executable, "-I", "-S", zygote.script, "launch", zygote.socket, link.launcher,
                        link.policy_path, "-f", "{connection_file}"]
        with open(dirs.policy_path) as fh:  # the rules name the real folders
            assert json.load(fh)["write_dirs"] == [os.path.realpath(kernel_cwd), dirs.scratch]
    assert envs[0] == envs[1] and envs[0]["HOME"] == os.path.join(zygote.link, "scratch")
    assert sp.prepare(str(tmp_path / "work-s3"), str(tmp_path / "cwd-s3"), memory_cap_bytes=0, enabled=False,
                      zygote=zygote)["HOME"] == str(tmp_path / "work-s3" / "scratch")  # no sandbox: no zygote
    zygote.close()


# ------------------------------------------------------------------- the rest of the set-up
def test_use_mpl_cache_copies_only_the_font_lists(tmp_path, work):
    cache = tmp_path / "mplcache"
    cache.mkdir()
    (cache / "fontlist-v390.json").write_text("{}")
    (cache / "other.json").write_text("{}")
    env = sp.prepare(*work, memory_cap_bytes=0, read_packages=())
    sp.use_mpl_cache(str(cache), env)
    assert os.listdir(env["MPLCONFIGDIR"]) == ["fontlist-v390.json"]
    sp.use_mpl_cache(None, env)  # no cache: nothing to do


def test_read_denials_keeps_the_refusals_after_the_start_once_and_not_the_quiet_ones(work):
    dirs = sp.make_dirs(*work)
    Path(dirs.denials_log).write_text(
        "INFO limits memory_cap=1 file_size_cap=2\nDENY open read /etc/early\nINFO ready\n"
        "DENY open read /srv/course/gradebook.db\nDENY open read /srv/course/gradebook.db\n"
        "DENY os.listdir read /proc\nDENY subprocess.Popen uname\nDENY subprocess.Popen rm\n")
    deny, info = sp.read_denials(work[0])
    assert deny == ["open read /srv/course/gradebook.db", "subprocess.Popen rm"]
    assert info == ["limits memory_cap=1 file_size_cap=2", "ready"]
    # a second kernel (the notebook graded again): its own start-up is not the student's either
    with open(dirs.denials_log, "a") as fh:
        fh.write("INFO limits memory_cap=1 file_size_cap=2\nDENY os.scandir read /etc/ipython/startup\n"
                 "INFO ready\nDENY open write /srv/course/nbgrader_config.py\n")
    deny, info = sp.read_denials(work[0])
    assert deny == ["open read /srv/course/gradebook.db", "subprocess.Popen rm",
                    "open write /srv/course/nbgrader_config.py"]
    assert info == ["limits memory_cap=1 file_size_cap=2", "ready"]
    os.remove(dirs.denials_log)
    assert sp.read_denials(work[0]) == ([], [])
