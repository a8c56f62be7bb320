"""resnet_utils.cpu.tune: oneDNN on unless the user chose, malloc gives large blocks back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter: tune() acts once per process, before TensorFlow is imported.
PROBE = r"""
import json, os, sys
sys.path.insert(0, {root!r})

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

if {tune!r}:
    from resnet_utils.cpu import tune
    done = tune()
else:
    done = None
def touched(n):
    b = bytearray(n)
    b[::4096] = b"x" * len(b[::4096])
    return b

big = touched(16 << 20); del big           # glibc's default: the mmap threshold rises to 16 MiB
base = rss()
blocks = [touched(8 << 20) for _ in range(3)]   # 24 MiB in blocks below the new threshold
held = rss() - base
del blocks
kept = rss() - base
print(json.dumps({{"done": done, "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                  "allocator": os.environ.get("TF_ONEDNN_USE_SYSTEM_ALLOCATOR"),
                  "held_mib": held / 2**20, "kept_mib": kept / 2**20,
                  "tf_imported": "tensorflow" in sys.modules}}))
"""


def probe(tune: bool, **env) -> dict:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TF_ENABLE_ONEDNN_OPTS", "MALLOC_ARENA_MAX", "MALLOC_MMAP_THRESHOLD_",
                          "MALLOC_TRIM_THRESHOLD_", "NBGRADER_EXECUTION", "RESNET_FAST",
                          "RESNET_MEMORY_LIMIT", "TF_ONEDNN_USE_SYSTEM_ALLOCATOR")}
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), tune=tune)],
                         env={**clean, **env}, capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc")


def test_tune_turns_onednn_on_and_imports_nothing():
    r = probe(True)
    assert r["onednn"] == "1"
    assert r["done"]["onednn"] == "1" and r["done"]["late"] is False
    assert r["tf_imported"] is False


def test_tune_keeps_the_users_onednn_choice():
    r = probe(True, TF_ENABLE_ONEDNN_OPTS="0")
    assert r["onednn"] == "0" and r["done"]["onednn"] == "0"


@linux_only
def test_freed_large_blocks_go_back_to_the_system():
    """Without tune(), glibc keeps freed 8 MiB blocks (its mmap threshold rose to 16 MiB after a
    freed 16 MiB block); with tune() they are returned when freed."""
    untuned, tuned = probe(False), probe(True, MALLOC_ARENA_MAX="2")   # as in the course's kernel
    assert untuned["held_mib"] > 23 and tuned["held_mib"] > 23       # the blocks were really touched
    assert untuned["kept_mib"] > 23, untuned                         # glibc's default keeps them
    assert tuned["done"]["malloc"] is True
    assert tuned["kept_mib"] < 2, tuned                              # tune() gives it back


@linux_only
def test_tune_leaves_the_users_mmap_threshold_alone():
    r = probe(True, MALLOC_MMAP_THRESHOLD_="33554432")
    assert r["done"]["malloc"] is False and r["onednn"] == "1"


def test_tune_starts_no_process():
    """The grading sandbox refuses subprocesses (an audit hook): tune() must not start one
    (ctypes.util.find_library would run /sbin/ldconfig)."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); events = []\n"
            "sys.addaudithook(lambda e, a: events.append(e) if e in ('subprocess.Popen', 'os.system', "
            "'os.exec', 'os.posix_spawn', 'os.fork') else None)\n"
            "from resnet_utils.cpu import tune; done = tune(); print(events, done['malloc'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"})
    assert out.stdout.split() == ["[]", str(sys.platform.startswith("linux"))]


def test_tune_leaves_malloc_alone_under_nbgrader():
    """Fast mode (NBGRADER_EXECUTION set): no ctypes call, which the grading sandbox refuses."""
    r = probe(True, NBGRADER_EXECUTION="autograde")
    assert r["done"]["malloc"] is False and r["onednn"] == "1"


def test_tune_picks_onednns_system_allocator_only_where_memory_is_short():
    """Where the container allows less than a full run needs (here set by hand), oneDNN allocates
    through malloc; with plenty of memory, or under nbgrader, TensorFlow's default stays."""
    plenty = probe(True)
    assert plenty["done"]["low_memory"] is False and plenty["allocator"] is None
    short = probe(True, RESNET_MEMORY_LIMIT="1750000000")
    assert short["done"]["low_memory"] is True and short["allocator"] == "1"
    assert short["tf_imported"] is False
    graded = probe(True, RESNET_MEMORY_LIMIT="1750000000", NBGRADER_EXECUTION="autograde")
    assert graded["done"]["low_memory"] is False and graded["allocator"] is None
    chosen = probe(True, RESNET_MEMORY_LIMIT="1750000000", TF_ONEDNN_USE_SYSTEM_ALLOCATOR="0")
    assert chosen["allocator"] == "0"                                   # the user's choice wins
