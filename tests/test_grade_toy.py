"""The parallel grader on a toy nbgrader assignment (no TensorFlow, fast).

A class of 20 toy submissions covers every broken and hostile case (syntax error, exception,
infinite loop, deleted/edited/duplicated cells, renamed notebook, invalid JSON, dying kernel,
memory bomb, output flood, reading/writing the instructor's files); it is graded once with
``--jobs 2`` and the tests check grades, reports, feedback, the gradebook and grades.csv.
"""

import csv
import os
import sqlite3

import pytest

from autograder import toy
from autograder.grade import Options, grade

GiB = 1 << 30


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
    toy.write_submission(root, "zoe_manual", toy.toy_submission(root))
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
    expected = toy.toy_class(root)
    out = grade(Options(assignment="toy", course_root=root, jobs=2, memory_cap=2 * GiB, progress=False))
    return root, expected, out


def test_every_grade_is_right(graded):
    root, expected, out = graded
    by = {r["student"]: r for r in out["results"]}
    assert set(expected) <= set(by)
    wrong = {s: (by[s].get("total"), e["total"]) for s, e in expected.items()
             if abs((by[s].get("total") or 0) - e["total"]) > 1e-9}
    assert not wrong, wrong


def test_every_problem_is_reported(graded):
    root, expected, out = graded
    by = {r["student"]: r for r in out["results"]}
    missing = []
    for s, e in expected.items():
        text = "\n".join(by[s]["problems"] + by[s]["flags"])
        missing += ["%s: %s" % (s, p) for p in e["problems"] if p not in text]
    assert not missing, missing
    assert not by["t01_correct"]["problems"] and not by["t01_correct"]["flags"]


def test_earlier_data_is_kept(graded):
    root, expected, out = graded
    view = _gradebook_view(root)
    zoe = view["zoe_manual"]
    assert zoe["student"] == ("Zoe", "Manual", "zoe@example.org")
    assert zoe["g:test_square"][1] == 1.5  # the manual score
    assert zoe["c:square"][1] == "nice, but see my note"
    assert "xavier_no_submission" in view
    by = {r["student"]: r for r in out["results"]}
    assert by["zoe_manual"]["total"] == pytest.approx(5.5)  # manual 1.5 + 4 autograded


def test_feedback_has_no_hidden_tests(graded):
    root, expected, out = graded
    n = 0
    for s in expected:
        path = os.path.join(root, "feedback", s, "toy", "toy.html")
        if not os.path.exists(path):
            continue
        n += 1
        html = open(path, encoding="utf-8").read()
        for marker in toy.HIDDEN_MARKERS + ("BEGIN HIDDEN TESTS",):
            assert marker not in html, (s, marker)
    assert n >= 15
    html = open(os.path.join(root, "feedback", "t06_hidden_fails", "toy", "toy.html"), encoding="utf-8").read()
    # the failed hidden test: only its error's last line, no test code
    assert "TypeError: only 0-dimensional arrays can be converted to Python scalars" in html
    assert "hidden tests ran here" in html


def test_grades_csv_and_database(graded):
    root, expected, out = graded
    with open(os.path.join(root, "grades.csv")) as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    for s, e in expected.items():
        assert float(rows[s]["score"]) == pytest.approx(e["total"]), s
    con = sqlite3.connect(os.path.join(root, "gradebook.db"))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    # a submission that could not be autograded is flagged for a human, without stale scores
    view = _gradebook_view(root)
    for gid in ("test_square", "test_add_one", "test_add_one_hidden"):
        auto, manual, extra, needs = view["t13_invalid_json"]["g:" + gid]
        assert auto is None and needs is True


def test_sandbox_was_active(graded):
    root, expected, out = graded
    by = {r["student"]: r for r in out["results"]}
    info = by["t01_correct"].get("sandbox", [])
    assert "audit_hook installed" in info and "ready" in info
    # the cheater could not write the gradebook or the config
    assert "hacked" not in open(os.path.join(root, "nbgrader_config.py")).read()


def test_regrading_one_student_touches_nobody_else(graded):
    root, expected, out = graded
    before = _gradebook_view(root)
    again = grade(Options(assignment="toy", course_root=root, jobs=2, progress=False,
                          students=["t02_partial", "t16_memory_bomb", "t14_kernel_dies"]))
    after = _gradebook_view(root)
    for s in before:
        if s not in ("t02_partial", "t16_memory_bomb", "t14_kernel_dies"):
            assert after[s] == before[s], s
    first = {r["student"]: r["scores"] for r in out["results"]}
    for r in again["results"]:  # re-running gives the same grades
        assert r["scores"] == first[r["student"]], r["student"]


def test_wall_clock_limit_and_missing_student(tmp_path):
    root = str(tmp_path)
    toy.make_toy_course(root, timeout=600)
    toy.write_submission(root, "ok", toy.toy_submission(root))
    sleepy = toy.mutate_cell(toy.toy_submission(root), "square", toy._append("square", "import time\ntime.sleep(600)\n"))
    toy.write_submission(root, "sleepy", sleepy)
    out = grade(Options(assignment="toy", course_root=root, jobs=2, wall_limit=45, progress=False,
                        students=["sleepy", "ok", "nobody"]))
    by = {r["student"]: r for r in out["results"]}
    assert by["ok"]["total"] == 6
    assert any("wall-clock limit" in p for p in by["sleepy"]["problems"])
    assert (by["sleepy"].get("total") or 0) == 0
    assert by["nobody"]["status"] == "missing"
    import psutil

    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if "ag-sleepy-" in " ".join(p.info["cmdline"] or [])]
    assert not leftovers
