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

__all__ = ["fast_mode", "pick", "run_seed", "SEED_ENV"]

#: The values of ``NBGRADER_EXECUTION`` with which nbgrader runs a notebook.
NBGRADER_MODES = ("autograde", "validate")

#: The course's assignments, in order: assignment (nbgrader's name, the folder under
#: ``source/`` and ``release/``) -> its one notebook. The only place that pairs them
#: (``autograder.course`` and :mod:`resnet_utils.reference` read it from here).
ASSIGNMENTS = {
    "residual_networks": "Residual_Networks.ipynb",
    "resnet_cifar": "ResNet_CIFAR.ipynb",
}


def fast_mode() -> bool:
    """True when nbgrader executes the notebook or ``RESNET_FAST`` is set (not ``""``/``"0"``)."""
    return (os.environ.get("NBGRADER_EXECUTION", "") in NBGRADER_MODES
            or os.environ.get("RESNET_FAST", "").strip() not in ("", "0"))


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
