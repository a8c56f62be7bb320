"""The parallel grader on a toy nbgrader assignment (no TensorFlow, fast).

A class of 20 toy submissions covers every broken and hostile case (syntax error, exception,
infinite loop, deleted/edited/duplicated cells, renamed notebook, invalid JSON, dying kernel,
memory bomb, output flood, reading/writing the instructor's files); it is graded once with
``--jobs 2`` and the tests check grades, reports, feedback, the gradebook and grades.csv.
"""

import csv
import hashlib
import os
import sqlite3

import pytest
import toy_course as toy

from autograder.example_classes import cases
from autograder.example_classes.cases import Case
from autograder.grade import Options, grade
from autograder.notebooks import read
from autograder.records import Problem, StudentResult

GiB = 1 << 30

pytestmark = pytest.mark.slow  # grading starts Jupyter kernels and runs nbgrader

#: files of the course that no submission may change
PROTECTED = ("nbgrader_config.py", "source/toy/toy.ipynb", "release/toy/toy.ipynb")


def _sha256(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _gradebook_view(root, assignment="toy"):
    """Everything the gradebook holds about each student, for comparisons."""
    from nbgrader.api import Gradebook, MissingEntry

    view = {}
    with Gradebook("sqlite:///" + os.path.join(root, "gradebook.db")) as gb:
        for st in gb.students:
            entry = {"student": (st.first_name, st.last_name, st.email)}
            try:
                sub = gb.find_submission(assignment, st.id)
            except MissingEntry:
                view[st.id] = entry
                continue
            entry["timestamp"] = str(sub.timestamp)
            for nb in sub.notebooks:
                entry["late"] = nb.late_submission_penalty
                for g in nb.grades:
                    entry["g:" + g.cell.name] = (g.auto_score, g.manual_score, g.extra_credit, g.needs_manual_grade)
                for c in nb.comments:
                    entry["c:" + c.cell.name] = (c.auto_comment, c.manual_comment)
            view[st.id] = entry
    return view


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("toycourse"))
    toy.make_toy_course(root, timeout=10)
    # an earlier, manually adjusted result that must survive the batch
    toy.write_cases(root, [Case("zoe_manual", "the solution", lambda c: c.filled(), toy.earned(*toy.ALL))])
    grade(Options(assignment="toy", course_root=root, jobs=1, students=["zoe_manual"], progress=False))
    from nbgrader.api import Gradebook

    with Gradebook("sqlite:///" + os.path.join(root, "gradebook.db")) as gb:
        g = gb.find_grade("test_square", "toy", "toy", "zoe_manual")
        g.manual_score = 1.5
        c = gb.find_comment("square", "toy", "toy", "zoe_manual")
        c.manual_comment = "nice, but see my note"
        gb.db.commit()
        gb.update_or_create_student("zoe_manual", first_name="Zoe", last_name="Manual", email="zoe@example.org")
        gb.update_or_create_student("xavier_no_submission", first_name="Xavier")
    students = toy.toy_class(root)
    toy.write_cases(root, students)
    protected = {f: _sha256(os.path.join(root, f)) for f in PROTECTED}
    out = grade(Options(assignment="toy", course_root=root, jobs=2, memory_cap=2 * GiB, progress=False))
    return root, students, out, protected


def test_every_grade_is_right(graded):
    root, students, out, _ = graded
    assert [r.student for r in out.results] == sorted([st.name for st in students] + ["zoe_manual"])
    bad = [line for line in cases.check(out, students) if "does not mention" not in line]
    assert not bad, bad
    by = out.by_student()
    assert {st.name: by[st.name].total for st in students} == {st.name: st.total for st in students}


def test_the_cells_after_the_last_test_are_not_run(graded):
    """They cannot change a grade: each gets a note instead of running (autograder.sandbox)."""
    from autograder.sandbox import NOT_RUN_AFTER_LAST_TEST

    root, students, _, _ = graded
    nb = read(os.path.join(root, "autograded", "t01_correct", "toy", toy.NOTEBOOK))
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.source == toy.AFTER_THE_LAST_TEST
    assert [o.get("text") for o in last.outputs] == [NOT_RUN_AFTER_LAST_TEST]
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_add_one")
    assert "add_one: tests passed" in test_cell.outputs[0]["text"]


def test_every_problem_is_reported(graded):
    root, students, out, _ = graded
    missing = [line for line in cases.check(out, students) if "does not mention" in line]
    assert not missing, missing
    correct = out.by_student()["t01_correct"]
    assert correct.problems == [] and correct.flags == []


def test_the_saved_results_hold_the_report_lines_and_their_codes(graded):
    """``.autograder/toy-results.json``: problems and flags are the report's lines, their codes
    beside them; the grader events counted (``mistakes``) are those codes; a file saved without
    the codes (the previous version's) loads with the codes of the events it counted."""
    import json

    root, students, out, _ = graded
    with open(os.path.join(root, ".autograder", "toy-results.json")) as fh:
        saved = json.load(fh)["results"]
    coded = 0
    for data in saved:
        assert all(isinstance(p, str) for p in data["problems"] + data["flags"]), data["student"]
        assert len(data["problem_codes"]) == len(data["problems"]) and len(data["flag_codes"]) == len(data["flags"])
        r = StudentResult.from_dict(data)
        said = {p.text[:600]: p.code for p in r.problems + r.flags}
        events = [m for m in data["mistakes"] if m["cell"] is None]
        assert all(said.get(m["message"]) == m["code"] for m in events), data["student"]
        old = {k: v for k, v in data.items() if k not in ("problem_codes", "flag_codes")}
        loaded = StudentResult.from_dict(old)
        assert [p.text for p in loaded.problems] == data["problems"]
        assert {p.code for p in loaded.problems + loaded.flags} - {"grader.other"} == \
            {m["code"] for m in events} - {"grader.other"}
        coded += len(events)
    assert coded >= 15


def test_earlier_data_is_kept(graded):
    root, students, out, _ = graded
    view = _gradebook_view(root)
    zoe = view["zoe_manual"]
    assert zoe["student"] == ("Zoe", "Manual", "zoe@example.org")
    assert zoe["g:test_square"][1] == 1.5  # the manual score
    assert zoe["c:square"][1] == "nice, but see my note"
    assert view["xavier_no_submission"] == {"student": ("Xavier", None, None)}
    assert out.by_student()["zoe_manual"].total == pytest.approx(5.5)  # manual 1.5 + 4 autograded


def test_feedback_has_no_hidden_tests(graded):
    root, students, out, _ = graded
    graded_students = sorted(r.student for r in out.results if r.graded)
    with_feedback = sorted(s for s in os.listdir(os.path.join(root, "feedback"))
                           if os.path.exists(os.path.join(root, "feedback", s, "toy", "toy.html")))
    assert with_feedback == graded_students  # feedback for every autograded student, for no one else
    assert len(graded_students) == len(students) + 1 - 2  # all but the renamed and the invalid notebook
    for s in graded_students:
        html = open(os.path.join(root, "feedback", s, "toy", "toy.html"), encoding="utf-8").read()
        for marker in toy.HIDDEN_MARKERS + ("BEGIN HIDDEN TESTS",):
            assert marker not in html, (s, marker)
    html = open(os.path.join(root, "feedback", "t06_hidden_fails", "toy", "toy.html"), encoding="utf-8").read()
    # the failed hidden test: only its error's last line, no test code
    assert "TypeError: only 0-dimensional arrays can be converted to Python scalars" in html
    assert "hidden tests ran here" in html


def test_grades_csv_and_database(graded):
    root, students, out, _ = graded
    with open(os.path.join(root, "grades.csv")) as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    for st in students:
        assert float(rows[st.name]["score"]) == pytest.approx(st.total), st.name
    con = sqlite3.connect(os.path.join(root, "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    # a submission that could not be autograded is flagged for a human, without stale scores
    view = _gradebook_view(root)
    for gid in ("test_square", "test_add_one", "test_add_one_hidden"):
        auto, manual, extra, needs = view["t13_invalid_json"]["g:" + gid]
        assert auto is None and needs is True


def test_sandbox_was_active(graded):
    root, students, out, protected = graded
    info = out.by_student()["t01_correct"].sandbox
    assert "audit_hook installed" in info and "ready" in info
    # each worker's kernels were forked from its zygote (autograder/sandbox/zygote.py)
    assert all("kernel forked from the zygote" in r.sandbox for r in out.results if r.status == "graded"), \
        {r.student: r.sandbox for r in out.results if "kernel forked from the zygote" not in r.sandbox}
    # the cheaters changed none of the course's files (t19 tries to write the config and the gradebook)
    assert {f: _sha256(os.path.join(root, f)) for f in PROTECTED} == protected


def test_regrading_one_student_touches_nobody_else(graded):
    root, students, out, _ = graded
    regraded = ["t02_partial", "t16_memory_bomb", "t14_kernel_dies"]
    before = _gradebook_view(root)
    again = grade(Options(assignment="toy", course_root=root, jobs=2, memory_cap=2 * GiB, progress=False,
                          students=regraded))
    after = _gradebook_view(root)
    assert set(after) == set(before)
    for s in before:
        if s not in regraded:
            assert after[s] == before[s], s
    first = out.by_student()
    assert [r.student for r in again.results] == regraded
    for r in again.results:  # re-running gives the same grades
        assert r.scores == first[r.student].scores, r.student
    import json

    with open(os.path.join(root, ".autograder", "toy-results.json")) as fh:
        saved = json.load(fh)["results"]  # the class's saved results: the three replaced, the others kept
    assert [r["student"] for r in saved] == [r.student for r in out.results]
    assert {r["student"]: r["elapsed"] for r in saved if r["student"] in regraded} == \
        {r.student: r.elapsed for r in again.results}


def test_wall_clock_limit_and_missing_student(tmp_path):
    root = str(tmp_path)
    toy.make_toy_course(root, timeout=600)
    toy.write_cases(root, [
        Case("ok", "the solution", lambda c: c.filled(), toy.earned(*toy.ALL)),
        Case("sleepy", "sleeps 10 minutes", lambda c: c.filled(square="import time\ntime.sleep(600)\n"),
             toy.earned()),
    ])
    out = grade(Options(assignment="toy", course_root=root, jobs=2, wall_limit=20, progress=False,
                        students=["sleepy", "ok", "nobody"]))
    by = out.by_student()
    assert by["ok"].total == 6
    assert by["sleepy"].problems == [Problem("grader.wall_clock_limit", "wall-clock limit hit: stopped after 20 s")]
    assert by["sleepy"].status == "failed" and by["sleepy"].total == 0
    assert by["nobody"].status == "missing"
    import psutil

    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if "ag-sleepy-" in " ".join(p.info["cmdline"] or [])]
    assert not leftovers


def test_class_report(graded):
    """`python -m autograder report toy`: every student, the mistakes the toy cases contain
    with the right counts, flagged submissions, links to existing feedback files."""
    import re
    import subprocess
    import sys

    root, students, out, _ = graded
    proc = subprocess.run([sys.executable, "-m", "autograder", "report", "toy", "--course-root", root],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = os.path.join(root, "reports", "toy.html")
    assert proc.stdout.strip() == "class report: %s" % path
    page = open(path, encoding="utf-8").read()
    # every student of the class, also after test_regrading_one_student_touches_nobody_else
    # graded one of them again (the saved results are merged, not replaced)
    assert re.findall(r"data-student='([^']+)'", page) == [r.student for r in out.results]
    rows = dict(re.findall(r"<tr><td><code>([^<]+)</code></td><td class='num'>(\d+)</td>", page))
    expected = {"grader.timeout": 2, "grader.tampering_blocked": 2, "grader.memory_cap": 1, "grader.kernel_died": 1,
                "grader.kernel_unresponsive": 1, "grader.notebook_missing": 1, "grader.notebook_unreadable": 1,
                "grader.test_cell_deleted": 1, "grader.solution_cell_deleted": 1, "grader.duplicated_cell": 1,
                "grader.output_truncated": 1, "student.syntax_error": 1, "test_square.AssertionError": 2,
                "test_add_one_hidden.TypeError": 1}
    assert {code: int(rows.get(code, 0)) for code in expected} == expected
    assert "grader.other" not in rows
    flagged = page.split("id='flagged'")[1].split("</table>")[0]
    for name in ("t07_infinite_loop", "t13_invalid_json", "t16_memory_bomb", "t18_cheat_read_source", "t10_edited_test_cell"):
        assert "<td>%s</td>" % name in flagged, name
    assert "identical solution code in" in flagged
    link = re.search(r"data-student='t01_correct'.*?<a href='([^']+)'", page).group(1)
    assert os.path.exists(os.path.join(root, "reports", link))
