"""The real assignment: a small class that covers every broken and hostile case, graded by
``python -m autograder grade --jobs 2`` in a temporary course (see autograder/classroom.py).

Every grade must be exactly the expected one, every problem must be in the report, the
feedback must hold no hidden test, and what was in the gradebook before must still be there.
"""

import os
import sqlite3
from pathlib import Path

import pytest

from autograder import classroom, course
from autograder.grade import Options, grade

GiB = 1 << 30

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("resnet_class")
    course.new_course(root)
    course.generate_release(root, quiet=True)
    students = classroom.small_class()
    classroom.write_class(str(root), students)
    # something already in the gradebook that must survive
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
        gb.update_or_create_student("earlier_student", first_name="Early", email="early@example.org")
    out = grade(Options(assignment=course.ASSIGNMENT, course_root=str(root), jobs=2, timeout=90,
                        memory_cap=5 * GiB, progress=False))
    return root, students, out


def test_grades_and_reports(graded):
    root, students, out = graded
    cells = course.graded_cells(root / "source" / course.ASSIGNMENT / course.NOTEBOOK)
    bad = classroom.check(out, students, cells)
    assert not bad, "\n".join(bad)


def test_feedback_hides_hidden_tests_and_solutions(graded):
    root, students, out = graded
    src = (root / "source" / course.ASSIGNMENT / course.NOTEBOOK).read_text()
    from autograder.submissions import read

    hidden, solution = [], []
    for cell in read(root / "source" / course.ASSIGNMENT / course.NOTEBOOK).cells:
        text = cell.source
        inside = False
        for line in text.splitlines():
            if "BEGIN HIDDEN TESTS" in line or "BEGIN SOLUTION" in line:
                inside = line
                continue
            if "END HIDDEN TESTS" in line or "END SOLUTION" in line:
                inside = False
                continue
            if inside and len(line.strip()) > 25:
                (hidden if "HIDDEN" in inside else solution).append(line.strip())
    assert hidden and solution and src
    import html as _html

    for name in ("s02_empty", "s04_stuck", "s07_dies"):  # no solution written by these students' own hand
        page = _html.unescape((root / "feedback" / name / course.ASSIGNMENT /
                               course.NOTEBOOK.replace(".ipynb", ".html")).read_text())
        for line in hidden:
            assert line not in page, (name, line)
        if name == "s02_empty":
            for line in solution:
                assert line not in page, (name, line)


def test_gradebook_intact(graded):
    root, students, out = graded
    con = sqlite3.connect(str(root / "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
        early = gb.find_student("earlier_student")
        assert (early.first_name, early.email) == ("Early", "early@example.org")
        assert {s.id for s in gb.students} >= {st.name for st in students}
    # the hostile students changed nothing of the course
    assert "hacked" not in (root / "nbgrader_config.py").read_text()
    ref = Path(__import__("resnet_utils.grading", fromlist=["x"]).REFERENCE_FILE)
    assert ref.stat().st_size > 100
