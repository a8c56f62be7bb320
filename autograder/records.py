"""The records the parts of the grader hand each other (plain dataclasses, saved as JSON).

- :class:`WorkerSpec`: what :mod:`autograder.grade` asks a worker process
  (:mod:`autograder.worker`) to do for one student (``spec.json`` in the student's
  temporary directory).
- :class:`StudentResult`: one student's outcome.  The worker fills in what it saw
  (status, problems, flags, the scores of its private gradebook, sandbox log, timings,
  ``result.json``); the grader adds what it measured and what the real gradebook now says
  (memory, elapsed time, total, points per exercise) and the report prints it.
- :class:`GradingRun`: what :func:`autograder.grade.grade` returns (and saves as
  ``.autograder/<assignment>-results.json``).
- :class:`Problem`: one problem (or static-scan flag) of a student, its text as the report
  shows it and its mistake code (:mod:`autograder.mistakes`), given where it is found.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .settings import KERNEL_PRELOAD, MAX_SUBMISSION_BYTES, READ_PACKAGES


def _from_dict(cls, data: dict[str, Any]):
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


#: the code of a problem whose code is not known (a problem line of a results file written
#: before the codes were saved, that no saved mistake names)
UNKNOWN_CODE = "grader.other"


@dataclass(frozen=True)
class Problem:
    """A problem the grader reports about a student: ``text`` is the report's line,
    ``code`` its mistake code (``grader.timeout``, ``student.syntax_error``, ... see
    :data:`autograder.mistakes.GRADER_EVENTS`), set where the problem is found."""

    code: str
    text: str


def _problems(texts: list[str], codes: list[str] | None, mistakes: list[dict[str, Any]]) -> list[Problem]:
    """The problems saved as ``texts`` and ``codes`` (two lists of the same length).  A results
    file of an earlier version saved the texts only: a line gets the code of the saved grader
    event (``mistakes``: one per code, with its first line) that quotes it, else
    :data:`UNKNOWN_CODE`."""
    if codes is not None and len(codes) == len(texts):
        return [Problem(c, t) for c, t in zip(codes, texts)]
    quoted: dict[str, str] = {}
    for m in mistakes:
        if m.get("cell") is None and not m.get("penalty"):
            quoted.setdefault(m.get("message", ""), m.get("code", UNKNOWN_CODE))
    return [Problem(quoted.get(t[:600], UNKNOWN_CODE), t) for t in texts]


@dataclass
class WorkerSpec:
    """One student to grade, for a worker process."""

    course_root: str
    config_file: str
    assignment: str
    student: str
    workdir: str  # the student's private temporary directory
    gradebook_template: str  # the gradebook with the assignment's definition and no student
    result_path: str  # where the worker writes the StudentResult (JSON)
    timeout: int | None = None  # seconds per cell; None: the course's Execute.timeout
    memory_cap: int = 0  # address-space cap of the kernel, bytes (0: none)
    threads: int | None = None  # TF/BLAS threads of the kernel
    sandbox: bool = True
    landlock: bool = True
    read_packages: list[str] = field(default_factory=lambda: list(READ_PACKAGES.default))
    extra_read_dirs: list[str] = field(default_factory=list)
    kernel_env: dict[str, str] = field(default_factory=dict)  # extra environment of the kernel
    mpl_cache: str | None = None  # a prebuilt matplotlib font cache to copy
    max_output_bytes: int | None = None  # per cell; None: SandboxedExecute's default
    max_total_output_bytes: int | None = None  # per notebook; None: SandboxedExecute's default
    max_submission_bytes: int = MAX_SUBMISSION_BYTES.default
    kernel_preload: list[str] = field(default_factory=lambda: list(KERNEL_PRELOAD.default))  # a worker's zygote

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerSpec:
        return _from_dict(cls, data)


@dataclass
class StudentResult:
    """One student's grading outcome (see the module docstring for who fills what)."""

    student: str
    assignment: str | None = None
    status: str = "failed"  # "graded", "failed" (not autograded) or "missing" (no submission)
    problems: list[Problem] = field(default_factory=list)  # what the report says, one line each
    flags: list[Problem] = field(default_factory=list)  # static-scan findings ("flagged: ...")
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> points
    denials: list[str] = field(default_factory=list)  # file/process accesses the sandbox refused
    sandbox: list[str] = field(default_factory=list)  # the sandbox's INFO lines (limits, Landlock ...)
    error: str | None = None  # why nbgrader could not autograde it
    notebooks: list[str] = field(default_factory=list)  # the notebooks found in the submission
    cell_timeout: int | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds since the worker started, per step
    log: str = ""  # the end of nbgrader's log
    autograded: list[str] = field(default_factory=list)  # the notebooks nbgrader autograded
    events: list[dict[str, Any]] = field(default_factory=list)  # what SandboxedExecute recorded
    elapsed: float | None = None  # seconds
    traceback: str | None = None  # when the worker itself failed (saved only then)
    peak_rss: int = 0  # bytes, worker and kernel together
    peak_kernel_vms: int = 0  # bytes, the largest address space below the worker
    total: float | None = None  # points in the gradebook (manual grades included)
    max_total: float | None = None
    exercises: dict[str, float] = field(default_factory=dict)  # exercise -> points
    worker_log: str | None = None  # the worker's output, relative to the course root
    mistakes: list[dict[str, Any]] = field(default_factory=list)  # {code, cell, message}: autograder.mistakes

    def to_dict(self) -> dict[str, Any]:
        """As saved (JSON): ``problems`` and ``flags`` are their lines of text, their codes go
        in ``problem_codes`` and ``flag_codes`` (same order)."""
        data = dataclasses.asdict(self)
        if data["traceback"] is None:
            del data["traceback"]
        data["problems"] = [p.text for p in self.problems]
        data["flags"] = [f.text for f in self.flags]
        data["problem_codes"] = [p.code for p in self.problems]
        data["flag_codes"] = [f.code for f in self.flags]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudentResult:
        """The inverse of :meth:`to_dict`; also reads a result saved without the codes (see
        :func:`_problems`)."""
        result = _from_dict(cls, data)
        result.problems = _problems(data.get("problems", []), data.get("problem_codes"), result.mistakes)
        result.flags = _problems(data.get("flags", []), data.get("flag_codes"), result.mistakes)
        return result

    @property
    def graded(self) -> bool:
        return self.status == "graded"


@dataclass
class GradingRun:
    """A whole class graded: the layout of the assignment and every student's result."""

    assignment: str
    exercises: list[str]  # in notebook order
    max_points: dict[str, float]  # exercise -> points
    max_total: float
    results: list[StudentResult]  # in the order the students were asked for
    wall: float  # seconds
    jobs: int
    threads: int | None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["results"] = [r.to_dict() for r in self.results]
        return data

    def by_student(self) -> dict[str, StudentResult]:
        return {r.student: r for r in self.results}
