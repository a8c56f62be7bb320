"""The real assignment: a small class that covers every broken and hostile case, graded by
``python -m autograder grade --jobs 2`` in a temporary course (see autograder/classroom.py).

Every grade must be exactly the expected one, every problem must be in the report, the
feedback must hold no hidden test, and what was in the gradebook before must still be there.
"""

import hashlib
import sqlite3
from pathlib import Path

import pytest

from autograder import cases, classroom, course
from autograder.grade import Options, grade

GiB = 1 << 30

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes


def _protected(root: Path) -> dict[str, str]:
    """sha256 of the files the hostile students try to read or overwrite (the gradebook itself
    changes with grading: its integrity and contents are checked in test_gradebook_intact)."""
    import resnet_utils.grading

    files = [Path(resnet_utils.grading.REFERENCE_FILE), root / "nbgrader_config.py",
             root / "source" / course.ASSIGNMENT / course.NOTEBOOK, root / "release" / course.ASSIGNMENT / course.NOTEBOOK]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


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
    before = _protected(root)
    out = grade(Options(assignment=course.ASSIGNMENT, course_root=str(root), jobs=2, timeout=90,
                        memory_cap=5 * GiB, progress=False))
    return root, students, out, before


def test_grades_and_reports(graded):
    root, students, out, _ = graded
    assert [r.student for r in out.results] == [st.name for st in students]
    bad = cases.check(out, students)
    assert not bad, "\n".join(bad)


def test_feedback_hides_hidden_tests_and_solutions(graded):
    root, students, out, _ = graded
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
    root, students, out, before = graded
    con = sqlite3.connect(str(root / "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///%s" % (root / "gradebook.db")) as gb:
        early = gb.find_student("earlier_student")
        assert (early.first_name, early.email) == ("Early", "early@example.org")
        assert {s.id for s in gb.students} >= {st.name for st in students}
    # the hostile students changed nothing of the course (s06 tries to overwrite the reference
    # data, the gradebook and the config; others read the source notebook)
    assert _protected(root) == before


def test_class_report_counts_the_mistakes(graded):
    """The class report of the real assignment: every student, the mistakes the small class
    contains with the right counts, the hostile students flagged."""
    import re

    from autograder import class_report

    root, students, out, _ = graded
    page = Path(class_report.write(str(root), course.ASSIGNMENT)).read_text(encoding="utf-8")
    assert re.findall(r"data-student='([^']+)'", page) == [st.name for st in students]
    rows = {code: int(n) for code, n in re.findall(r"<tr><td><code>([^<]+)</code></td><td class='num'>(\d+)</td>", page)}
    expected = {
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
    }
    assert {code: rows.get(code, 0) for code in expected} == expected
    flagged = page.split("id='flagged'")[1].split("</table>")[0]
    assert [name for name in ("s01_correct", "s02_empty") if "<td>%s</td>" % name in flagged] == []
    for name in ("s03_broken", "s04_stuck", "s05_bomb_and_helpers", "s06_files_and_numpy", "s07_dies",
                 "s08_renamed", "s09_not_json"):
        assert "<td>%s</td>" % name in flagged, name
