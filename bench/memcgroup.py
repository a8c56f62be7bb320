"""A memory cgroup for a measurement: the limit a container enforces (mybinder.org's 2 G), made here.

    with MemoryCgroup(1_750_000_000) as group:    # as root; cgroup v1 or v2, whichever has memory
        group.enter()                                # this process and what it starts from now on
        ...                                          # start the kernel, run the notebook
        group.leave()
    group.peak_bytes, group.oom_kills

A container's limit is a memory cgroup: it charges anonymous memory *and* the page cache of
the files read and written inside it, and reclaims that cache (evicting pages the process
may need again) before it kills a process. Peak RSS, which counts shared library pages that
the kernel may evict, is not the same number. :func:`create` makes a group with the limit
under the cgroup v2 hierarchy when its memory controller can be enabled there, else under
cgroup v1's memory hierarchy; when neither can be made (not root, no cgroup file system
mounted writable) it raises :class:`CgroupUnavailable` with the reason, and callers fall
back to comparing the peak RSS with the limit. :func:`drop_page_cache` empties the page
cache first, so that the run reads the libraries from disk into its own cgroup, as in a
fresh container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

__all__ = ["CgroupUnavailable", "MemoryCgroup", "drop_page_cache"]

CGROUP_ROOT = Path("/sys/fs/cgroup")


class CgroupUnavailable(RuntimeError):
    """No memory cgroup can be created here; the message says why."""


def drop_page_cache() -> str | None:
    """``sync; sysctl vm.drop_caches=3``: None when done, else why not (not root, read-only /proc)."""
    subprocess.run(["sync"], check=False)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        return f"could not drop the page cache: {exc}"
    return None


def _mounts() -> list[tuple[str, str, set[str]]]:
    """``(mount point, type, super options)`` of the cgroup file systems."""
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            out.append((fields[4], tail[0], set(tail[2].split(","))))
    return out


class MemoryCgroup:
    """A new memory cgroup with ``limit`` bytes (see the module docstring); a context manager."""

    def __init__(self, limit: int, prefix: str = "resnet-course-bench"):
        self.limit, self.prefix = int(limit), prefix
        self.path: Path | None = None
        self.version: int | None = None
        self._home: Path | None = None
        self._samples_peak = 0
        self.anon_peak_bytes = 0
        self.mapped_peak_bytes = 0
        self._halt = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- creation ---------------------------------------------------------------------
    def create(self) -> "MemoryCgroup":
        reasons = []
        if os.geteuid() != 0:
            raise CgroupUnavailable(f"creating a cgroup needs root (this process runs as uid {os.geteuid()})")
        for point, fstype, options in _mounts():
            try:
                if fstype == "cgroup2":
                    self._create_v2(Path(point))
                elif "memory" in options:
                    self._create_v1(Path(point))
                else:
                    continue
                return self
            except (OSError, CgroupUnavailable) as exc:
                reasons.append(f"{fstype} at {point}: {exc}")
        raise CgroupUnavailable("no memory cgroup could be created: " + ("; ".join(reasons) or "no cgroup file system mounted"))

    def _new_folder(self, parent: Path) -> Path:
        folder = parent / f"{self.prefix}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder

    def _create_v2(self, mount: Path) -> None:
        if "memory" not in (mount / "cgroup.controllers").read_text().split():
            raise CgroupUnavailable("the memory controller is not available in this hierarchy")
        subtree = mount / "cgroup.subtree_control"
        if "memory" not in subtree.read_text().split():
            subtree.write_text("+memory")
        folder = self._new_folder(mount)
        try:
            (folder / "memory.max").write_text(str(self.limit))
            if (folder / "memory.swap.max").exists():   # no swapping past the limit either
                (folder / "memory.swap.max").write_text("0")
        except OSError:
            folder.rmdir()
            raise
        self.path, self.version = folder, 2

    def _create_v1(self, mount: Path) -> None:
        folder = self._new_folder(mount)
        try:
            (folder / "memory.limit_in_bytes").write_text(str(self.limit))
            swap = folder / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(self.limit))
        except OSError:
            folder.rmdir()
            raise
        self.path, self.version = folder, 1

    # -- membership -------------------------------------------------------------------
    def add(self, pid: int) -> None:
        """Move process ``pid`` into the group (its children started later follow it)."""
        (self.path / "cgroup.procs").write_text(str(pid))

    def enter(self) -> None:
        """Move this process into the group, remembering where it was."""
        self._home = self._current_folder()
        self.add(os.getpid())

    def leave(self) -> None:
        """Move this process back to where :meth:`enter` found it."""
        if self._home is not None:
            (self._home / "cgroup.procs").write_text(str(os.getpid()))
            self._home = None

    def _current_folder(self) -> Path:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            if (self.version == 2 and number == "0") or (self.version == 1 and "memory" in controllers.split(",")):
                return self.path.parent / path.lstrip("/") if path != "/" else self.path.parent
        return self.path.parent

    # -- readings ---------------------------------------------------------------------
    def _read(self, name: str) -> str:
        return (self.path / name).read_text()

    def usage_bytes(self) -> int:
        return int(self._read("memory.current" if self.version == 2 else "memory.usage_in_bytes"))

    def anon_and_mapped_bytes(self) -> tuple[int, int]:
        """Anonymous memory and mapped file pages (the libraries' code and data in use) charged now
        (``memory.stat``: v1 ``rss``/``mapped_file``, v2 ``anon``/``file_mapped``)."""
        stat = self.stat()
        return stat.get("anon", stat.get("rss", 0)), stat.get("file_mapped", stat.get("mapped_file", 0))

    def sample(self) -> None:
        """Record the current usage (cgroup v2 before ``memory.peak`` existed, Linux < 5.19), anonymous
        memory and mapped file pages (which no file records a peak of)."""
        try:
            self._samples_peak = max(self._samples_peak, self.usage_bytes())
            anon, mapped = self.anon_and_mapped_bytes()
            self.anon_peak_bytes = max(self.anon_peak_bytes, anon)
            self.mapped_peak_bytes = max(self.mapped_peak_bytes, mapped)
        except OSError:   # removed meanwhile
            pass

    def start_sampling(self, interval: float = 0.2) -> None:
        """Call :meth:`sample` every ``interval`` seconds in a thread until :meth:`remove`."""
        def loop():
            while not self._halt.wait(interval):
                self.sample()

        self._sampler = threading.Thread(target=loop, daemon=True)
        self._sampler.start()

    @property
    def peak_bytes(self) -> int:
        """The highest charge (anonymous memory and page cache) the group has had."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        if (self.path / name).exists():
            return max(int(self._read(name)), self._samples_peak)
        return self._samples_peak

    def stat(self) -> dict[str, int]:
        return {k: int(v) for k, v in (line.split() for line in self._read("memory.stat").splitlines())}

    @property
    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the limit."""
        text = self._read("memory.events" if self.version == 2 else "memory.oom_control")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def describe(self) -> str:
        """``"cgroup v1, limit 1750000000 bytes"`` (``"no limit"`` for a group made only to measure)."""
        limit = "no limit" if self.limit >= 2**60 else f"limit {self.limit} bytes"
        return f"cgroup v{self.version}, {limit}"

    # -- removal ----------------------------------------------------------------------
    def pids(self) -> list[int]:
        """The processes in the group now."""
        return [int(p) for p in self._read("cgroup.procs").split()]

    def remove(self, timeout: float = 10.0) -> None:
        """Remove the group (moving this process out first): its other processes get ``timeout``
        seconds to exit (a kernel shutting down), then are killed."""
        if self.path is None:
            return
        self._halt.set()
        if self._sampler is not None:
            self._sampler.join()
        self.leave()
        deadline = time.monotonic() + timeout
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.path = None

    def __enter__(self) -> "MemoryCgroup":
        return self.create() if self.path is None else self

    def __exit__(self, *exc) -> None:
        self.remove()
