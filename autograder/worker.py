"""The worker process: grade one student's submission with nbgrader, in a private course directory.

Started by :class:`autograder.pool.WorkerPool` as ``python -m autograder.worker --serve``:
it reads the path of a :class:`~autograder.records.WorkerSpec` (JSON) per line on stdin
and grades those students one after the other (``python -m autograder.worker SPEC.json``
grades one).  For each student the worker:

1. builds a private course root in its work directory (:func:`private_course`): a copy of
   the gradebook holding only the assignment's definition (no other student, no grades), the
   assignment's non-notebook source files, and this student's submission (symlinks and
   special files dropped) -- no other student's work, no ``source/`` notebook, no ``release/``;
2. looks at the submission (:func:`autograder.scan.inspect_submission`: missing/renamed/
   unreadable notebooks, deleted, duplicated or edited cells, static scan of the student's code);
3. prepares the sandbox (:func:`enter_sandbox`, :mod:`autograder.sandbox`; a serving worker's
   kernels are forked from its kernel zygote, :mod:`autograder.sandbox.zygote`) and runs nbgrader's
   own ``Autograde`` converter (:func:`autograde`), with the course's ``nbgrader_config.py``
   and nbgrader's ``Execute`` replaced by :class:`autograder.sandbox.SandboxedExecute`
   (:func:`configure_autograde`);
4. collects what happened (:func:`collect`) and writes ``result.json`` (a
   :class:`~autograder.records.StudentResult`): status, problems (each a
   :class:`~autograder.records.Problem` with its mistake code), the scores nbgrader saved in
   the private gradebook (the grader re-saves them into the real one from the autograded
   notebook).

``python -m autograder.worker --feedback ROOT ASSIGNMENT OUT.json STUDENT...`` runs
nbgrader's generate_feedback for a few students instead (:func:`feedback_main`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import sys
import time
import traceback
from typing import TYPE_CHECKING

from .config import cfg_get, course_config, load_config, quiet_nbgrader, venv_on_path
from .files import write_json
from .records import Problem, StudentResult, WorkerSpec

if TYPE_CHECKING:
    from .sandbox.zygote import Zygote


def copy_submission(src: str, dst: str, max_bytes: int) -> list[Problem]:
    """Copy a submission directory: plain files and directories only, at most ``max_bytes``."""
    problems: list[Problem] = []
    total = 0
    count = 0
    os.makedirs(dst, exist_ok=True)
    if os.path.islink(src) or not os.path.isdir(src):
        return [Problem("grader.other", "the submission folder is a symlink or not a folder: nothing copied")]
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel = os.path.relpath(dirpath, src)
        target_dir = os.path.join(dst, rel) if rel != "." else dst
        keep = []
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if os.path.islink(p):
                problems.append(Problem("grader.other", f"symlink removed from the submission: {os.path.join(rel, d)}"))
            else:
                keep.append(d)
                os.makedirs(os.path.join(target_dir, d), exist_ok=True)
        dirnames[:] = keep
        for f in filenames:
            p = os.path.join(dirpath, f)
            name = os.path.normpath(os.path.join(rel, f))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                problems.append(Problem("grader.other", f"symlink removed from the submission: {name}"))
                continue
            if not stat.S_ISREG(st.st_mode):
                problems.append(Problem("grader.other", f"special file removed from the submission: {name}"))
                continue
            total += st.st_size
            count += 1
            if count > 10000:
                problems.append(Problem("grader.other", "more than 10000 files in the submission: the rest not copied"))
                return problems
            if total > max_bytes:
                problems.append(Problem("grader.other", f"submission larger than {max_bytes >> 20} MB: "
                                                        f"{name} and later files not copied"))
                return problems
            shutil.copyfile(p, os.path.join(target_dir, f))
            shutil.copystat(p, os.path.join(target_dir, f))
    return problems


def sandboxed_preprocessors(pps: list) -> list:
    """Autograde.autograde_preprocessors with nbgrader's Execute replaced by
    :class:`autograder.sandbox.SandboxedExecute` (RuntimeError when there is none)."""
    from .plugins.nbfixes import swap_preprocessor
    from .sandbox import SandboxedExecute

    out = swap_preprocessor(pps, ("nbgrader.preprocessors.Execute", "nbgrader.preprocessors.execute.Execute",
                                  "autograder.sandbox.SandboxedExecute"), SandboxedExecute)
    if SandboxedExecute not in out:
        raise RuntimeError("Autograde.autograde_preprocessors has no Execute preprocessor to sandbox")
    return out


#: what nbgrader's Autograde adds to the environment its kernels inherit
NBGRADER_KERNEL_ENV = {"NBGRADER_EXECUTION": "autograde"}


def run(spec: WorkerSpec, zygote: Zygote | None = None) -> StudentResult:
    """Grade the student of ``spec`` (the steps of the module docstring); the kernel is forked
    from ``zygote`` (a serving worker's, :mod:`autograder.sandbox.zygote`) when it has one."""
    t0 = time.time()
    from . import sandbox, scan

    a, s = spec.assignment, spec.student
    work = os.path.realpath(spec.workdir)
    result = StudentResult(student=s, assignment=a)
    cfg = load_config(spec.config_file)

    # 1. the private course root
    cd, problems = private_course(spec, cfg, os.path.join(work, "course"))
    result.problems += problems
    timings = {"setup": round(time.time() - t0, 2)}

    # 2. look at it
    layout = scan.gradebook_layout(cd.db_url, a)
    add_missing = bool(cfg_get(cfg, "OverwriteCells", "add_missing_cells", False))
    info = scan.inspect_submission(cd.format_path(cd.submitted_directory, s, a), layout,
                                   add_missing_cells=add_missing)
    result.problems += info["problems"]
    result.flags = info["flags"]
    result.notebooks = info["notebooks"]

    # 3. sandbox + nbgrader autograde
    kernel_cwd = cd.format_path(cd.autograded_directory, s, a)
    zygote = zygote if spec.sandbox and spec.kernel_preload else None
    env = enter_sandbox(spec, cfg, work, kernel_cwd, zygote)
    result.cell_timeout = configure_autograde(cfg, spec)
    app = autograde_app(cfg, cd.root, a, s)
    sandbox.use_mpl_cache(spec.mpl_cache, env)  # a prebuilt matplotlib font cache (not rebuilt per kernel)
    if zygote:
        why = zygote.ensure(dict(env, **NBGRADER_KERNEL_ENV), spec.kernel_preload)
        if why:
            logging.warning(why)
    timings["inspect"] = round(time.time() - t0, 2)
    out = autograde(app, info["fatal"])
    timings["autograde"] = round(time.time() - t0, 2)
    result.timings = timings
    result.log = (out.get("log") or "")[-20000:]
    if not out.get("success"):
        result.error = autograde_error(out.get("error") or "", info["fatal"])

    # 4. what happened
    collect(result, work, kernel_cwd, layout)
    if out.get("success") and result.autograded:
        result.status = "graded"
        result.scores = saved_scores(cd.db_url, layout, a, s)
    result.elapsed = round(time.time() - t0, 2)
    return result


# ------------------------------------------------------------ 1. the private course root
def private_course(spec: WorkerSpec, cfg, root: str):
    """Build the student's private course root at ``root`` (the worker's ``course/``): the
    gradebook template, the assignment's non-notebook source files and the submission
    (:func:`copy_submission`).  ``cfg`` (the course's configuration) now points at it.
    Returns ``(its CourseDirectory, the problems of the copy)``."""
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import find_all_files

    a, s = spec.assignment, spec.student
    os.makedirs(root, exist_ok=True)
    main_cd = CourseDirectory(config=cfg)
    main_cd.root = spec.course_root
    cfg.CourseDirectory.root = root
    cfg.CourseDirectory.db_url = "sqlite:///" + os.path.join(root, "gradebook.db")
    cd = CourseDirectory(config=cfg)
    cd.root = root

    shutil.copyfile(spec.gradebook_template, os.path.join(root, "gradebook.db"))
    src_main = main_cd.format_path(main_cd.source_directory, ".", a)
    src_priv = cd.format_path(cd.source_directory, ".", a)
    os.makedirs(src_priv, exist_ok=True)
    if os.path.isdir(src_main):
        for f in find_all_files(src_main, list(main_cd.ignore) + ["*.ipynb"]):
            dst = os.path.join(src_priv, os.path.relpath(f, src_main))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(f, dst)
    sub_main = main_cd.format_path(main_cd.submitted_directory, s, a)
    sub_priv = cd.format_path(cd.submitted_directory, s, a)
    return cd, copy_submission(sub_main, sub_priv, spec.max_submission_bytes)


# ------------------------------------------------------- 3. sandbox + nbgrader autograde
def enter_sandbox(spec: WorkerSpec, cfg, work: str, kernel_cwd: str, zygote: Zygote | None = None) -> dict[str, str]:
    """Prepare the sandbox of the student's kernel (:func:`autograder.sandbox.prepare`) and
    make this process's environment, temporary directory and working directory the student's
    (nothing of the previous student is left); the kernel's environment."""
    import tempfile

    from . import sandbox

    env = sandbox.prepare(
        work, kernel_cwd,
        memory_cap_bytes=spec.memory_cap,
        threads=spec.threads,
        read_packages=tuple(spec.read_packages),
        extra_read_dirs=tuple(spec.extra_read_dirs),
        course_root=spec.course_root,
        landlock=spec.landlock,
        enabled=spec.sandbox,
        extra_env=spec.kernel_env,
        zygote=zygote,
    )
    sandbox.add_kernel_name(work, cfg_get(cfg, "Execute", "kernel_name", None)
                            or cfg_get(cfg, "SandboxedExecute", "kernel_name", None))
    os.environ.clear()
    os.environ.update(env)
    tempfile.tempdir = None  # tempfile caches TMPDIR: this student's, not the previous one's
    os.chdir(work)
    return env


def configure_autograde(cfg, spec: WorkerSpec) -> int:
    """Configure nbgrader's Autograde for the sandbox: SandboxedExecute for Execute, the
    fixed DeduplicateIds, the spec's timeout and output limits; the cell timeout (seconds)."""
    from nbgrader.converters import Autograde

    from .plugins.nbfixes import fix_sanitize_preprocessors

    pps = cfg_get(cfg, "Autograde", "autograde_preprocessors", None)
    cfg.Autograde.autograde_preprocessors = sandboxed_preprocessors(
        list(pps or Autograde.class_traits()["autograde_preprocessors"].default()))
    spps = cfg_get(cfg, "Autograde", "sanitize_preprocessors", None)
    cfg.Autograde.sanitize_preprocessors = fix_sanitize_preprocessors(
        list(spps or Autograde.class_traits()["sanitize_preprocessors"].default()))
    extra = cfg_get(cfg, "Execute", "extra_arguments", None)
    if extra:  # the sandbox's IPython startup file already installs the guard
        cfg.Execute.extra_arguments = [x for x in extra if "kernel_startup.py" not in str(x)]
    if spec.timeout:
        cfg.Execute.timeout = int(spec.timeout)
    for key in ("max_output_bytes", "max_total_output_bytes"):
        if getattr(spec, key):
            setattr(cfg.SandboxedExecute, key, int(getattr(spec, key)))
    return cfg_get(cfg, "Execute", "timeout", 30)


def autograde_app(cfg, root: str, assignment: str, student: str):
    """nbgrader's Autograde converter for this student of the private course at ``root``."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    cd = CourseDirectory(config=cfg)
    cd.root = root
    cd.assignment_id = assignment
    cd.student_id = student
    app = Autograde(coursedir=cd, config=cfg)
    app.force = True
    app.create_student = True
    return app


def autograde(app, fatal: str | None) -> dict:
    """Run nbgrader's Autograde (:func:`nbgrader.utils.capture_log`: ``{"success", "error",
    "log"}``), unless the inspection found a notebook nbgrader would stop on too (``fatal``):
    then no kernel is started for nothing."""
    from nbgrader.utils import capture_log

    if fatal in ("unreadable notebook", "notebook too large"):
        return {"success": False, "error": fatal}
    return capture_log(app)


def autograde_error(error: str, fatal: str | None) -> str:
    """Why nbgrader could not autograde the submission: what the inspection found (``fatal``),
    else the last line of nbgrader's error."""
    if fatal:
        return fatal
    last = [ln for ln in error.strip().splitlines() if ln.strip()]
    return last[-1][:300] if last else "nbgrader autograde failed"


# ---------------------------------------------------------------------- 4. what happened
def collect(result: StudentResult, work: str, kernel_cwd: str, layout: dict) -> None:
    """Add what the autograding left to ``result``: the sandbox's refusals and messages, the
    runtime problems and the mistakes (test failures, penalties) of each autograded notebook
    in ``kernel_cwd``, the events of SandboxedExecute; then de-duplicate the problems."""
    from . import sandbox

    denials, sb_info = sandbox.read_denials(work)
    result.denials = denials[:50]
    result.sandbox = sb_info
    autograded, runtime_problems, found, note = read_autograded(kernel_cwd, layout, result.cell_timeout)
    result.mistakes += found
    result.log += note
    result.problems += tampering_problems(denials, runtime_problems)
    result.problems += runtime_problems
    result.autograded = sorted(autograded)
    result.events = sandbox.EVENTS[:100]
    result.problems += [Problem("grader.regraded", sandbox.REGRADED.format(e["detail"]))
                        for e in result.events if e.get("event") == "regraded"]
    result.problems = distinct_problems(result.problems)


def read_autograded(kernel_cwd: str, layout: dict, cell_timeout: int | None):
    """The autograded notebooks in ``kernel_cwd``: ``({notebook: path}, runtime problems
    (:func:`autograder.scan.inspect_autograded`), mistakes (test failures then penalties,
    :mod:`autograder.mistakes`), a note for the log when a notebook cannot be read)``."""
    import nbformat

    from . import mistakes, scan

    autograded: dict[str, str] = {}
    problems: list[Problem] = []
    found: list[dict] = []
    note = ""
    if not os.path.isdir(kernel_cwd):
        return autograded, problems, found, note
    for nb_name in layout:
        p = os.path.join(kernel_cwd, nb_name + ".ipynb")
        if not os.path.exists(p):
            continue
        autograded[nb_name] = p
        problems += scan.inspect_autograded(p, layout[nb_name], cell_timeout)
        try:
            nb = nbformat.read(p, as_version=4)
            ids = layout[nb_name]["grade"], layout[nb_name].get("solution", [])
            found += mistakes.test_failures(nb, *ids) + mistakes.test_penalties(nb, *ids)
        except Exception as exc:  # the problems above already say the notebook is unreadable
            note += f"\n[worker] no mistake codes: {exc}"
    return autograded, problems, found, note


def tampering_problems(denials: list[str], runtime_problems: list[Problem]) -> list[Problem]:
    """The sandbox's refusals not already reported with the cell they happened in (five at
    most, then how many more)."""
    logged = [d for d in denials if not any(d.split(" ", 1)[-1] in p.text for p in runtime_problems)]
    out = [Problem("grader.tampering_blocked", f"tampering blocked by the sandbox: {d[:160]}") for d in logged[:5]]
    if len(logged) > 5:
        out.append(Problem("grader.tampering_blocked", f"tampering blocked by the sandbox: {len(logged) - 5} "
                                                       "more attempt(s)"))
    return out


def distinct_problems(problems: list[Problem]) -> list[Problem]:
    """``problems`` without repeated lines, nor a line that a longer one begins with (in order)."""
    seen: set[str] = set()
    kept = [p for p in problems if not (p.text in seen or seen.add(p.text))]
    return [p for p in kept if not any(q.text != p.text and q.text.startswith(p.text) for q in kept)]


def saved_scores(db_url: str, layout: dict, assignment: str, student: str) -> dict[str, float | None]:
    """The automatic scores nbgrader saved in the private gradebook: ``{grade_id: score}``."""
    from nbgrader.api import Gradebook

    scores: dict[str, float | None] = {}
    with Gradebook(db_url) as gb:
        for nb_name in layout:
            try:
                snb = gb.find_submission_notebook(nb_name, assignment, student)
            except Exception:
                continue
            for g in snb.grades:
                scores[g.cell.name] = g.auto_score
    return scores


def feedback_main(argv: list[str]) -> int:
    """``python -m autograder.worker --feedback ROOT ASSIGNMENT OUT.json STUDENT...``: nbgrader
    generate_feedback for these students (read-only on the gradebook; several run at once)."""
    from .plugins.feedback import generate_feedback

    quiet_nbgrader()

    root, assignment, out_path, students = argv[0], argv[1], argv[2], argv[3:]
    venv_on_path()
    errors = generate_feedback(course_config(root), root, assignment, students)
    with open(out_path, "w") as fh:
        json.dump(errors, fh)
    return 0


def grade_one(spec_path: str, zygote: Zygote | None = None) -> None:
    """Grade the student of ``spec_path`` and write its result file, whatever happens."""
    with open(spec_path) as fh:
        spec = WorkerSpec.from_dict(json.load(fh))
    from . import sandbox

    sandbox.EVENTS.clear()
    try:
        result = run(spec, zygote)
    except BaseException as exc:  # report, never hang
        result = StudentResult(student=spec.student, status="failed",
                               error=f"grader error: {type(exc).__name__}: {exc}",
                               traceback=traceback.format_exc()[-5000:])
    finally:
        os.chdir("/")
    write_json(spec.result_path, result.to_dict())


def serve() -> int:
    """``--serve``: grade the students whose spec paths arrive on stdin, one per line, their
    kernels forked from this worker's zygote. What grading imports is imported first, while
    the grader prepares the first student."""
    import nbformat  # noqa: F401
    from nbgrader.api import Gradebook  # noqa: F401
    from nbgrader.converters import Autograde  # noqa: F401

    from . import mistakes, sandbox, scan  # noqa: F401
    from .sandbox.zygote import Zygote

    zygote = Zygote()
    try:
        while True:
            line = sys.stdin.readline()
            if not line:
                break
            path = line.strip()
            if path:
                print(f"[worker] grading {path}", file=sys.stderr, flush=True)
                grade_one(path, zygote)
    finally:
        zygote.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--feedback":
        return feedback_main(argv[1:])
    quiet_nbgrader()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="[worker] %(levelname)s %(message)s")
    if argv and argv[0] == "--serve":
        return serve()
    grade_one(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
