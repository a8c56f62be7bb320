"""Work-arounds for nbgrader 0.9.6 bugs that hostile or broken submissions trigger.

:class:`DeduplicateIds` -- nbgrader's ``DeduplicateIds`` empties the ``nbgrader``
metadata of every duplicate of a cell (``cell.metadata.nbgrader = {}``); with
``OverwriteCells.add_missing_cells = True`` the next sanitizing step then fails with
``KeyError: 'grade_id'`` (``OverwriteCells.add_missing_task_cells``) and the whole
submission is not graded.  This version removes the ``nbgrader`` key of the duplicates
instead, so that they become ordinary cells, exactly as intended; the last copy keeps
the id (nbgrader's rule) and, when the cell is locked, is overwritten with the original.

The course's ``nbgrader_config.py`` lists it in ``Autograde.sanitize_preprocessors`` (so plain
``nbgrader autograde`` uses it); ``python -m autograder grade`` substitutes it for nbgrader's
own even when a course's configuration does not (:func:`fix_sanitize_preprocessors`).
"""

from __future__ import annotations

from nbgrader import utils
from nbgrader.preprocessors import DeduplicateIds as _NbgraderDeduplicateIds


class DeduplicateIds(_NbgraderDeduplicateIds):
    def preprocess_cell(self, cell, resources, cell_index):
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            self.log.warning("Cell with id '%s' exists multiple times!", grade_id)
            del cell.metadata["nbgrader"]
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


def swap_preprocessor(pps: list, names: tuple[str, ...], new: type) -> list:
    """``pps`` (a list of preprocessor classes or their dotted names) with every entry named
    one of ``names`` (a class by its ``module.Name``) replaced by ``new``."""
    out = []
    for pp in pps:
        name = pp if isinstance(pp, str) else f"{pp.__module__}.{pp.__name__}"
        out.append(new if name in names else pp)
    return out


def fix_sanitize_preprocessors(pps: list) -> list:
    """Autograde.sanitize_preprocessors with nbgrader's DeduplicateIds replaced by the fixed one."""
    return swap_preprocessor(pps, ("nbgrader.preprocessors.DeduplicateIds",
                                   "nbgrader.preprocessors.deduplicateids.DeduplicateIds"), DeduplicateIds)
