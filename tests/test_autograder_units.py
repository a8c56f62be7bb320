"""Fast unit tests of the grading machinery (no kernel is started)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from autograder import report, scan
from autograder.example_classes import cases
from autograder.example_classes.cases import Case
from autograder.files import replaced_atomically, write_json
from autograder.grade import Options
from autograder.plugins import feedback
from autograder.plugins.nbfixes import DeduplicateIds, fix_sanitize_preprocessors
from autograder.records import GradingRun, Problem, StudentResult, WorkerSpec

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(os.path.dirname(HERE), "autograder", "sandbox", "kernel_launcher.py")


# ----------------------------------------------------------------------------- static scan
def test_scan_flags_monkeypatching_and_file_access():
    code = textwrap.dedent("""
        import numpy as np, os
        import resnet_utils.grading as g
        np.allclose = lambda *a, **k: True
        g.check_identity_block = print
        def check_ResNet50(*a): pass
        data = open('/srv/course/source/a/A.ipynb').read()
        os._exit(0)
    """)
    flags, syntax = scan.scan_code(code, helpers={"check_ResNet50"})
    text = "; ".join(f.text for f in flags)
    assert syntax is None
    assert "monkeypatches np.allclose" in text
    assert "monkeypatches g.check_identity_block" in text
    assert "redefines test helper check_ResNet50" in text
    assert "open(...)" in text and "path literal" in text
    assert "calls os._exit" in text
    codes = {f.text: f.code for f in flags}
    assert codes["monkeypatches np.allclose"] == codes["redefines test helper check_ResNet50"] == "grader.monkeypatch"
    assert codes["calls os._exit"] == codes["imports os"] == "grader.suspicious_code"


def test_scan_clean_code_and_magics():
    code = "%matplotlib inline\ndef f(x):\n    return x * 2\n!echo hi\n"
    flags, syntax = scan.scan_code(code)
    assert syntax is None
    assert flags == []


def test_scan_syntax_error():
    flags, syntax = scan.scan_code("def f(x)\n    return x\n")
    assert syntax and "line 1" in syntax


def test_helper_names():
    names = scan.helper_names(["from resnet_utils.grading import check_a, check_b\ncheck_a(f)\n",
                               "assert_thing(1)\nprint(2)"])
    assert {"check_a", "check_b", "assert_thing"} <= names and "print" not in names


def test_strip_hidden_tests():
    src = "a = 1\n### BEGIN HIDDEN TESTS\nassert secret()\n### END HIDDEN TESTS\nb = 2"
    assert scan.strip_hidden_tests(src) == "a = 1\nb = 2"


# ------------------------------------------------------------------------------- feedback
def _test_cell(source, outputs):
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "t",
                                 "points": 1, "schema_version": 3}
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    return cell


def test_feedback_preprocessor_removes_hidden_tests_and_tracebacks():
    cell = _test_cell(
        "check(f)\n### BEGIN HIDDEN TESTS\nassert f(-4) == 16, 'negative numbers'\n### END HIDDEN TESTS\nprint('ok')",
        [{"output_type": "error", "ename": "AssertionError", "evalue": "negative numbers",
          "traceback": ["\x1b[0;31m----> 3 assert f(-4) == 16, 'negative numbers'", "AssertionError: negative numbers"]}])
    nb = nbformat.v4.new_notebook(cells=[cell])
    pp = feedback.StripHiddenTests()
    nb, _ = pp.preprocess(nb, {})
    out = nb.cells[0]
    assert "f(-4)" not in out.source and "HIDDEN" not in out.source
    assert feedback.HIDDEN_NOTE in out.source and "print('ok')" in out.source
    assert out.outputs[0]["traceback"] == ["AssertionError: negative numbers"]


def test_feedback_shows_penalties_and_fractional_scores(tmp_path):
    """A passing test cell with a penalty keeps its stdout lines and its partial score through
    StripHiddenTests, and nbgrader's feedback template (as GenerateFeedback configures it) shows
    the fractional scores as they are: 27.5 / 30 and 4.25 / 5, not rounded to whole points."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    line = "\u22120.75 point: layer 22 is named 'x', expected 'avg_pool' (penalty code: ResNet50.layer_name)\n"
    cell = _test_cell("check(ResNet50)", [{"output_type": "stream", "name": "stdout", "text": line},
                                          {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                           "data": {"text/plain": "4.25"}}])
    nb, _ = feedback.StripHiddenTests().preprocess(nbformat.v4.new_notebook(cells=[cell]), {})
    assert nb.cells[0].outputs[0]["text"] == line and nb.cells[0].outputs[1]["data"]["text/plain"] == "4.25"
    nb.cells[0].metadata["nbgrader"].update(score=4.25, points=5.0)  # what GetGrades adds
    app = GenerateFeedback(coursedir=CourseDirectory(root=str(tmp_path)))
    body, _ = HTMLExporter(config=app.config).from_notebook_node(
        nb, resources={"nbgrader": {"notebook": "nb", "score": 27.5, "max_score": 30.0, "late_penalty": 0}})
    assert "(Score: 27.5 / 30.0)" in body and "(Score: 4.25 / 5.0)" in body
    assert "(penalty code: ResNet50.layer_name)" in body


def test_feedback_preprocessors_list_keeps_configured_ones():
    pps = feedback.feedback_preprocessors(["nbgrader.preprocessors.GetGrades"])
    assert pps[0] is feedback.StripHiddenTests and "nbgrader.preprocessors.GetGrades" in pps
    assert feedback.feedback_preprocessors(["autograder.plugins.feedback.StripHiddenTests"]) == \
        ["autograder.plugins.feedback.StripHiddenTests"]


# ------------------------------------------------------------------------------- nbfixes
def test_deduplicate_ids_makes_duplicates_plain_cells():
    a = _test_cell("pass", [])
    b = _test_cell("check(f)", [])
    nb = nbformat.v4.new_notebook(cells=[a, b])
    nb, _ = DeduplicateIds().preprocess(nb, {})
    assert "nbgrader" not in nb.cells[0].metadata  # nbgrader would leave {} and crash later
    assert nb.cells[1].metadata["nbgrader"]["grade_id"] == "t"
    from nbgrader.preprocessors import DeduplicateIds as Orig

    assert fix_sanitize_preprocessors([Orig, "x.Y"]) == [DeduplicateIds, "x.Y"]


# -------------------------------------------------------------------------------- report
def test_table_and_progress():
    results = [StudentResult("ann", status="graded", exercises={"a": 2, "b": 1.5}, total=3.5,
                             problems=[Problem("grader.timeout", "timeout in cell 'a'")],
                             flags=[Problem("grader.suspicious_code", "cell 'a': imports os")]),
               StudentResult("bob", status="missing", problems=[Problem("grader.no_submission", "no submission found")])]
    assert report.table(results, ["a", "b"], {"a": 2, "b": 4}, 6).splitlines() == [
        "student    a      b  total",
        "--------------------------",
        "ann      2/2  1.5/4  3.5/6",
        "    - timeout in cell 'a'",
        "    - flagged: cell 'a': imports os",
        "bob      -/2    -/4    -/6",
        "    - no submission found",
    ]
    import io

    buf = io.StringIO()
    p = report.Progress(4, stream=buf)
    p.update(done=1, failed=1, running=2, note="ann: 3.5/6")
    assert "1/4 graded, 1 with failures, 2 running" in buf.getvalue()
    assert buf.getvalue().rstrip().endswith("ann: 3.5/6")


@pytest.mark.parametrize("x, shown", [
    (4, "4"), (4.0, "4"), (4.5, "4.5"), (4.25, "4.25"), (27.5, "27.5"), (30, "30"), (0, "0"), (None, "-"),
    (1 / 3, "0.33"), (27.499999999999996, "27.5"), (4.999, "5"), (-1e-9, "0"), (100.1, "100.1")])
def test_fmt_points_up_to_two_decimals_without_trailing_zeros(x, shown):
    assert report.fmt_points(x) == shown


def test_table_aligns_integer_and_fractional_points():
    """Fractional cells wider than ``max/max`` (``99.75/100``) or than 9 characters (a total of
    ``127.25/130``) next to integer ones: one width per column, the columns line up."""
    results = [StudentResult("ann", status="graded", exercises={"identity_block": 4.5, "a": 99.75}, total=127.25),
               StudentResult("bob-with-a-long-name", status="graded", exercises={"identity_block": 5, "a": 100},
                             total=130, problems=[Problem("grader.other", "a problem")]),
               StudentResult("cy", status="graded", exercises={"identity_block": 0, "a": 0.5}, total=0.5),
               StudentResult("dee", status="missing")]
    lines = report.table(results, ["identity_block", "a"], {"identity_block": 5, "a": 100}, 130).splitlines()
    rows = [ln for ln in lines if not ln.startswith("    - ")]
    assert len(rows) == 6 and len({len(r) for r in rows}) == 1, rows  # header, rule, every student: one width
    assert rows[2].split() == ["ann", "4.5/5", "99.75/100", "127.25/130"]
    assert rows[3].split() == ["bob-with-a-long-name", "5/5", "100/100", "130/130"]
    assert rows[4].split() == ["cy", "0/5", "0.5/100", "0.5/130"]
    assert rows[5].split() == ["dee", "-/5", "-/100", "-/130"]
    # every column ends where its header ends (slashes one above the other), two spaces between columns
    for name, top in (("identity_block", "/5"), (" a", "/100"), ("total", "/130")):
        end = rows[0].index(name) + len(name)
        assert {r[end - len(top):end] for r in rows[2:]} == {top}, (name, rows)
        assert {r[end:end + 2] for r in rows[2:]} <= {"  ", ""}, (name, rows)
    assert lines[4] == "    - a problem"


# ------------------------------------------------------------------- records, options
def test_student_result_round_trip_through_json():
    r = StudentResult("ann", assignment="a", status="graded", scores={"t": 2.0}, events=[{"event": "error"}],
                      problems=[Problem("grader.timeout", "timeout in cell 'a'"), Problem("grader.other", "x")],
                      flags=[Problem("grader.monkeypatch", "cell 'a': monkeypatches np.allclose")])
    data = json.loads(json.dumps(r.to_dict()))
    assert "traceback" not in data  # saved only when the worker failed
    # the report's lines as before, their codes beside them
    assert data["problems"] == ["timeout in cell 'a'", "x"] and data["problem_codes"] == ["grader.timeout", "grader.other"]
    assert data["flags"] == ["cell 'a': monkeypatches np.allclose"] and data["flag_codes"] == ["grader.monkeypatch"]
    assert StudentResult.from_dict(dict(data, unknown_key=1)) == r
    failed = StudentResult("bob", traceback="Traceback ...")
    assert StudentResult.from_dict(failed.to_dict()).traceback == "Traceback ..."
    spec = WorkerSpec(course_root="/c", config_file="/c/nbgrader_config.py", assignment="a", student="ann",
                      workdir="/w", gradebook_template="/t.db", result_path="/w/result.json", memory_cap=5)
    assert WorkerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_a_result_saved_by_the_previous_version_still_loads():
    """Problems and flags saved as lines only (no codes): a line gets the code of the saved grader
    event that quotes it (the first line of each code), any other line ``grader.other``."""
    from autograder import mistakes

    saved = {"student": "ann", "assignment": "a", "status": "failed", "total": None,
             "problems": ["timeout in cell 'a' (stopped after 10s)", "memory cap hit in cell 'b' (MemoryError)",
                          "timeout in cell 'b' (stopped after 10s)", "no feedback: x"],
             "flags": ["cell 'a': imports os"],
             "mistakes": [{"code": "grader.timeout", "message": "timeout in cell 'a' (stopped after 10s)", "cell": None},
                          {"code": "grader.memory_cap", "message": "memory cap hit in cell 'b' (MemoryError)",
                           "cell": None},
                          {"code": "grader.suspicious_code", "message": "cell 'a': imports os", "cell": None},
                          {"code": "a.stride", "message": "timeout in cell 'a' (stopped after 10s)", "cell": "t"}]}
    r = StudentResult.from_dict(json.loads(json.dumps(saved)))
    assert r.problems == [Problem("grader.timeout", saved["problems"][0]), Problem("grader.memory_cap", saved["problems"][1]),
                          Problem("grader.other", saved["problems"][2]), Problem("grader.other", saved["problems"][3])]
    assert r.flags == [Problem("grader.suspicious_code", "cell 'a': imports os")]
    assert r.mistakes == saved["mistakes"]  # kept as saved: what the class report counts
    again = r.to_dict()
    assert (again["problems"], again["flags"]) == (saved["problems"], saved["flags"])
    # the grader events counted from the loaded problems begin with the saved ones
    assert mistakes.student_mistakes(r.problems + r.flags, [])[:2] == saved["mistakes"][:2]


def test_grade_options_from_the_command_line():
    from autograder.__main__ import build_parser

    args = build_parser().parse_args(["grade", "toy", "-j", "3", "--timeout", "7", "--memory-cap", "1.5",
                                      "--wall-limit", "60", "--course-root", "/srv/c", "--no-sandbox",
                                      "--no-feedback", "--keep-workdirs", "-q"])
    opts = Options.from_args(args, args.assignment, ["ann"])
    assert opts == Options(assignment="toy", course_root="/srv/c", jobs=3, timeout=7, students=["ann"],
                           memory_cap=int(1.5 * (1 << 30)), wall_limit=60, sandbox=False, feedback=False,
                           keep_workdirs=True, progress=False)
    defaults = Options.from_args(build_parser().parse_args(["class-demo"]), "x")
    assert defaults == Options(assignment="x")


def test_every_setting_has_one_default_that_the_command_line_options_spec_and_nbgrader_share(monkeypatch, capsys):
    import dataclasses

    from autograder import settings
    from autograder.__main__ import build_parser
    from autograder.sandbox import SandboxedExecute

    # one place to change a default: the command line follows
    monkeypatch.setattr(settings, "MEMORY_CAP", dataclasses.replace(settings.MEMORY_CAP, default=3 * settings.GiB))
    monkeypatch.setattr(settings, "WALL_LIMIT", dataclasses.replace(settings.WALL_LIMIT, default=77))
    args = build_parser().parse_args(["grade", "toy"])
    assert (args.memory_cap, args.wall_limit) == (3 * settings.GiB, 77)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "in GiB (default 3)" in help_text and "(default 77)" in help_text
    monkeypatch.undo()
    opts, spec = Options(assignment="a"), WorkerSpec(*["x"] * 7)
    for s in (settings.MEMORY_CAP, settings.WALL_LIMIT, settings.DISK_CAP, settings.LANDLOCK, settings.JOBS,
              settings.TIMEOUT):
        assert getattr(opts, s.name) == s.default, s.name
    assert opts.read_packages == settings.READ_PACKAGES.default == ("resnet_utils",)
    assert spec.read_packages == ["resnet_utils"] and spec.max_submission_bytes == settings.MAX_SUBMISSION_BYTES.default
    traits = SandboxedExecute.class_traits()
    for s in (settings.MAX_OUTPUT_BYTES, settings.MAX_TOTAL_OUTPUT_BYTES, settings.IOPUB_TIMEOUT,
              settings.RUN_AFTER_LAST_TEST, settings.UNRESPONSIVE_GRACE, settings.MEMORY_CAP, settings.LANDLOCK):
        assert traits[s.name].default_value == s.default and traits[s.name].metadata.get("config"), s.name
        assert traits[s.name].help.startswith(s.help[0].upper() + s.help[1:]), s.name
    assert list(traits["read_packages"].default()) == ["resnet_utils"]
    with pytest.raises(TypeError, match="no traitlet for a setting of type"):
        settings.Setting("x", float, 1.0, "a float").trait()


def test_class_demo_grades_every_assignment_or_the_one_asked_for():
    from autograder.example_classes import classroom, examples
    from autograder import course
    from autograder.__main__ import build_parser

    assert build_parser().parse_args(["class-demo"]).assignment is None        # every assignment
    assert build_parser().parse_args(["class-demo", "--assignment", "resnet_cifar"]).assignment == "resnet_cifar"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["class-demo", "--assignment", "nope"])
    assert [c.name for c in classroom.class_of(course.ASSIGNMENT)] == [c.name for c in classroom.full_class()]
    assert [c.name for c in classroom.class_of(course.ASSIGNMENT, small=True)] == \
        [c.name for c in classroom.small_class()]
    cifar = classroom.class_of("resnet_cifar")
    assert [c.name for c in cifar] == [c.name for c in classroom.cifar_full_class()]
    examples_cifar = examples.EXAMPLES_BY_ASSIGNMENT["resnet_cifar"]
    assert [c.name for c in cifar[:len(examples_cifar)]] == [c.name for c in examples_cifar]
    assert len(cifar) == len(examples_cifar) + 18 and cifar[0].name == "kim_reference"
    assert [c.name for c in classroom.class_of("resnet_cifar", small=True)] == \
        [c.name for c in classroom.cifar_small_class()]
    with pytest.raises(ValueError, match="unknown assignment 'nope'"):
        classroom.class_of("nope")


def _pool_run(tmp_path, name, spec, wall_limit):
    from autograder.pool import Limits, WorkerPool

    workdir = tmp_path / name
    workdir.mkdir()

    def prepare():
        (workdir / "spec.json").write_text(json.dumps(spec))
        return str(workdir), str(workdir / "spec.json")

    with WorkerPool(1, str(tmp_path), Limits(wall_limit=wall_limit, memory_cap=0, disk_cap=1 << 30)) as pool:
        result = pool.submit(name, prepare).result(timeout=120)
        assert pool.running() == 0
    return result


def test_pool_kills_a_worker_over_its_limit_and_reports_a_crash(tmp_path):
    """The pool's watch, kill and report paths, with workers stopped before nbgrader runs."""
    import psutil

    spec = WorkerSpec(course_root=str(tmp_path), config_file="", assignment="a", student="ann",
                      workdir=str(tmp_path / "ann"), gradebook_template=str(tmp_path / "none.db"),
                      result_path=str(tmp_path / "ann" / "result.json"))
    killed = _pool_run(tmp_path, "ann", spec.to_dict(), wall_limit=0)  # killed while importing nbgrader
    assert (killed.student, killed.status) == ("ann", "failed")
    assert killed.problems == [Problem("grader.wall_clock_limit", "wall-clock limit hit: stopped after 0 s")]
    assert killed.worker_log == str(tmp_path / "worker-1.log") and os.path.exists(killed.worker_log)
    assert killed.elapsed is not None and killed.elapsed < 30

    crashed = _pool_run(tmp_path, "bob", {}, wall_limit=60)  # not a spec: the worker process dies
    assert (crashed.student, crashed.status) == ("bob", "failed")
    assert len(crashed.problems) == 1 and crashed.problems[0].code == "grader.crashed"
    assert crashed.problems[0].text.startswith("grading worker crashed (exit code 1): TypeError: WorkerSpec.__init__() "
                                               "missing 7 required positional arguments: 'course_root', ")
    assert not [p for p in psutil.Process().children(recursive=True) if "autograder.worker" in " ".join(p.cmdline())]


# ----------------------------------------------------------- problem codes, where raised
def _cell(cell_type, source, gid=None, **meta):
    """A notebook cell; with ``gid`` an nbgrader cell (``meta``: grade, solution, locked, task)."""
    cell = nbformat.v4.new_code_cell(source) if cell_type == "code" else nbformat.v4.new_markdown_cell(source)
    if gid:
        cell.metadata["nbgrader"] = dict({"grade": False, "solution": False, "locked": False}, grade_id=gid, **meta)
    return cell


#: an assignment of one notebook: a solution cell and its test, a read-only cell, a second solution
#: cell, a second test, a task (as :func:`autograder.scan.gradebook_layout` describes it)
LAYOUT = {"nb": {
    "cells": [{"name": "sol", "cell_type": "code", "locked": False, "source": "x = None"},
              {"name": "test_sol", "cell_type": "code", "locked": True, "source": "check(x)"},
              {"name": "intro", "cell_type": "markdown", "locked": True, "source": "Read me."},
              {"name": "sol2", "cell_type": "code", "locked": False, "source": "y = None"},
              {"name": "test_sol2", "cell_type": "code", "locked": True, "source": "check(y)"},
              {"name": "task1", "cell_type": "markdown", "locked": False, "source": "Explain."}],
    "grade": {"test_sol": 1.0, "test_sol2": 1.0}, "solution": ["sol", "sol2"], "task": ["task1"],
    "order": ["sol", "test_sol", "intro", "sol2", "test_sol2", "task1"],
    "exercise": {"test_sol": "sol", "test_sol2": "sol2"}}}


def _submission(tmp_path, name, cells=None, text=None):
    folder = tmp_path / name
    folder.mkdir()
    if cells is not None:
        nbformat.write(nbformat.v4.new_notebook(cells=cells), str(folder / "nb.ipynb"))
    if text is not None:
        (folder / "nb.ipynb").write_text(text)
    return str(folder)


def test_every_problem_of_the_submission_scan_carries_its_code(tmp_path):
    """inspect_submission gives each problem and flag its code where it finds it."""
    test_sol = _cell("code", "check(x)", "test_sol", grade=True, locked=True, points=1)
    cells = [_cell("code", "import os\nimport numpy as np\nnp.allclose = None", "sol", solution=True),
             _cell("code", "check(x)  # mine now", "test_sol", grade=True, locked=True, points=1), test_sol,
             _cell("markdown", "Read me, edited.", "intro", locked=True),
             _cell("code", "data = open('x').read()"),
             _cell("code", "def f(:\n    pass"),
             _cell("code", "z = 1", "zzz", grade=True, points=1)]
    info = scan.inspect_submission(_submission(tmp_path, "edited", cells), LAYOUT, add_missing_cells=True)
    assert [(p.code, p.text) for p in info["problems"]] == [
        ("grader.duplicated_cell", "duplicated cell 'test_sol' (2 copies; nbgrader keeps the last one's id)"),
        ("grader.other", "unknown nbgrader cell id 'zzz' (ignored by nbgrader)"),
        ("grader.other", "read-only cell 'intro' edited (the original is what runs)"),
        ("grader.solution_cell_deleted", "solution cell 'sol2' deleted"),
        ("grader.test_cell_deleted", "test cell 'test_sol2' deleted (restored by nbgrader)"),
        ("grader.other", "task cell 'task1' deleted"),
        ("student.syntax_error", "syntax error in cell 6 (line 1: invalid syntax)"),
    ]
    assert [(f.code, f.text) for f in info["flags"]] == [
        ("grader.monkeypatch", "cell 'sol': imports os; monkeypatches np.allclose"),
        ("grader.suspicious_code", "cell 5: file or code access: open(...)"),
    ]
    edited = scan.inspect_submission(_submission(tmp_path, "test_edited", [cells[0], cells[1]]), LAYOUT)
    assert [p for p in edited["problems"] if p.code == "grader.test_cell_edited"] == [
        Problem("grader.test_cell_edited", "test cell 'test_sol' edited (the original is what runs)")]

    renamed = tmp_path / "renamed"
    renamed.mkdir()
    (renamed / "nb (1).ipynb").write_text("{}")
    assert scan.inspect_submission(str(renamed), LAYOUT)["problems"] == [
        Problem("grader.notebook_missing", "notebook missing: nb.ipynb (found 'nb (1).ipynb' instead: renamed?)")]
    extra = _submission(tmp_path, "extra", [test_sol])
    nbformat.write(nbformat.v4.new_notebook(), os.path.join(extra, "more.ipynb"))
    assert Problem("grader.other", "extra notebook(s) ignored: more.ipynb") in scan.inspect_submission(extra, LAYOUT)["problems"]
    unreadable = scan.inspect_submission(_submission(tmp_path, "not_json", text="{nope"), LAYOUT)
    assert [p.code for p in unreadable["problems"]] == ["grader.notebook_unreadable"]
    assert unreadable["problems"][0].text.startswith("nb.ipynb: not a readable notebook (")
    large = scan.inspect_submission(_submission(tmp_path, "large", text="x" * 100), LAYOUT, max_bytes=10)
    assert large["problems"] == [Problem("grader.other", "nb.ipynb: notebook too large (0 MB)")]


def _error(ename, evalue=""):
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": []}


def test_every_runtime_problem_of_an_autograded_notebook_carries_its_code(tmp_path):
    def cell(gid, *outputs, solution=True):
        c = _cell("code", "pass", gid, solution=solution, grade=not solution, points=1)
        c.outputs = [nbformat.from_dict(o) for o in outputs]
        return c

    flood = {"output_type": "stream", "name": "stdout",
             "text": "[autograder] this cell printed too much: 2048 bytes of its output were dropped"}
    nb = nbformat.v4.new_notebook(cells=[
        cell("slow", _error("CellTimeoutError", "the kernel stopped responding"), _error("KeyboardInterrupt")),
        cell("big", _error("MemoryError")),
        cell("sneaky", _error("PermissionError", "blocked by the autograder sandbox (open /course/gradebook.db)")),
        cell("typo", _error("SyntaxError", "invalid syntax")),
        cell("raises", _error("ValueError", "unreadable notebook; monkeypatches")),  # the wording of others
        cell("loud", flood),
        cell("test_slow", _error("AssertionError", "no"), solution=False),  # a failing test: its points say it
        cell("dies", _error("KernelDied", "the kernel died")),
        cell("later", _error("KernelDied", "not run: the kernel stopped")),
        _cell("code", "print(q)"),
    ])
    nb.cells[-1].outputs = [nbformat.from_dict(_error("NameError", "q"))]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    layout = {"grade": {"test_slow": 1.0}, "solution": ["slow", "big", "sneaky", "typo", "raises", "loud", "dies",
                                                          "later"]}
    assert [(p.code, p.text) for p in scan.inspect_autograded(str(path), layout, timeout=10)] == [
        ("grader.timeout", "timeout in cell 'slow' (stopped after 10s)"),
        ("grader.kernel_unresponsive",
         "kernel stopped responding in cell 'slow' (ignored the timeout's interrupt); it was stopped"),
        ("grader.memory_cap", "memory cap hit in cell 'big' (MemoryError)"),
        ("grader.tampering_blocked", "tampering blocked in cell 'sneaky': open /course/gradebook.db"),
        ("student.syntax_error", "syntax error in cell 'typo'"),
        ("student.exception", "exception in cell 'raises': ValueError: unreadable notebook; monkeypatches"),
        ("grader.output_truncated", "output flood truncated in cell 'loud' (2 KB dropped)"),
        ("grader.kernel_died", "kernel died in cell 'dies'"),
        ("grader.cells_not_run", "1 later cell(s) not run after the kernel stopped"),
        ("student.errors_in_other_cells", "errors in 1 other cell(s) (first: cell 10: NameError)"),
    ]
    (tmp_path / "bad.ipynb").write_text("{")
    [bad] = scan.inspect_autograded(str(tmp_path / "bad.ipynb"), layout)
    assert bad.code == "grader.notebook_unreadable" and bad.text.startswith("autograded notebook unreadable: ")


def test_the_pools_limits_and_crashes_carry_their_codes(tmp_path):
    """WorkerPool._over_limit on a stand-in worker (no process started): each limit its code."""
    import time
    from types import SimpleNamespace

    from autograder.pool import Limits, WorkerPool

    class Kernel:
        pid = 2

        def memory_info(self):
            return SimpleNamespace(rss=3 << 30, vms=4 << 30)

    class Zygote(Kernel):  # the worker's kernel zygote: no student's memory
        pid = 3

    def worker(tree, started=0.0):
        return SimpleNamespace(tree=lambda: tree, proc=SimpleNamespace(pid=1), peak_rss=0, peak_vms=0,
                               t0=time.time() - started, last_disk_check=0.0, workdir=str(tmp_path),
                               is_zygote=lambda p: isinstance(p, Zygote))

    (tmp_path / "big").write_bytes(b"x" * 2000)
    pool = WorkerPool.__new__(WorkerPool)  # only its limits: no worker process
    pool.limits = Limits(wall_limit=60, memory_cap=1 << 30, disk_cap=1 << 20)
    now = time.time()
    assert pool._over_limit(worker([], started=61), now) == Problem("grader.wall_clock_limit",
                                                                     "wall-clock limit hit: stopped after 60 s")
    assert pool._over_limit(worker([Kernel()]), now) == Problem(
        "grader.memory_cap", "memory cap hit: 3.0 GiB in use (cap 1.0 GiB); stopped")
    w = worker([Zygote()])
    assert pool._over_limit(w, now) is None and w.peak_rss == 0 and w.peak_vms == 0
    pool.limits = Limits(wall_limit=60, memory_cap=0, disk_cap=1000)
    assert pool._over_limit(worker([Kernel()]), now) == Problem(
        "grader.disk_cap", "disk cap hit: 2.0 KiB written (cap 1000 B); stopped")


def test_every_problem_is_raised_with_a_code_of_the_catalogue():
    """Each ``Problem(code, text)`` of the grader names its code where it is raised, and every
    such code is one of mistakes.GRADER_EVENTS (a typo would show as a code nobody counts)."""
    import ast

    from autograder import mistakes

    found = []
    for path in sorted(Path(HERE).parent.joinpath("autograder").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            calls = isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("Problem", "add")
            if calls and node.args and path.name != "records.py":
                found.append((path.name, node.lineno, node.args[0] if node.func.id == "Problem" else
                              (node.args[1] if len(node.args) > 1 else ast.Constant(scan.SUSPICIOUS))))
    codes = set()
    for name, line, arg in found:
        for b in [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]:
            if isinstance(b, ast.Constant):
                codes.add(b.value)
                assert b.value in mistakes.GRADER_EVENTS, (name, line, b.value)
            elif isinstance(b, ast.Name) and b.id.isupper():
                codes.add(getattr(scan, b.id))  # scan.MONKEYPATCH, scan.SUSPICIOUS
            else:
                assert isinstance(b, ast.Name) and b.id == "code", (name, line)  # passed on from a finding
    assert {"worker.py", "scan.py", "pool.py", "grade.py", "cluster.py"} <= {name for name, _, _ in found}
    assert codes == set(mistakes.GRADER_EVENTS)  # and every code of the catalogue is raised somewhere


# ------------------------------------------------------------------- the worker's steps
def test_the_private_course_holds_this_submission_and_the_assignments_other_files(tmp_path):
    from traitlets.config import Config

    from autograder import worker

    course = tmp_path / "course"
    for path, text in [("source/a/nb.ipynb", "{}"), ("source/a/data/x.csv", "1,2"), ("submitted/ann/a/nb.ipynb", "ann"),
                       ("submitted/ann/a/notes.txt", "mine"), ("submitted/bob/a/nb.ipynb", "bob"),
                       ("template.db", "gradebook")]:
        (course / path).parent.mkdir(parents=True, exist_ok=True)
        (course / path).write_text(text)
    os.symlink(str(course / "source" / "a" / "nb.ipynb"), str(course / "submitted" / "ann" / "a" / "solution.ipynb"))
    spec = WorkerSpec(course_root=str(course), config_file="", assignment="a", student="ann", workdir=str(tmp_path / "w"),
                      gradebook_template=str(course / "template.db"), result_path="")
    cfg = Config()
    root = tmp_path / "w" / "course"
    cd, problems = worker.private_course(spec, cfg, str(root))
    assert cd.root == str(root) and cfg.CourseDirectory.root == str(root)
    assert cd.db_url == "sqlite:///" + str(root / "gradebook.db")
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink())
    assert files == ["gradebook.db", "source/a/data/x.csv", "submitted/ann/a/nb.ipynb", "submitted/ann/a/notes.txt"]
    assert (root / "gradebook.db").read_text() == "gradebook"
    assert problems == [Problem("grader.other", "symlink removed from the submission: solution.ipynb")]


def test_copy_submission_problems_carry_their_code(tmp_path):
    from autograder.worker import copy_submission

    src = tmp_path / "sub"
    src.mkdir()
    (src / "a.txt").write_bytes(b"x" * (2 << 20))
    assert copy_submission(str(src), str(tmp_path / "out"), max_bytes=1 << 20) == [
        Problem("grader.other", "submission larger than 1 MB: a.txt and later files not copied")]
    assert copy_submission(str(tmp_path / "none"), str(tmp_path / "out2"), 1 << 20) == [
        Problem("grader.other", "the submission folder is a symlink or not a folder: nothing copied")]


def test_what_an_autograded_notebook_says_is_collected_with_codes(tmp_path):
    from autograder import worker

    test_a = _cell("code", "check()", "test_a", grade=True, locked=True, points=1)
    test_a.outputs = [nbformat.from_dict(_error("GradingError", "wrong stride\n(mistake code: a.stride)"))]
    sol = _cell("code", "x = 1", "a", solution=True)
    sol.outputs = [nbformat.from_dict(_error("PermissionError", "blocked by the autograder sandbox (write /c/g.db)"))]
    test_b = _cell("code", "check()", "test_b", grade=True, locked=True, points=1)
    test_b.outputs = [nbformat.from_dict({"output_type": "stream", "name": "stdout",
                                          "text": "-1 point: b named 'x' (penalty code: b.layer_name)\n"})]
    kernel_cwd = tmp_path / "autograded"
    kernel_cwd.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[sol, test_a, test_b]), str(kernel_cwd / "nb.ipynb"))
    layout = {"nb": {"grade": {"test_a": 1.0, "test_b": 1.0}, "solution": ["a"]}, "other": {"grade": {}}}
    autograded, problems, found, note = worker.read_autograded(str(kernel_cwd), layout, 10)
    assert autograded == {"nb": str(kernel_cwd / "nb.ipynb")} and note == ""
    assert problems == [Problem("grader.tampering_blocked", "tampering blocked in cell 'a': write /c/g.db")]
    assert found == [{"cell": "test_a", "code": "a.stride", "message": "GradingError: wrong stride"},
                     {"cell": "test_b", "code": "b.layer_name", "message": "-1 point: b named 'x'", "penalty": True}]
    assert worker.read_autograded(str(tmp_path / "none"), layout, 10) == ({}, [], [], "")
    # a refusal already said with its cell is not said again; at most five others, then how many more
    denials = ["open write /c/g.db"] + [f"open read /secret/{i}" for i in range(7)]
    assert worker.tampering_problems(denials, problems) == [
        Problem("grader.tampering_blocked", f"tampering blocked by the sandbox: open read /secret/{i}") for i in range(5)
    ] + [Problem("grader.tampering_blocked", "tampering blocked by the sandbox: 2 more attempt(s)")]
    short, long = Problem("student.syntax_error", "syntax error in cell 'a'"), \
        Problem("student.syntax_error", "syntax error in cell 'a' (line 1: invalid syntax)")
    assert worker.distinct_problems([short, problems[0], long, problems[0]]) == [problems[0], long]


def test_the_sandboxed_preprocessors_replace_nbgraders_execute():
    from nbgrader.preprocessors import Execute

    from autograder.plugins.nbfixes import swap_preprocessor
    from autograder.sandbox import SandboxedExecute
    from autograder.worker import sandboxed_preprocessors

    assert sandboxed_preprocessors([Execute, "x.Y", "nbgrader.preprocessors.Execute"]) == \
        [SandboxedExecute, "x.Y", SandboxedExecute]
    assert sandboxed_preprocessors([SandboxedExecute]) == [SandboxedExecute]
    with pytest.raises(RuntimeError, match="no Execute preprocessor"):
        sandboxed_preprocessors(["x.Y"])
    assert swap_preprocessor(["a.B", int, "c.D"], ("a.B", "builtins.int"), str) == [str, str, "c.D"]


# --------------------------------------------------------------------- the grader's steps
def test_each_students_spec_file_is_the_common_spec_with_its_own_directory(tmp_path):
    from autograder.grade import SpecFiles

    base = WorkerSpec(course_root="/c", config_file="/c/nbgrader_config.py", assignment="a", student="", workdir="",
                      gradebook_template="/t.db", result_path="", timeout=7, threads=1, read_packages=["numpy"])
    specs = SpecFiles(base, workdir_root=str(tmp_path))
    wd, spec_path = specs.prepare("ann")
    assert os.path.dirname(wd) == str(tmp_path) and os.path.basename(wd).startswith("ag-ann-")
    assert specs.workdirs == {"ann": wd} and spec_path == os.path.join(wd, "spec.json")
    with open(spec_path) as fh:
        spec = WorkerSpec.from_dict(json.load(fh))
    assert spec == WorkerSpec(course_root="/c", config_file="/c/nbgrader_config.py", assignment="a", student="ann",
                              workdir=wd, gradebook_template="/t.db", result_path=os.path.join(wd, "result.json"),
                              timeout=7, threads=1, read_packages=["numpy"])
    assert specs.prepare("bob")[0] != wd and base.student == ""


class SimpleCd:
    submitted_directory = "submitted"


def test_the_grader_adds_its_own_problems_with_their_codes():
    from autograder import grade

    assert grade._no_submission(SimpleCd(), "ann", "a").problems == [
        Problem("grader.no_submission", "no submission found in submitted/ann/a")]
    failed = StudentResult("ann", status="failed", error="Timeout waiting", worker_log="logs/worker-1.log")
    assert grade._not_autograded(failed) == [Problem("grader.not_autograded", "not autograded: Timeout waiting")]
    failed.problems = [Problem("grader.other", "x: Timeout waiting in the kernel")]
    assert grade._not_autograded(failed) == []  # already said
    bare = StudentResult("bob", status="failed", worker_log="logs/worker-2.log")
    assert grade._not_autograded(bare) == [Problem("grader.not_autograded", "not autograded (see logs/worker-2.log)")]
    assert grade._not_autograded(StudentResult("cy", status="failed", error="no gradable notebook",
                                               problems=[Problem("grader.notebook_missing", "m")])) == []
    assert grade._not_autograded(StudentResult("dee", status="graded")) == []
    assert grade._score_differences({"t1": 2.0, "t2": 1.0, "t3": None}, {"t1": 1.5, "t2": 1.0, "t3": 1.0}) == [
        Problem("grader.score_differs", "grader warning: t1 scored 2.0 in the worker, 1.5 in the gradebook")]


def test_results_of_students_graded_again_replace_theirs_only(tmp_path):
    from autograder.grade import _merged_results

    path = tmp_path / "a-results.json"
    assert _merged_results(str(path), [{"student": "b", "v": 2}]) == [{"student": "b", "v": 2}]  # nothing saved
    path.write_text(json.dumps({"results": [{"student": "a", "v": 1}, {"student": "b", "v": 1}]}))
    assert _merged_results(str(path), [{"student": "c", "v": 2}, {"student": "b", "v": 2}]) == [
        {"student": "a", "v": 1}, {"student": "b", "v": 2}, {"student": "c", "v": 2}]


def test_both_pools_have_the_interface_grade_uses():
    """WorkerPool and DaskPool are used alike by grade.grade: autograder.pool.GradingPool."""
    import inspect

    from autograder.integrations.cluster import DaskPool
    from autograder.pool import GradingPool, WorkerPool

    for name in ("__enter__", "__exit__", "submit", "running"):
        want = list(inspect.signature(getattr(GradingPool, name)).parameters)
        for pool in (WorkerPool, DaskPool):
            assert list(inspect.signature(getattr(pool, name)).parameters) == want, (pool, name)


# -------------------------------------------------------------------------- example cases
def _run(**scores_by_student):
    results = [StudentResult(s, status="graded", scores=sc, problems=[Problem("grader.timeout", "timeout in cell 'a'")])
               for s, sc in scores_by_student.items()]
    return GradingRun("x", ["a"], {"a": 3.0}, 3.0, results, wall=1.0, jobs=1, threads=None)


def test_cases_check_names_every_difference():
    cells = {"t1": 1.0, "t2": 2.0}
    assert cases.points(cells, ["t2"]) == {"t1": 0.0, "t2": 2.0}
    with pytest.raises(KeyError, match="t3"):
        cases.points(cells, ["t3"])
    right = Case("ann", "", lambda c: None, cases.points(cells, ["t1"]), problems=("timeout",))
    wrong = Case("bob", "", lambda c: None, cases.points(cells, ["t1", "t2"]), problems=("memory cap",))
    absent = Case("cid", "", lambda c: None, cases.points(cells, []))
    ungraded = Case("dan", "", lambda c: None, cases.points(cells, []))
    run = _run(ann={"t1": 1.0, "t2": 0.0}, bob={"t1": 1.0, "t2": 0.0}, dan={})
    assert cases.check(run, [right]) == []
    assert cases.check(run, [wrong, absent, ungraded]) == [
        "bob: t2 got 0 expected 2 (status graded; timeout in cell 'a')",
        "bob: the report does not mention 'memory cap'",
        "cid: not graded",
        "dan: t1 got no score expected 0, t2 got no score expected 0 (status graded; timeout in cell 'a')",
    ]


# ------------------------------------------------------------------ audit hook (no kernel)
HOOK_PROBE = r"""
import json, os, sys
sys.path.insert(0, os.path.dirname({launcher!r}))
import kernel_launcher as L
policy = json.load(open({policy!r}))
fd = os.open(policy["log_path"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
L._install_audit_hook(policy, policy["read_dirs"] + [sys.prefix, sys.base_prefix], policy["write_dirs"], [], ["/dev/null"], fd)
results = {{}}
def attempt(name, fn):
    try:
        fn()
        results[name] = "allowed"
    except PermissionError:
        results[name] = "denied"
    except OSError as e:
        results[name] = "oserror"
attempt("read_secret", lambda: open({secret!r}).read())
attempt("read_secret_via_proc", lambda: open("/proc/self/root" + {secret!r}).read())
attempt("read_secret_relative", lambda: open(os.path.relpath({secret!r})).read())
attempt("write_work", lambda: open(os.path.join({work!r}, "out.txt"), "w").write("x"))
attempt("write_outside", lambda: open({secret!r} + ".new", "w").write("x"))
attempt("listdir_secret", lambda: os.listdir(os.path.dirname({secret!r})))
attempt("symlink", lambda: os.symlink({secret!r}, os.path.join({work!r}, "link")))
attempt("subprocess", lambda: __import__("subprocess").run(["true"]))
attempt("sqlite", lambda: __import__("sqlite3").connect({secret!r}))
attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
attempt("setrlimit", lambda: __import__("resource").setrlimit(__import__("resource").RLIMIT_AS, (-1, -1)))
attempt("ctypes_libc", lambda: __import__("ctypes").CDLL(None).open)
attempt("read_stdlib", lambda: open(os.__file__).read())
print(json.dumps(results))
"""


def test_audit_hook_blocks_outside_access(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    secret = tmp_path / "course" / "source" / "solution.ipynb"
    secret.parent.mkdir(parents=True)
    secret.write_text("the solution")
    policy = {"log_path": str(tmp_path / "denials.log"), "read_dirs": [], "write_dirs": [str(work)]}
    (tmp_path / "policy.json").write_text(json.dumps(policy))
    code = HOOK_PROBE.format(launcher=LAUNCHER, policy=str(tmp_path / "policy.json"), secret=str(secret),
                             work=str(work))
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(work), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["write_work"] == "allowed"
    assert res["read_stdlib"] == "allowed"
    for k in ("read_secret", "read_secret_via_proc", "read_secret_relative", "write_outside", "listdir_secret",
              "symlink", "subprocess", "sqlite", "kill_parent", "setrlimit", "ctypes_libc"):
        assert res[k] == "denied", (k, res)
    log = (tmp_path / "denials.log").read_text()
    assert "DENY open read %s" % secret in log


GUARD_SCRIPT = r'''
import sys
from IPython.testing.globalipapp import start_ipython
ip = start_ipython()
if sys.argv[2] == "guard":
    ip.run_cell(open(sys.argv[1]).read())
ip.run_cell("get_ipython().display_formatter.formatters['text/plain'].for_type(float, lambda x, p, c: p.text('5.0'))")
ip.run_cell("4.0")
ip.run_cell("get_ipython().display_formatter.formatters['text/plain'].float_format = '%.0f'")
ip.run_cell("4.5")
ip.run_cell("get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)")
ip.run_cell("raise ValueError('hidden?')")
print("SHOWN", ip.display_formatter.format(4.0)[0]["text/plain"], ip.display_formatter.format(4.5)[0]["text/plain"],
      len(ip.custom_exceptions))
'''


@pytest.mark.parametrize("guarded", [True, False])
def test_the_grading_kernel_puts_back_how_results_are_shown(tmp_path, guarded):
    """A test cell's result is its partial credit: a printer, float format or exception handler
    set by the notebook must not change what the next cell shows (without the startup file, it does)."""
    from autograder import sandbox

    script = tmp_path / "guard.py"
    script.write_text(GUARD_SCRIPT)
    startup = Path(sandbox.__file__).with_name("kernel_startup.py")
    out = subprocess.run([sys.executable, str(script), str(startup), "guard" if guarded else "none"],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, IPYTHONDIR=str(tmp_path)))
    shown = next(line for line in out.stdout.splitlines() if line.startswith("SHOWN"))
    assert shown == ("SHOWN 4.0 4.5 0" if guarded else "SHOWN 5.0 5.0 1"), out.stdout[-2000:]


def test_the_last_test_cell_is_found_and_later_cells_get_a_note_instead_of_running():
    import nbformat

    from autograder.sandbox import NOT_RUN_AFTER_LAST_TEST, SandboxedExecute, last_test_index

    def test(gid):
        return nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": {"grade": True, "grade_id": gid}})

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"), test("t1"), nbformat.v4.new_code_cell("x"),
                                         test("t2"), nbformat.v4.new_markdown_cell("done"),
                                         nbformat.v4.new_code_cell("train()")])
    assert last_test_index(nb) == 3
    assert last_test_index(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])) is None
    execute = SandboxedExecute()
    execute._dead, execute._last_test = None, last_test_index(nb)
    cell, _ = execute.preprocess_cell(nb.cells[5], {}, 5)  # returns before any kernel is asked
    assert [(o["output_type"], o["text"]) for o in cell.outputs] == [("stream", NOT_RUN_AFTER_LAST_TEST)]


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "results.json"
    write_json(str(path), {"a": 1, "when": Path("x")})
    assert json.loads(path.read_text()) == {"a": 1, "when": "x"}
    with pytest.raises(RuntimeError):
        with replaced_atomically(str(path)) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("the writer failed")
    assert json.loads(path.read_text())["a"] == 1 and sorted(os.listdir(tmp_path)) == ["results.json"]
    Path(str(path) + ".tmp").write_text("left over by a crash")
    write_json(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2} and sorted(os.listdir(tmp_path)) == ["results.json"]
    folder = tmp_path / "autograded"
    with replaced_atomically(str(folder)) as tmp:
        os.makedirs(os.path.join(tmp, "sub"))
        Path(tmp, "sub", "nb.ipynb").write_text("{}")
    assert (folder / "sub" / "nb.ipynb").read_text() == "{}" and not Path(str(folder) + ".tmp").exists()


def test_the_grader_hides_nbgraders_noise_and_nothing_else():
    import warnings

    from autograder.config import quiet_nbgrader

    with warnings.catch_warnings(record=True) as seen:
        warnings.resetwarnings()
        quiet_nbgrader()
        warnings.warn("Object of type <Grade> not in session, add operation along 'x' will not proceed")
        warnings.warn("old API", DeprecationWarning)
        warnings.warn("a student's own warning", UserWarning)
    assert [str(w.message) for w in seen] == ["a student's own warning"]


def test_a_class_check_says_what_the_grading_of_a_differing_student_reported():
    """When a student's scores differ from the case's, the line says why grading thought so:
    the problems and the sandbox's events (a kernel death, a timeout), not just the numbers."""
    case = Case("t02", "square wrong", lambda c: c.release, {"test_square": 0.0, "test_add_one": 3.0})
    died = StudentResult(student="t02", status="graded", scores={"test_square": 0.0, "test_add_one": 0.0},
                         problems=[Problem("grader.kernel_died", "kernel died in cell 'test_square'")],
                         events=[{"event": "kernel_died", "cell": "test_square", "index": 4}])
    run = GradingRun("toy", [], {}, 5.0, [died], 1.0, 1, 1)
    [line] = cases.check(run, [case])
    assert line.startswith("t02: test_add_one got 0 expected 3 (status graded; ")
    assert "kernel died in cell 'test_square'" in line and "event=kernel_died, cell=test_square, index=4" in line
    died.scores["test_add_one"] = 3.0
    assert cases.check(run, [case]) == []


def test_a_second_grading_run_is_in_the_students_report(tmp_path, monkeypatch):
    """SandboxedExecute's "regraded" event (the kernel failed, not the student) becomes a
    problem line with its own code, so the instructor sees that the second run counted."""
    from autograder import sandbox, worker

    monkeypatch.setattr(sandbox, "EVENTS", [{"event": "regraded", "cell": None,
                                             "detail": "the kernel did not start (RuntimeError: died)"}])
    result = StudentResult(student="s")
    worker.collect(result, str(tmp_path), str(tmp_path / "absent"), {})
    assert result.problems == [Problem("grader.regraded", "graded a second time: the kernel did not start "
                                                          "(RuntimeError: died) on the first try")]
