"""Progress bar and the end-of-run grade table (plain text, no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .records import StudentResult


class Progress:
    """``[#####.....] 12/20 graded, 1 failed, 2 running, 03:10`` on stderr.

    On a terminal the line is redrawn in place; otherwise one line per finished student.
    """

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True, width: int = 30):
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.done = 0
        self.failed = 0
        self.running = 0
        self.t0 = time.time()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        n = int(round(frac * self.width))
        el = int(time.time() - self.t0)
        bar = "#" * n + "." * (self.width - n)
        return (f"[{bar}] {self.done:d}/{self.total:d} graded, {self.failed:d} with failures, "
                f"{self.running:d} running, {el // 60:02d}:{el % 60:02d}")

    def update(self, *, done: int | None = None, failed: int | None = None, running: int | None = None,
               note: str | None = None) -> None:
        if done is not None:
            self.done = done
        if failed is not None:
            self.failed = failed
        if running is not None:
            self.running = running
        if not self.enabled:
            return
        line = self._line()
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            if note:
                self.stream.write("\r\x1b[K" + note + "\n" + line)
        elif note:
            self.stream.write(f"{line}  {note}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\r" + self._line() + "\x1b[K\n")
            self.stream.flush()


def fmt_points(x: float | None) -> str:
    """Points as the grader shows them: up to 2 decimals, no trailing zeros (``3``, ``4.5``,
    ``4.25``, ``0.33``), ``-`` for none."""
    if x is None:
        return "-"
    return (f"{round(float(x), 2) + 0.0:.2f}").rstrip("0").rstrip(".")  # + 0.0: no "-0"


def _score(points: float | None, top: float | None) -> str:
    return f"{fmt_points(points)}/{fmt_points(top)}"


def table(results: list[StudentResult], exercises: list[str], max_points: dict[str, float],
          max_total: float) -> str:
    """Student, points per exercise, total, then one line per problem found.

    Every column is as wide as its widest cell, integer and fractional points alike; points are
    right-aligned (a column has one maximum, so ``4.5/5`` and ``4/5`` end with the same ``/5``)."""
    head = ["student"] + list(exercises) + ["total"]
    rows = [[r.student] + [_score(r.exercises.get(ex), max_points.get(ex)) for ex in exercises]
            + [_score(r.total, max_total)] for r in results]
    widths = [max(len(row[i]) for row in [head] + rows) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])

    lines = [line(head), "-" * len(line(head))]
    for r, row in zip(results, rows):
        lines.append(line(row))
        for p in r.problems:
            lines.append("    - " + p.text)
        for f in r.flags:
            lines.append("    - flagged: " + f.text)
    return "\n".join(lines)


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n:.1f} TiB"


def summary(results: list[StudentResult], wall: float, jobs: int) -> str:
    graded = sum(1 for r in results if r.graded)
    peak = max([r.peak_rss or 0 for r in results] + [0])
    times = [r.elapsed for r in results if r.elapsed]
    average = (sum(times) / len(times)) if times else 0
    return (f"{len(results):d} students, {graded:d} autograded, {len(results) - graded:d} not autogradable; "
            f"{wall:.0f} s wall with {jobs:d} job(s) ({average:.0f} s per student on average, "
            f"peak {human_bytes(peak)} per student)")

