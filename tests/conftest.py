"""Shared fixtures: the reference solution, executed from the source notebook."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.example_classes.submissions import load_functions  # noqa: E402


@pytest.fixture(scope="session")
def reference_answers():
    from autograder.course import SOURCE_NB
    from autograder.example_classes.submissions import solution_sources

    return solution_sources(SOURCE_NB)


@pytest.fixture(scope="session")
def solution(reference_answers):
    """The reference solution's functions: identity_block, convolutional_block, ResNet50."""
    return load_functions(reference_answers)


# ----------------------------------------------------------------------------- tracked files
# A test must never change the course's tracked files (reference data, release, examples):
# the state of git's tracked files is recorded when the session starts and compared when it
# ends; any change fails the run and is named.

def _tracked_state():
    import hashlib
    import subprocess

    try:
        status = subprocess.run(["git", "status", "--porcelain=v1", "--untracked-files=no"], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if status.returncode != 0 or diff.returncode != 0:
        return None  # not a git checkout: nothing to compare
    return status.stdout, hashlib.sha256(diff.stdout).hexdigest()


def pytest_sessionstart(session):
    session.config._tracked_before = _tracked_state()


def pytest_sessionfinish(session, exitstatus):
    before = getattr(session.config, "_tracked_before", None)
    after = _tracked_state()
    if before is None or after is None or before == after:
        return
    changed = sorted(set(before[0].splitlines()) ^ set(after[0].splitlines())) or ["(contents of already modified files)"]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "tests changed tracked files of the course: " + ", ".join(changed)
    if reporter is not None:
        reporter.write_line("ERROR: " + message, red=True)
    else:
        print("ERROR: " + message)
    session.exitstatus = 1
