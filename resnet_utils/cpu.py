"""CPU settings that make TensorFlow train faster and in less memory; applied before it is imported.

    from resnet_utils.cpu import tune
    tune()          # before the first ``import tensorflow`` / ``import keras``

(:func:`resnet_utils.quiet.import_tensorflow`, the first call of every notebook, does this.)

- **oneDNN** (``TF_ENABLE_ONEDNN_OPTS=1``): TensorFlow turns oneDNN's CPU kernels on by default
  only on x86 Windows and, on Linux, on CPUs with AVX-512 VNNI, AVX-512 BF16, AVX-VNNI or AMX
  or an Arm Neoverse V1 (``DefaultOneDnnPolicy`` in tensorflow/core/util/port.cc); elsewhere,
  e.g. on the 2-core AMD EPYC that the course's
  benchmarks run on, TensorFlow falls back to its Eigen kernels. On that CPU a training step of
  the assignment's ResNet50 (batch 32, 64x64 images) is much faster with oneDNN than without
  (``step_s`` of the runs "graph, batch 32 (the notebook's default)" and "graph, batch 32,
  Eigen kernels (oneDNN off)" in ``bench/results/training_memory.json``). oneDNN may round
  differently ("slightly different numerical results"), which the graders' tolerances allow for.
- **glibc malloc** (Linux only): TensorFlow frees and allocates large tensors at every step.
  With glibc's defaults, freeing a block above the mmap threshold (128 KiB at first) raises the
  threshold up to that block's size (at most 32 MiB), so later blocks of such sizes come from
  the heap and their memory stays with the process after they are freed. :func:`tune` fixes
  the threshold at 128 KiB (``mallopt(M_MMAP_THRESHOLD)``, as the environment variable
  ``MALLOC_MMAP_THRESHOLD_`` would at process start): large blocks go back to the system when
  freed, so what one cell freed does not stay in the process's memory. (The course's kernel
  also limits malloc's per-thread heaps: ``MALLOC_ARENA_MAX=2``, :mod:`resnet_utils.kernelspec`.)

- **memory** (where the container allows less than a full run needs,
  :func:`resnet_utils.training.memory_plan`): oneDNN allocates through malloc instead of its
  own pool (``TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1``, :data:`resnet_utils.training.LOW_MEMORY_ENV`),
  which keeps every block it ever allocated; with malloc, memory that a cell frees goes back
  to the system. It must be set before TensorFlow loads, so it is decided here.

Settings the user made win: an existing ``TF_ENABLE_ONEDNN_OPTS`` or ``MALLOC_MMAP_THRESHOLD_``
is kept. In fast mode (nbgrader executing the notebook, :func:`resnet_utils.config.fast_mode`)
malloc is left alone: nothing big is trained, and the grading sandbox refuses ``ctypes``.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import ctypes
import os
import sys

from .config import fast_mode
from .training import LOW_MEMORY_ENV, memory_plan

__all__ = ["tune", "M_MMAP_THRESHOLD", "MMAP_THRESHOLD"]

#: ``mallopt``'s parameter number for the mmap threshold (glibc's ``malloc.h``).
M_MMAP_THRESHOLD = -3
#: The threshold :func:`tune` sets (glibc's initial default, kept fixed).
MMAP_THRESHOLD = 128 * 1024

_done: dict | None = None


def _mallopt(settings: dict[int, int]) -> bool:
    """Apply ``{parameter: value}`` with glibc's ``mallopt``; False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The running process's own symbols: libc is loaded already. (Not ctypes.util.find_library,
        # which runs /sbin/ldconfig in a subprocess: the grading sandbox refuses that.)
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in settings.items())


def tune() -> dict:
    """Turn on oneDNN and fix malloc's mmap threshold (see the module docstring); once per process.

    Returns what was done: ``{"onednn": value of TF_ENABLE_ONEDNN_OPTS, "malloc": bool,
    "low_memory": bool, "late": bool}``; ``late`` is True when TensorFlow was already imported
    (then the oneDNN settings no longer take effect); ``low_memory``: the container allows
    less than a full run needs and oneDNN's allocator was set for that (not in fast mode).
    """
    global _done
    if _done is None:
        late = "tensorflow" in sys.modules
        onednn = os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
        # Not under nbgrader (fast mode: nothing big is trained), whose grading sandbox refuses
        # ctypes, as it should for student code.
        malloc = ("MALLOC_MMAP_THRESHOLD_" not in os.environ and not fast_mode()
                  and _mallopt({M_MMAP_THRESHOLD: MMAP_THRESHOLD}))
        low = not fast_mode() and memory_plan().low
        if low:
            for key, value in LOW_MEMORY_ENV.items():
                os.environ.setdefault(key, value)
        _done = {"onednn": onednn, "malloc": malloc, "low_memory": low, "late": late}
    return dict(_done)
