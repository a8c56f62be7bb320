"""Every setting of the grader, declared once: its name, type, default and help.

The command line (:mod:`autograder.__main__`), :class:`autograder.grade.Options`, the worker's
:class:`autograder.records.WorkerSpec` and the traitlets of
:class:`autograder.sandbox.SandboxedExecute` (what plain nbgrader reads from
``nbgrader_config.py``) take their defaults and help from here, so that a default is changed in
one place (otter-grader's ``autograder_config.py`` and nbgrader's traitlets are the models).
"""

from __future__ import annotations

import dataclasses
from typing import Any

GiB = 1 << 30


@dataclasses.dataclass(frozen=True)
class Setting:
    """One setting: ``name`` (the attribute of ``Options``, ``WorkerSpec`` and the traitlet),
    ``type`` (int, bool, tuple of str or None-able int), ``default`` and ``help`` (one sentence,
    units included)."""

    name: str
    type: type
    default: Any
    help: str

    def trait(self, note: str = ""):
        """The configurable traitlet of this setting (``note`` is added to the help)."""
        from traitlets import Bool, Integer, List, Unicode

        text = self.help[0].upper() + self.help[1:] + "." + (" " + note if note else "")
        if self.type is bool:
            trait = Bool(self.default, help=text)
        elif self.type is int:
            trait = Integer(self.default, help=text)
        elif self.type is tuple:
            trait = List(Unicode(), list(self.default), help=text)
        else:
            raise TypeError(f"no traitlet for a setting of type {self.type.__name__} ({self.name})")
        return trait.tag(config=True)


JOBS = Setting("jobs", int, 0, "students graded at a time (0: the number of cores)")
TIMEOUT = Setting("timeout", int, None, "seconds per cell (None: nbgrader's Execute.timeout from nbgrader_config.py)")
MEMORY_CAP = Setting("memory_cap", int, 6 * GiB, "address-space cap of the grading kernel in bytes (0: none)")
WALL_LIMIT = Setting("wall_limit", int, 1800, "wall-clock limit per student in seconds")
DISK_CAP = Setting("disk_cap", int, 2 * GiB, "bytes a student's work directory may hold")
READ_PACKAGES = Setting("read_packages", tuple, ("resnet_utils",),
                        "packages the grading kernel may import besides the Python installation "
                        "(the course's own package, which the notebooks import)")
LANDLOCK = Setting("landlock", bool, True, "use Linux Landlock when the kernel offers it")
MAX_OUTPUT_BYTES = Setting("max_output_bytes", int, 2_000_000,
                           "output bytes kept per cell; the rest is dropped (-1: no limit)")
MAX_TOTAL_OUTPUT_BYTES = Setting("max_total_output_bytes", int, 16_000_000,
                                 "output bytes kept per notebook; the rest is dropped (-1: no limit)")
MAX_SUBMISSION_BYTES = Setting("max_submission_bytes", int, 200 << 20,
                               "bytes of a submission folder copied for grading; the rest is not copied")
RUN_AFTER_LAST_TEST = Setting("run_after_last_test", bool, False,
                              "also run the code cells after the notebook's last graded test cell. They cannot "
                              "change a grade (the assignments' training, saving and plots come last), so by "
                              "default they are not run: each gets a note saying so")
UNRESPONSIVE_GRACE = Setting("unresponsive_grace", int, 15,
                             "seconds a kernel has to answer after a timeout's interrupt before it is stopped")
KERNEL_PRELOAD = Setting("kernel_preload", tuple,
                         ("resnet_utils.quiet:import_tensorflow", "keras", "matplotlib.pyplot", "ipykernel.kernelapp"),
                         "what each grading worker imports once, in a kernel zygote that its students' kernels "
                         "are forked from (module or module:function to call; empty: every kernel imports for "
                         "itself)")
IOPUB_TIMEOUT = Setting("iopub_timeout", int, 15, "seconds to wait for a cell's output messages after its reply (nbclient's iopub_timeout)")
