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
from autograder.records import GradingRun, StudentResult, WorkerSpec

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
    text = "; ".join(flags)
    assert syntax is None
    assert "monkeypatches np.allclose" in text
    assert "monkeypatches g.check_identity_block" in text
    assert "redefines test helper check_ResNet50" in text
    assert "open(...)" in text and "path literal" in text
    assert "calls os._exit" in text


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
                             problems=["timeout in cell 'a'"], flags=["cell 'a': imports os"]),
               StudentResult("bob", status="missing", problems=["no submission found"])]
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
                             total=130, problems=["a problem"]),
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
    r = StudentResult("ann", assignment="a", status="graded", scores={"t": 2.0}, events=[{"event": "error"}])
    data = json.loads(json.dumps(r.to_dict()))
    assert "traceback" not in data  # saved only when the worker failed
    assert StudentResult.from_dict(dict(data, unknown_key=1)) == r
    failed = StudentResult("bob", traceback="Traceback ...")
    assert StudentResult.from_dict(failed.to_dict()).traceback == "Traceback ..."
    spec = WorkerSpec(course_root="/c", config_file="/c/nbgrader_config.py", assignment="a", student="ann",
                      workdir="/w", gradebook_template="/t.db", result_path="/w/result.json", memory_cap=5)
    assert WorkerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


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
    assert killed.problems == ["wall-clock limit hit: stopped after 0 s"]
    assert killed.worker_log == str(tmp_path / "worker-1.log") and os.path.exists(killed.worker_log)
    assert killed.elapsed is not None and killed.elapsed < 30

    crashed = _pool_run(tmp_path, "bob", {}, wall_limit=60)  # not a spec: the worker process dies
    assert (crashed.student, crashed.status) == ("bob", "failed")
    assert len(crashed.problems) == 1
    assert crashed.problems[0].startswith("grading worker crashed (exit code 1): TypeError: WorkerSpec.__init__() "
                                          "missing 7 required positional arguments: 'course_root', ")
    assert not [p for p in psutil.Process().children(recursive=True) if "autograder.worker" in " ".join(p.cmdline())]


# -------------------------------------------------------------------------- example cases
def _run(**scores_by_student):
    results = [StudentResult(s, status="graded", scores=sc, problems=["timeout in cell 'a'"])
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
        "bob: t2 got 0 expected 2",
        "bob: the report does not mention 'memory cap'",
        "cid: not graded",
        "dan: t1 got no score expected 0, t2 got no score expected 0",
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
