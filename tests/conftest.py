"""Shared fixtures: the reference solution, executed from the source notebook."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from autograder.submissions import load_functions  # noqa: E402  (re-exported for the tests)


@pytest.fixture(scope="session")
def reference_answers():
    from autograder.course import SOURCE_NB
    from autograder.submissions import solution_sources

    return solution_sources(SOURCE_NB)


@pytest.fixture(scope="session")
def solution(reference_answers):
    """The reference solution's functions: identity_block, convolutional_block, ResNet50."""
    return load_functions(reference_answers)
