"""The grading kernel's sandbox.

- :mod:`.execute`: :func:`prepare` (the policy, the kernel launcher and its kernelspec, the
  kernel's environment) and :class:`SandboxedExecute`, nbgrader's ``Execute`` made safe for
  untrusted notebooks;
- :mod:`.kernel_launcher`: the script that starts the kernel inside the sandbox (memory cap,
  capabilities, Landlock, audit hook); copied into each worker's directory and run as a script;
- :mod:`.kernel_startup`: the IPython startup file of the grading kernel.

``autograder.sandbox.SandboxedExecute`` is the dotted name the course's ``nbgrader_config.py``
lists in ``Autograde.autograde_preprocessors``.
"""

from .execute import (EVENTS, NOT_RUN_AFTER_LAST_TEST, SandboxedExecute, add_kernel_name, course_data,
                      last_test_index, mpl_cache, package_dir, prepare, read_denials, use_mpl_cache)

__all__ = ["EVENTS", "NOT_RUN_AFTER_LAST_TEST", "SandboxedExecute", "add_kernel_name", "course_data",
           "last_test_index", "mpl_cache", "package_dir", "prepare", "read_denials", "use_mpl_cache"]
