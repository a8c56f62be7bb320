"""Mistake codes: what went wrong in a submission, as stable identifiers an instructor can count.

Three kinds, all stored with every student's result (``.autograder/<assignment>-results.json``,
key ``mistakes`` of each student) and counted by the class report
(:mod:`autograder.class_report`):

- **test failures**, read from the graded test cells of the autograded notebook: the checks
  of ``resnet_utils.grading`` end their messages with ``(mistake code: identity_block.relu_before_add)``;
  a test without one (a plain ``assert``) gets ``<test cell>.<exception name>``;
- **grader events**, from the problems the grader reported (timeout, memory cap, kernel died,
  unreadable notebook, edited or deleted test cells, tampering, ...): ``grader.<event>``;
  mistakes in the student's code that stop a whole cell are ``student.syntax_error`` and
  ``student.exception``;
- **penalties**, output-neutral deviations (e.g. a misnamed layer) that a *passing* graded test
  cell found: its checks print one stdout line per penalty, ending with
  ``(penalty code: ResNet50.layer_name)`` (:data:`resnet_utils.grading.PENALTY_MARKER`), and the
  cell's partial score is the points less the penalties.  These entries carry ``"penalty": True``.
"""

from __future__ import annotations

import re
from typing import Any

from resnet_utils.grading import PENALTY_MARKER

#: the marker the course's checks put at the end of a failure message
CODE_MARKER = re.compile(r"\s*\(mistake code: ([A-Za-z0-9_.\-]+)\)\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

#: grader problems -> codes (first match wins; patterns match the start of a problem line)
EVENT_CODES: list[tuple[re.Pattern, str]] = [(re.compile(p), c) for p, c in [
    (r"timeout in ", "grader.timeout"),
    (r"kernel stopped responding", "grader.kernel_unresponsive"),
    (r"kernel died", "grader.kernel_died"),
    (r"memory cap hit", "grader.memory_cap"),
    (r"wall-clock limit hit", "grader.wall_clock_limit"),
    (r"disk cap hit", "grader.disk_cap"),
    (r"output flood truncated", "grader.output_truncated"),
    (r"(not a readable notebook|autograded notebook unreadable|.*unreadable notebook)", "grader.notebook_unreadable"),
    (r"notebook missing", "grader.notebook_missing"),
    (r"no submission found", "grader.no_submission"),
    (r"test cell '[^']*' edited", "grader.test_cell_edited"),
    (r"test cell '[^']*' deleted", "grader.test_cell_deleted"),
    (r"solution cell '[^']*' deleted", "grader.solution_cell_deleted"),
    (r"duplicated cell", "grader.duplicated_cell"),
    (r"tampering blocked", "grader.tampering_blocked"),
    (r".*(monkeypatches|redefines test helper)", "grader.monkeypatch"),
    (r"cell [^:]*: ", "grader.suspicious_code"),  # the static scan's other flags
    (r"syntax error in ", "student.syntax_error"),
    (r"exception in ", "student.exception"),
    (r"grading worker crashed|grader error|grading task failed", "grader.crashed"),
    (r"could not save grades", "grader.not_saved"),
    (r"not autograded", "grader.not_autograded"),
    (r"grader warning: .* in the gradebook", "grader.score_differs"),  # e.g. a manual grade kept
    (r"errors in \d+ other cell", "student.errors_in_other_cells"),
    (r"\d+ later cell\(s\) not run", "grader.cells_not_run"),
]]
_NOTEBOOK_PREFIX = re.compile(r"^[^:/]+\.ipynb: ")


def event_code(problem: str) -> str:
    """The code of one problem (or static-scan flag) line of the grader's report
    (``grader.other`` when unknown)."""
    problem = _NOTEBOOK_PREFIX.sub("", problem)
    for pattern, code in EVENT_CODES:
        if pattern.match(problem):
            return code
    return "grader.other"


def split_code(message: str) -> tuple[str | None, str]:
    """``(code, message without the marker)`` of a check's failure message."""
    text = _ANSI.sub("", message).rstrip()
    m = CODE_MARKER.search(text)
    if not m:
        return None, text
    return m.group(1), text[:m.start()].rstrip()


def _graded_test_cells(nb, grade_ids, solution_ids):
    """``(grade_id, cell)`` of the graded test cells (graded, not solution, code) of a notebook."""
    solutions = set(solution_ids)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and gid in grade_ids and gid not in solutions:
            yield gid, cell


def _stdout(cell) -> str:
    """Everything a cell printed on stdout (stream outputs may split a line), ANSI codes stripped."""
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            text = o.get("text", "")
            parts.append("".join(text) if isinstance(text, list) else str(text))
    return _ANSI.sub("", "".join(parts))


def test_failures(nb, grade_ids: set[str] | dict, solution_ids: set[str] | list = ()) -> list[dict[str, str]]:
    """The failed graded test cells of an autograded notebook (an nbformat node):
    ``[{"cell", "code", "message"}]`` in notebook order, one per cell (its first error)."""
    out = []
    for gid, cell in _graded_test_cells(nb, grade_ids, solution_ids):
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            ename = o.get("ename", "Error")
            code, message = split_code(str(o.get("evalue", "")))
            out.append({"cell": gid, "code": code or f"{gid}.{ename}",
                        "message": (f"{ename}: {message}").strip()[:600]})
            break
    return out


def test_penalties(nb, grade_ids: set[str] | dict, solution_ids: set[str] | list = ()) -> list[dict[str, Any]]:
    """The penalties of the graded test cells that passed (no error output) of an autograded
    notebook: ``[{"cell", "code", "message", "penalty": True}]`` in notebook order, one per
    (cell, code) (its first line); the message is the line without its marker."""
    out = []
    for gid, cell in _graded_test_cells(nb, grade_ids, solution_ids):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            continue
        seen = set()
        for line in _stdout(cell).splitlines():
            m = PENALTY_MARKER.search(line)
            if m and m.group(1) not in seen:
                seen.add(m.group(1))
                out.append({"cell": gid, "code": m.group(1), "message": line[:m.start()].strip()[:600],
                            "penalty": True})
    return out


def student_mistakes(problems: list[str], tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every mistake of one student: grader events (``problems``: the report's problem and
    flag lines; one entry per code) then ``tests``, the test failures and penalties (as is)."""
    seen, out = set(), []
    for p in problems:
        code = event_code(p)
        if code not in seen:
            seen.add(code)
            out.append({"code": code, "message": p[:600], "cell": None})
    return out + [dict(t) for t in tests]
