"""resnet_utils.memory: the container's memory limit, read as the kernel defines it (made-up /proc trees)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from resnet_utils.memory import UNLIMITED, cgroup_limit, memory_limit, ram_bytes

GIB = 2**30
V1_UNLIMITED = 9223372036854771712   # what cgroup v1 writes for "no limit" on x86-64


def fake_proc(tmp_path: Path, *, cgroup: str, mountinfo: list[str], ram_kib: int | None = 24 * 2**20) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup)
    (proc / "self" / "mountinfo").write_text("\n".join(mountinfo) + "\n")
    if ram_kib is not None:
        (proc / "meminfo").write_text(f"MemTotal:       {ram_kib} kB\nMemFree:        1000 kB\n")
    return proc


def v2_tree(tmp_path: Path, limits: dict[str, str], own: str = "/") -> Path:
    """A cgroup2 mount at tmp/cg with ``memory.max`` files; this process in ``own``."""
    mount = tmp_path / "cg"
    for rel, value in limits.items():
        folder = mount / rel.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.max").write_text(value + "\n")
    return fake_proc(tmp_path, cgroup=f"0::{own}\n",
                     mountinfo=[f"41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw"])


def v1_tree(tmp_path: Path, limit: int, own: str = "/", hierarchical: int | None = None) -> Path:
    """A cgroup v1 memory mount at tmp/memory (hybrid: an empty cgroup2 mount too)."""
    mount = tmp_path / "memory"
    folder = mount / own.lstrip("/")
    folder.mkdir(parents=True)
    (folder / "memory.limit_in_bytes").write_text(f"{limit}\n")
    if hierarchical is not None:
        (folder / "memory.stat").write_text(f"cache 0\nrss 0\nhierarchical_memory_limit {hierarchical}\n")
    (tmp_path / "unified").mkdir()
    return fake_proc(tmp_path, cgroup=f"9:name=systemd:/\n4:memory:{own}\n1:cpu:/\n0::/\n",
                     mountinfo=[f"35 31 0:32 / {mount} rw,relatime - cgroup cgroup rw,memory",
                                f"32 31 0:29 / {tmp_path / 'cpu'} rw,relatime - cgroup cgroup rw,cpu",
                                f"41 31 0:38 / {tmp_path / 'unified'} rw,relatime - cgroup2 cgroup2 rw"])


def test_v2_limit_of_a_container(tmp_path):
    proc = v2_tree(tmp_path, {"/": "1750000000"})
    limit = cgroup_limit(proc)
    assert limit.bytes == 1_750_000_000
    assert "cgroup v2" in limit.source and "memory.max" in limit.source
    assert memory_limit(proc).bytes == 1_750_000_000


def test_v2_smallest_limit_on_the_way_up_applies(tmp_path):
    proc = v2_tree(tmp_path, {"/": "max", "/pod": "2000000000", "/pod/notebook": "max"}, own="/pod/notebook")
    limit = cgroup_limit(proc)
    assert limit.bytes == 2_000_000_000
    assert "/pod" in limit.source


def test_v2_max_everywhere_is_no_limit_and_the_ram_counts(tmp_path):
    proc = v2_tree(tmp_path, {"/": "max"})
    assert cgroup_limit(proc).bytes is None
    total = memory_limit(proc)
    assert total.bytes == 24 * GIB
    assert "RAM" in total.source


def test_v1_limit_from_hierarchical_memory_limit(tmp_path):
    proc = v1_tree(tmp_path, V1_UNLIMITED, own="/binder", hierarchical=1_500_000_000)
    limit = cgroup_limit(proc)
    assert limit.bytes == 1_500_000_000
    assert "cgroup v1" in limit.source and "/binder" in limit.source


def test_v1_limit_in_bytes_without_memory_stat(tmp_path):
    proc = v1_tree(tmp_path, 1_750_003_712, own="/mx1")
    assert cgroup_limit(proc).bytes == 1_750_003_712


def test_v1_unlimited_value_is_no_limit(tmp_path):
    proc = v1_tree(tmp_path, V1_UNLIMITED, hierarchical=V1_UNLIMITED)
    assert V1_UNLIMITED >= UNLIMITED
    assert cgroup_limit(proc).bytes is None
    assert memory_limit(proc).bytes == 24 * GIB


def test_container_with_its_own_cgroup_namespace_root(tmp_path):
    """Mounted with the container's cgroup as the mount's root, /proc/self/cgroup shows the full path."""
    mount = tmp_path / "cg"
    mount.mkdir()
    (mount / "memory.max").write_text("1000000000\n")
    proc = fake_proc(tmp_path, cgroup="0::/kubepods/pod1/c1\n",
                     mountinfo=[f"41 31 0:38 /kubepods/pod1/c1 {mount} rw - cgroup2 cgroup2 rw"])
    assert cgroup_limit(proc).bytes == 1_000_000_000


def test_a_limit_above_the_ram_is_the_ram(tmp_path):
    proc = v2_tree(tmp_path, {"/": str(64 * GIB)})
    assert memory_limit(proc).bytes == 24 * GIB


def test_no_cgroup_mounts_at_all(tmp_path):
    proc = fake_proc(tmp_path, cgroup="", mountinfo=["23 1 8:1 / / rw - ext4 /dev/sda1 rw"])
    assert cgroup_limit(proc).bytes is None
    assert cgroup_limit(proc).source == "no cgroup memory limit"


def test_unparsable_limit_is_reported_not_raised(tmp_path):
    proc = v2_tree(tmp_path, {"/": "lots"})
    with pytest.raises(ValueError):
        cgroup_limit(proc)
    limit = memory_limit(proc)
    assert limit.bytes == 24 * GIB                  # the RAM still bounds it
    assert "unreadable" in limit.source and "lots" in limit.source


def test_unreadable_limit_file(tmp_path):
    proc = v1_tree(tmp_path, 1_000_000_000, own="/c", hierarchical=1_000_000_000)
    (proc / "self" / "cgroup").unlink()
    (proc / "self" / "cgroup").mkdir()          # unreadable as a file, even for root
    limit = memory_limit(proc)
    assert limit.bytes == 24 * GIB and "IsADirectoryError" in limit.source


def test_unreadable_everything_gives_none(tmp_path):
    proc = tmp_path / "nothing"
    limit = memory_limit(proc)
    assert limit.bytes is None
    assert "unreadable" in limit.source and "FileNotFoundError" in limit.source
    assert "no memory limit known" in str(limit)
    assert ram_bytes(proc) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")
def test_this_machine_gives_a_number():
    limit = memory_limit()
    assert limit.bytes is not None and limit.bytes > 0
    assert ram_bytes() >= limit.bytes


def test_a_limit_set_by_hand_lowers_the_limit(tmp_path, monkeypatch):
    proc = v2_tree(tmp_path, {"/": "2000000000"})
    monkeypatch.setenv("RESNET_MEMORY_LIMIT", "1.5e9")
    limit = memory_limit(proc)
    assert limit.bytes == 1_500_000_000 and "RESNET_MEMORY_LIMIT" in limit.source
    monkeypatch.setenv("RESNET_MEMORY_LIMIT", "3000000000")      # never raises the container's limit
    assert memory_limit(proc).bytes == 2_000_000_000


@pytest.mark.parametrize("value", ["lots", "-5", "0"])
def test_an_invalid_limit_by_hand_says_what_to_write(tmp_path, monkeypatch, value):
    monkeypatch.setenv("RESNET_MEMORY_LIMIT", value)
    with pytest.raises(ValueError, match=r"RESNET_MEMORY_LIMIT=.* is not a number of bytes: write e\.g\. "
                                         r"RESNET_MEMORY_LIMIT=1750000000"):
        memory_limit(v2_tree(tmp_path, {"/": "max"}))
