"""The grading kernel's sandbox.

- :mod:`.policy`: the sandbox's rules (what the kernel may read and write, which environment
  variables reach it) and their set-up as seen from the grading worker: :func:`prepare` (the
  policy, the kernel launcher and its kernelspec, the kernel's environment), the font cache and
  data folder every kernel reads (:func:`mpl_cache`, :func:`course_data`), and the refusals the
  kernel's audit hook logged (:func:`read_denials`);
- :mod:`.execute`: :class:`SandboxedExecute`, nbgrader's ``Execute`` made safe for untrusted
  notebooks (output caps, a dead kernel does not abort the notebook, :data:`EVENTS` for the
  report, the cells after the last graded test are not run: :data:`NOT_RUN_AFTER_LAST_TEST`);
- :mod:`.kernel_launcher`: the script that starts the kernel inside the sandbox (memory cap,
  capabilities, Landlock, audit hook); copied into each worker's directory and run as a script;
- :mod:`.kernel_startup`: the IPython startup file of the grading kernel;
- :mod:`.zygote` and :mod:`.kernel_zygote`: a grading worker's kernel zygote, which imports
  TensorFlow once; each student's kernel is forked from it, then runs the same launcher.

``autograder.sandbox.SandboxedExecute`` is the dotted name the course's ``nbgrader_config.py``
lists in ``Autograde.autograde_preprocessors``.
"""

from .execute import EVENTS, NOT_RUN_AFTER_LAST_TEST, REGRADED, SandboxedExecute, last_test_index
from .policy import add_kernel_name, course_data, mpl_cache, package_dir, prepare, read_denials, use_mpl_cache

__all__ = ["EVENTS", "NOT_RUN_AFTER_LAST_TEST", "REGRADED", "SandboxedExecute", "add_kernel_name", "course_data",
           "last_test_index", "mpl_cache", "package_dir", "prepare", "read_denials", "use_mpl_cache"]
