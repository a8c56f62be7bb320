"""Grades for Canvas: an nbgrader export plug-in that writes a Canvas gradebook import file.

    nbgrader export --exporter=autograder.plugins.canvas.CanvasExportPlugin [--to canvas_grades.csv]

Canvas imports a gradebook CSV (Grades > Import) whose first columns identify the student
(``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID``, ``Section``) followed by one column
per assignment; an optional second row, ``Points Possible``, gives each assignment's maximum.
Canvas matches a row to a student by ``ID`` (Canvas's own user id), ``SIS User ID`` or
``SIS Login ID``.  This plug-in writes:

- ``Student``: "Last, First" from the gradebook (the nbgrader id when the gradebook has no name);
- ``ID``: the student's ``lms_user_id`` in the gradebook (``nbgrader db student add ID
  --lms-user-id N``; empty when unknown);
- ``SIS User ID``: empty; ``SIS Login ID``: the nbgrader student id (on a JupyterHub, the login
  name that usually is the institution's login);
- ``Section``: empty (Canvas ignores it on import);
- one column per assignment, headed by the assignment's name or by
  ``CanvasExportPlugin.column_names[assignment]`` (use Canvas's own header, e.g.
  ``"Residual Networks (1234)"``, so that the import updates that assignment instead of
  creating a new one); the score after late penalties, as nbgrader's own export computes it;
  a student without a submission gets 0 (``missing_score``, "" leaves Canvas's value as is).

The file is written with Python's csv module (names with commas are quoted), UTF-8.
"""

from __future__ import annotations

import csv

from traitlets import Dict, Unicode

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import ExportPlugin

IDENTITY_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
POINTS_ROW = "Points Possible"


class CanvasExportPlugin(ExportPlugin):
    """Export the gradebook as a Canvas gradebook import CSV (see the module docstring)."""

    column_names = Dict(
        {}, help="Canvas column header per assignment name, e.g. {'residual_networks': 'Residual Networks (1234)'}."
    ).tag(config=True)

    missing_score = Unicode(
        "0", help="What a student without a submission gets: '0', or '' to leave Canvas's value unchanged."
    ).tag(config=True)

    def export(self, gradebook: Gradebook) -> None:
        dest = self.to or "canvas_grades.csv"
        students = [str(s) for s in self.student]
        assignments = [a for a in gradebook.assignments if not self.assignment or a.name in map(str, self.assignment)]
        self.log.info("Exporting %d assignment(s) to %s (Canvas gradebook CSV)", len(assignments), dest)
        header = IDENTITY_COLUMNS + [self.column_names.get(a.name, a.name) for a in assignments]
        rows = [header, [POINTS_ROW, "", "", "", ""] + [_number(a.max_score) for a in assignments]]
        for student in gradebook.students:
            if students and student.id not in students:
                continue
            row = [_display_name(student), student.lms_user_id or "", "", student.id, ""]
            for a in assignments:
                try:
                    sub = gradebook.find_submission(a.name, student.id)
                except MissingEntry:
                    row.append(self.missing_score)
                else:
                    row.append(_number(max(0.0, sub.score - (sub.late_submission_penalty or 0.0))))
            rows.append(row)
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)


def _display_name(student) -> str:
    last, first = (student.last_name or "").strip(), (student.first_name or "").strip()
    if last and first:
        return f"{last}, {first}"
    return last or first or student.id


def _number(x) -> str:
    """A score as Canvas reads it: up to 4 decimals, no trailing zeros (30, 27.5, 4.25), never
    rounded to a whole point, never "-0"."""
    return (f"{round(float(x), 4) + 0.0:.4f}").rstrip("0").rstrip(".")


def read_canvas_csv(path) -> dict[str, dict[str, str]]:
    """Parse a file written by :class:`CanvasExportPlugin` back:
    ``{SIS Login ID: {column: value}}`` (the points row under the key ``Points Possible``)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames[:len(IDENTITY_COLUMNS)] != IDENTITY_COLUMNS:
            raise ValueError("%s is not a Canvas gradebook CSV: its columns start with %s, expected %s"
                             % (path, reader.fieldnames[:len(IDENTITY_COLUMNS)], IDENTITY_COLUMNS))
        return {(row["Student"] if row["Student"] == POINTS_ROW else row["SIS Login ID"]): row for row in reader}
