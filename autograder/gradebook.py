"""The course's gradebook (``gradebook.db``): the grader's only writes to it, and its safety net.

- :func:`integrity`, :func:`backup_db`: SQLite's integrity check, and a consistent copy
  (``.autograder/gradebook.backup.db``) taken before every run.
- :func:`make_template`: a copy holding only the assignments' definitions (every student
  removed), from which each worker starts its private gradebook.
- :func:`merge_student`: save one student's autograded result into the real gradebook,
  with nbgrader's own preprocessors (so the scores are exactly nbgrader's).
- :func:`export_csv`: nbgrader's CSV export (``grades.csv``).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from dataclasses import dataclass

from .files import replaced_atomically


def sqlite_path(db_url: str) -> str:
    """The file of a ``sqlite:///`` database URL (ValueError for any other database)."""
    if not db_url.startswith("sqlite:///"):
        raise ValueError(f"only SQLite gradebooks are supported (got {db_url})")
    return db_url[len("sqlite:///"):]


def backup_db(src: str, dst: str) -> None:
    """Consistent copy of a SQLite database (the backup API, safe while others read/write)."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with replaced_atomically(dst) as tmp:
        s = sqlite3.connect(src)
        d = sqlite3.connect(tmp)
        try:
            with d:
                s.backup(d)
        finally:
            d.close()
            s.close()


def integrity(path: str) -> str:
    """SQLite's ``PRAGMA integrity_check``: ``"ok"`` or what is wrong."""
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def make_template(main_db: str, dst: str) -> None:
    """A copy of the gradebook with the assignment definitions and no student at all."""
    from nbgrader.api import Gradebook

    backup_db(main_db, dst)
    with Gradebook("sqlite:///" + dst) as gb:
        for st in list(gb.students):
            gb.remove_student(st.id)
    con = sqlite3.connect(dst)
    try:
        con.execute("VACUUM")
    finally:
        con.close()


@dataclass
class SavedGrades:
    """What the gradebook says about one submission after the merge."""

    scores: dict[str, float | None]  # grade_id -> score (manual grades included)
    total: float | None
    max_total: float | None


def merge_student(cfg, cd, assignment: str, student: str, notebooks: list[str],
                  worker_root: str | None) -> SavedGrades:
    """Write one student's result into the real gradebook (the only place that writes it).

    ``notebooks``: the assignment's notebooks (names without ``.ipynb``); ``worker_root`` is the worker's private course root when the submission was
    autograded, None when it was not: then the submission keeps no stale automatic score,
    every grade is reset and flagged ``needs_manual_grade`` (manual grades are kept).
    """
    from nbformat import read as nbread

    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    db_url = cd.db_url
    sub_dir = cd.format_path(cd.submitted_directory, student, assignment)
    ts = cd.get_existing_timestamp(sub_dir)
    with Gradebook(db_url, cd.course_id) as gb:
        gb.update_or_create_student(student)
        if ts:
            gb.update_or_create_submission(assignment, student, timestamp=ts)
        else:
            gb.update_or_create_submission(assignment, student)

    dest = cd.format_path(cd.autograded_directory, student, assignment)
    src = os.path.join(worker_root, cd.autograded_directory, student, assignment) if worker_root else None
    graded = src is not None and os.path.isdir(src)
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    if graded:
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with replaced_atomically(dest) as tmp:
            shutil.copytree(src, tmp, symlinks=False)
        for nb_name in notebooks:
            path = os.path.join(dest, nb_name + ".ipynb")
            if os.path.exists(path):
                nb = nbread(path, as_version=4)
                resources = {"nbgrader": {"notebook": nb_name, "assignment": assignment, "student": student,
                                          "db_url": db_url}}
                for pp_cls in (SaveAutoGrades, AssignLatePenalties):
                    pp = pp_cls(config=cfg)
                    nb, resources = pp.preprocess(nb, resources)
            elif not os.path.exists(os.path.join(sub_dir, nb_name + ".ipynb")):
                # nbgrader: a notebook that was not submitted scores zero
                with Gradebook(db_url) as gb:
                    snb = gb.find_submission_notebook(nb_name, assignment, student)
                    for g in snb.grades:
                        g.auto_score = 0
                        g.needs_manual_grade = False
                    gb.db.commit()
    else:
        # could not be autograded: no stale automatic scores; a human has to look at it
        with Gradebook(db_url) as gb:
            for nb_name in notebooks:
                snb = gb.find_submission_notebook(nb_name, assignment, student)
                for g in snb.grades:
                    g.auto_score = None
                    g.needs_manual_grade = True
                for c in snb.comments:
                    c.auto_comment = None
                snb.late_submission_penalty = None
            gb.db.commit()
    # what the gradebook now says
    with Gradebook(db_url) as gb:
        sub = gb.find_submission(assignment, student)
        scores = {g.cell.name: g.score for snb in sub.notebooks for g in snb.grades}
        return SavedGrades(scores, sub.score, sub.max_score)


def merge_with_retries(*args, attempts: int = 5) -> SavedGrades:
    """:func:`merge_student`, retried while another program (formgrader ...) locks the database."""
    import sqlalchemy.exc

    for i in range(attempts):
        try:
            return merge_student(*args)
        except sqlalchemy.exc.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(1.0 + i)
    raise RuntimeError("unreachable")


def export_csv(cfg, cd, path: str) -> None:
    """nbgrader's CSV export (the ``nbgrader export`` plugin) to ``path``."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    plugin = CsvExportPlugin(config=cfg)
    plugin.to = path
    with Gradebook(cd.db_url, cd.course_id) as gb:
        plugin.export(gb)
