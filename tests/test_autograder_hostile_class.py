"""The real assignments: for each, a small class that covers every broken and hostile case,
graded by ``python -m autograder grade --jobs 2`` in a temporary course (see
autograder/example_classes/classroom.py: ``class_of(assignment, small=True)``).

Every grade must be exactly the expected one, every problem must be in the report, the
feedback must hold no hidden test, and what was in the gradebook before must still be there.
Each assignment's class is graded once (a module-scoped fixture per assignment); select one
with ``-k residual_networks`` or ``-k resnet_cifar``.
"""

import hashlib
import html
import importlib
import re
import sqlite3
from pathlib import Path
from typing import NamedTuple

import pytest

from autograder.example_classes import cases, classroom
from autograder import course
from autograder.example_classes.cases import Case
from autograder.grade import Options, grade
from autograder.records import GradingRun
from autograder.notebooks import read

GiB = 1 << 30

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes

#: the mistake codes of the class report, with how many students of the small class make each
REPORT_COUNTS = {
    course.ASSIGNMENT: {
        "identity_block.not_implemented": 1,  # s02_empty
        "convolutional_block.not_implemented": 1,
        "ResNet50.not_implemented": 1,
        "identity_block.no_add_layer": 2,  # s05 and s06 return X unchanged
        "identity_block.raised_RuntimeError": 1,  # s04
        "grader.memory_cap": 1,  # s05
        "grader.tampering_blocked": 1,  # s06
        "grader.kernel_died": 1,  # s07
        "grader.notebook_missing": 1,  # s08
        "grader.notebook_unreadable": 1,  # s09
        "grader.test_cell_deleted": 1,  # s03
        "grader.duplicated_cell": 1,  # s03
        "grader.timeout": 1,  # s04
        "student.syntax_error": 1,  # s03
    },
    classroom.CIFAR: {
        "resnet_layer.not_implemented": 1,  # s02_empty
        "resnet_v1.not_implemented": 1,
        "resnet_v2.not_implemented": 1,
        "lr_schedule.not_implemented": 1,
        "resnet_layer.raised_RuntimeError": 1,  # s04
        "resnet_v1.residual_block_count": 1,  # s06's resnet_v1 has no residual block
        "lr_schedule.epoch_81": 2,  # s03 and s05: the rate never decays
        "environment.numpy_replaced": 1,  # s06
        "grader.memory_cap": 1,  # s05
        "grader.monkeypatch": 2,  # s05 (helpers), s06 (numpy)
        "grader.tampering_blocked": 1,  # s06
        "grader.kernel_died": 1,  # s07
        "grader.notebook_missing": 1,  # s08
        "grader.notebook_unreadable": 1,  # s09
        "grader.test_cell_deleted": 1,  # s03
        "grader.duplicated_cell": 1,  # s03
        "grader.solution_cell_deleted": 1,  # s04
        "grader.timeout": 1,  # s04
        "student.syntax_error": 1,  # s03
    },
}
#: students whose feedback is searched for hidden tests (and, for s02, for solution code)
NO_OWN_SOLUTION = ("s02_empty", "s04_stuck", "s07_dies")
NOT_FLAGGED = ("s01_correct", "s02_empty")
FLAGGED = ("s03_broken", "s04_stuck", "s05_bomb_and_helpers", "s06_files_and_numpy", "s07_dies",
           "s08_renamed", "s09_not_json")


class Graded(NamedTuple):
    """One assignment's small class, graded."""

    assignment: str
    root: Path
    students: list[Case]
    out: GradingRun
    before: dict[str, str]  # sha256 of the protected files before grading

    @property
    def source_nb(self) -> Path:
        return course.source_nb(self.assignment, self.root)


def reference_file(assignment: str) -> Path:
    """The reference data the assignment's checks compare with (the course package's own file)."""
    return Path(importlib.import_module(classroom.KITS[assignment].checks).REFERENCE_FILE)


def protected(root: Path, assignment: str) -> dict[str, str]:
    """sha256 of the files the hostile students try to read or overwrite (the gradebook itself
    changes with grading: its integrity and contents are checked in test_gradebook_intact)."""
    files = [reference_file(assignment), root / "nbgrader_config.py",
             course.source_nb(assignment, root), course.release_nb(assignment, root)]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope="module", params=list(classroom.CLASSES))
def graded(request, tmp_path_factory) -> Graded:
    """The assignment's small class, written into a fresh course and graded with 2 jobs."""
    assignment = request.param
    root = tmp_path_factory.mktemp(assignment + "_class")
    course.new_course(root)
    course.generate_release(root, assignment, quiet=True)
    students = classroom.class_of(assignment, small=True)
    classroom.write_class(str(root), students, assignment)
    # something already in the gradebook that must survive
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
        gb.update_or_create_student("earlier_student", first_name="Early", email="early@example.org")
    before = protected(root, assignment)
    out = grade(Options(assignment=assignment, course_root=str(root), jobs=2, timeout=90,
                        memory_cap=5 * GiB, progress=False))
    return Graded(assignment, root, students, out, before)


def test_grades_and_reports(graded):
    assert [r.student for r in graded.out.results] == [st.name for st in graded.students]
    bad = cases.check(graded.out, graded.students)
    assert not bad, "\n".join(bad)


def marked_lines(source_nb: Path) -> tuple[list[str], list[str]]:
    """The longer lines of the source notebook's hidden tests and of its solutions."""
    hidden, solution = [], []
    for cell in read(source_nb).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "BEGIN SOLUTION" in line:
                inside = line
                continue
            if "END HIDDEN TESTS" in line or "END SOLUTION" in line:
                inside = False
                continue
            if inside and len(line.strip()) > 25:
                (hidden if "HIDDEN" in inside else solution).append(line.strip())
    return hidden, solution


def without_check_reports(page: str) -> str:
    """The feedback page without the lines a passed check prints ("✓ resnet_layer(input_shape=...,
    name='pre'): ..."): they name the case checked, hidden ones too, on purpose."""
    return re.sub("\u2713[^\n]*", "", page)


def test_feedback_hides_hidden_tests_and_solutions(graded):
    hidden, solution = marked_lines(graded.source_nb)
    # lines of the solution that the release's instructions quote are no secret
    handed_out = "\n".join(c.source for c in read(course.release_nb(graded.assignment, graded.root)).cells)
    solution = [line for line in solution if line not in handed_out]
    assert hidden and solution
    page_name = course.notebook(graded.assignment).replace(".ipynb", ".html")
    for name in NO_OWN_SOLUTION:  # no solution written by these students' own hand
        page = without_check_reports(html.unescape(
            (graded.root / "feedback" / name / graded.assignment / page_name).read_text()))
        for line in hidden:
            assert line not in page, (name, line)
        if name == "s02_empty":
            for line in solution:
                assert line not in page, (name, line)


def test_gradebook_intact(graded):
    con = sqlite3.connect(str(graded.root / "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///%s" % (graded.root / "gradebook.db")) as gb:
        early = gb.find_student("earlier_student")
        assert (early.first_name, early.email) == ("Early", "early@example.org")
        assert {s.id for s in gb.students} >= {st.name for st in graded.students}
    # the hostile students changed nothing of the course (s06 tries to overwrite the reference
    # data, the gradebook and the config, and to read the source notebook)
    assert protected(graded.root, graded.assignment) == graded.before


def test_class_report_counts_the_mistakes(graded):
    """The class report: every student, the mistakes the small class contains with the right
    counts, the hostile students flagged."""
    from autograder import class_report

    page = Path(class_report.write(str(graded.root), graded.assignment)).read_text(encoding="utf-8")
    assert re.findall(r"data-student='([^']+)'", page) == [st.name for st in graded.students]
    rows = {code: int(n) for code, n in re.findall(r"<tr><td><code>([^<]+)</code></td><td class='num'>(\d+)</td>", page)}
    expected = REPORT_COUNTS[graded.assignment]
    assert {code: rows.get(code, 0) for code in expected} == expected
    flagged = page.split("id='flagged'")[1].split("</table>")[0]
    assert [name for name in NOT_FLAGGED if "<td>%s</td>" % name in flagged] == []
    for name in FLAGGED:
        assert "<td>%s</td>" % name in flagged, name
