"""Feedback without hidden tests.

nbgrader 0.9 builds the feedback HTML from the *autograded* notebook, in which
``OverwriteCells`` has put back the full source of every locked test cell -- hidden
tests included (jupyter/nbgrader#917, #1363) -- and whose error tracebacks quote the
failing hidden-test lines.  :class:`StripHiddenTests` is a ``GenerateFeedback``
preprocessor that, in every code cell:

- removes the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions from the
  source (and says that hidden tests ran there);
- in graded test cells (and any cell that had a hidden region), replaces each error's
  traceback by its last line, ``ErrorName: message`` -- the visible message stays, the
  test code and the grading helpers' frames go.

The course's ``nbgrader_config.py`` lists it first in ``GenerateFeedback.preprocessors`` (so plain
``nbgrader generate_feedback`` uses it). ``python -m autograder grade`` always adds it: it generates the feedback with
:func:`generate_feedback` (nbgrader's ``GenerateFeedback`` with this preprocessor first).
"""

from __future__ import annotations

import copy

from nbformat.notebooknode import NotebookNode
from traitlets import Bool, Unicode

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

from resnet_utils.codes import strip_ansi

from ..config import cfg_get, coursedir_for


HIDDEN_NOTE = "# (hidden tests ran here; their code is not part of the feedback)"


class StripHiddenTests(NbGraderPreprocessor):
    """Remove hidden-test code and test tracebacks from the notebook a student sees."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    shorten_test_tracebacks = Bool(
        True, help="Reduce the tracebacks of graded test cells to their last line."
    ).tag(config=True)

    def _strip(self, source: str) -> tuple[str, bool]:
        out, inside, removed = [], False, False
        for line in source.split("\n"):
            if self.begin_test_delimeter in line:
                inside, removed = True, True
                continue
            if self.end_test_delimeter in line:
                inside = False
                if out and out[-1] == HIDDEN_NOTE:
                    continue
                out.append(HIDDEN_NOTE)
                continue
            if not inside:
                out.append(line)
        if inside:  # unterminated region: drop everything after BEGIN, still say so
            out.append(HIDDEN_NOTE)
        return "\n".join(out), removed

    @staticmethod
    def last_line(output: NotebookNode) -> str:
        ename = output.get("ename", "Error")
        evalue = strip_ansi(str(output.get("evalue", ""))).strip()
        return (f"{ename}: {evalue}") if evalue else ename

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type not in ("code", "markdown", "raw"):
            return cell, resources
        cell.source, removed = self._strip(cell.source)
        if cell.cell_type != "code":
            return cell, resources
        is_test = utils.is_grade(cell) and not utils.is_solution(cell)
        if removed or (is_test and self.shorten_test_tracebacks):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [self.last_line(out)]
        # hidden code can also surface in outputs of a cell that printed its own source
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and self.begin_test_delimeter in out.get("text", ""):
                out["text"], _ = self._strip(out["text"])
        return cell, resources


def feedback_preprocessors(configured: list | None = None) -> list:
    """GenerateFeedback's preprocessor list with :class:`StripHiddenTests` first."""
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

    from nbgrader.preprocessors import GetGrades

    pps = list(configured) if configured else [GetGrades, CSSHTMLHeaderPreprocessor]
    names = [p if isinstance(p, str) else f"{p.__module__}.{p.__name__}" for p in pps]
    if not any(n.endswith("StripHiddenTests") for n in names):
        pps.insert(0, StripHiddenTests)
    return pps


def generate_feedback(cfg, root: str, assignment: str, students: list[str]) -> dict[str, str | None]:
    """nbgrader generate_feedback for each student, with hidden tests stripped:
    {student: None, or the last line of nbgrader's error}."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.utils import capture_log

    fcfg = copy.deepcopy(cfg)
    fcfg.GenerateFeedback.preprocessors = feedback_preprocessors(cfg_get(cfg, "GenerateFeedback", "preprocessors"))
    errors: dict[str, str | None] = {}
    for s in students:
        cd = coursedir_for(fcfg, root)
        cd.assignment_id = assignment
        cd.student_id = s
        app = GenerateFeedback(coursedir=cd, config=fcfg)
        app.force = True
        out = capture_log(app)
        errors[s] = None if out.get("success") else (out.get("error") or "failed").strip().splitlines()[-1][:200]
    return errors
