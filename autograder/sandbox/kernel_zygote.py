"""A "zygote" for the grading kernels: one process per grading worker imports TensorFlow (and
whatever else every notebook imports) once, and each student's kernel is forked from it.

Run as a script by the grading worker (it must not import ``autograder``)::

    python kernel_zygote.py serve SOCKET MODULE[:FUNCTION]...
    python -I -S kernel_zygote.py launch SOCKET LAUNCHER POLICY -f CONNECTION_FILE

``serve`` (started by :mod:`autograder.sandbox.zygote` with the kernels' environment) imports
each MODULE (and calls FUNCTION when one is given), prints ``ready`` and waits on the Unix
socket SOCKET.  ``launch`` is the kernelspec's command.  It hands its environment, working
directory and standard streams to the zygote, which forks.  The child does what
``python LAUNCHER POLICY -f CONNECTION_FILE`` would do (the launcher applies the sandbox,
then ipykernel starts), without paying for the imports again.  The launch process stands in
for the kernel towards jupyter_client:

- the signals it receives (interrupts) go to the kernel's process group;
- it exits with the kernel's exit status;
- when it is killed, the zygote kills the kernel.

The zygote refuses a request when the kernel's environment differs from its own in anything
but :data:`PER_KERNEL`, because imports read the environment. Then ``launch`` runs the
launcher itself: the kernel starts as it would without a zygote, only slower. It does the
same when no zygote is listening.

Only a direct child of the zygote's parent (the grading worker, whose jupyter_client starts
the launch process) is served.  A sandboxed kernel cannot connect anyway: its audit hook
refuses ``socket.connect``.
"""

import json
import os
import select
import signal
import socket
import sys

#: environment variables that may differ between the zygote and a kernel (jupyter_client's own)
PER_KERNEL = ("JPY_PARENT_PID", "JPY_SESSION_NAME", "PWD", "OLDPWD", "_")
#: the signals the launch process passes on to the kernel
FORWARDED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
MAX_REQUEST = 1 << 20
PR_SET_PDEATHSIG = 1


def env_difference(mine, theirs):
    """The names of the variables whose values differ, :data:`PER_KERNEL` left out."""
    keys = (set(mine) | set(theirs)) - set(PER_KERNEL)
    return sorted(k for k in keys if mine.get(k) != theirs.get(k))


def _die_with_parent():
    """SIGKILL this process when its parent dies (Linux)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _parent_of(pid):
    with open("/proc/%d/stat" % pid) as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])


# ------------------------------------------------------------------------------- serve
def preload(names):
    """Import each ``module`` or ``module:function`` (then call the function). One that fails is
    reported on stderr and left for the kernels to import."""
    import importlib

    for name in names:
        module, _, function = name.partition(":")
        try:
            mod = importlib.import_module(module)
            if function:
                getattr(mod, function)()
        except Exception as exc:
            sys.stderr.write("[kernel_zygote] not preloaded: %s (%s: %s)\n" % (name, type(exc).__name__, exc))


def serve(path, names):
    """Preload, then answer launch requests one at a time. Returns only in a forked child:
    ``(request, fds)`` for :func:`become_kernel`."""
    _die_with_parent()
    base = dict(os.environ)
    preload(names)
    added = {k: v for k, v in os.environ.items() if base.get(k) != v}  # e.g. set by a preload function
    import gc

    gc.collect()
    gc.freeze()  # the imported objects stay out of the children's collections: fewer copied pages
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    if os.path.lexists(path):
        os.unlink(path)
    listener.bind(path)
    os.chmod(path, 0o600)
    listener.listen(4)
    print("ready", flush=True)
    os.dup2(2, 1)  # nobody reads the pipe after this line: the rest goes to the worker's log
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                child = answer(conn, base, added)
            except (OSError, ValueError):
                child = None
            if child is not None:
                listener.close()
                return child


def _peer_pid(conn):
    import struct

    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _ = struct.unpack("3i", creds)
    return pid, uid


def answer(conn, base, added):
    """Serve one launch request: check it against the environment the zygote started with
    (``base``), fork the kernel, watch it until it exits. Returns ``(request, fds)`` in the
    forked child (its environment: the request's, plus what the preloading ``added``), None
    in the zygote."""
    msg, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 3)
    try:
        request, refusal = check(conn, msg, fds, base)
    except OSError:  # the launch process is already gone
        request, refusal = None, "no launch process"
    if refusal:
        _close(fds)
        conn.send(("refused: " + refusal).encode())
        return None
    child = os.fork()
    if child == 0:
        request["env"].update(added)
        return request, fds
    _close(fds)
    conn.send(b"started %d" % child)
    watch(conn, child)
    return None


def check(conn, msg, fds, base):
    """``(request, None)``, or ``(None, why it is refused)``."""
    pid, uid = _peer_pid(conn)
    if uid != os.getuid() or _parent_of(pid) != os.getppid():
        return None, "not started by the grading worker"
    try:
        request = json.loads(msg.decode("utf-8"))
        env, argv, cwd = dict(request["env"]), list(request["argv"]), str(request["cwd"])
    except (ValueError, KeyError, TypeError):
        return None, "not a launch request"
    if len(fds) != 3 or len(argv) < 1:
        return None, "not a launch request"
    differ = env_difference(base, env)
    if differ:
        return None, "the environment differs in " + ", ".join(differ[:5])
    return {"env": env, "argv": argv, "cwd": cwd}, None


def _close(fds):
    for fd in fds:
        os.close(fd)


def watch(conn, child):
    """Pass the launch process's signals on to the kernel and tell it the kernel's exit status;
    kill the kernel when the launch process goes away first."""
    pidfd = os.pidfd_open(child)
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    poller.register(pidfd, select.POLLIN)
    reaped = False
    try:
        while True:
            if pidfd in dict(poller.poll()):
                _, status = os.waitpid(child, 0)
                reaped = True
                conn.send(b"exit %d" % os.waitstatus_to_exitcode(status))
                return
            data = conn.recv(64)
            if not data:  # the launch process is gone: so goes the kernel
                return
            if data.startswith(b"signal "):
                _signal_group(child, int(data.split()[1]))
    finally:
        os.close(pidfd)
        if not reaped:
            _signal_group(child, signal.SIGKILL)
            os.waitpid(child, 0)


def _signal_group(child, signum):
    try:
        os.killpg(child, signum)
    except OSError:
        try:
            os.kill(child, signum)
        except OSError:
            pass


def become_kernel(request, fds):
    """In the forked child: the launch process's streams, directory and environment, then the
    launcher as a script (as ``python LAUNCHER POLICY -f FILE`` would run it)."""
    os.setsid()
    _die_with_parent()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    reseed()
    launcher = request["argv"][0]
    sys.argv = list(request["argv"])
    sys.path[0] = os.path.dirname(launcher)
    import runpy

    runpy.run_path(launcher, init_globals={"ZYGOTE_PID": os.getppid()}, run_name="__main__")


def reseed():
    """Fresh random state, as a new process would have (Python's own ``random`` reseeds at fork)."""
    import tempfile

    tempfile.tempdir = None  # TMPDIR is read again
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


# ------------------------------------------------------------------------------ launch
def launch(path, argv):
    """The kernelspec's command: have the zygote fork the kernel, or run the launcher."""
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(path)
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode("utf-8")], [0, 1, 2])
        reply = conn.recv(256)
        if not reply.startswith(b"started "):
            raise OSError(reply.decode("utf-8", "replace") or "no answer")
    except OSError as exc:
        sys.stderr.write("[kernel_zygote] starting the kernel without the zygote: %s\n" % (exc,))
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable] + argv)
    for name in FORWARDED:
        signal.signal(getattr(signal, name), lambda signum, frame: conn.send(b"signal %d" % signum))
    while True:
        data = conn.recv(64)
        if data.startswith(b"exit "):
            code = int(data.split()[1])
            if code < 0:  # killed by a signal: so is the stand-in
                signal.signal(-code, signal.SIG_DFL)
                os.kill(os.getpid(), -code)
            os._exit(code & 0xFF)
        if not data:
            os._exit(1)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        become_kernel(*serve(sys.argv[2], sys.argv[3:]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "launch":
        launch(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: kernel_zygote.py serve SOCKET MODULE... | launch SOCKET LAUNCHER POLICY -f FILE")


if __name__ == "__main__":
    main()
