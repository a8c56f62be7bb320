"""Example submissions with the grade each must get: one model for every example class.

A :class:`Case` is one student of an example class: the student's name, what the
submission does, how to build it, the points nbgrader must give each graded cell, and
the problems the grader's report must name.  Submissions are *built* from a
:class:`Context` -- the reference answers, the release notebook and the course root --
never written out by hand, so no solution code is written twice.

The example classes:

- :data:`autograder.example_classes.examples.EXAMPLES`: the ``make demo`` examples (realistic mistakes);
- :func:`autograder.example_classes.classroom.full_class` / :func:`~autograder.example_classes.classroom.small_class`: the
  broken and hostile class (``python -m autograder class-demo``, tests/test_autograder_hostile_class.py);
- ``tests/toy_course.py``: the toy course's class (the grader tests without TensorFlow).

:func:`write` puts a class into a course's ``submitted/``; :func:`check` compares a
grading run with what each case must get.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Union

import nbformat

from .submissions import fill, solution_sources
from ..notebooks import read

if TYPE_CHECKING:
    from ..records import GradingRun, StudentResult

Built = Union[nbformat.NotebookNode, bytes]  # bytes: a file that is not a notebook


@dataclass(frozen=True)
class Context:
    """What a case is built from."""

    ref: dict[str, str]  # the reference answer of each solution cell, by grade_id
    release: nbformat.NotebookNode  # the release notebook, as handed out
    course_root: str  # the course the class is graded in (the paths a cheater would try)

    @classmethod
    def from_notebooks(cls, source_nb, release_nb, course_root) -> Context:
        """The reference answers of ``source_nb`` (solution markers removed), ``release_nb``."""
        return cls(solution_sources(source_nb), read(release_nb), os.path.abspath(course_root))

    def answers(self, **append: str) -> dict[str, str]:
        """The reference answers, with code appended to some cells (keyword: grade_id)."""
        out = dict(self.ref)
        for gid, code in append.items():
            out[gid] = out[gid].rstrip("\n") + "\n" + code
        return out

    def filled(self, **append: str) -> nbformat.NotebookNode:
        """The release notebook with the reference answers (and the code appended)."""
        return fill(self.release, self.answers(**append))


@dataclass(frozen=True)
class Case:
    """One example submission and what grading it must give."""

    name: str  # the student's id
    description: str
    build: Callable[[Context], Built]
    expected: Mapping[str, float]  # grade_id -> points, for every graded cell
    problems: tuple[str, ...] = ()  # substrings the report (problems and flags) must contain
    filename: str | None = None  # the submitted file's name; None: the assignment's notebook
    # grade_id -> a substring of the error that this failing test cell must show the student
    messages: Mapping[str, str] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.expected.values())


def points(cells: Mapping[str, float], earned: Iterable[str], partial: Mapping[str, float] | None = None
           ) -> dict[str, float]:
    """Expected points: the full points of the graded cells in ``earned``, ``partial[cell]`` for
    the cells given there (a test cell's points less its penalties), 0 for the others."""
    earned, partial = set(earned), dict(partial or {})
    unknown = (earned | set(partial)) - set(cells)
    if unknown:
        raise KeyError(f"not graded cells: {sorted(unknown)}")
    return {g: float(partial.get(g, p if g in earned else 0.0)) for g, p in cells.items()}


def write(course_root, assignment: str, cases: Iterable[Case], ctx: Context, notebook: str, *,
          timestamp: str | None = None, replace: bool = True) -> list[str]:
    """Write each case to ``<course_root>/submitted/<name>/<assignment>/`` (as ``notebook``
    unless the case names another file), with a ``timestamp.txt`` when ``timestamp`` is
    given; ``replace``: remove what the folder held first.  Returns the names."""
    names = []
    for case in cases:
        d = os.path.join(str(course_root), "submitted", case.name, assignment)
        if replace and os.path.isdir(d):
            shutil.rmtree(d)
        os.makedirs(d, exist_ok=True)
        built = case.build(ctx)
        path = os.path.join(d, case.filename or notebook)
        if isinstance(built, bytes):
            with open(path, "wb") as fh:
                fh.write(built)
        else:
            nbformat.write(built, path)
        if timestamp is not None:
            with open(os.path.join(d, "timestamp.txt"), "w") as fh:
                fh.write(timestamp)
        names.append(case.name)
    return names


def differences(case: Case, scores: Mapping[str, float | None]) -> dict[str, tuple[float | None, float]]:
    """{grade_id: (points got, points expected)} where they differ; a cell with no score
    at all (None: the student was not graded) differs too."""
    out = {}
    for g, want in case.expected.items():
        got = scores.get(g)
        if got is None or abs(float(got) - float(want)) > 1e-9:
            out[g] = (None if got is None else float(got), float(want))
    return out


def check(run: GradingRun, cases: Iterable[Case]) -> list[str]:
    """What differs between a grading run and what each case must get (empty: all right)."""
    by = run.by_student()
    bad = []
    for case in cases:
        r = by.get(case.name)
        if r is None:
            bad.append(f"{case.name}: not graded")
            continue
        diff = differences(case, r.scores)
        if diff:
            bad.append(f"{case.name}: " + ", ".join(
                f"{g} got {'no score' if a is None else f'{a:g}'} expected {b:g}" for g, (a, b) in diff.items())
                + _what_happened(r))
        text = "\n".join(p.text for p in r.problems + r.flags)
        for p in case.problems:
            if p not in text:
                bad.append(f"{case.name}: the report does not mention {p!r}")
    return bad


def _what_happened(r: StudentResult) -> str:
    """What the grading of ``r`` reported, to tell why its scores differ: its status, error,
    problems, flags and the sandbox's events (kernel deaths, timeouts, errors per cell)."""
    parts = [f"status {r.status}"] + ([f"error {r.error}"] if r.error else [])
    parts += [p.text for p in r.problems + r.flags]
    parts += [", ".join(f"{k}={v}" for k, v in e.items()) for e in r.events]
    return " (" + "; ".join(parts) + ")"
