"""bench/memcgroup.py: a real memory cgroup (as Binder enforces one), and the notebook run inside one.

Creating a cgroup needs root and a cgroup file system with the memory controller (CI and the
developers' machines have cgroup v1's); elsewhere these tests are skipped with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from memcgroup import CgroupUnavailable, MemoryCgroup  # noqa: E402

MIB = 2**20

#: Allocates and touches N MiB, then says so.
TOUCH = "import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b'x' * len(b[::4096]); print('done')"


@pytest.fixture
def group_of():
    made = []

    def make(limit: int) -> MemoryCgroup:
        try:
            group = MemoryCgroup(limit).create()
        except CgroupUnavailable as exc:
            pytest.skip(str(exc))
        made.append(group)
        return group

    yield make
    for group in made:
        group.remove()


def run_in(group: MemoryCgroup, mib: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", TOUCH, str(mib)], capture_output=True, text=True, timeout=60,
                          preexec_fn=lambda: group.add(0))


def test_a_process_under_the_limit_runs_and_its_charge_is_recorded(group_of):
    group = group_of(256 * MIB)
    out = run_in(group, 64)
    assert out.returncode == 0 and out.stdout.strip() == "done"
    assert 64 * MIB <= group.peak_bytes <= 256 * MIB
    assert group.oom_kills == 0


def test_a_process_over_the_limit_is_killed_as_in_a_container(group_of):
    group = group_of(96 * MIB)
    out = run_in(group, 400)
    assert out.returncode == -9 and "done" not in out.stdout       # SIGKILL from the OOM killer
    assert group.oom_kills >= 1
    assert group.peak_bytes <= 96 * MIB + 4096


def test_the_group_is_removed_and_this_process_returns_home(group_of):
    group = group_of(512 * MIB)
    home = Path("/proc/self/cgroup").read_text()
    group.enter()
    assert Path("/proc/self/cgroup").read_text() != home
    group.leave()
    assert Path("/proc/self/cgroup").read_text() == home
    path = group.path
    group.remove()
    assert not path.exists()


@pytest.mark.slow
def test_solved_notebook_in_fast_mode_runs_inside_binders_limit_and_sees_it(group_of, tmp_path):
    """The solved assignment (source notebook) in fast mode, its kernel in a cgroup of 1.75 GB (the
    limit make binder-check uses): every cell runs, nothing is killed, and the kernel reads the
    limit (so a full run there would choose the low-memory recipe)."""
    import nbformat
    from nbclient import NotebookClient

    group = group_of(1_750_000_000)
    nb = nbformat.read(ROOT / "source" / "residual_networks" / "Residual_Networks.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from resnet_utils.memory import memory_limit\nfrom resnet_utils.training import memory_plan\n"
        "print('LIMIT', memory_limit().bytes, memory_plan().low)"))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel(env={**_clean_env(), "RESNET_FAST": "1"}):
        group.add(client.km.provisioner.process.pid)   # before the first cell imports TensorFlow
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    assert group.oom_kills == 0
    assert 200 * MIB < group.peak_bytes < 1_750_000_000
    tag, limit, low = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    assert tag == "LIMIT" and 1_749_000_000 <= int(limit) <= 1_750_000_000   # the kernel rounds to pages
    assert low == "True"


def _clean_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items()
            if k not in ("NBGRADER_EXECUTION", "RESNET_MEMORY_LIMIT", "TF_ONEDNN_USE_SYSTEM_ALLOCATOR")}


def test_removing_the_group_ends_what_is_left_in_it(group_of):
    group = group_of(256 * MIB)
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], preexec_fn=lambda: group.add(0))
    assert group.pids() == [proc.pid]
    group.remove(timeout=0.5)
    assert proc.wait(timeout=10) == -9
