"""The class report: one self-contained HTML page about a graded assignment.

    python -m autograder report ASSIGNMENT [--course-root .] [--out reports/ASSIGNMENT.html]

Read from what ``python -m autograder grade`` saved (``.autograder/<assignment>-results.json``,
the submissions and the feedback files), it shows:

- the score distribution of every exercise and of the total (matplotlib, embedded as PNG);
- the most common mistakes (:mod:`autograder.mistakes` codes) with their counts, one example
  message each and the students who made them;
- the penalties (output-neutral deviations that passing test cells took points off for, e.g. a
  misnamed layer), grouped by penalty code the same way;
- the submissions that need a human look: grader events (timeouts, memory cap, dead kernels,
  unreadable notebooks), edited, deleted or duplicated test cells, tampering and suspicious
  code, groups of submissions with identical code, and zero-point notebooks with code in them;
- every student with their points, mistake and penalty codes and a link to their feedback file.

The page has no external resource (it opens offline) and escapes everything it quotes.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import html
import io
import json
import os
import re
from pathlib import Path
from typing import Any

from .report import fmt_points

#: codes of grader events that make a submission worth a human look
FLAG_CODES = {
    "grader.timeout", "grader.kernel_unresponsive", "grader.kernel_died", "grader.memory_cap",
    "grader.wall_clock_limit", "grader.disk_cap", "grader.output_truncated", "grader.notebook_unreadable",
    "grader.notebook_missing", "grader.no_submission", "grader.test_cell_edited", "grader.test_cell_deleted",
    "grader.duplicated_cell", "grader.tampering_blocked", "grader.monkeypatch", "grader.suspicious_code",
    "grader.crashed", "grader.not_saved", "grader.not_autograded", "grader.regraded", "grader.other",
}


def load_run(root: str, assignment: str) -> dict[str, Any]:
    path = os.path.join(root, ".autograder", f"{assignment}-results.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no grading results for {assignment!r} in {path}: run `python -m autograder grade "
                                f"{assignment}` first")
    with open(path) as fh:
        return json.load(fh)


# ----------------------------------------------------------------------- the analyses
def _normalised(code: str) -> str:
    """Code without comments, blank lines and indentation differences (for identical-code groups)."""
    lines = []
    for line in code.splitlines():
        line = line.split("#", 1)[0].strip() if "#" in line else line.strip()
        if line:
            lines.append(re.sub(r"\s+", " ", line))
    return "\n".join(lines)


def _solution_cells(path: str, ids: list[str]) -> dict[str, str]:
    """``{grade_id: normalised code}`` of a notebook's solution cells ({} when unreadable)."""
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:
        return {}
    return {cell.metadata["nbgrader"]["grade_id"]: _normalised(cell.source) for cell in nb.cells
            if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") in ids}


def solution_code(root: str, assignment: str, student: str, solution_ids: dict[str, list[str]]) -> str | None:
    """The solution cells the student changed (normalised), or None when there is no readable
    notebook or every solution cell is still as in the release (the handed-out scaffold)."""
    parts = []
    for nb_name, ids in solution_ids.items():
        release = _solution_cells(os.path.join(root, "release", assignment, nb_name + ".ipynb"), ids)
        mine = _solution_cells(os.path.join(root, "submitted", student, assignment, nb_name + ".ipynb"), ids)
        for gid, code in mine.items():
            if code and code != release.get(gid):
                parts.append(f"{gid}\n{code}")
    return "\n\n".join(parts) or None


def identical_groups(codes: dict[str, str | None]) -> list[list[str]]:
    """Students whose solution code is identical (two or more), largest group first."""
    by_hash: dict[str, list[str]] = collections.defaultdict(list)
    for student, code in codes.items():
        if code:
            by_hash[hashlib.sha256(code.encode()).hexdigest()].append(student)
    return sorted((sorted(g) for g in by_hash.values() if len(g) > 1), key=lambda g: (-len(g), g))


def _by_code(results: list[dict], penalties: bool) -> list[dict[str, Any]]:
    """``[{"code", "count", "students", "example"}]`` of the mistakes (``penalties=False``) or of
    the penalties, most frequent first (a code counts once per student)."""
    found: dict[str, dict[str, Any]] = {}
    for r in results:
        for m in r.get("mistakes", []):
            if bool(m.get("penalty")) != penalties:
                continue
            entry = found.setdefault(m["code"], {"code": m["code"], "students": [], "example": m["message"]})
            if r["student"] not in entry["students"]:
                entry["students"].append(r["student"])
    out = [dict(e, count=len(e["students"])) for e in found.values()]
    return sorted(out, key=lambda e: (-e["count"], e["code"]))


def common_mistakes(results: list[dict]) -> list[dict[str, Any]]:
    """The mistakes (penalties left out), by code: see :func:`_by_code`."""
    return _by_code(results, penalties=False)


def common_penalties(results: list[dict]) -> list[dict[str, Any]]:
    """The penalties (entries with ``"penalty": True``), by code: see :func:`_by_code`."""
    return _by_code(results, penalties=True)


def student_codes(result: dict, penalties: bool) -> str:
    """The distinct mistake (or penalty) codes of one student, comma-separated, in their order."""
    return ", ".join(dict.fromkeys(m["code"] for m in result.get("mistakes", [])
                                   if bool(m.get("penalty")) == penalties))


def flagged(results: list[dict], groups: list[list[str]], codes: dict[str, str | None]) -> dict[str, list[str]]:
    """``{student: [reasons]}`` of the submissions that need a human look."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    for r in results:
        for m in r.get("mistakes", []):
            if m["code"] in FLAG_CODES and not m.get("penalty"):
                out[r["student"]].append(f"{m['code']}: {m['message']}")
        if r.get("status") == "graded" and not r.get("total") and codes.get(r["student"]):
            out[r["student"]].append("0 points although the notebook has code in its solution cells")
    for g in groups:
        for s in g:
            out[s].append(f"identical solution code in {len(g)} submissions: {', '.join(g)}")
    return dict(out)


# ---------------------------------------------------------------------------- figures
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def distribution_figure(run: dict[str, Any]) -> str:
    """Histograms of the points of every exercise and of the total, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graded = [r for r in run["results"] if r.get("status") == "graded"]
    # rounded: partial credits that add up to 27.499999999999996 go to the bar of 27.5
    panels = [(ex, [round(r.get("exercises", {}).get(ex) or 0.0, 2) for r in graded], run["max_points"][ex])
              for ex in run["exercises"]]
    panels.append(("total", [round(r.get("total") or 0.0, 2) for r in graded], run["max_total"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.6), squeeze=False)
    for ax, (name, values, top) in zip(axes[0], panels):
        counts = collections.Counter(values)
        xs = sorted(set(counts) | {0.0, float(top)})
        ax.bar([str(_fmt(x)) for x in xs], [counts.get(x, 0) for x in xs], color="#4c72b0")
        ax.set_title(f"{name} (max {_fmt(top)})", fontsize=10)
        ax.set_xlabel("points")
        ax.set_ylabel("students")
        ax.yaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(f"Score distribution of {len(graded)} graded submissions", fontsize=11)
    fig.tight_layout()
    return _png(fig)


def _fmt(x) -> str:
    """Points as everywhere in the grader: ``27.5``, ``4.25``, ``30``, ``-`` for none."""
    return fmt_points(x)


# ------------------------------------------------------------------------------ HTML
CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right}.flag{color:#a00}code{font-size:90%}
img{max-width:100%}
"""


def render(run: dict[str, Any], root: str, out_path: str, solution_ids: dict[str, list[str]]) -> str:
    """The report's HTML (see the module docstring)."""
    e = html.escape
    results = run["results"]
    a = run["assignment"]
    codes = {r["student"]: solution_code(root, a, r["student"], solution_ids) for r in results}
    groups = identical_groups(codes)
    mistakes = common_mistakes(results)
    penalties = common_penalties(results)
    flags = flagged(results, groups, codes)
    graded = [r for r in results if r.get("status") == "graded"]
    totals = sorted(r.get("total") or 0.0 for r in graded)
    median = totals[len(totals) // 2] if totals else None
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class report: {e(a)}</title><style>{CSS}</style>"
             "</head><body>",
             f"<h1>Class report: {e(a)}</h1>",
             f"<p>{len(results):d} students, {len(graded):d} graded; median total {_fmt(median)} of "
             f"{_fmt(run['max_total'])}; {len(flags):d} flagged for a human look.</p>",
             "<h2>Score distribution</h2><img alt='score distribution' "
             f"src='data:image/png;base64,{distribution_figure(run)}'>",
             "<h2>Most common mistakes</h2><table id='mistakes'><tr><th>mistake code</th><th>students</th>"
             "<th>example message</th><th>who</th></tr>"]
    parts += _code_rows(mistakes)
    parts.append("</table><h2>Penalties (output-neutral deviations, part of a test cell's points)</h2>"
                 "<table id='penalties'><tr><th>penalty code</th><th>students</th><th>example message</th>"
                 "<th>who</th></tr>")
    parts += _code_rows(penalties, tr="<tr class='penalty'>")
    parts.append("</table><h2>Flagged submissions</h2><table id='flagged'><tr><th>student</th><th>why</th></tr>")
    for s in sorted(flags):
        parts.append(f"<tr><td>{e(s)}</td><td class='flag'>{'<br>'.join((e(x[:300]) for x in flags[s]))}</td></tr>")
    parts.append("</table><h2>Students</h2><table id='students'><tr><th>student</th>"
                 + "".join(f"<th>{e(ex)} ({_fmt(run['max_points'][ex])})</th>" for ex in run["exercises"])
                 + f"<th>total ({_fmt(run['max_total'])})</th><th>status</th><th>mistakes</th><th>penalties</th>"
                 "<th>feedback</th></tr>")
    out_dir = os.path.dirname(os.path.abspath(out_path))
    for r in results:
        s = r["student"]
        fb = [os.path.relpath(p, out_dir) for p in sorted(Path(root, "feedback", s, a).glob("*.html"))]
        link = " ".join(f"<a href='{e(p)}'>{e(os.path.basename(p))}</a>" for p in fb) or "-"
        points = "".join(f"<td class='num'>{_fmt(r.get('exercises', {}).get(ex))}</td>" for ex in run["exercises"])
        parts.append(f"<tr data-student='{e(s)}'><td>{e(s)}</td>{points}<td class='num'>{_fmt(r.get('total'))}</td>"
                     f"<td>{e(r.get('status', ''))}</td><td>{e(student_codes(r, penalties=False))}</td>"
                     f"<td>{e(student_codes(r, penalties=True))}</td><td>{link}</td></tr>")
    parts.append("</table></body></html>")
    return "\n".join(parts)


def _code_rows(entries: list[dict[str, Any]], tr: str = "<tr>") -> list[str]:
    """Table rows of :func:`common_mistakes` or :func:`common_penalties`: code, count, example, who."""
    e = html.escape
    return [f"{tr}<td><code>{e(m['code'])}</code></td><td class='num'>{m['count']:d}</td>"
            f"<td>{e(m['example'][:400])}</td><td>{e(', '.join(m['students']))}</td></tr>" for m in entries]


def write(root: str, assignment: str, out: str | None = None) -> str:
    """Write the report of ``assignment`` (graded in the course at ``root``); return its path."""
    from . import scan

    root = os.path.realpath(root)
    run = load_run(root, assignment)
    layout = scan.gradebook_layout("sqlite:///" + os.path.join(root, "gradebook.db"), assignment)
    solution_ids = {nb: list(info.get("solution", [])) for nb, info in layout.items()}
    out = out or os.path.join(root, "reports", f"{assignment}.html")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    page = render(run, root, out, solution_ids)
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(page)
    return out
