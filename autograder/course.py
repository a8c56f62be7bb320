"""The course's layout and the nbgrader commands run on it.

The repository root is the nbgrader course root: ``source/`` holds the assignments with
solutions and hidden tests, ``release/`` the generated student versions (committed),
``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db`` are nbgrader's
working data (not committed).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from resnet_utils import config

ROOT = Path(__file__).resolve().parents[1]

#: The course's assignments -> their notebooks (defined in :mod:`resnet_utils.config`).
ASSIGNMENTS = config.ASSIGNMENTS

#: The first assignment (the default of every command and helper that takes one).
ASSIGNMENT = "residual_networks"
NOTEBOOK = ASSIGNMENTS[ASSIGNMENT]


def notebook(assignment: str = ASSIGNMENT) -> str:
    """The file name of ``assignment``'s notebook; ValueError for an unknown assignment."""
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        raise ValueError(f"unknown assignment {assignment!r}; the course has {sorted(ASSIGNMENTS)}") from None


def source_nb(assignment: str = ASSIGNMENT, course_root: Path = ROOT) -> Path:
    """``source/<assignment>/<notebook>`` of a course root (default: this repository)."""
    return Path(course_root) / "source" / assignment / notebook(assignment)


def release_nb(assignment: str = ASSIGNMENT, course_root: Path = ROOT) -> Path:
    """``release/<assignment>/<notebook>`` of a course root (default: this repository)."""
    return Path(course_root) / "release" / assignment / notebook(assignment)


SOURCE_NB = source_nb(ASSIGNMENT)
RELEASE_NB = release_nb(ASSIGNMENT)


def graded_cells(source: Path | None = None, assignment: str = ASSIGNMENT) -> dict[str, float]:
    """``{grade_id: points}`` of the graded cells of a source notebook (default: ``assignment``'s),
    in notebook order."""
    from .notebooks import nbgrader_meta, read

    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
            for c in read(source or source_nb(assignment)).cells if nbgrader_meta(c).get("grade")}


def nbgrader_env(**extra) -> dict:
    """The environment nbgrader needs: this interpreter's bin folder first on PATH (nbgrader
    runs ``alembic`` from there), quiet TensorFlow, and the course root importable."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update({k: str(v) for k, v in extra.items()})
    return env


def nbgrader(*args: str, cwd: Path = ROOT, check: bool = True, capture: bool = False,
             env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in ``cwd`` (a course root) with :func:`nbgrader_env`."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env or nbgrader_env(), text=True,
                          capture_output=capture)
    if check and proc.returncode != 0:
        detail = (proc.stderr or "")[-3000:] if capture else ""
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed with exit code {proc.returncode} "
                           f"in {cwd}.\n{detail}")
    return proc


def new_course(path: Path, with_release: bool = False) -> Path:
    """A fresh course root at ``path``: the config, ``source/`` and (optionally) ``release/``."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", path / "nbgrader_config.py")
    shutil.copytree(ROOT / "source", path / "source", dirs_exist_ok=True)
    if with_release:
        shutil.copytree(ROOT / "release", path / "release", dirs_exist_ok=True)
    return path


def generate_release(course_root: Path = ROOT, assignment: str = ASSIGNMENT, quiet: bool = False) -> Path:
    """Regenerate ``release/<assignment>`` from ``source/`` with ``nbgrader generate_assignment``.

    Also records the assignment (and its graded cells) in the course's gradebook, which
    ``autograde`` needs. Returns the release folder.
    """
    name = notebook(assignment)
    nbgrader("generate_assignment", assignment, "--force", "--log-level=WARN" if quiet else "--log-level=INFO",
             cwd=course_root, capture=quiet)
    out = Path(course_root) / "release" / assignment
    if not (out / name).exists():
        raise RuntimeError(f"nbgrader generate_assignment did not write {out / name}")
    return out


def read_grades(course_root: Path = ROOT, assignment: str = ASSIGNMENT,
                notebook_name: str | None = None) -> dict[str, dict[str, float]]:
    """``{student: {grade_id: score}}`` for every autograded submission of ``assignment`` in the
    gradebook (``notebook_name``: the notebook without ``.ipynb``, default the assignment's)."""
    from nbgrader.api import Gradebook, MissingEntry

    nb_name = notebook_name or notebook(assignment).removesuffix(".ipynb")
    db = Path(course_root) / "gradebook.db"
    if not db.exists():
        return {}
    out: dict[str, dict[str, float]] = {}
    with Gradebook(f"sqlite:///{db}") as gb:
        for student in gb.students:
            try:
                nb = gb.find_submission_notebook(nb_name, assignment, student.id)
            except MissingEntry:
                continue
            out[student.id] = {g.name: float(g.score) for g in nb.grades}
    return out


def grade_table(grades: dict[str, dict[str, float]], cells: dict[str, float],
                notes: dict[str, str] | None = None) -> str:
    """A plain-text table: student, points per graded cell, total, and a note per student."""
    notes = notes or {}
    short = [c.replace("test_", "").replace("_block", "").replace("_hidden", "*") for c in cells]
    width = max([7] + [len(s) for s in grades])
    head = f"{'student':<{width}}  " + "  ".join(f"{s:>13}" for s in short) + f"  {'total':>9}"
    lines = [head, "-" * len(head)]
    max_total = sum(cells.values())
    for student in sorted(grades):
        row = grades[student]
        vals = [row.get(c) for c in cells]
        total = sum(v for v in vals if v is not None)
        cols = "  ".join(f"{'-' if v is None else f'{v:g}/{cells[c]:g}':>13}" for v, c in zip(vals, cells))
        note = f"  {notes[student]}" if notes.get(student) else ""
        lines.append(f"{student:<{width}}  {cols}  {f'{total:g}/{max_total:g}':>9}{note}")
    lines.append("(* = hidden tests)")
    return "\n".join(lines)
