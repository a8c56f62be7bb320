"""How much memory this process may use: its container's limit (a memory cgroup) and the machine's RAM.

    from resnet_utils.memory import memory_limit
    memory_limit()   # MemoryLimit(bytes=1750000000, source='cgroup v1 memory.limit_in_bytes of /binder')

mybinder.org, JupyterHub on Kubernetes and Docker limit a container's memory with a cgroup;
the kernel of a notebook that goes past it is killed ("kernel died"). The limit counts
anonymous memory *and* the page cache of the files the container reads, so it is the number
that matters, not the machine's free memory. This module reads it the way the kernel
defines it:

- **cgroup v2** (one unified hierarchy): ``memory.max`` of this process's cgroup and of each
  ancestor up to the mount point (the smallest applies; ``max`` means none);
- **cgroup v1**: ``memory.stat``'s ``hierarchical_memory_limit`` of this process's memory
  cgroup (the smallest ``memory.limit_in_bytes`` on the way up; the kernel computes it),
  else ``memory.limit_in_bytes``; a value of 2**60 or more means none (the kernel writes
  ``PAGE_COUNTER_MAX`` pages, 9223372036854771712 on x86-64).

This process's cgroup comes from ``/proc/self/cgroup`` and the mount points from
``/proc/self/mountinfo`` (a container usually sees its own cgroup as ``/``; a process
moved into a cgroup on the host sees the cgroup's path). A limit larger than the machine's
RAM (``MemTotal`` of ``/proc/meminfo``) is reported as the RAM. Where nothing can be
read (another OS, a file that cannot be opened or parsed) the result says so and
``bytes`` is None: the caller then treats the memory as unknown, not as small.

The environment variable ``RESNET_MEMORY_LIMIT`` (bytes, e.g. ``1750000000`` or ``1.75e9``)
sets a lower limit by hand: for a machine whose limit is not a cgroup, or to try what a
smaller container gets. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENV_LIMIT", "MemoryLimit", "memory_limit", "cgroup_limit", "ram_bytes", "UNLIMITED"]

#: The environment variable that sets a limit by hand (bytes).
ENV_LIMIT = "RESNET_MEMORY_LIMIT"
#: Values at or above this mean "no limit" (cgroup v1 writes PAGE_COUNTER_MAX pages).
UNLIMITED = 2**60


@dataclass(frozen=True)
class MemoryLimit:
    """The memory this process may use, in bytes (None: unknown), and where the number comes from."""

    bytes: int | None
    source: str

    def __str__(self) -> str:
        if self.bytes is None:
            return f"no memory limit known ({self.source})"
        return f"{self.bytes / 1e9:.2f} GB ({self.source})"


def _mounts(proc: Path) -> list[tuple[str, str, str, set[str]]]:
    """``(root, mount point, filesystem type, super options)`` of every cgroup mount in mountinfo."""
    found = []
    for line in (proc / "self" / "mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            found.append((fields[3], fields[4], tail[0], set(tail[2].split(","))))
    return found


def _own_cgroups(proc: Path) -> dict[str, str]:
    """``{"v2": path}`` and/or ``{"v1": path}`` of this process's (memory) cgroup, from /proc/self/cgroup."""
    own = {}
    for line in (proc / "self" / "cgroup").read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        number, controllers, path = parts
        if number == "0" and controllers == "":
            own["v2"] = path
        elif "memory" in controllers.split(","):
            own["v1"] = path
    return own


def _folder(mount_root: str, mount_point: str, path: str) -> Path:
    """The folder of cgroup ``path`` under a mount of the hierarchy's ``mount_root``."""
    relative = path[len(mount_root):] if path.startswith(mount_root) else path
    return Path(mount_point) / relative.lstrip("/")


def _read_limit(text: str) -> int | None:
    value = text.strip()
    if value == "max":
        return None
    number = int(value)
    return None if number >= UNLIMITED else number


def _v2_limit(mount_point: str, folder: Path) -> tuple[int | None, str] | None:
    """The smallest ``memory.max`` from ``folder`` up to the mount point; None if there is none to read."""
    limits, seen = [], False
    top = Path(mount_point)
    for current in (folder, *folder.parents):
        file = current / "memory.max"
        if file.is_file():
            seen = True
            limit = _read_limit(file.read_text())
            if limit is not None:
                limits.append((limit, current))
        if current == top or top not in current.parents:
            break
    if not seen:
        return None
    if not limits:
        return None, "cgroup v2: memory.max is 'max'"
    limit, where = min(limits)
    return limit, f"cgroup v2 memory.max of {'/' + where.relative_to(top).as_posix() if where != top else '/'}"


def _v1_limit(folder: Path, path: str) -> tuple[int | None, str] | None:
    """``hierarchical_memory_limit`` (else ``memory.limit_in_bytes``) of the v1 memory cgroup ``folder``."""
    stat = folder / "memory.stat"
    if stat.is_file():
        for line in stat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "hierarchical_memory_limit":
                limit = _read_limit(value)
                return limit, f"cgroup v1 hierarchical_memory_limit of {path}"
    file = folder / "memory.limit_in_bytes"
    if file.is_file():
        return _read_limit(file.read_text()), f"cgroup v1 memory.limit_in_bytes of {path}"
    return None


def cgroup_limit(proc: str | Path = "/proc") -> MemoryLimit:
    """The memory limit of this process's cgroup (v2 first, then v1); ``bytes`` None when there is none.

    ``proc`` is where ``/proc`` is (the tests point it at a made-up tree). Raises ``OSError``
    or ``ValueError`` when the files exist but cannot be read or parsed.
    """
    proc = Path(proc)
    own = _own_cgroups(proc)
    for root, point, fstype, options in _mounts(proc):
        if fstype == "cgroup2" and "v2" in own:
            found = _v2_limit(point, _folder(root, point, own["v2"]))
        elif fstype == "cgroup" and "memory" in options and "v1" in own:
            found = _v1_limit(_folder(root, point, own["v1"]), own["v1"])
        else:
            continue
        if found is not None:
            return MemoryLimit(*found)
    return MemoryLimit(None, "no cgroup memory limit")


def ram_bytes(proc: str | Path = "/proc") -> int | None:
    """The machine's RAM (``MemTotal`` of ``/proc/meminfo``), or None where it cannot be read."""
    try:
        for line in (Path(proc) / "meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _env_limit() -> MemoryLimit | None:
    """The limit set with ``RESNET_MEMORY_LIMIT``, if any; ValueError for a value that is not bytes."""
    import os

    text = os.environ.get(ENV_LIMIT, "").strip()
    if not text:
        return None
    try:
        value = int(float(text))
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{ENV_LIMIT}={text!r} is not a number of bytes: write e.g. {ENV_LIMIT}=1750000000 "
                         f"(1.75 GB), or unset it")
    return MemoryLimit(value, f"set with {ENV_LIMIT}")


def memory_limit(proc: str | Path = "/proc") -> MemoryLimit:
    """The memory this process may use: the smallest of its cgroup's limit, the machine's RAM
    and ``RESNET_MEMORY_LIMIT``.

    Does not raise for the system's files: a cgroup file that cannot be read or parsed gives
    ``bytes=None`` with the reason in ``source`` (or the RAM, if that can be read). An invalid
    ``RESNET_MEMORY_LIMIT`` raises ValueError saying what to write.
    """
    by_hand = _env_limit()
    try:
        limit = cgroup_limit(proc)
    except (OSError, ValueError) as exc:
        limit = MemoryLimit(None, f"cgroup files unreadable: {type(exc).__name__}: {exc}")
    ram = ram_bytes(proc)
    if ram is not None and (limit.bytes is None or ram < limit.bytes):
        limit = MemoryLimit(ram, f"the machine's RAM; {limit.source}")
    if by_hand is not None and (limit.bytes is None or by_hand.bytes < limit.bytes):
        return by_hand
    return limit
