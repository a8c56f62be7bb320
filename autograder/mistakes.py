"""Mistake codes: what went wrong in a submission, as stable identifiers an instructor can count.

Three kinds, all stored with every student's result (``.autograder/<assignment>-results.json``,
key ``mistakes`` of each student) and counted by the class report
(:mod:`autograder.class_report`):

- **test failures**, read from the graded test cells of the autograded notebook: the checks
  of ``resnet_utils.grading`` end their messages with ``(mistake code: identity_block.relu_before_add)``;
  a test without one (a plain ``assert``) gets ``<test cell>.<exception name>``;
- **grader events**, the problems the grader reported (timeout, memory cap, kernel died,
  unreadable notebook, edited or deleted test cells, tampering, ...): ``grader.<event>``;
  mistakes in the student's code that stop a whole cell are ``student.syntax_error`` and
  ``student.exception``.  Each problem gets its code where it is found (a
  :class:`~autograder.records.Problem`: the worker, the static scan, the pool, the grader);
  :data:`GRADER_EVENTS` lists them all;
- **penalties**, output-neutral deviations (e.g. a misnamed layer) that a *passing* graded test
  cell found: its checks print one stdout line per penalty, ending with
  ``(penalty code: ResNet50.layer_name)`` (:data:`resnet_utils.codes.PENALTY_MARKER`), and the
  cell's partial score is the points less the penalties.  These entries carry ``"penalty": True``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resnet_utils.codes import split_code, split_penalty_code, strip_ansi

if TYPE_CHECKING:
    from .records import Problem

#: every code of a grader event (a :class:`~autograder.records.Problem`), with what it means
GRADER_EVENTS: dict[str, str] = {
    "grader.timeout": "a cell ran longer than the timeout",
    "grader.kernel_unresponsive": "the kernel ignored the timeout's interrupt and was stopped",
    "grader.kernel_died": "the kernel died",
    "grader.memory_cap": "the kernel (or the worker) went over the memory cap",
    "grader.wall_clock_limit": "the student's grading went over the wall-clock limit",
    "grader.disk_cap": "the student's directory went over the disk cap",
    "grader.output_truncated": "a cell printed too much: its output was truncated",
    "grader.notebook_unreadable": "a notebook (submitted or autograded) is not a readable notebook",
    "grader.notebook_missing": "a notebook of the assignment is not in the submission",
    "grader.no_submission": "no submission at all",
    "grader.test_cell_edited": "a test cell was edited (the original is what runs)",
    "grader.test_cell_deleted": "a test cell was deleted",
    "grader.solution_cell_deleted": "a solution cell was deleted",
    "grader.duplicated_cell": "an nbgrader cell is in the notebook more than once",
    "grader.tampering_blocked": "the sandbox refused a file or process access",
    "grader.monkeypatch": "the static scan: a cell monkeypatches a module or redefines a test helper",
    "grader.suspicious_code": "the static scan: a cell does something else suspicious (files, processes, ...)",
    "student.syntax_error": "a cell the student wrote has a syntax error",
    "student.exception": "a solution cell raised an exception",
    "grader.crashed": "the grading worker (or the Dask task) failed",
    "grader.not_saved": "the grades could not be saved in the gradebook",
    "grader.not_autograded": "nbgrader could not autograde the submission",
    "grader.score_differs": "the gradebook's score differs from the worker's (e.g. a manual grade kept)",
    "student.errors_in_other_cells": "cells that are neither solution nor test cells raised errors",
    "grader.cells_not_run": "cells were not run after the kernel stopped",
    "grader.regraded": "the kernel failed in a way no student code causes (it did not start, or a cell's "
                       "output was lost), so the notebook was graded a second time; the second run counts",
    "grader.other": "anything else (symlinks or special files dropped, a notebook too large, "
                    "an extra notebook, an unknown cell id, no feedback, ...)",
}


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
    return strip_ansi("".join(parts))


def test_failures(nb, grade_ids: set[str] | dict, solution_ids: set[str] | list = ()) -> list[dict[str, str]]:
    """The failed graded test cells of an autograded notebook (an nbformat node):
    ``[{"cell", "code", "message"}]`` in notebook order, one per cell (its first error)."""
    out = []
    for gid, cell in _graded_test_cells(nb, grade_ids, solution_ids):
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            ename = o.get("ename", "Error")
            code, message = split_code(strip_ansi(str(o.get("evalue", ""))).rstrip())
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
            code, message = split_penalty_code(line)
            if code and code not in seen:
                seen.add(code)
                out.append({"cell": gid, "code": code, "message": message.strip()[:600], "penalty": True})
    return out


def student_mistakes(problems: list[Problem], tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every mistake of one student: grader events (``problems``: the report's problems and
    flags; one entry per code, with its first line) then ``tests``, the test failures and
    penalties (as is)."""
    seen, out = set(), []
    for p in problems:
        if p.code not in seen:
            seen.add(p.code)
            out.append({"code": p.code, "message": p.text[:600], "cell": None})
    return out + [dict(t) for t in tests]
