"""Mistake codes (autograder/mistakes.py) and the class report's analyses (autograder/class_report.py)
on small hand-made inputs; the report of a really graded class is checked in
tests/test_autograder_grade.py (toy class) and tests/test_autograder_hostile_class.py."""

import html
import re

import nbformat
import pytest

from autograder import class_report, mistakes
from autograder.records import Problem


#: problems as the grader words them, with their codes (set where each problem is found)
EVENTS = [
    ("grader.timeout", "timeout in cell 'square' (stopped after 10s)"),
    ("grader.kernel_unresponsive", "kernel stopped responding in cell 'x' (ignored the timeout's interrupt); it was stopped"),
    ("grader.kernel_died", "kernel died in cell 'add_one'"),
    ("grader.memory_cap", "memory cap hit in cell 'add_one' (MemoryError)"),
    ("grader.memory_cap", "memory cap hit: 7.0 GiB in use (cap 6.0 GiB); stopped"),
    ("grader.wall_clock_limit", "wall-clock limit hit: stopped after 60 s"),
    ("grader.notebook_unreadable", "toy.ipynb: not a readable notebook (NotJSONError: ...)"),
    ("grader.notebook_missing", "notebook missing: toy.ipynb (found 'toy (1).ipynb' instead: renamed?)"),
    ("grader.test_cell_edited", "test cell 'test_square' edited (the original is what runs)"),
    ("grader.monkeypatch", "cell 'identity_block': monkeypatches np.allclose"),
    ("grader.suspicious_code", "cell 'add_one': imports os; calls os._exit"),
    ("grader.score_differs", "grader warning: test_square scored 2.0 in the worker, 1.5 in the gradebook"),
]


def test_a_students_grader_events_are_the_codes_of_the_problems_one_per_code():
    problems = [Problem(code, text) for code, text in EVENTS]
    got = mistakes.student_mistakes(problems, [])
    assert [m["code"] for m in got] == list(dict.fromkeys(code for code, _ in EVENTS))
    assert got[3] == {"code": "grader.memory_cap", "message": "memory cap hit in cell 'add_one' (MemoryError)",
                      "cell": None}  # the first line of its code


def test_a_code_does_not_depend_on_the_wording():
    """A reworded problem keeps its code; a line that quotes another's words (a student's file
    name, an exception message) keeps its own."""
    reworded = [Problem("grader.timeout", "cell 'square' ran out of time"),
                Problem("student.exception", "exception in cell 'a': ValueError: unreadable notebook, monkeypatches"),
                Problem("grader.other", "symlink removed from the submission: timeout in cell 'x'")]
    assert [m["code"] for m in mistakes.student_mistakes(reworded, [])] == [
        "grader.timeout", "student.exception", "grader.other"]


def test_every_grader_event_is_documented_and_flag_codes_are_events():
    assert all(code.startswith(("grader.", "student.")) and what for code, what in mistakes.GRADER_EVENTS.items())
    assert class_report.FLAG_CODES <= set(mistakes.GRADER_EVENTS)
    assert {code for code, _ in EVENTS} <= set(mistakes.GRADER_EVENTS)


def test_the_codes_format_is_one_modules():
    """resnet_utils.codes writes the markers (GradingError, penalty lines) and reads them back."""
    from resnet_utils import codes, grading

    msg = "identity_block(f=2, ...): layer 9 is ReLU, expected Add.\n(mistake code: identity_block.relu_before_add)"
    assert str(grading.GradingError("identity_block(f=2, ...): layer 9 is ReLU, expected Add.",
                                    code="identity_block.relu_before_add")) == msg
    assert codes.with_code("identity_block(f=2, ...): layer 9 is ReLU, expected Add.",
                           "identity_block.relu_before_add") == msg
    assert codes.split_code(msg) == ("identity_block.relu_before_add",
                                     "identity_block(f=2, ...): layer 9 is ReLU, expected Add.")
    assert codes.split_code("plain message ") == (None, "plain message ")  # nothing else changed
    assert codes.with_code("no code", None) == str(grading.GradingError("no code")) == "no code"
    line = codes.with_penalty_code("-1 point: layer 22 is named 'x'.", "ResNet50.layer_name")
    assert line == "-1 point: layer 22 is named 'x'. (penalty code: ResNet50.layer_name)"
    assert codes.split_penalty_code(line) == ("ResNet50.layer_name", "-1 point: layer 22 is named 'x'.")
    assert codes.split_penalty_code("no penalty") == (None, "no penalty")
    assert codes.strip_ansi("\x1b[31mred\x1b[0m") == "red"
    assert grading.PENALTY_MARKER.pattern == codes.PENALTY_MARKER.pattern


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


def _stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def test_test_penalties_reads_passing_graded_cells_only():
    long = "x" * 700
    solution = _cell("answer", [_stream("-1 point: graded answer (penalty code: answer.x)\n")])
    solution.metadata["nbgrader"]["solution"] = True
    nb = nbformat.v4.new_notebook(cells=[
        _cell("test_resnet", [  # passes with two penalties (a line split over two outputs, ANSI colours)
            _stream("check 1 passed\n\x1b[33m\u22121 point: layer 22 (AveragePooling2D) is named 'average_pooling2d', "),
            _stream("expected 'avg_pool'\x1b[0m (penalty code: ResNet50.layer_name)\n"
                    "-0.5 point: again (penalty code: ResNet50.layer_name)\n"  # same code: counted once
                    "-0.5 point: " + long + " (penalty code: ResNet50.layer_order)\n"
                    "a line that mentions (penalty code: x) in the middle\n"),
            {"output_type": "execute_result", "execution_count": 3, "metadata": {}, "data": {"text/plain": "4.0"}}]),
        _cell("test_identity", [  # fails: its penalties do not count (the failure does)
            _stream("-1 point: name (penalty code: identity_block.layer_name)\n"),
            {"output_type": "error", "ename": "GradingError", "traceback": [],
             "evalue": "wrong\n-1 point: x (penalty code: identity_block.other) (mistake code: identity_block.add)"}]),
        _cell("not_graded", [_stream("-1 point: x (penalty code: not_graded.x)\n")]),
        solution,
        _cell("test_conv", [_stream("-2 points: stride (penalty code: conv.stride)")]),  # no final newline
    ])
    ids = {"test_resnet", "test_identity", "test_conv", "answer"}
    assert mistakes.test_penalties(nb, ids, ["answer"]) == [
        {"cell": "test_resnet", "code": "ResNet50.layer_name", "penalty": True,
         "message": "\u22121 point: layer 22 (AveragePooling2D) is named 'average_pooling2d', expected 'avg_pool'"},
        {"cell": "test_resnet", "code": "ResNet50.layer_order", "penalty": True,
         "message": ("-0.5 point: " + long)[:600]},
        {"cell": "test_conv", "code": "conv.stride", "penalty": True, "message": "-2 points: stride"}]
    # the failures are read as before, with no penalty among them
    assert mistakes.test_failures(nb, ids, ["answer"]) == [
        {"cell": "test_identity", "code": "identity_block.add",
         "message": "GradingError: wrong\n-1 point: x (penalty code: identity_block.other)"}]


def test_penalties_survive_into_the_students_mistakes():
    tests = [{"cell": "t", "code": "a.name", "message": "-1 point: n", "penalty": True}]
    # grade.py keeps the worker's entries that have a cell, then adds the grader events first
    kept = [m for m in tests + [{"code": "grader.x", "cell": None, "message": "m"}] if m.get("cell")]
    assert mistakes.student_mistakes([Problem("grader.timeout", "timeout in cell 't'")], kept) == [
        {"code": "grader.timeout", "message": "timeout in cell 't'", "cell": None}] + tests


RUN = {
    "assignment": "a", "exercises": ["ex1", "ex2"], "max_points": {"ex1": 10.0, "ex2": 10.0}, "max_total": 20.0,
    "results": [
        {"student": "s1", "status": "graded", "total": 19.25, "exercises": {"ex1": 9.25, "ex2": 10.0},
         "mistakes": [{"code": "ex1.layer_name", "cell": "t1", "message": "-0.5 point: layer 3 named <x>",
                       "penalty": True},
                      {"code": "ex1.layer_order", "cell": "t1", "message": "-0.25 point: order", "penalty": True}]},
        {"student": "s2", "status": "graded", "total": 9.5, "exercises": {"ex1": 9.5, "ex2": 0.0},
         "mistakes": [{"code": "ex2.stride", "cell": "t2", "message": "wrong stride <b>"},
                      {"code": "ex1.layer_name", "cell": "t1", "message": "-0.5 point: layer 3", "penalty": True}]},
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
        ("grader.timeout", 1, ["s3"], "timeout in cell 'ex1'")]  # no penalty among the mistakes


def test_common_penalties_grouped_by_code_apart_from_the_mistakes():
    penalties = class_report.common_penalties(RUN["results"])
    assert [(m["code"], m["count"], m["students"], m["example"]) for m in penalties] == [
        ("ex1.layer_name", 2, ["s1", "s2"], "-0.5 point: layer 3 named <x>"),
        ("ex1.layer_order", 1, ["s1"], "-0.25 point: order")]
    s2 = RUN["results"][1]
    assert class_report.student_codes(s2, penalties=False) == "ex2.stride"
    assert class_report.student_codes(s2, penalties=True) == "ex1.layer_name"


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
    assert "4 students, 3 graded; median total 9.5 of 20" in html.unescape(page)
    penalties = page.split("id='penalties'")[1].split("</table>")[0]
    assert re.findall(r"<tr class='penalty'><td><code>([^<]+)</code></td><td class='num'>(\d+)</td>", penalties) == [
        ("ex1.layer_name", "2"), ("ex1.layer_order", "1")]
    assert "layer 3 named &lt;x&gt;" in penalties
    mistakes_table = page.split("id='mistakes'")[1].split("</table>")[0]
    assert "ex2.stride" in mistakes_table and "layer_" not in mistakes_table
    # the students' table: points as 19.25 and 9.5, mistake and penalty codes in their own columns
    cells = {s: re.findall(r"<td[^>]*>(.*?)</td>", row)
             for s, row in re.findall(r"<tr data-student='([^']+)'>(.*?)</tr>", page, re.S)}
    header = re.findall(r"<th>([^<]*)</th>", page.split("id='students'")[1].split("</tr>")[0])
    assert header[-3:] == ["mistakes", "penalties", "feedback"]
    assert cells["s1"][1:7] == ["9.25", "10", "19.25", "graded", "", "ex1.layer_name, ex1.layer_order"]
    assert cells["s2"][3:7] == ["9.5", "graded", "ex2.stride", "ex1.layer_name"]
    assert cells["s4"][3:7] == ["-", "failed", "grader.notebook_missing", ""]


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
