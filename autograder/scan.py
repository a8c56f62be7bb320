"""Look at a submission before and after grading, and say what is wrong with it.

- :func:`gradebook_layout`: the assignment's notebooks and nbgrader cells, from a gradebook.
- :func:`inspect_submission`: missing/renamed/unreadable notebooks, deleted, duplicated or
  edited nbgrader cells (compared with the gradebook), and a static scan of the code the
  student wrote (monkeypatching numpy or the grading helpers, redefining test helpers,
  touching files outside the submission, exiting the kernel ...). It only *reports*: the
  runtime defences (nbgrader's OverwriteCells, the test cells' own checks, the sandbox)
  are what make cheating earn nothing.
- :func:`inspect_autograded`: timeouts, dead kernels, memory errors, truncated output,
  exceptions in solution cells, from the autograded notebook.

Every problem and flag is a :class:`~autograder.records.Problem`: the report's line and its
mistake code (:data:`autograder.mistakes.GRADER_EVENTS`).
"""

from __future__ import annotations

import ast
import os
import re
from typing import Any

import nbformat

from .records import Problem

#: modules whose attributes student code has no business assigning
WATCHED_MODULES = {"np", "numpy", "tf", "tensorflow", "keras", "resnet_utils", "grading", "builtins",
                   "sys", "os", "unittest", "math", "random", "testing", "npt", "IPython", "ipykernel",
                   "importlib", "inspect", "gc"}
SUSPICIOUS_IMPORTS = {"os", "sys", "subprocess", "ctypes", "shutil", "pathlib", "glob", "io", "importlib",
                      "gc", "inspect", "builtins", "signal", "socket", "sqlite3", "pickle", "marshal",
                      "resource", "nbformat", "nbgrader", "resnet_utils", "autograder", "urllib",
                      "requests", "multiprocessing", "threading", "pty", "tempfile", "atexit"}
FILE_CALLS = {"open", "io.open", "os.open", "os.listdir", "os.scandir", "os.walk", "glob.glob", "glob.iglob",
              "np.load", "numpy.load", "np.loadtxt", "np.fromfile", "np.genfromtxt", "json.load",
              "shutil.copy", "shutil.copyfile", "shutil.copytree", "shutil.move", "os.remove",
              "os.rename", "os.replace", "os.symlink", "os.chdir", "sqlite3.connect", "tf.io.read_file",
              "tf.io.write_file", "tf.io.gfile.GFile", "tf.io.gfile.glob", "tf.io.gfile.listdir",
              "Path", "pathlib.Path", "exec", "eval", "compile", "__import__", "execfile"}
EXIT_CALLS = {"os._exit", "sys.exit", "exit", "quit", "os.kill", "os.abort", "signal.raise_signal",
              "os.killpg", "signal.pthread_kill"}
PROCESS_CALLS = {"os.system", "os.popen", "subprocess.run", "subprocess.Popen", "subprocess.call",
                 "subprocess.check_output", "subprocess.check_call", "os.fork", "os.execv", "os.execl"}
INTROSPECTION_CALLS = {"gc.get_objects", "gc.get_referrers", "sys._getframe", "inspect.getsource",
                       "inspect.currentframe", "inspect.stack", "importlib.reload", "setattr", "delattr",
                       "globals", "sys.addaudithook", "sys.settrace", "sys.setprofile"}
PATHY = re.compile(r"(^/|\.\./|\bsource/|\brelease/|\bsubmitted/|\bautograded/|gradebook|\.ipynb\b|"
                   r"\breference\b|nbgrader_config|/work/|/home/|/root/|/tmp/)")


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Call):
        inner = _dotted(node.func)
        if inner:
            parts.append(inner + "()")
            return ".".join(reversed(parts))
    return None


def _to_python(source: str) -> str:
    """IPython syntax (magics, !shell) -> plain Python, so that ``ast`` can parse it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def helper_names(test_sources: list[str]) -> set[str]:
    """Names the test cells import or call (check_identity_block, ...)."""
    names: set[str] = set()
    for src in test_sources:
        try:
            tree = ast.parse(_to_python(src))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names.update(a.asname or a.name for a in node.names if a.name != "*")
            elif isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else \
                    node.func.attr if isinstance(node.func, ast.Attribute) else ""
                if name.startswith(("check", "assert", "test", "verify", "compare")):
                    names.add(name)
    return names


#: the codes of the static scan's findings: a monkeypatch (or a test helper redefined), anything else
MONKEYPATCH = "grader.monkeypatch"
SUSPICIOUS = "grader.suspicious_code"


def scan_code(source: str, helpers: set[str] = frozenset(),
              solution_names: set[str] = frozenset()) -> tuple[list[Problem], str | None]:
    """Static scan of one cell the student wrote: (findings, syntax error or None).  A finding
    is ``grader.monkeypatch`` (a module's attribute assigned, a test helper redefined) or
    ``grader.suspicious_code`` (anything else)."""
    findings: list[Problem] = []
    try:
        tree = ast.parse(_to_python(source))
    except SyntaxError as exc:
        return findings, f"line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError) as exc:
        return findings, str(exc)[:80]

    def add(msg, code=SUSPICIOUS):
        if all(f.text != msg for f in findings):
            findings.append(Problem(code, msg))

    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name
                top = a.name.split(".")[0]
                if top in SUSPICIOUS_IMPORTS:
                    add(f"imports {a.name}")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            top = mod.split(".")[0]
            for a in node.names:
                aliases[a.asname or a.name] = f"{mod}.{a.name}"
            if top in SUSPICIOUS_IMPORTS:
                add(f"imports from {mod}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute):
                        name = _dotted(sub) or ""
                        root = name.split(".")[0]
                        if root in WATCHED_MODULES or aliases.get(root, "").split(".")[0] in WATCHED_MODULES:
                            add(f"monkeypatches {name}", MONKEYPATCH)
                    elif isinstance(sub, ast.Subscript):
                        name = _dotted(sub.value) or ""
                        if name in ("sys.modules", "globals()", "__builtins__", "builtins.__dict__"):
                            add(f"writes {name}[...]")
                    elif isinstance(sub, ast.Name) and sub.id in helpers and sub.id not in solution_names:
                        add(f"redefines test helper {sub.id}", MONKEYPATCH)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in helpers and node.name not in solution_names:
                add(f"redefines test helper {node.name}", MONKEYPATCH)
        elif isinstance(node, ast.Call):
            name = _dotted(node.func) or ""
            short = name
            root = name.split(".")[0]
            if root in aliases and aliases[root] != root:
                name = aliases[root] + name[len(root):]
            if name in EXIT_CALLS or short in EXIT_CALLS:
                add(f"calls {short}")
            elif name in PROCESS_CALLS or short in PROCESS_CALLS or root in ("subprocess", "ctypes"):
                add(f"starts processes / native code ({short})")
            elif name in FILE_CALLS or short in FILE_CALLS or short.endswith((".read_text", ".read_bytes",
                                                                             ".write_text", ".write_bytes")):
                add(f"file or code access: {short}(...)")
            elif name in INTROSPECTION_CALLS or short in INTROSPECTION_CALLS or ".events." in short:
                add(f"introspection: {short}(...)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if len(node.value) < 300 and PATHY.search(node.value):
                add(f"path literal {node.value[:60]!r}")
        elif isinstance(node, ast.Name) and node.id in ("__builtins__", "__loader__", "__spec__"):
            add(f"uses {node.id}")
    return findings, None


# ---------------------------------------------------------------------------- gradebook
def gradebook_layout(db_url: str, assignment: str) -> dict[str, Any]:
    """{notebook: {"cells": [...], "grade": {id: max_score}, "solution": [...], ...}}"""
    from nbgrader.api import Gradebook

    layout: dict[str, Any] = {}
    with Gradebook(db_url) as gb:
        a = gb.find_assignment(assignment)
        for nb in a.notebooks:
            cells = [{"name": c.name, "cell_type": c.cell_type, "locked": bool(c.locked),
                      "checksum": c.checksum, "source": c.source} for c in nb.source_cells]
            grade = {c.name: float(c.max_score) for c in nb.grade_cells}
            solution = [c.name for c in nb.solution_cells]
            task = [c.name for c in nb.task_cells]
            order = [c["name"] for c in cells]
            # exercise of each grade cell = the nearest solution cell before it
            exercise = {}
            current = None
            for name in order:
                if name in solution:
                    current = name
                if name in grade:
                    exercise[name] = name if name in solution else (current or name)
            layout[nb.name] = {"cells": cells, "grade": grade, "solution": solution, "task": task,
                               "order": order, "exercise": exercise}
    return layout


def strip_hidden_tests(source: str, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """The source without its hidden-test regions (what nbgrader's ClearHiddenTests releases)."""
    out, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _nb_cells_by_id(nb) -> dict[str, list]:
    out: dict[str, list] = {}
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid and (meta.get("grade") or meta.get("solution") or meta.get("locked") or meta.get("task")):
            out.setdefault(gid, []).append((i, cell))
    return out


def inspect_submission(sub_dir: str, layout: dict[str, Any], *, add_missing_cells: bool = True,
                       max_bytes: int = 100 << 20) -> dict[str, Any]:
    """Problems and static-scan flags of one submission directory (nothing is executed):
    ``{"problems": [Problem], "flags": [Problem], "fatal": None or why nbgrader cannot grade
    it, "notebooks": [file names]}``."""
    problems: list[Problem] = []
    flags: list[Problem] = []
    fatal = None
    present = {os.path.splitext(f)[0]: f for f in sorted(os.listdir(sub_dir)) if f.endswith(".ipynb")} \
        if os.path.isdir(sub_dir) else {}
    expected = list(layout)
    unknown = [present[n] for n in present if n not in layout]
    for name in expected:
        if name not in present:
            msg = f"notebook missing: {name}.ipynb"
            if unknown:
                msg += f" (found {', '.join((repr(u) for u in unknown))} instead: renamed?)"
            problems.append(Problem("grader.notebook_missing", msg))
    if unknown and all(n in present for n in expected):
        problems.append(Problem("grader.other", f"extra notebook(s) ignored: {', '.join(unknown)}"))
    if not any(n in present for n in expected):
        fatal = "no gradable notebook"
    for name in expected:
        if name not in present:
            continue
        path = os.path.join(sub_dir, present[name])
        size = os.path.getsize(path)
        if size > max_bytes:
            problems.append(Problem("grader.other", f"{present[name]}: notebook too large ({size >> 20} MB)"))
            fatal = fatal or "notebook too large"
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:  # JSON or schema error
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            problems.append(Problem("grader.notebook_unreadable", f"{present[name]}: not a readable notebook "
                                                                  f"({type(exc).__name__}: {first[:90]})"))
            fatal = fatal or "unreadable notebook"
            continue
        problems += _cell_problems(nb, layout[name], add_missing_cells)
        nb_problems, nb_flags = _scan_cells(nb, layout[name])
        problems += nb_problems
        flags += nb_flags
    return {"problems": problems, "flags": flags, "fatal": fatal,
            "notebooks": sorted(present.values())}


def _cell_problems(nb, info: dict[str, Any], add_missing_cells: bool) -> list[Problem]:
    """The nbgrader cells of a submitted notebook that are duplicated, unknown, deleted or
    edited (compared with the assignment's ``info`` from :func:`gradebook_layout`)."""
    problems: list[Problem] = []
    by_id = _nb_cells_by_id(nb)
    src = {c["name"]: c for c in info["cells"]}
    for gid, occurrences in by_id.items():
        if len(occurrences) > 1:
            problems.append(Problem("grader.duplicated_cell", f"duplicated cell '{gid}' ({len(occurrences)} "
                                                              "copies; nbgrader keeps the last one's id)"))
        if gid not in src:
            problems.append(Problem("grader.other", f"unknown nbgrader cell id '{gid}' (ignored by nbgrader)"))
    for c in info["cells"]:
        gid = c["name"]
        if gid not in by_id:
            if gid in info["grade"] and gid not in info["solution"]:
                fate = "restored by nbgrader" if add_missing_cells else "scores 0"
                problems.append(Problem("grader.test_cell_deleted", f"test cell '{gid}' deleted ({fate})"))
            elif gid in info["solution"]:
                problems.append(Problem("grader.solution_cell_deleted", f"solution cell '{gid}' deleted"))
            elif gid in info["task"]:
                problems.append(Problem("grader.other", f"task cell '{gid}' deleted"))
            continue
        _, cell = by_id[gid][-1]
        if c["locked"]:
            got = cell.source.strip()
            if cell.cell_type != c["cell_type"] or (
                    got != c["source"].strip() and got != strip_hidden_tests(c["source"]).strip()):
                test = gid in info["grade"]
                problems.append(Problem("grader.test_cell_edited" if test else "grader.other",
                                        f"{'test cell' if test else 'read-only cell'} '{gid}' edited "
                                        "(the original is what runs)"))
    return problems


def _scan_cells(nb, info: dict[str, Any]) -> tuple[list[Problem], list[Problem]]:
    """Static scan of every cell the student could write: ``(syntax errors, flags)``; a cell's
    flag line names its first six findings, ``grader.monkeypatch`` when one of those is one."""
    problems: list[Problem] = []
    flags: list[Problem] = []
    locked = {c["name"] for c in info["cells"] if c["locked"]}
    helpers = helper_names([c["source"] for c in info["cells"] if c["name"] in info["grade"]])
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in locked:
            continue
        where = f"cell '{gid}'" if gid else f"cell {i + 1}"
        found, syntax = scan_code(cell.source, helpers, set(info["solution"]))
        if syntax:
            problems.append(Problem("student.syntax_error", f"syntax error in {where} ({syntax})"))
        if found:
            shown = found[:6]
            code = MONKEYPATCH if any(f.code == MONKEYPATCH for f in shown) else SUSPICIOUS
            more = " ..." if len(found) > 6 else ""
            flags.append(Problem(code, f"{where}: {'; '.join(f.text for f in shown)}{more}"))
    return problems, flags


# --------------------------------------------------------------------------- autograded
def inspect_autograded(nb_path: str, layout_nb: dict[str, Any], timeout: int | None = None) -> list[Problem]:
    """Runtime problems visible in an autograded notebook's outputs."""
    try:
        nb = nbformat.read(nb_path, as_version=4)
    except Exception as exc:
        return [Problem("grader.notebook_unreadable", f"autograded notebook unreadable: {exc}")]
    problems: list[Problem] = []
    solutions = set(layout_nb.get("solution", []))
    grades = set(layout_nb.get("grade", {}))
    not_run = 0
    others: list[str] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        where = f"cell '{gid}'" if gid else f"cell {i + 1}"
        timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.get("outputs", []))
        for out in cell.get("outputs", []):
            if timed_out and out.get("ename") == "KeyboardInterrupt":
                continue  # the timeout's interrupt
            if out.get("output_type") == "stream" and "[autograder] this cell printed too much" in out.get("text", ""):
                m = re.search(r"(\d+) bytes of its output were dropped", out["text"])
                problems.append(Problem("grader.output_truncated", f"output flood truncated in {where} "
                                        f"({_human(int(m.group(1))) if m else 'output'} dropped)"))
            if out.get("output_type") != "error":
                continue
            ename, evalue = out.get("ename", ""), str(out.get("evalue", ""))
            unresponsive = Problem("grader.kernel_unresponsive", f"kernel stopped responding in {where} (ignored "
                                                                 "the timeout's interrupt); it was stopped")
            if ename == "KernelDied":
                if evalue.startswith("not run"):
                    not_run += 1
                elif "stopped responding" in evalue:
                    problems.append(unresponsive)
                else:
                    problems.append(Problem("grader.kernel_died", f"kernel died in {where}"))
            elif ename == "CellTimeoutError":
                stopped = f" (stopped after {timeout}s)" if timeout else ""
                line = Problem("grader.timeout", f"timeout in {where}{stopped}")
                if line not in problems:
                    problems.append(line)
                if "stopped responding" in evalue:
                    problems.append(unresponsive)
            elif ename in ("MemoryError", "ResourceExhaustedError") or "Unable to allocate" in evalue \
                    or "OOM when allocating" in evalue:
                problems.append(Problem("grader.memory_cap", f"memory cap hit in {where} ({ename})"))
            elif ename == "PermissionError" and "autograder sandbox" in evalue:
                problems.append(Problem("grader.tampering_blocked", f"tampering blocked in {where}: "
                                        f"{evalue.split('(', 1)[-1].rstrip(')')[:100]}"))
            elif gid in grades and gid not in solutions:
                continue  # a failing test: its points say it all
            elif ename in ("SyntaxError", "IndentationError", "TabError") and gid in solutions:
                problems.append(Problem("student.syntax_error", f"syntax error in {where}"))
            elif gid in solutions:
                problems.append(Problem("student.exception", f"exception in {where}: {ename}: "
                                        f"{evalue.splitlines()[0][:80] if evalue else ''}"))
            else:
                others.append(f"{where}: {ename}")
    if not_run:
        problems.append(Problem("grader.cells_not_run", f"{not_run} later cell(s) not run after the kernel stopped"))
    if others:
        problems.append(Problem("student.errors_in_other_cells",
                                f"errors in {len(others)} other cell(s) (first: {others[0]})"))
    return problems


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n} {unit}"
        n //= 1024
    return f"{n} TB"
