"""The Canvas exporter (``nbgrader export --exporter=autograder.plugins.canvas.CanvasExportPlugin``):
the file it writes parses back with every student and score, in Canvas's import layout."""

import os
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from autograder.plugins.canvas import IDENTITY_COLUMNS, CanvasExportPlugin, _number, read_canvas_csv

STUDENTS = {  # id: (first, last, lms id, {assignment: (score, late penalty)})
    "ada": ("Ada", "Lovelace", "1001", {"residual_networks": (30.0, 0.0), "resnet_cifar": (17.5, 0.0)}),
    "ben": ("Ben", "Smith, Jr.", None, {"residual_networks": (20.0, 5.0)}),  # a comma in the name; late
    "cleo": ("", "", None, {}),  # no name, submitted nothing
}


@pytest.fixture(autouse=True)
def _alembic_on_path(monkeypatch):
    """nbgrader creates a gradebook by running ``alembic`` from PATH (the venv's bin)."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def _gradebook(path) -> str:
    url = "sqlite:///%s" % (path / "gradebook.db")
    with Gradebook(url) as gb:
        for name, points in (("residual_networks", 30), ("resnet_cifar", 40)):
            gb.add_assignment(name)
            gb.add_notebook("nb", name)
            gb.add_grade_cell("tests", "nb", name, max_score=points, cell_type="code")
            gb.add_source_cell("tests", "nb", name, cell_type="code", source="pass", locked=True)
        for sid, (first, last, lms, subs) in STUDENTS.items():
            gb.add_student(sid, first_name=first, last_name=last, lms_user_id=lms)
            for a, (score, penalty) in subs.items():
                gb.add_submission(a, sid)
                gb.find_grade("tests", "nb", a, sid).auto_score = score
                gb.find_submission_notebook("nb", a, sid).late_submission_penalty = penalty
                gb.db.commit()
    return url


def _export(tmp_path, **traits) -> dict:
    url = _gradebook(tmp_path)
    out = tmp_path / "canvas.csv"
    with Gradebook(url) as gb:
        CanvasExportPlugin(to=str(out), **traits).export(gb)
    return out


def test_round_trip_every_student_and_score(tmp_path):
    out = _export(tmp_path, column_names={"residual_networks": "Residual Networks (1234)"})
    header = out.read_text().splitlines()[0]
    assert header == ",".join(IDENTITY_COLUMNS) + ",Residual Networks (1234),resnet_cifar"
    rows = read_canvas_csv(out)
    assert sorted(rows) == ["Points Possible", "ada", "ben", "cleo"]
    assert rows["Points Possible"]["Residual Networks (1234)"] == "30" and rows["Points Possible"]["resnet_cifar"] == "40"
    assert {k: rows["ada"][k] for k in ("Student", "ID", "SIS Login ID", "Residual Networks (1234)", "resnet_cifar")} == {
        "Student": "Lovelace, Ada", "ID": "1001", "SIS Login ID": "ada", "Residual Networks (1234)": "30",
        "resnet_cifar": "17.5"}
    assert rows["ben"]["Student"] == "Smith, Jr., Ben"  # quoted by csv, read back whole
    assert rows["ben"]["Residual Networks (1234)"] == "15"  # 20 minus the late penalty of 5
    assert rows["ben"]["resnet_cifar"] == "0"  # no submission
    assert rows["cleo"]["Student"] == "cleo" and rows["cleo"]["ID"] == ""
    assert [rows["cleo"][c] for c in ("Residual Networks (1234)", "resnet_cifar")] == ["0", "0"]


def test_partial_credit_scores_exported_as_they_are(tmp_path):
    """Scores with penalties (partial credit of test cells) are neither rounded to whole points
    nor written as 27.500000; float noise of the gradebook's sums does not show."""
    url = _gradebook(tmp_path)
    with Gradebook(url) as gb:
        scores = {("residual_networks", "ada"): 27.5, ("residual_networks", "ben"): 20.5,
                  ("resnet_cifar", "ada"): 4.05 + 0.1 + 0.1}  # 4.249999999999999
        for (a, sid), score in scores.items():
            gb.find_grade("tests", "nb", a, sid).auto_score = score
        gb.find_submission_notebook("nb", "residual_networks", "ben").late_submission_penalty = 0.25
        gb.db.commit()
        CanvasExportPlugin(to=str(tmp_path / "canvas.csv")).export(gb)
    text = (tmp_path / "canvas.csv").read_text()
    rows = read_canvas_csv(tmp_path / "canvas.csv")
    assert (rows["ada"]["residual_networks"], rows["ada"]["resnet_cifar"]) == ("27.5", "4.25")
    assert rows["ben"]["residual_networks"] == "20.25"  # 20.5 less the late penalty of 0.25
    assert "27.50" not in text and "4.249" not in text


@pytest.mark.parametrize("x, shown", [(30, "30"), (30.0, "30"), (27.5, "27.5"), (4.25, "4.25"), (0.125, "0.125"),
                                      (1 / 3, "0.3333"), (27.499999999999996, "27.5"), (0, "0"), (-1e-9, "0")])
def test_number_keeps_fractions_without_trailing_zeros(x, shown):
    assert _number(x) == shown


def test_filters_and_missing_left_blank(tmp_path):
    out = _export(tmp_path, student=["ben"], assignment=["resnet_cifar"], missing_score="")
    rows = read_canvas_csv(out)
    assert sorted(rows) == ["Points Possible", "ben"]
    assert list(rows["ben"])[len(IDENTITY_COLUMNS):] == ["resnet_cifar"]
    assert rows["ben"]["resnet_cifar"] == ""


def test_reading_another_csv_says_what_is_wrong(tmp_path):
    other = tmp_path / "grades.csv"
    other.write_text("assignment,student_id,score\nresidual_networks,ada,30\n")
    with pytest.raises(ValueError, match="is not a Canvas gradebook CSV: its columns start with"):
        read_canvas_csv(other)


@pytest.mark.slow  # runs nbgrader
def test_nbgrader_export_command_line(tmp_path):
    _gradebook(tmp_path)
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.root = %r\n" % str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", "--exporter=autograder.plugins.canvas.CanvasExportPlugin",
                           "--to", "canvas.csv"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_canvas_csv(tmp_path / "canvas.csv")
    assert {sid: (rows[sid]["residual_networks"], rows[sid]["resnet_cifar"]) for sid in STUDENTS} == {
        "ada": ("30", "17.5"), "ben": ("15", "0"), "cleo": ("0", "0")}
