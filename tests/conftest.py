"""Shared fixtures: the reference solution, executed from the source notebook."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

IMPORTS = """
import numpy as np
import keras
from keras.layers import (Input, Add, Dense, Activation, ZeroPadding2D, BatchNormalization,
                          Flatten, Conv2D, AveragePooling2D, MaxPooling2D)
from keras.models import Model
from keras.initializers import glorot_uniform
"""


def load_functions(answers: dict) -> dict:
    """Execute solution-cell code (by grade_id) in a fresh namespace with the notebook's imports."""
    ns: dict = {}
    exec(IMPORTS, ns)
    for gid in ("identity_block", "convolutional_block", "ResNet50"):
        if gid in answers:
            exec(compile(answers[gid], f"<{gid}>", "exec"), ns)
    return ns


@pytest.fixture(scope="session")
def reference_answers():
    from autograder.course import SOURCE_NB
    from autograder.submissions import solution_sources

    return solution_sources(SOURCE_NB)


@pytest.fixture(scope="session")
def solution(reference_answers):
    """The reference solution's functions: identity_block, convolutional_block, ResNet50."""
    return load_functions(reference_answers)
