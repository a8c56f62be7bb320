"""Fast mode: the one switch that shrinks every run of the course to a quick check.

Fast mode is on when

- nbgrader executes a notebook (it sets ``NBGRADER_EXECUTION`` to ``autograde`` or
  ``validate``), or
- the environment variable ``RESNET_FAST`` is set to anything but ``""`` or ``"0"``
  (``RESNET_FAST=1 jupyter lab``; the tests run the notebooks this way).

Then the assignment trains on a few images for one epoch (:func:`resnet_utils.training.settings`)
and the walkthroughs pick their small sizes (:func:`pick`), so that every cell still runs,
in a fraction of the time. This module imports nothing from the course, so every other
module can import it.
"""

from __future__ import annotations

import os

import functools

__all__ = ["fast_mode", "nbgrader_running", "not_drawn_when_graded", "pick", "run_seed", "SEED_ENV"]

#: The values of ``NBGRADER_EXECUTION`` with which nbgrader runs a notebook.
NBGRADER_MODES = ("autograde", "validate")

#: The course's assignments, in order: assignment (nbgrader's name, the folder under
#: ``source/`` and ``release/``) -> its one notebook. The only place that pairs them
#: (``autograder.course`` and :mod:`resnet_utils.reference` read it from here).
ASSIGNMENTS = {
    "residual_networks": "Residual_Networks.ipynb",
    "resnet_cifar": "ResNet_CIFAR.ipynb",
}


def nbgrader_running() -> bool:
    """True while nbgrader executes the notebook (``nbgrader autograde`` or validate)."""
    return os.environ.get("NBGRADER_EXECUTION", "") in NBGRADER_MODES


def fast_mode() -> bool:
    """True when nbgrader executes the notebook or ``RESNET_FAST`` is set (not ``""``/``"0"``)."""
    return nbgrader_running() or os.environ.get("RESNET_FAST", "").strip() not in ("", "0")


class NotDrawn:
    """What a figure function returns while nbgrader executes the notebook: a figure feeds no
    test and carries no points, so grading does not spend time drawing it. Shown as one line."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"({self.name}: not drawn while nbgrader runs the notebook; figures carry no points)"


def not_drawn_when_graded(figure_function):
    """Decorate a figure function that an assignment calls before its last test cell: while
    nbgrader executes the notebook (:func:`nbgrader_running`) it returns :class:`NotDrawn`
    and does nothing else; students, the tests and ``RESNET_FAST=1`` get the figure."""

    @functools.wraps(figure_function)
    def wrapper(*args, **kwargs):
        if nbgrader_running():
            return NotDrawn(figure_function.__name__)
        return figure_function(*args, **kwargs)

    return wrapper


#: The environment variable that sets a full run's random seed (``bench/bench_notebook.py
#: --seeds N`` runs the notebooks with 0, 1, ..., N - 1).
SEED_ENV = "RESNET_SEED"


def run_seed(default: int = 0) -> int:
    """The seed of this run: ``RESNET_SEED`` when it is set (and not in fast mode), else
    ``default``."""
    value = os.environ.get(SEED_ENV, "").strip()
    if not value or fast_mode():
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={value!r} is not a whole number: unset it or give "
                         "an integer such as 0") from None


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise (``SIZE = pick(24, 16)``)."""
    return fast if fast_mode() else full
