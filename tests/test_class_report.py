"""Mistake codes (autograder/mistakes.py) and the class report's analyses (autograder/class_report.py)
on small hand-made inputs; the report of a really graded class is checked in
tests/test_autograder_grade.py (toy class) and tests/test_autograder_hostile_class.py."""

import html
import re

import nbformat
import pytest

from autograder import class_report, mistakes


@pytest.mark.parametrize("problem, code", [
    ("timeout in cell 'square' (stopped after 10s)", "grader.timeout"),
    ("kernel stopped responding in cell 'x' (ignored the timeout's interrupt); it was stopped", "grader.kernel_unresponsive"),
    ("kernel died in cell 'add_one'", "grader.kernel_died"),
    ("memory cap hit in cell 'add_one' (MemoryError)", "grader.memory_cap"),
    ("memory cap hit: 7.0 GiB in use (cap 6.0 GiB); stopped", "grader.memory_cap"),
    ("wall-clock limit hit: stopped after 60 s", "grader.wall_clock_limit"),
    ("toy.ipynb: not a readable notebook (NotJSONError: ...)", "grader.notebook_unreadable"),
    ("notebook missing: toy.ipynb (found 'toy (1).ipynb' instead: renamed?)", "grader.notebook_missing"),
    ("test cell 'test_square' edited (the original is what runs)", "grader.test_cell_edited"),
    ("test cell 'test_square' deleted (restored by nbgrader)", "grader.test_cell_deleted"),
    ("solution cell 'add_one' deleted", "grader.solution_cell_deleted"),
    ("duplicated cell 'test_add_one' (2 copies; nbgrader keeps the last one's id)", "grader.duplicated_cell"),
    ("tampering blocked by the sandbox: open write /course/gradebook.db", "grader.tampering_blocked"),
    ("cell 'identity_block': monkeypatches np.allclose", "grader.monkeypatch"),
    ("cell 'add_one': imports os; calls os._exit", "grader.suspicious_code"),
    ("output flood truncated in cell 'square' (17 MB dropped)", "grader.output_truncated"),
    ("syntax error in cell 'ResNet50' (line 3: invalid syntax)", "student.syntax_error"),
    ("errors in 1 other cell(s) (first: cell 8: AssertionError)", "student.errors_in_other_cells"),
    ("2 later cell(s) not run after the kernel stopped", "grader.cells_not_run"),
    ("grader warning: test_square scored 2.0 in the worker, 1.5 in the gradebook", "grader.score_differs"),
    ("something nobody expected", "grader.other"),
])
def test_event_codes(problem, code):
    assert mistakes.event_code(problem) == code


def test_split_code_takes_the_marker_off():
    msg = "identity_block(f=2, ...): layer 9 is ReLU, expected Add.\n(mistake code: identity_block.relu_before_add)"
    assert mistakes.split_code(msg) == ("identity_block.relu_before_add", "identity_block(f=2, ...): layer 9 is ReLU, expected Add.")
    assert mistakes.split_code("plain message") == (None, "plain message")


def _cell(gid, outputs):
    c = nbformat.v4.new_code_cell("check()")
    c.metadata["nbgrader"] = {"grade_id": gid, "grade": True, "solution": False}
    c.outputs = [nbformat.from_dict(o) for o in outputs]
    return c


def test_test_failures_reads_codes_and_falls_back_to_the_exception():
    nb = nbformat.v4.new_notebook(cells=[
        _cell("test_a", [{"output_type": "error", "ename": "GradingError",
                          "evalue": "\x1b[31mwrong stride\x1b[0m (mistake code: a.stride)", "traceback": []}]),
        _cell("test_b", [{"output_type": "stream", "name": "stdout", "text": "ok"}]),
        _cell("test_c", [{"output_type": "error", "ename": "AssertionError", "evalue": "no", "traceback": []},
                         {"output_type": "error", "ename": "KernelDied", "evalue": "x", "traceback": []}]),
        _cell("not_graded", [{"output_type": "error", "ename": "NameError", "evalue": "x", "traceback": []}]),
    ])
    assert mistakes.test_failures(nb, {"test_a", "test_b", "test_c"}) == [
        {"cell": "test_a", "code": "a.stride", "message": "GradingError: wrong stride"},
        {"cell": "test_c", "code": "test_c.AssertionError", "message": "AssertionError: no"}]


RUN = {
    "assignment": "a", "exercises": ["ex1", "ex2"], "max_points": {"ex1": 10.0, "ex2": 10.0}, "max_total": 20.0,
    "results": [
        {"student": "s1", "status": "graded", "total": 20.0, "exercises": {"ex1": 10.0, "ex2": 10.0}, "mistakes": []},
        {"student": "s2", "status": "graded", "total": 10.0, "exercises": {"ex1": 10.0, "ex2": 0.0},
         "mistakes": [{"code": "ex2.stride", "cell": "t2", "message": "wrong stride <b>"}]},
        {"student": "s3", "status": "graded", "total": 0.0, "exercises": {"ex1": 0.0, "ex2": 0.0},
         "mistakes": [{"code": "ex2.stride", "cell": "t2", "message": "wrong stride again"},
                      {"code": "grader.timeout", "cell": None, "message": "timeout in cell 'ex1'"},
                      {"code": "ex2.stride", "cell": "t3", "message": "hidden: wrong stride"}]},
        {"student": "s4", "status": "failed", "total": None, "exercises": {},
         "mistakes": [{"code": "grader.notebook_missing", "cell": None, "message": "notebook missing: a.ipynb"}]},
    ]}


def test_common_mistakes_count_students_once():
    assert [(m["code"], m["count"], m["students"], m["example"]) for m in class_report.common_mistakes(RUN["results"])] == [
        ("ex2.stride", 2, ["s2", "s3"], "wrong stride <b>"),
        ("grader.notebook_missing", 1, ["s4"], "notebook missing: a.ipynb"),
        ("grader.timeout", 1, ["s3"], "timeout in cell 'ex1'")]


def test_identical_groups_and_flags():
    codes = {"s1": "ex1\nreturn x", "s2": "ex1\nreturn x", "s3": "ex1\nreturn y", "s4": None}
    groups = class_report.identical_groups(codes)
    assert groups == [["s1", "s2"]]
    flags = class_report.flagged(RUN["results"], groups, codes)
    assert flags == {
        "s1": ["identical solution code in 2 submissions: s1, s2"],
        "s2": ["identical solution code in 2 submissions: s1, s2"],
        "s3": ["grader.timeout: timeout in cell 'ex1'", "0 points although the notebook has code in its solution cells"],
        "s4": ["grader.notebook_missing: notebook missing: a.ipynb"]}


def test_normalised_code_ignores_comments_and_spacing():
    a = "def f(x):\n    # my comment\n    return   x + 1\n\n"
    b = "def f(x):\n  return x + 1  # other comment\n"
    assert class_report._normalised(a) == class_report._normalised(b) == "def f(x):\nreturn x + 1"


def test_render_escapes_and_lists_every_student(tmp_path):
    page = class_report.render(RUN, str(tmp_path), str(tmp_path / "reports" / "a.html"), {"a": ["ex1"]})
    assert re.findall(r"data-student='([^']+)'", page) == ["s1", "s2", "s3", "s4"]
    assert "wrong stride &lt;b&gt;" in page and "<b>" not in page.split("<body>")[1].replace("<br>", "")
    assert page.count("data:image/png;base64,") == 1
    assert "http://" not in page and "https://" not in page  # opens offline
    assert "4 students, 3 graded; median total 10 of 20" in html.unescape(page)


def test_missing_results_say_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run `python -m autograder grade a` first"):
        class_report.load_run(str(tmp_path), "a")


def test_solution_code_ignores_the_handed_out_scaffold(tmp_path):
    def write(path, body):
        cell = nbformat.v4.new_code_cell(body)
        cell.metadata["nbgrader"] = {"grade_id": "ex1", "solution": True, "grade": False}
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[cell]), str(path))

    scaffold = "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    write(tmp_path / "release" / "a" / "nb.ipynb", scaffold)
    write(tmp_path / "submitted" / "untouched" / "a" / "nb.ipynb", scaffold)
    write(tmp_path / "submitted" / "done" / "a" / "nb.ipynb", "def f(x):\n    return x + 1  # mine\n")
    ids = {"nb": ["ex1"]}
    assert class_report.solution_code(str(tmp_path), "a", "untouched", ids) is None
    assert class_report.solution_code(str(tmp_path), "a", "done", ids) == "ex1\ndef f(x):\nreturn x + 1"
    assert class_report.solution_code(str(tmp_path), "a", "nobody", ids) is None
