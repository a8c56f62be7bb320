"""``python -m autograder publish OUT``: the student edition of the course.

mybinder.org (and nbgitpuller on a JupyterHub) serves the whole repository it is pointed at.
Pointed at this course, it would serve ``source/`` with every solution and hidden test, and
``resnet_utils/reference/`` with the expected data of the hidden test cases. The *student
edition* is a separate folder (with ``--git``, a git repository ready to push) that holds only
what students may see, at the same paths as in the course:

- ``release/<assignment>/``: the release notebooks (so ``python -m autograder links --repo
  OWNER/EDITION`` opens them unchanged);
- ``notebooks/*.ipynb``: the ungraded walkthroughs;
- ``resnet_utils/``: what the notebooks import (its modules and the package data that the
  course's ``pyproject.toml`` declares), the dataset's code included, but the reference data
  of the **visible** test cases only (:func:`filtered_reference`); ``datasets/README.md``;
- ``binder/``, copied as it is (repo2docker's environment, ``postBuild`` installs the package);
- written for the edition: ``pyproject.toml`` (the course's, packaging ``resnet_utils`` only,
  :func:`student_pyproject`), ``README.md`` for students (:data:`README_TEMPLATE`),
  ``.gitignore``; and the course's ``LICENSE``;
- ``.resnet-course-edition.json``, the manifest: the files written. It marks the folder as an
  edition, and tells the next publish which files it may delete (no other file is ever deleted).

The file list is built positively (:func:`plan`), never by copying the course and deleting:
nothing of ``source/``, ``autograder/``, ``tests/``, ``bench/``, the gradebook, submissions or
the instructors' requirements goes in. The edition is first written to a temporary folder and
scanned (:func:`leaks`: every solution line and hidden-test line of the source notebooks, and
the reference data of hidden cases); OUT is touched only when nothing leaks.
"""

from __future__ import annotations

import ast
import fnmatch
import importlib
import inspect
import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..course import ASSIGNMENTS, ROOT, release_nb, source_nb
from .links import DEFAULT_REF, LinkError, badge_markdown, binder_url, parse_repo, release_path
from ..notebooks import nbgrader_meta
from ..settings import READ_PACKAGES

__all__ = ["EXTERNAL_REFERENCES", "INSTRUCTOR_ONLY", "MANIFEST", "PublishError", "Published",
           "case_keys", "filtered_reference", "hidden_cases", "leaks", "missing_references", "plan",
           "publish", "referenced_paths", "release_problem", "secret_lines", "student_pyproject",
           "student_readme", "summary_text", "visible_cases"]

#: The manifest: marks a folder as an edition and lists the files the edition wrote.
MANIFEST = ".resnet-course-edition.json"

#: The packages of the course that the edition holds (the course's pyproject also has autograder).
STUDENT_PACKAGES = READ_PACKAGES.default

#: Where the reference data live; the edition gets them filtered (:func:`filtered_reference`).
REFERENCE_DIR = "resnet_utils/reference"

#: What of the course never goes into the edition (paths from the course root). The edition
#: is built from what goes in (:func:`plan`); this list is the check on the result.
INSTRUCTOR_ONLY = ("source", "autograder", "tests", "bench", ".ci", "gradebook.db", "submitted",
                   "autograded", "feedback", "reports", "grades.csv", "nbgrader_config.py",
                   ".autograder", "Makefile", "requirements.txt", "constraints.txt", "exchange")

#: Never copied from a folder of the course: caches and editor state.
_SKIPPED = ("__pycache__", ".ipynb_checkpoints", "*.pyc", ".DS_Store")

GITIGNORE = """\
# written by `python -m autograder publish` (the student edition of the ResNet Course)
.ipynb_checkpoints/
__pycache__/
*.egg-info/
.venv/
# the data set is generated on first use (datasets/README.md)
datasets/*
!datasets/README.md
# models saved by the notebooks
*.keras
"""

#: Backticked paths in the notebooks that are not files of the edition, and may stay:
#: path -> (words its paragraph must contain, so that the text says what it refers to; why).
EXTERNAL_REFERENCES = {
    "keras/src/applications/resnet.py": ("The Keras implementation",
                                         "a file of the Keras repository, cited in the references"),
    "examples/cifar10_resnet.py": ("Keras 2 repository", "the Keras example, cited as the source of a table"),
    "cifar10_resnet.py": ("Keras example", "the Keras example that the assignment follows, named, not opened"),
    "keras/src/callbacks/learning_rate_scheduler.py": ("the Keras source",
                                                       "a file of the Keras repository, cited as a source"),
}


class PublishError(Exception):
    """Publishing is refused or failed; the message says what is wrong and what to do."""


@dataclass
class Published:
    """What :func:`publish` did."""

    out: Path
    files: list[str]                                   # every file of the edition (manifest aside)
    changed: list[str] = field(default_factory=list)   # written this time (new or different)
    removed: list[str] = field(default_factory=list)   # of the earlier edition, gone from the course
    commit: str | None = None                          # with --git: the new commit (None: nothing changed)
    warnings: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------- checks


def check_assignments(assignments) -> list[str]:
    """The assignments to publish (default: all of the course's), or PublishError for unknown ones."""
    chosen = list(assignments or ASSIGNMENTS)
    unknown = [a for a in chosen if a not in ASSIGNMENTS]
    if unknown:
        raise PublishError(f"unknown assignment {', '.join(unknown)}: the course has {', '.join(ASSIGNMENTS)}")
    return list(dict.fromkeys(chosen))


def check_out(out, course_root: Path = ROOT) -> Path:
    """OUT, resolved: refused inside the course, or when it holds files and is no edition."""
    out, course = Path(out).resolve(), Path(course_root).resolve()
    if out == course or out.is_relative_to(course):
        raise PublishError(f"{out} is inside the course repository {course}: everything in it would be "
                           "served with the course. Publish into a folder outside it, e.g. ../resnet-course-student")
    if out.exists() and not out.is_dir():
        raise PublishError(f"{out} exists and is not a folder: name a new or empty folder, or an earlier edition")
    if out.is_dir() and not (out / MANIFEST).exists() and any(p.name != ".git" for p in out.iterdir()):
        raise PublishError(f"{out} is not empty and is not an earlier student edition (it has no {MANIFEST}): "
                           "name a new or empty folder (an empty git clone is fine), or an earlier edition")
    return out


def release_problem(assignment: str, course_root: Path = ROOT) -> str | None:
    """Why ``release/<assignment>`` cannot be published (missing, stale or with solutions), or None.

    Stale is the course's quick check: the release has the source's cells (same ids), and
    every cell without a solution or hidden tests has the source's text.
    """
    rel, src = release_nb(assignment, course_root), source_nb(assignment, course_root)
    fix = f"run `python -m autograder release {assignment}` and commit the release"
    if not src.exists():
        return f"{src.relative_to(course_root)} is missing: the release cannot be checked against its source"
    if not rel.exists():
        return f"{rel.relative_to(course_root)} is missing: {fix}"
    text = rel.read_text(encoding="utf-8")
    if "BEGIN SOLUTION" in text or "BEGIN HIDDEN TESTS" in text:
        return f"{rel.relative_to(course_root)} contains solutions or hidden tests: {fix}"
    released, source = nbformat.reads(text, as_version=4), nbformat.read(src, as_version=4)
    if [c.get("id") for c in released.cells] != [c.get("id") for c in source.cells]:
        return f"{rel.relative_to(course_root)} is stale (its cells differ from the source's): {fix}"
    for s, r in zip(source.cells, released.cells):
        if not (nbgrader_meta(s).get("solution") or "BEGIN HIDDEN TESTS" in s.source) and s.source != r.source:
            return f"{rel.relative_to(course_root)} is stale at cell {s.get('id')}: {fix}"
    return None


# ----------------------------------------------------------------------------- what goes in


def _skipped(path: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.parts for pattern in _SKIPPED)


def files_under(folder: Path) -> list[Path]:
    """Every file under ``folder`` (recursively), caches and checkpoints left out."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and not _skipped(p.relative_to(folder)))


def _required(path: Path, what: str) -> Path:
    if not path.exists():
        raise PublishError(f"{path} is missing: the student edition needs {what}")
    return path


def _course_pyproject(course_root: Path) -> dict:
    return tomllib.loads(_required(course_root / "pyproject.toml", "the course's pyproject.toml").read_text())


def package_files(course_root: Path = ROOT) -> list[Path]:
    """The files of the student packages as pip installs them: their modules (``*.py``) and the
    package data that the course's pyproject declares; the reference data are not among them
    (:func:`reference_data` writes them, filtered)."""
    package_data = _course_pyproject(course_root).get("tool", {}).get("setuptools", {}).get("package-data", {})
    out = set()
    for package in STUDENT_PACKAGES:
        folder = _required(course_root / package, f"the package {package}")
        out |= {p for p in files_under(folder) if p.suffix == ".py"}
        for pattern in package_data.get(package, []):
            out |= {p for p in folder.glob(pattern) if p.is_file() and not _skipped(p.relative_to(folder))}
    reference = course_root / REFERENCE_DIR
    return sorted(p for p in out if p.parent != reference)


def edition_sources(course_root: Path, assignments: list[str]) -> list[Path]:
    """The course's files that the edition copies as they are."""
    root = Path(course_root)
    files = [p for a in assignments for p in files_under(release_nb(a, root).parent)]
    files += sorted((root / "notebooks").glob("*.ipynb"))
    files += package_files(root)
    files += files_under(_required(root / "binder", "binder/ (the Binder environment)"))
    files += [_required(root / "datasets" / "README.md", "datasets/README.md"),
              _required(root / "LICENSE", "the licence (LICENSE)")]
    return files


def plan(course_root: Path = ROOT, assignments=None, repo: str | None = None,
         ref: str = DEFAULT_REF) -> dict[str, Path | str]:
    """The edition: ``{path in the edition: the course file to copy, or the text to write}``."""
    root, assignments = Path(course_root), check_assignments(assignments)
    files: dict[str, Path | str] = {p.relative_to(root).as_posix(): p for p in edition_sources(root, assignments)}
    files.update(reference_data(root, assignments))
    files["pyproject.toml"] = student_pyproject((root / "pyproject.toml").read_text())
    files["README.md"] = student_readme(root, assignments, repo, ref)
    files[".gitignore"] = GITIGNORE
    forbidden = [f for f in files if f.split("/")[0] in INSTRUCTOR_ONLY]
    if forbidden:
        raise PublishError(f"instructors' files would go into the edition: {forbidden}")
    return dict(sorted(files.items()))


# ----------------------------------------------------------------------------- reference data


def _aliases(tree: ast.AST) -> dict[str, str]:
    """``{name in the cell: module}`` of the cell's imports (``import a.b as c``, ``from a import b``)."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update({a.asname or a.name.split(".")[0]: a.name if a.asname else a.name.split(".")[0]
                        for a in node.names})
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
    return out


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` of a name or attribute chain; ``reload(a).b`` reads as ``a.b``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return base and f"{base}.{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "reload" \
            and len(node.args) == 1:
        return _dotted(node.args[0])
    return None


def _check_function(call: ast.Call, aliases: dict[str, str]) -> str | None:
    """``module.check_NAME`` that ``call`` calls (None: no check function); PublishError when
    it calls a ``check_`` function that the cell's imports do not name."""
    name = _dotted(call.func)
    called = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
    if not called.startswith("check_"):
        return None
    head, _, rest = (name or "").partition(".")
    if head not in aliases:
        raise PublishError(f"cannot tell which module's {called} this test cell calls: {ast.unparse(call)}")
    return aliases[head] + (f".{rest}" if rest else "")


def _plain(value):
    """Arguments as the checks store them: tuples as lists."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def case_keys(code: str) -> list[str]:
    """The reference cases that the check calls of a test cell's ``code`` look up, in order.

    The rule is the graders' own: ``check_NAME(student_function, ...)`` (a check of
    :mod:`resnet_utils.grading` or :mod:`resnet_utils.grading_cifar`, however the cell imports
    it) looks up the case ``NAME|{its other arguments, defaults included, tuples as lists, as
    JSON with sorted keys}``; the defaults are read from the check function itself. Checks that
    store no reference data (``check_depth_error``) give keys that no reference file holds.
    Arguments must be literals; anything else raises PublishError (the cases could not be told,
    so filtering would not be sound).
    """
    tree = ast.parse(code)
    aliases = _aliases(tree)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    return [_case_key(check, call) for call in calls if (check := _check_function(call, aliases))]


def _case_key(check_path: str, call: ast.Call) -> str:
    from resnet_utils.grading import case_key   # the graders' own key format

    module, name = check_path.rsplit(".", 1)
    try:
        check = getattr(importlib.import_module(module), name)
        args = [None] + [ast.literal_eval(a) for a in call.args[1:]]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        bound = inspect.signature(check).bind(*args, **kwargs)
    except (ImportError, AttributeError, ValueError, TypeError) as err:
        raise PublishError(f"cannot tell the reference case of {ast.unparse(call)}: {err}") from None
    bound.apply_defaults()
    params = {k: _plain(v) for k, v in list(bound.arguments.items())[1:]}
    return case_key(name.removeprefix("check_"), params)


def _test_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")]


def visible_cases(notebook) -> set[str]:
    """The reference cases that the test cells of ``notebook`` (a release notebook: its visible
    tests) look up."""
    nb = nbformat.read(str(notebook), as_version=4)
    return {k for cell in _test_cells(nb) for k in case_keys(cell.source)}


_REGION = re.compile(r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[^\n]*\n(.*?)^[ \t]*### END \1[^\n]*$", re.S | re.M)


def hidden_cases(source_notebook) -> set[str]:
    """The reference cases that only the hidden tests of a source notebook look up."""
    nb = nbformat.read(str(source_notebook), as_version=4)
    every = {k for cell in _test_cells(nb) for k in case_keys(cell.source)}
    visible = {k for cell in _test_cells(nb) for k in case_keys(_REGION.sub("", cell.source))}
    return every - visible


def filtered_reference(assignment: str, course_root: Path = ROOT) -> str:
    """``resnet_utils/reference/<assignment>.json`` with only the cases that the release
    notebook's (visible) test cells look up, written as the graders write it."""
    data = json.loads(_required(Path(course_root) / REFERENCE_DIR / f"{assignment}.json",
                                f"the reference data of {assignment}").read_text(encoding="utf-8"))
    visible = visible_cases(release_nb(assignment, course_root))
    return json.dumps({k: v for k, v in data.items() if k in visible}, indent=1, sort_keys=True) + "\n"


def reference_data(course_root: Path, assignments: list[str]) -> dict[str, str]:
    """The edition's reference files: those of the published assignments, filtered."""
    return {f"{REFERENCE_DIR}/{a}.json": filtered_reference(a, course_root) for a in assignments}


# ----------------------------------------------------------------------------- generated files


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    items = [_toml_value(v) for v in value]
    return "[" + ", ".join(items) + "]" if len(items) < 3 else "[\n" + "".join(f"    {i},\n" for i in items) + "]"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_text(data: dict, prefix: str = "") -> str:
    """A TOML document of nested tables whose values are strings, numbers, booleans or lists."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    text = "\n".join(([f"[{prefix}]"] if prefix else []) + lines) + "\n\n" if lines else ""
    for key, table in ((k, v) for k, v in data.items() if isinstance(v, dict)):
        text += toml_text(table, f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key))
    return text


def _is_student_package(name: str) -> bool:
    """``resnet_utils``, ``resnet_utils.sub`` or the pattern ``resnet_utils*``."""
    return name.split(".")[0].rstrip("*") in STUDENT_PACKAGES


def student_pyproject(course_pyproject: str) -> str:
    """The edition's ``pyproject.toml``: the course's build system and ``[project]`` (name,
    version, dependencies: one source of truth), packaging only :data:`STUDENT_PACKAGES` and
    their package data; no test settings."""
    course = tomllib.loads(course_pyproject)
    setuptools = course.get("tool", {}).get("setuptools", {})
    include = setuptools.get("packages", {}).get("find", {}).get("include", [])
    package_data = setuptools.get("package-data", {})
    tool = {"setuptools": {"packages": {"find": {"include": [p for p in include if _is_student_package(p)]}},
                           "package-data": {k: v for k, v in package_data.items() if _is_student_package(k)}}}
    student = {"build-system": course["build-system"], "project": course["project"], "tool": tool}
    text = ("# The student edition's package: resnet_utils only. Written by `python -m autograder publish`\n"
            "# from the course's pyproject.toml (change that one, then publish again).\n\n" + toml_text(student))
    if tomllib.loads(text) != student:
        raise PublishError("the edition's pyproject.toml does not read back as the course's settings")
    return text.rstrip("\n") + "\n"


def _title(notebook: Path) -> str:
    """The first Markdown heading of a notebook (its file name when it has none)."""
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        for line in cell.source.splitlines() if cell.cell_type == "markdown" else []:
            if line.startswith("#"):
                return line.lstrip("#").strip()
    return notebook.name


def _assignments_list(course_root: Path, assignments: list[str]) -> str:
    return "\n".join(f"- **{_title(release_nb(a, course_root))}**: `{release_path(a)}`" for a in assignments)


def _binder_section(course_root: Path, assignments: list[str], repo: str | None, ref: str) -> str:
    if repo is None:
        return ("Your instructor gives you the link (or badge) that opens this repository on mybinder.org: "
                "it builds the environment of `binder/` and opens the assignment in JupyterLab.")
    lines = [f"- {_title(release_nb(a, course_root))}: {badge_markdown(binder_url(repo, ref, release_path(a)))}"
             for a in assignments]
    return ("Click a badge: mybinder.org builds the environment of `binder/` and opens the assignment in "
            "JupyterLab.\n\n" + "\n".join(lines))


def _setup_commands(course_root: Path) -> str:
    """The ``python -m ...`` steps of ``binder/postBuild`` (the kernel, JupyterLab's settings), which
    a student's own installation needs too."""
    post = course_root / "binder" / "postBuild"
    steps = [ln.strip() for ln in post.read_text().splitlines()] if post.exists() else []
    return "\n".join([s for s in steps if s.startswith("python -m ")] or ["python -m resnet_utils.kernelspec"])


def _walkthroughs(course_root: Path) -> str:
    """The walkthroughs with their titles, and the course README's table of measured run times."""
    notebooks = sorted((course_root / "notebooks").glob("*.ipynb"))
    text = "\n".join(f"- `notebooks/{p.name}`: {_title(p)}" for p in notebooks)
    readme = course_root / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines() if readme.exists() else []
    start = next((i for i, ln in enumerate(lines) if ln.startswith("| notebook |")), None)
    if start is not None:
        end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
        table = lines[start:end]
        text += ("\n\nMeasured full runs (wall time, peak memory; on a 2-core machine shared with other "
                 "jobs, so an idle machine is faster):\n\n" + "\n".join(table))
    return text


README_TEMPLATE = """\
# {course} (student edition)

A course on **residual networks** with TensorFlow/Keras 3: why very deep *plain* networks are
hard to train (vanishing gradients, the degradation problem) and how skip connections fix it.
You implement the networks yourself; each exercise is followed by tests that tell you what
differs from the reference and why it might. The assignments:

{assignments}

## Open it on mybinder.org

{binder}

A Binder session is temporary and has about 2 GB of memory: download your notebook
(*File > Download*) before you leave. The training cell reads the session's memory limit and,
where the default recipe does not fit, trains with a smaller batch: a `memory:` line under the
settings says what it chose and why.

## Or run it on your computer (Python 3.11)

```bash
python3.11 -m venv .venv
source .venv/bin/activate            # Windows: .venv\\Scripts\\activate
pip install -r binder/requirements.txt
pip install -e .                     # the course's package, resnet_utils
# the notebooks' kernel and the course's JupyterLab settings (what binder/postBuild runs):
{setup}
jupyter lab
```

(`binder/requirements.txt` installs `tensorflow-cpu`, built for x86-64; on other machines,
e.g. a Mac with Apple silicon, install `tensorflow` of the same version instead.)

## Working on an assignment

- Open the assignment's notebook in JupyterLab (the paths above) and **run the cells in
  order**, from the top: later cells use what earlier ones define.
- Write your code where it says `# YOUR CODE HERE` (and delete the `raise NotImplementedError()`).
  Each exercise is followed by a test cell: run it, read its message, fix, repeat. Do not edit
  or delete the test cells; more (hidden) tests of the same functions are run when your
  notebook is graded.
- The **Validate** button in the notebook's toolbar runs the whole notebook as the autograder
  will (in its fast mode: the training runs on a few images) and lists the tests that fail.
  Set `RESNET_FAST=1` before starting Jupyter to run every cell in that fast mode yourself
  (`RESNET_FAST=1 jupyter lab`); its numbers are then meaningless.
- **Handing in**: if your course runs on a JupyterHub with nbgrader, fetch the assignment and
  submit it in the **Assignments** panel (*Nbgrader > Assignment List*); you may submit again
  until the deadline. Otherwise hand in the `.ipynb` file as your instructor says.

## Walkthrough notebooks (ungraded)

The notebooks in `notebooks/` let you measure the problems that ResNet solves on your own
CPU; every figure is computed by the notebook.

{walkthroughs}

## The data

The hand-sign images are drawn by `resnet_utils` the first time a notebook needs them (a few
seconds) and cached in `datasets/`; nothing is downloaded, except CIFAR-10 in the second
assignment (with an offline fallback). `datasets/README.md` has the details.

## Licence

The code is under the MIT licence, the notebooks' teaching text under CC BY 4.0: see `LICENSE`.
"""


def student_readme(course_root: Path, assignments: list[str], repo: str | None = None,
                   ref: str = DEFAULT_REF) -> str:
    """The edition's README.md (:data:`README_TEMPLATE`), with the Binder badges when ``repo``
    (the edition's GitHub repository, OWNER/NAME) is known."""
    root = Path(course_root)
    return README_TEMPLATE.format(course="ResNet Course", assignments=_assignments_list(root, assignments),
                                  binder=_binder_section(root, assignments, repo, ref),
                                  setup=_setup_commands(root),
                                  walkthroughs=_walkthroughs(root))


# ----------------------------------------------------------------------------- leak scan


def secret_lines(source_notebooks) -> dict[str, str]:
    """``{line: where it comes from}``: the lines of the source notebooks that students must not
    see, stripped of indentation.

    They are the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` and between
    ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` (a solution cell without the markers:
    all of it). Left out, because they cannot tell a leak from ordinary code: lines under 12
    characters (blank, ``pass``, ``)``, ``return X``, ...) and lines that the notebooks show
    outside those regions anyway (``reload(grading)``, a specification in the text).
    """
    secret, public = {}, []
    for path in source_notebooks:
        for cell in nbformat.read(str(path), as_version=4).cells:
            regions = [m.group(2) for m in _REGION.finditer(cell.source)]
            whole = not regions and bool(nbgrader_meta(cell).get("solution"))
            for line in (ln.strip() for region in ([cell.source] if whole else regions) for ln in region.splitlines()):
                if len(line) >= 12:
                    secret.setdefault(line, f"{Path(path).name}, cell {cell.get('id')}")
            if not whole:
                public.append(_REGION.sub("", cell.source))
    shown = "\n".join(public)
    return {line: where for line, where in secret.items() if line not in shown}


def _notebook_texts(name: str, data: bytes):
    """``(where, text)`` of every cell's source and outputs of a notebook."""
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    for i, cell in enumerate(nb.cells):
        yield f"{name}, cell {cell.get('id', i)}", cell.source
        for out in cell.get("outputs", []):
            parts = [out.get("text", ""), out.get("evalue", ""), "\n".join(out.get("traceback", []))]
            parts += [v if isinstance(v, str) else json.dumps(v) for v in out.get("data", {}).values()]
            yield f"{name}, cell {cell.get('id', i)} (output)", "\n".join(p if isinstance(p, str) else "".join(p)
                                                                           for p in parts)


def _members(name: str, data: bytes):
    """``(member name, bytes)`` of a zip (``.zip``, ``.keras``, ...) or tar archive, or None."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [(f"{name}!{m}", zf.read(m)) for m in zf.namelist() if not m.endswith("/")]
    if re.search(r"\.(tar|tar\.gz|tgz|tar\.bz2|tar\.xz)$", name):
        with tarfile.open(fileobj=io.BytesIO(data)) as tf:
            return [(f"{name}!{m.name}", tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]
    return None


def _texts(name: str, data: bytes):
    """``(where, text)`` of a file: a notebook cell by cell, an archive member by member, any
    other file as text."""
    members = _members(name, data)
    if members is not None:
        for member, content in members:
            yield from _texts(member, content)
        return
    if name.endswith(".ipynb"):
        try:
            yield from _notebook_texts(name, data)
            return
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # not a readable notebook: scanned as text below
    text = data.decode("utf-8", errors="replace")
    value = _json(text)
    yield name, text if value is None else "\n".join(_json_strings(value))  # JSON: without its escapes


def _json(text: str):
    """The JSON value of ``text``; None when it is no JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return None


def _json_strings(value) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_json_strings(v)]]
    return [s for v in value for s in _json_strings(v)] if isinstance(value, list) else []



def leaks(edition_root, source_notebooks) -> list[str]:
    """Every solution or hidden-test line (:func:`secret_lines`) and every reference case of a
    hidden test (:func:`hidden_cases`, the key its data are stored under) found in any file under
    ``edition_root`` (``.git`` aside; notebooks cell by cell with their outputs, archives member by
    member, JSON by its strings, anything else as text); one message per find."""
    root, sources = Path(edition_root), list(source_notebooks)
    secrets = {line: f"solution or hidden-test line ({origin})" for line, origin in secret_lines(sources).items()}
    secrets.update({key: "reference data of a hidden test case" for p in sources for key in hidden_cases(p)})
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts):
        for where, text in _texts(path.relative_to(root).as_posix(), path.read_bytes()):
            found += [f"{where}: {what}: {secret!r}" for secret, what in secrets.items() if secret in text]
    return found


# ----------------------------------------------------------------------------- references in notebooks

_BACKTICKED = re.compile(r"`([^`\s]+)`")


def referenced_paths(notebook) -> list[tuple[str, str]]:
    """``(path, paragraph)`` for every backticked path in the notebook's Markdown: text without
    spaces that contains ``/`` or ends in ``.py``, ``.ipynb``, ``.json`` or ``.md`` (URLs aside);
    the paragraph it is in, on one line, says what it refers to."""
    out = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        for paragraph in re.split(r"\n[ \t]*\n", cell.source) if cell.cell_type == "markdown" else []:
            text = " ".join(paragraph.split())
            out += [(m, text) for m in _BACKTICKED.findall(text)
                    if "://" not in m and ("/" in m or m.endswith((".py", ".ipynb", ".json", ".md")))]
    return out


def missing_references(edition_root) -> list[str]:
    """The files and folders that a notebook of the edition tells students to open and that the
    edition does not have. Paths are read from the edition's root (where JupyterLab's file browser
    starts); :data:`EXTERNAL_REFERENCES` may stay when their paragraph says what they refer to."""
    root, missing = Path(edition_root), []
    for notebook in sorted(root.glob("release/*/*.ipynb")) + sorted(root.glob("notebooks/*.ipynb")):
        for path, paragraph in referenced_paths(notebook):
            words = EXTERNAL_REFERENCES.get(path, (None,))[0]
            if (words is None or words not in paragraph) and not (root / path.rstrip("/")).exists():
                missing.append(f"{notebook.relative_to(root)} refers to `{path}`, which the edition does not have")
    return missing


# ----------------------------------------------------------------------------- writing


def _read_manifest(out: Path) -> list[str]:
    """The files an earlier edition in ``out`` wrote ([] when there is none)."""
    if not (out / MANIFEST).exists():
        return []
    try:
        files = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError, TypeError):
        raise PublishError(f"{out / MANIFEST} is damaged: restore it (e.g. from the edition's git history) "
                           "or publish into a new folder") from None
    return [f for f in files if isinstance(f, str) and _safe(f)]


def _safe(rel: str) -> bool:
    """A relative path inside the edition: no absolute path, no ``..``, not into ``.git``."""
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts and parts[0] != ".git"


def write_files(files: dict[str, Path | str], dest: Path) -> None:
    """Write the planned edition into ``dest``: copies keep their mode (``binder/postBuild``)."""
    for rel, what in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(what, Path):
            shutil.copy2(what, target)
        else:
            target.write_text(what, encoding="utf-8")


def _same(a: Path, b: Path) -> bool:
    return b.is_file() and a.read_bytes() == b.read_bytes() and (a.stat().st_mode & 0o111) == (b.stat().st_mode & 0o111)


def sync(stage: Path, out: Path, files: list[str], earlier: list[str]) -> tuple[list[str], list[str]]:
    """Bring ``out`` to the staged edition: files of the earlier edition that are gone removed
    (with the folders they leave empty), new or different files copied; nothing else touched.
    Returns ``(changed, removed)``."""
    removed = [rel for rel in earlier if rel not in set(files) and (out / rel).is_file()]
    for rel in removed:
        (out / rel).unlink()
        _prune(out / rel, out)
    changed = [rel for rel in files if not _same(stage / rel, out / rel)]
    for rel in changed:
        if (out / rel).is_symlink() or (out / rel).is_dir():
            raise PublishError(f"{out / rel} is not a plain file: move it away and publish again")
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(stage / rel, out / rel)
    return changed, removed


def _prune(path: Path, top: Path) -> None:
    """Remove the empty folders above ``path`` up to (not including) ``top``."""
    folder = path.parent
    while folder != top and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _manifest(assignments: list[str], files: list[str]) -> str:
    return json.dumps({"edition": "student edition of the ResNet Course",
                       "written_by": "python -m autograder publish", "assignments": assignments,
                       "files": files}, indent=1) + "\n"


# ----------------------------------------------------------------------------- git


def _git(out: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["git", "-C", str(out), *args], capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise PublishError(f"`git {' '.join(args[:3])} ...` failed in {out}: {proc.stderr.strip()[-2000:]}")
    return proc


def _identity(out: Path) -> list[str]:
    """``-c user.name=... -c user.email=...`` for what git has no identity for; [] otherwise."""
    flags = []
    for key, default in (("user.name", "ResNet Course publisher"), ("user.email", "resnet-course@localhost")):
        if _git(out, "config", key, check=False).returncode != 0:
            flags += ["-c", f"{key}={default}"]
    return flags


def course_commit(course_root: Path) -> str | None:
    """The course's commit (short), ``+`` uncommitted changes; None outside git."""
    head = _git(course_root, "rev-parse", "--short", "HEAD", check=False)
    if head.returncode != 0:
        return None
    dirty = _git(course_root, "status", "--porcelain", "--untracked-files=no", check=False).stdout.strip()
    return head.stdout.strip() + (" with uncommitted changes" if dirty else "")


def commit(out: Path, files: list[str], removed: list[str], message: str) -> str | None:
    """Commit the edition's files in ``out`` (a new repository, branch main, if it is none):
    the new commit's hash, or None when nothing changed since the last commit."""
    if not (out / ".git").exists():
        _git(out, "-c", "init.defaultBranch=main", "init", "-q")
    _git(out, "add", "-f", "--", *files)
    if removed:
        _git(out, "rm", "-q", "--cached", "--ignore-unmatch", "--", *removed)
    has_head = _git(out, "rev-parse", "--verify", "-q", "HEAD", check=False).returncode == 0
    if has_head and _git(out, "diff", "--cached", "--quiet", check=False).returncode == 0:
        return None
    _git(out, *_identity(out), "commit", "-q", "-m", message)
    return _git(out, "rev-parse", "HEAD").stdout.strip()


# ----------------------------------------------------------------------------- publish


def source_notebooks(course_root: Path = ROOT) -> list[Path]:
    """The source notebooks of every assignment of the course (what :func:`leaks` scans for)."""
    return [source_nb(a, course_root) for a in ASSIGNMENTS if source_nb(a, course_root).exists()]


def publish(out, course_root: Path = ROOT, assignments=None, git: bool = False,
            repo: str | None = None, ref: str = DEFAULT_REF) -> Published:
    """Write (or update) the student edition in ``out``; with ``git``, commit it there.

    Refused with PublishError: an unknown assignment, OUT inside the course, OUT not empty and
    no edition, a missing or stale release, an invalid ``repo``, and any leak found in the
    staged edition (then OUT is not touched).
    """
    course_root, assignments = Path(course_root).resolve(), check_assignments(assignments)
    out = check_out(out, course_root)
    if repo is not None:
        try:
            parse_repo(repo), binder_url(repo, ref)
        except LinkError as err:
            raise PublishError(str(err)) from None
    problems = [p for p in (release_problem(a, course_root) for a in assignments) if p]
    if problems:
        raise PublishError("; ".join(problems))
    files = plan(course_root, assignments, repo, ref)
    earlier = _read_manifest(out)
    with tempfile.TemporaryDirectory(prefix="resnet-edition-") as tmp:
        stage = Path(tmp)
        write_files(files, stage)
        found = leaks(stage, source_notebooks(course_root))
        if found:
            raise PublishError(f"the edition would leak {len(found)} solution or hidden-test items; nothing "
                               f"was written to {out}. First ones:\n  " + "\n  ".join(found[:10]))
        warnings = missing_references(stage)
        out.mkdir(parents=True, exist_ok=True)
        changed, removed = sync(stage, out, list(files), earlier)
    (out / MANIFEST).write_text(_manifest(assignments, list(files)), encoding="utf-8")
    result = Published(out, list(files), changed, removed, warnings=warnings)
    if git:
        origin = course_commit(course_root)
        message = (f"Student edition of the ResNet Course ({', '.join(assignments)})\n\n"
                   f"Written by `python -m autograder publish`"
                   + (f" from the course at {origin}." if origin else "."))
        result.commit = commit(out, [*files, MANIFEST], removed, message)
    return result


def summary_text(result: Published, git: bool = False, repo: str | None = None) -> str:
    """What ``python -m autograder publish`` prints: the files per top folder, what changed, and
    the next steps."""
    counts: dict[str, int] = {}
    for rel in result.files:
        top = rel.split("/")[0] + ("/" if "/" in rel else "")
        counts[top] = counts.get(top, 0) + 1
    lines = [f"student edition in {result.out}: {len(result.files)} files (+ {MANIFEST})"]
    lines += [f"  {top:<16} {n}" for top, n in sorted(counts.items())]
    lines.append(f"written this time: {len(result.changed)}, removed (gone from the course): {len(result.removed)}")
    lines += [f"warning: {w}" for w in result.warnings]
    if git:
        lines.append(f"committed: {result.commit}" if result.commit else "git: nothing changed, no new commit")
    name = repo or "OWNER/EDITION"
    init = "" if (result.out / ".git").exists() else " && git init -b main"
    first = "" if git else f"{init} && git add -A && git commit -m 'Student edition'"
    lines += ["next steps:",
              f"  cd {result.out}{first}",
              f"  git remote add origin git@github.com:{name}.git   # once; a repository of its own, not the course's",
              "  git push -u origin main",
              f"  python -m autograder links --repo {name}   # from the course: the Binder badge and URL for students"]
    return "\n".join(lines)
