"""Plain nbgrader (`nbgrader autograde` + `nbgrader generate_feedback`, no `python -m autograder`)
is as safe as the course's own grader, because nbgrader_config.py registers the same
preprocessors: duplicated cell ids, deleted test cells, edited tests, a submission that
tries to overwrite the course's reference data, gradebook and config, and one that replaces
the checking helpers and ``importlib.reload``.

The same small class is graded twice, in two identical temporary courses: with the plain
nbgrader command line, and with ``python -m autograder grade``.  Both must give the grades
the cases expect (autograder/classroom.py), no feedback file may contain hidden-test code,
and the files the hostile student tries to overwrite must be unchanged.
"""

import hashlib
import html
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import cases, classroom, course
from autograder.cases import Case
from autograder.classroom import C, I, R, earned
from autograder import submissions
from autograder.submissions import delete_cell, duplicate_cell, edit_cell, read

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes

GiB = 1 << 30

# Graded in this order by both graders (nbgrader sorts the students): the hostile student
# first, so that the correct work graded after it shows that it changed nothing.
CLASS = [
    Case("a_overwrites_files", "correct work; tries to overwrite the reference data, the gradebook and the config",
         lambda c: c.filled(convolutional_block=classroom.write_files_cheat(c)), earned(I, C, R),
         ("tampering blocked",)),
    Case("b_correct", "the reference solution", lambda c: c.filled(), earned(I, C, R)),
    Case("c_deleted_and_duplicated", "syntax error in ResNet50; deleted test_convolutional_block; "
                                     "test_identity_block duplicated into a cell that passes",
         lambda c: duplicate_cell(delete_cell(c.filled(ResNet50=classroom.SYNTAX_ERROR), "test_convolutional_block"),
                                  "test_identity_block", "print('all tests passed')"),
         earned(I, C), ("test cell 'test_convolutional_block' deleted", "duplicated cell 'test_identity_block'")),
    Case("d_edited_tests", "wrong identity_block, and the asserts of its test cells removed",
         lambda c: edit_cell(edit_cell(c.filled(identity_block=classroom.WRONG_IDENTITY), "test_identity_block", "pass"),
                             "test_identity_block_hidden", "pass"),
         earned(C, R), ("test cell 'test_identity_block' edited",)),
    Case("e_patches_helpers", "wrong identity_block; replaces the checking helpers and importlib.reload",
         lambda c: c.filled(identity_block=classroom.WRONG_IDENTITY + classroom.PATCH_HELPERS), earned(C, R),
         ("monkeypatches",)),
]


def _protected(root: Path) -> dict[str, str]:
    import resnet_utils.grading

    files = [Path(resnet_utils.grading.REFERENCE_FILE), root / "nbgrader_config.py",
             root / "source" / course.ASSIGNMENT / course.NOTEBOOK]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def _new_class(root: Path) -> Path:
    course.new_course(root)
    course.generate_release(root, quiet=True)
    classroom.write_class(str(root), CLASS)
    return root


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The class graded with nbgrader's own command line: (root, grades, logs, protected before)."""
    root = _new_class(tmp_path_factory.mktemp("plain_nbgrader"))
    before = _protected(root)
    tmp = root.parent / (root.name + "-tmp")  # nbgrader's own temporary folder: the sandboxes go there
    tmp.mkdir()
    env = course.nbgrader_env(TMPDIR=tmp)
    auto = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", course.ASSIGNMENT, "--force",
                           "--Execute.timeout=90"], cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    feedback = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", course.ASSIGNMENT, "--force"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600)
    return root, course.read_grades(root), auto, feedback, before, tmp


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    """The same class graded with ``python -m autograder grade``."""
    from autograder.grade import Options, grade

    root = _new_class(tmp_path_factory.mktemp("autograder_grade"))
    out = grade(Options(assignment=course.ASSIGNMENT, course_root=str(root), jobs=2, timeout=90,
                        memory_cap=5 * GiB, progress=False))
    return root, out


def test_plain_nbgrader_gives_the_expected_grades(plain):
    root, grades, auto, _, _, _ = plain
    assert auto.returncode == 0, auto.stderr[-3000:]
    assert sorted(grades) == [st.name for st in CLASS]
    for st in CLASS:
        assert cases.differences(st, grades[st.name]) == {}, (st.name, grades[st.name])


def test_same_grades_as_the_parallel_grader(plain, parallel):
    _, grades, _, _, _, _ = plain
    _, out = parallel
    assert cases.check(out, CLASS) == []
    assert {r.student: {k: float(v) for k, v in r.scores.items()} for r in out.results} == grades


def test_deleted_test_cell_restored_and_duplicate_neutralised(plain):
    root, _, _, _, _, _ = plain
    nb = read(root / "autograded" / "c_deleted_and_duplicated" / course.ASSIGNMENT / course.NOTEBOOK)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count("test_convolutional_block") == 1  # put back by nbgrader
    # nbgrader's rule: the last copy keeps the id, and being locked, gets the original test code
    # back; the first copy becomes an ordinary cell (nbgrader's own DeduplicateIds would leave
    # it with empty metadata, and OverwriteCells would then stop grading the notebook)
    assert ids.count("test_identity_block") == 1
    assert not any("all tests passed" in c.source for c in nb.cells)
    original = next(src for gid, _, src in submissions.test_cells(course.SOURCE_NB) if gid == "test_identity_block")
    copies = [c for c in nb.cells if c.cell_type == "code" and c.source == original]
    assert ["nbgrader" in c.metadata for c in copies] == [False, True]


def test_tampering_blocked_and_logged(plain):
    root, _, auto, _, before, tmp = plain
    import resnet_utils.grading

    assert _protected(root) == before
    con = sqlite3.connect(str(root / "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert ("tampering blocked by the sandbox: open write %s" % os.path.realpath(resnet_utils.grading.REFERENCE_FILE)
            in auto.stderr)
    assert "tampering blocked by the sandbox: open write %s" % os.path.realpath(root / "gradebook.db") in auto.stderr
    # every notebook had a sandbox of its own, removed afterwards
    assert auto.stderr.count("[AutogradeApp | INFO] Autograding ") == len(CLASS)
    assert [p.name for p in tmp.iterdir() if p.name.startswith("autograder-sandbox-")] == []


def _hidden_lines() -> list[str]:
    lines, inside = [], False
    for cell in read(course.SOURCE_NB).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    return lines


def test_no_hidden_tests_in_any_feedback(plain, parallel):
    hidden = _hidden_lines()
    assert len(hidden) >= 3
    _, _, _, feedback, _, _ = plain
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    for root in (plain[0], parallel[0]):
        pages = sorted((root / "feedback").glob("*/%s/*.html" % course.ASSIGNMENT))
        assert [p.parts[-3] for p in pages] == [st.name for st in CLASS]
        for page in pages:
            text = html.unescape(page.read_text())
            assert "hidden tests ran here" in text
            leaked = [line for line in hidden if line in text]
            assert leaked == [], (page, leaked[:3])
