"""Plain nbgrader (`nbgrader autograde` + `nbgrader generate_feedback`, no `python -m autograder`)
is as safe as the course's own grader, because nbgrader_config.py registers the same
preprocessors: duplicated cell ids, deleted test cells, edited tests, a submission that
tries to overwrite the course's reference data, gradebook and config, and one that replaces
the checking helpers and ``importlib.reload``.

For each assignment, a small class is graded twice, in two identical temporary courses:
with the plain nbgrader command line, and with ``python -m autograder grade``.  Both must
give the grades the cases expect (autograder/example_classes/classroom.py), no feedback file may contain
hidden-test code, and the files the hostile student tries to overwrite must be unchanged.
Select one assignment with ``-k residual_networks`` or ``-k resnet_cifar``.
"""

import hashlib
import html
import importlib
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.example_classes import cases, classroom
from autograder import course
from autograder.example_classes import submissions
from autograder.example_classes.cases import Case
from autograder.example_classes.classroom import CIFAR, CIFAR_KIT, PC, SS, C, I, L, LR, P, R, S, V1, V2, earned
from autograder.example_classes.submissions import delete_cell, duplicate_cell, edit_cell
from autograder.notebooks import read

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes

GiB = 1 << 30

# Graded in this order by both graders (nbgrader sorts the students): the hostile student
# first, so that the correct work graded after it shows that it changed nothing.
CLASSES = {
    course.ASSIGNMENT: [
        Case("a_overwrites_files", "correct work; tries to overwrite the reference data, the gradebook and the config",
             lambda c: c.filled(convolutional_block=classroom.write_files_cheat(c)), earned(I, C, R, P, S),
             ("tampering blocked",)),
        Case("b_correct", "the reference solution", lambda c: c.filled(), earned(I, C, R, P, S)),
        Case("c_deleted_and_duplicated", "syntax error in ResNet50; deleted test_convolutional_block; "
                                         "test_identity_block duplicated into a cell that passes",
             lambda c: duplicate_cell(delete_cell(c.filled(ResNet50=classroom.SYNTAX_ERROR), "test_convolutional_block"),
                                      "test_identity_block", "print('all tests passed')"),
             earned(I, C, P, S), ("test cell 'test_convolutional_block' deleted", "duplicated cell 'test_identity_block'")),
        Case("d_edited_tests", "wrong identity_block, and the asserts of its test cells removed",
             lambda c: edit_cell(edit_cell(c.filled(identity_block=classroom.WRONG_IDENTITY), "test_identity_block", "pass"),
                                 "test_identity_block_hidden", "pass"),
             earned(C, R, P, S), ("test cell 'test_identity_block' edited",)),
        Case("e_patches_helpers", "wrong identity_block; replaces the checking helpers and importlib.reload",
             lambda c: c.filled(identity_block=classroom.WRONG_IDENTITY + classroom.PATCH_HELPERS), earned(C, R, P, S),
             ("monkeypatches",)),
    ],
    # two kernels: the hostile acts combined; the correct functions graded after the tampering
    # (resnet_layer's cell) show that it changed nothing
    CIFAR: [
        Case("a_tampers", "tries to overwrite the reference data, the gradebook and the config after resnet_layer; "
                          "wrong lr_schedule, and replaces the checking helpers and importlib.reload",
             lambda c: c.filled(resnet_layer=CIFAR_KIT.write_files_cheat(c),
                                lr_schedule=CIFAR_KIT.wrong[LR] + CIFAR_KIT.patch_helpers()),
             CIFAR_KIT.earned(L, V1, V2, SS, PC), ("tampering blocked", "monkeypatches")),
        Case("b_deleted_duplicated_edited", "deleted test_resnet_v1; resnet_v2 unfinished and test_resnet_v2 "
                                            "duplicated into a cell that passes; wrong lr_schedule and the checks "
                                            "of its test cells removed",
             lambda c: edit_cell(edit_cell(duplicate_cell(
                 delete_cell(c.filled(resnet_v2=CIFAR_KIT.wrong[V2], lr_schedule=CIFAR_KIT.wrong[LR]), "test_resnet_v1"),
                 "test_resnet_v2", "print('all tests passed')"), "test_lr_schedule", "pass"),
                 "test_lr_schedule_hidden", "pass"),
             CIFAR_KIT.earned(L, V1, SS, PC), ("test cell 'test_resnet_v1' deleted", "duplicated cell 'test_resnet_v2'",
                                       "test cell 'test_lr_schedule' edited")),
    ],
}
#: per assignment: (the student who deleted a test cell and duplicated another, the deleted cell,
#: the duplicated cell)
DELETED_AND_DUPLICATED = {
    course.ASSIGNMENT: ("c_deleted_and_duplicated", "test_convolutional_block", "test_identity_block"),
    CIFAR: ("b_deleted_duplicated_edited", "test_resnet_v1", "test_resnet_v2"),
}


def reference_file(assignment: str) -> Path:
    """The reference data the assignment's checks compare with (the course package's own file)."""
    return Path(importlib.import_module(classroom.KITS[assignment].checks).REFERENCE_FILE)


def protected(root: Path, assignment: str) -> dict[str, str]:
    """sha256 of the files the hostile student tries to overwrite."""
    files = [reference_file(assignment), root / "nbgrader_config.py", course.source_nb(assignment, root)]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


def new_class(root: Path, assignment: str) -> Path:
    """A fresh course at ``root`` with the assignment's release and its class submitted."""
    course.new_course(root)
    course.generate_release(root, assignment, quiet=True)
    classroom.write_class(str(root), CLASSES[assignment], assignment)
    return root


@pytest.fixture(scope="module", params=list(CLASSES))
def assignment(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def plain(assignment, tmp_path_factory):
    """The class graded with nbgrader's own command line: (root, grades, logs, protected before)."""
    root = new_class(tmp_path_factory.mktemp("plain_nbgrader_" + assignment), assignment)
    before = protected(root, assignment)
    tmp = root.parent / (root.name + "-tmp")  # nbgrader's own temporary folder: the sandboxes go there
    tmp.mkdir()
    env = course.nbgrader_env(TMPDIR=tmp)
    auto = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                           "--Execute.timeout=90"], cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    feedback = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", assignment, "--force"],
                              cwd=root, env=env, capture_output=True, text=True, timeout=600)
    return root, course.read_grades(root, assignment), auto, feedback, before, tmp


@pytest.fixture(scope="module")
def parallel(assignment, tmp_path_factory):
    """The same class graded with ``python -m autograder grade``."""
    from autograder.grade import Options, grade

    root = new_class(tmp_path_factory.mktemp("autograder_grade_" + assignment), assignment)
    out = grade(Options(assignment=assignment, course_root=str(root), jobs=2, timeout=90,
                        memory_cap=5 * GiB, progress=False))
    return root, out


def test_plain_nbgrader_gives_the_expected_grades(assignment, plain):
    root, grades, auto, _, _, _ = plain
    assert auto.returncode == 0, auto.stderr[-3000:]
    students = CLASSES[assignment]
    assert sorted(grades) == [st.name for st in students]
    for st in students:
        assert cases.differences(st, grades[st.name]) == {}, (st.name, grades[st.name])


def test_same_grades_as_the_parallel_grader(assignment, plain, parallel):
    _, grades, _, _, _, _ = plain
    _, out = parallel
    assert cases.check(out, CLASSES[assignment]) == []
    assert {r.student: {k: float(v) for k, v in r.scores.items()} for r in out.results} == grades


def test_deleted_test_cell_restored_and_duplicate_neutralised(assignment, plain):
    root, _, _, _, _, _ = plain
    student, deleted, duplicated = DELETED_AND_DUPLICATED[assignment]
    nb = read(root / "autograded" / student / assignment / course.notebook(assignment))
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    assert ids.count(deleted) == 1  # put back by nbgrader
    # nbgrader's rule: the last copy keeps the id, and being locked, gets the original test code
    # back; the first copy becomes an ordinary cell (nbgrader's own DeduplicateIds would leave
    # it with empty metadata, and OverwriteCells would then stop grading the notebook)
    assert ids.count(duplicated) == 1
    assert not any("all tests passed" in c.source for c in nb.cells)
    original = next(src for gid, _, src in submissions.test_cells(course.source_nb(assignment)) if gid == duplicated)
    copies = [c for c in nb.cells if c.cell_type == "code" and c.source == original]
    assert ["nbgrader" in c.metadata for c in copies] == [False, True]


def test_tampering_blocked_and_logged(assignment, plain):
    root, _, auto, _, before, tmp = plain
    assert protected(root, assignment) == before
    con = sqlite3.connect(str(root / "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    assert ("tampering blocked by the sandbox: open write %s" % os.path.realpath(reference_file(assignment))
            in auto.stderr)
    assert "tampering blocked by the sandbox: open write %s" % os.path.realpath(root / "gradebook.db") in auto.stderr
    # every notebook had a sandbox of its own, removed afterwards
    assert auto.stderr.count("[AutogradeApp | INFO] Autograding ") == len(CLASSES[assignment])
    assert [p.name for p in tmp.iterdir() if p.name.startswith("autograder-sandbox-")] == []


def hidden_lines(assignment: str) -> list[str]:
    """The longer lines of the hidden tests of the assignment's source notebook."""
    lines, inside = [], False
    for cell in read(course.source_nb(assignment)).cells:
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 25:
                lines.append(line.strip())
    return lines


def test_no_hidden_tests_in_any_feedback(assignment, plain, parallel):
    hidden = hidden_lines(assignment)
    assert len(hidden) >= 3
    _, _, _, feedback, _, _ = plain
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    for root in (plain[0], parallel[0]):
        pages = sorted((root / "feedback").glob("*/%s/*.html" % assignment))
        assert [p.parts[-3] for p in pages] == [st.name for st in CLASSES[assignment]]
        for page in pages:
            # without the lines a passed check prints: they name the case checked, hidden ones too
            text = re.sub("\u2713[^\n]*", "", html.unescape(page.read_text()))
            assert "hidden tests ran here" in text
            leaked = [line for line in hidden if line in text]
            assert leaked == [], (page, leaked[:3])
