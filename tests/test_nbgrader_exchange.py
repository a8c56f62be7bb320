"""The whole nbgrader exchange workflow on one machine, with three students.

release_assignment -> each student fetch_assignment, fills it in, submit -> collect ->
``python -m autograder grade`` -> ``nbgrader generate_feedback`` (plain nbgrader, configured
with autograder.plugins.feedback.StripHiddenTests) -> release_feedback -> each student
fetch_feedback and sees only their own feedback, without the hidden tests.

Every student has their own HOME (so their own nbgrader cache) and working directory, and
says who they are with ``--student`` (one OS account here; on a JupyterHub nbgrader takes
the login name); the exchange is a temporary folder (``--Exchange.root``).
"""

import glob
import os
import subprocess
import sys

import nbformat
import pytest
import toy_course as toy

pytestmark = pytest.mark.slow  # runs nbgrader and grading kernels

FEEDBACK_CONFIG = '''
c.GenerateFeedback.preprocessors = [
    "autograder.plugins.feedback.StripHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.Exchange.path_includes_course = True
'''

STUDENTS = {
    "alice": ({"square": "# alice was here\n" + toy.SOLUTIONS["square"], "add_one": toy.SOLUTIONS["add_one"]}, 6),
    "bob": ({"square": "# bob was here\ndef square(x):\n    return x + x\n", "add_one": toy.SOLUTIONS["add_one"]}, 4),
    "carol": ({"square": "# carol was here\n" + toy.SOLUTIONS["square"]}, 2),
}


def _env(home=None, user=None):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if home:
        env["HOME"] = home
        env.pop("JUPYTER_DATA_DIR", None)
        env.pop("JUPYTER_CONFIG_DIR", None)
    if user:
        env["USER"] = env["LOGNAME"] = user
    return env


def nbgrader(args, cwd, exchange, home=None, user=None):
    cmd = [sys.executable, "-m", "nbgrader", *args, "--Exchange.root=%s" % exchange,
           "--Exchange.path_includes_course=True", "--log-level=WARN"]
    proc = subprocess.run(cmd, cwd=cwd, env=_env(home, user), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, "nbgrader %s failed:\n%s\n%s" % (" ".join(args), proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_exchange_round_trip(tmp_path):
    course = str(tmp_path / "instructor" / "course")
    exchange = str(tmp_path / "exchange")
    os.makedirs(exchange)
    os.chmod(exchange, 0o777)
    toy.make_toy_course(course, timeout=30, extra_config=FEEDBACK_CONFIG)
    for s in STUDENTS:  # the class list
        nbgrader(["db", "student", "add", s, "--last-name=%s" % s.title()], course, exchange)

    nbgrader(["release_assignment", "toy", "--course=toy-course", "--force"], course, exchange)

    homes = {}
    for s, (answers, _) in STUDENTS.items():
        home = str(tmp_path / "home" / s)
        os.makedirs(home)
        homes[s] = home
        nbgrader(["fetch_assignment", "toy", "--course=toy-course"], home, exchange, home, s)
        path = os.path.join(home, "toy-course", "toy", "toy.ipynb")
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        nbformat.write(nb, path)
        # one OS account for everyone here: the student says who they are (on a JupyterHub,
        # nbgrader takes the login name)
        nbgrader(["submit", "toy", "--course=toy-course", "--student=%s" % s], home, exchange, home, s)

    nbgrader(["collect", "toy", "--course=toy-course"], course, exchange)
    assert sorted(os.listdir(os.path.join(course, "submitted"))) == sorted(STUDENTS)

    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", "toy", "--jobs", "2", "--no-feedback", "-q"],
                          cwd=course, env=_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for s, (_, total) in STUDENTS.items():
        line = [ln for ln in proc.stdout.splitlines() if ln.startswith(s + " ")][0]
        assert line.split()[-1] == "%d/6" % total, line

    nbgrader(["generate_feedback", "toy", "--force"], course, exchange)
    nbgrader(["release_feedback", "toy", "--course=toy-course"], course, exchange)
    assert len(glob.glob(os.path.join(exchange, "toy-course", "feedback", "*.html"))) == 3

    for s, home in homes.items():
        nbgrader(["fetch_feedback", "toy", "--course=toy-course", "--student=%s" % s], home, exchange, home, s)
        got = glob.glob(os.path.join(home, "toy-course", "toy", "feedback", "*", "toy.html"))
        assert len(got) == 1, (s, got)
        html = open(got[0], encoding="utf-8").read()
        assert "%s was here" % s in html
        for other in STUDENTS:
            if other != s:
                assert "%s was here" % other not in html, (s, other)
        for marker in toy.HIDDEN_MARKERS + ("BEGIN HIDDEN TESTS",):
            assert marker not in html, (s, marker)
        total = STUDENTS[s][1]
        assert "toy (Score: %s / 6.0)" % float(total) in html  # nbgrader's feedback header

    # claiming to be someone else fetches nothing: feedback is found through the student's
    # own submissions (their secret), not through the name
    before = set(glob.glob(os.path.join(homes["alice"], "toy-course", "toy", "feedback", "*", "*.html")))
    nbgrader(["fetch_feedback", "toy", "--course=toy-course", "--student=bob"], homes["alice"], exchange,
             homes["alice"], "alice")
    after = set(glob.glob(os.path.join(homes["alice"], "toy-course", "toy", "feedback", "*", "*.html")))
    assert after == before
