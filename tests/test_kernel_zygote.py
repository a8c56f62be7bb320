"""The grading worker's kernel zygote (autograder/sandbox/kernel_zygote.py, zygote.py): a
kernel is forked from it with the launch process's environment, folder, arguments and
streams; signals reach the kernel; the kernel dies with the launch process; a request it
must not serve starts the kernel without it.

A stand-in launcher script (it reports what it sees) replaces the sandbox's launcher, and
the zygote preloads a small module instead of TensorFlow, so no kernel is started here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from autograder.sandbox import kernel_zygote
from autograder.sandbox.zygote import Zygote, env_difference, is_zygote

LAUNCHER = """\
import json, os, signal, sys, time
out = sys.argv[sys.argv.index("-f") + 1]
def report(**extra):
    info = dict(pid=os.getpid(), ppid=os.getppid(), cwd=os.getcwd(), argv=sys.argv,
                mark=os.environ.get("MARK"), preloaded="zygote_preload" in sys.modules,
                added=os.environ.get("ZYGOTE_ADDED"), pgid=os.getpgid(0), **extra)
    with open(out + ".tmp", "w") as fh:
        json.dump(info, fh)
    os.replace(out + ".tmp", out)
signal.signal(signal.SIGINT, lambda *a: report(interrupted=True))
report()
print("to stdout", flush=True)
mode = os.environ.get("MODE", "exit")
if mode == "wait":
    while True:
        time.sleep(0.05)
sys.exit(7)
"""

PRELOAD = """\
import os
def setup():
    os.environ["ZYGOTE_ADDED"] = "yes"
"""


@pytest.fixture
def zygote(tmp_path):
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "zygote_preload.py").write_text(PRELOAD)
    (tmp_path / "launcher.py").write_text(LAUNCHER)
    env = {k: v for k, v in os.environ.items() if k.startswith(("PATH", "LANG", "LC_"))}
    env.update(PYTHONPATH=str(tmp_path / "pkgs"), MARK="same", MODE="exit")
    z = Zygote(home=str(tmp_path / "home"))
    assert z.ensure(env, ["zygote_preload:setup"]) is None
    yield z, env, tmp_path
    z.close()


def launch(z: Zygote, env: dict, tmp_path, **extra) -> tuple[subprocess.Popen, str]:
    """Start the kernelspec's command as jupyter_client does: a direct child of this process."""
    out = str(tmp_path / "report.json")
    if os.path.exists(out):
        os.remove(out)
    argv = [a.replace("{connection_file}", out) for a in z.launch_argv(str(tmp_path / "launcher.py"), "POLICY")]
    cwd = tmp_path / "cwd"
    cwd.mkdir(exist_ok=True)
    proc = subprocess.Popen(argv, env=dict(env, **extra), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    return proc, out


def read_report(path: str, timeout: float = 20.0) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if os.path.exists(path):
            with open(path) as fh:
                return json.load(fh)
        time.sleep(0.02)
    raise AssertionError(f"the stand-in launcher did not report in {timeout} s")


def gone(pid: int, timeout: float = 10.0) -> bool:
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_forked_kernel_gets_the_launch_process_environment_folder_arguments_and_streams(zygote):
    z, env, tmp_path = zygote
    proc, out = launch(z, env, tmp_path)
    stdout, stderr = proc.communicate(timeout=30)
    info = read_report(out)
    assert proc.returncode == 7, stderr  # the kernel's exit status
    assert info["ppid"] == z.proc.pid and info["pid"] != proc.pid  # forked from the zygote
    assert info["preloaded"] and info["added"] == "yes"  # imported once, with what the preload set
    assert info["cwd"] == str(tmp_path / "cwd") and info["mark"] == "same"
    assert info["argv"] == [str(tmp_path / "launcher.py"), "POLICY", "-f", out]
    assert info["pgid"] == info["pid"]  # a process group of its own (killed as one)
    assert stdout == b"to stdout\n" and b"without the zygote" not in stderr


def test_interrupt_reaches_the_kernel_and_killing_the_launch_process_kills_it(zygote):
    z, env, tmp_path = zygote
    proc, out = launch(z, env, tmp_path, MODE="wait")
    kernel = read_report(out)["pid"]
    os.remove(out)
    proc.send_signal(signal.SIGINT)  # jupyter_client's interrupt
    assert read_report(out)["interrupted"]
    proc.kill()  # jupyter_client's kill
    proc.wait(timeout=10)
    assert gone(kernel), "the kernel outlived its launch process"
    proc2, out2 = launch(z, env, tmp_path)  # the zygote serves the next kernel
    proc2.communicate(timeout=30)
    assert proc2.returncode == 7 and read_report(out2)["ppid"] == z.proc.pid


def test_a_different_environment_starts_the_kernel_without_the_zygote(zygote):
    z, env, tmp_path = zygote
    proc, out = launch(z, env, tmp_path, MARK="other")
    _, stderr = proc.communicate(timeout=60)
    info = read_report(out)
    assert proc.returncode == 7
    assert info["pid"] == proc.pid and not info["preloaded"]  # the launcher ran in the launch process itself
    assert info["mark"] == "other"
    assert b"refused: the environment differs in MARK" in stderr


def test_no_zygote_listening_starts_the_kernel_without_it(zygote):
    z, env, tmp_path = zygote
    z.stop()
    proc, out = launch(z, env, tmp_path)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 7 and read_report(out)["pid"] == proc.pid
    assert b"starting the kernel without the zygote" in stderr


def test_only_a_child_of_the_worker_is_served(zygote):
    """A process that the worker did not start (here: the worker itself) gets nothing forked."""
    z, env, tmp_path = zygote
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(z.socket)
    request = {"argv": [str(tmp_path / "launcher.py"), "P", "-f", str(tmp_path / "x.json")],
               "cwd": str(tmp_path), "env": dict(env)}
    socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
    assert conn.recv(256) == b"refused: not started by the grading worker"
    conn.close()
    assert not os.path.exists(tmp_path / "x.json")


def test_ensure_keeps_a_matching_zygote_and_restarts_for_another_environment(zygote):
    z, env, tmp_path = zygote
    first = z.proc.pid
    assert z.ensure(env, ["zygote_preload:setup"]) is None and z.proc.pid == first
    assert z.ensure(dict(env, MARK="other"), ["zygote_preload:setup"]) is None
    assert z.proc.pid != first and gone(first)
    assert z.ensure(env, ["no_such_module_here", "zygote_preload"]) is None  # the rest is preloaded
    proc, out = launch(z, env, tmp_path)
    _, stderr = proc.communicate(timeout=30)
    assert read_report(out)["preloaded"] and read_report(out)["ppid"] == z.proc.pid
    why = z.ensure(env, ["os:abort"])  # the zygote dies while preloading
    assert why and "did not start" in why and not z.running()
    t0 = time.time()
    assert z.ensure(env, ["os:abort"]) == why and time.time() - t0 < 0.5  # not tried again


def test_zygote_dies_with_its_worker(tmp_path):
    """A worker killed over a limit takes its zygote along (PR_SET_PDEATHSIG)."""
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from autograder.sandbox.zygote import Zygote\n"
            "z = Zygote(home=%r); assert z.ensure({'PATH': '/usr/bin:/bin'}, ['json']) is None\n"
            "print(z.proc.pid, flush=True); time.sleep(60)\n") % (os.getcwd(), str(tmp_path / "h"))
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    pid = int(worker.stdout.readline())
    worker.kill()
    worker.wait()
    assert gone(pid)


def test_env_difference_leaves_out_what_jupyter_client_sets_per_kernel():
    a = {"HOME": "/h", "JPY_PARENT_PID": "1", "PWD": "/a"}
    assert env_difference(a, {"HOME": "/h", "JPY_PARENT_PID": "2"}) == []
    assert env_difference(a, {"HOME": "/x", "EXTRA": "1"}) == ["EXTRA", "HOME"]
    assert kernel_zygote.PER_KERNEL == ("JPY_PARENT_PID", "JPY_SESSION_NAME", "PWD", "OLDPWD", "_")


def test_is_zygote_recognises_only_the_serving_command():
    assert is_zygote(["/venv/bin/python", "/tmp/ag-zygote-1/kernel_zygote.py", "serve", "/s", "keras"])
    assert not is_zygote(["/venv/bin/python", "-I", "-S", "/tmp/ag-zygote-1/kernel_zygote.py", "launch", "/s"])
    assert not is_zygote(["/venv/bin/python", "kernel_launcher.py", "serve"])
