"""A course's nbgrader configuration, read the way nbgrader reads it.

Every part of the grader (the orchestration in :mod:`autograder.grade`, the worker
processes, feedback generation) starts from the course's ``nbgrader_config.py``; these
helpers are the one place that reads it.
"""

from __future__ import annotations

import os
import sys


def load_config(config_file: str | None):
    """The traitlets ``Config`` of an ``nbgrader_config.py`` (empty when there is none)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if config_file and os.path.isfile(config_file):
        loader = PyFileConfigLoader(os.path.basename(config_file), path=os.path.dirname(os.path.abspath(config_file)))
        return loader.load_config()
    return Config()


def course_config(root: str):
    """The configuration of the course at ``root``, with ``CourseDirectory.root`` set to it."""
    cfg = load_config(os.path.join(root, "nbgrader_config.py"))
    cfg.CourseDirectory.root = root
    return cfg


def coursedir_for(cfg, root: str):
    """nbgrader's ``CourseDirectory`` for ``cfg``, rooted at ``root``."""
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory(config=cfg)
    cd.root = root
    return cd


def cfg_get(cfg, section: str, key: str, default=None):
    """A value from a traitlets Config without creating empty sections."""
    sec = cfg.get(section) if hasattr(cfg, "get") else None
    if sec is None or key not in sec:
        return default
    return sec[key]


def venv_on_path() -> None:
    """nbgrader creates a new gradebook by running ``alembic`` from PATH: make it findable."""
    bindir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        os.environ["PATH"] = bindir + (os.pathsep + path if path else "")


def quiet_nbgrader() -> None:
    """The grader's one warning filter, set by every process of it: hide the warnings that
    nbgrader's own code raises on every run (SQLAlchemy's "... is not in session" from its
    gradebook) and its dependencies' DeprecationWarnings. They say nothing about a submission."""
    import warnings

    warnings.filterwarnings("ignore", message=".*not in session.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
