"""``python -m autograder SUBCOMMAND`` -- the course's command line.

Subcommands:

- ``grade ASSIGNMENT [--jobs N] [--timeout S] [--student ID ...]``: autograde every
  submission of ASSIGNMENT (or only the given students) with nbgrader, N at a time,
  sandboxed; then generate_feedback and grades.csv; print the grade table.
- ``class-demo [--jobs N] [--assignment A]``: build the bundled example class of each
  assignment (assignment 1: correct, partial, broken and hostile submissions; the others:
  their ``make demo`` examples) into ``submitted/``, grade it, print the table, write the
  class report and check every grade against the expected one.
- ``report ASSIGNMENT``: the class report (score distributions, common mistakes, flagged
  submissions, every student with a link to their feedback) as one HTML file.
- ``release [ASSIGNMENT ...]``: regenerate ``release/`` from ``source/`` (nbgrader
  generate_assignment), every assignment of the course unless some are named.
- ``demo [--assignment A]``: the course's main demo: for each assignment (or only A),
  release, autograde the bundled examples, check and print the grades.
- ``links --repo OWNER/NAME [--ref REF] [--hub URL] [--path PATH]``: the mybinder.org badge
  and URL that open the release notebook in JupyterLab and, with ``--hub``, the
  nbgitpuller link for a JupyterHub (:mod:`autograder.integrations.links`).
- ``publish OUT [--assignment A ...] [--git] [--repo OWNER/NAME] [--ref REF]``: write (or
  update) the student edition in OUT, a folder outside the course: the release notebooks,
  walkthroughs, ``resnet_utils`` (visible test cases' reference data only), ``binder/``, a
  README and licence; no solution, hidden test or instructor file (:mod:`autograder.integrations.publish`).
  ``--git``: commit it there, ready to push to its own repository.
"""

from __future__ import annotations

import argparse
import os
import sys


def _gib(text: str) -> int:
    return int(float(text) * (1 << 30))


def _add_grading_options(p: argparse.ArgumentParser) -> None:
    """The options of grade and class-demo (read by :meth:`autograder.grade.Options.from_args`)."""
    from .settings import JOBS, MEMORY_CAP, TIMEOUT, WALL_LIMIT, GiB

    p.add_argument("--jobs", "-j", type=int, default=JOBS.default,
                   help="students graded at a time (default: number of cores)")
    p.add_argument("--timeout", type=int, default=TIMEOUT.default,
                   help="seconds per cell (default: nbgrader's Execute.timeout from nbgrader_config.py)")
    p.add_argument("--memory-cap", type=_gib, default=MEMORY_CAP.default, metavar="GiB",
                   help=f"address-space cap of each grading kernel, in GiB (default {MEMORY_CAP.default / GiB:g})")
    p.add_argument("--wall-limit", type=int, default=WALL_LIMIT.default, metavar="SECONDS",
                   help=f"wall-clock limit per student (default {WALL_LIMIT.default})")
    p.add_argument("--course-root", default=".", help="the nbgrader course root (default: .)")
    p.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                   help="run kernels without the sandbox (memory cap, file-access rules); for debugging")
    p.add_argument("--no-kernel-preload", dest="kernel_preload", action="store_false",
                   help="every kernel imports TensorFlow for itself instead of being forked from a worker's "
                        "kernel zygote that imported it once; slower, for debugging")
    p.add_argument("--no-feedback", dest="feedback", action="store_false", help="skip generate_feedback")
    p.add_argument("--keep-workdirs", action="store_true", help="keep each student's temporary directory")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on a Dask distributed cluster (e.g. tcp://10.0.0.5:8786): one task per student, "
                        "same sandbox and limits on the workers; the gradebook stays on this machine")


def cmd_grade(args) -> int:
    from .grade import GradeRunError, Options, format_report, grade

    students = [s for arg in (args.student or []) for s in arg.split(",") if s] or None
    try:
        out = grade(Options.from_args(args, args.assignment, students))
    except GradeRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(out))
    return 0


def cmd_class_demo(args) -> int:
    from .example_classes.classroom import main_class_demo

    return main_class_demo(args)


def cmd_release(args) -> int:
    from .course import ASSIGNMENTS, generate_release

    unknown = [a for a in args.assignments if a not in ASSIGNMENTS]
    if unknown:
        print(f"error: unknown assignment {', '.join(unknown)} (the course has {', '.join(ASSIGNMENTS)})",
              file=sys.stderr)
        return 2
    for assignment in args.assignments:
        generate_release(assignment=assignment)
    return 0


def cmd_demo(args) -> int:
    from .example_classes.examples import main_demo

    return main_demo(jobs=args.jobs or None, assignments=args.assignment or None)


def cmd_links(args) -> int:
    from .integrations.links import DEFAULT_PATH, LinkError, links_text, release_path

    try:
        path = args.path or (release_path(args.assignment) if args.assignment else DEFAULT_PATH)
        print(links_text(args.repo, ref=args.ref, path=path, hub=args.hub), end="")
    except LinkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_publish(args) -> int:
    from .integrations.publish import PublishError, publish, summary_text

    try:
        result = publish(args.out, assignments=args.assignment, git=args.git, repo=args.repo, ref=args.ref)
    except PublishError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary_text(result, git=args.git, repo=args.repo))
    return 0


def cmd_report(args) -> int:
    from .class_report import write

    try:
        path = write(args.course_root, args.assignment, args.out)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"class report: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .course import ASSIGNMENTS

    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="autograde a whole class with nbgrader, in parallel and sandboxed")
    g.add_argument("assignment")
    g.add_argument("--student", "-s", action="append", metavar="ID",
                   help="grade only this student (repeatable, or comma-separated); the others are not touched")
    _add_grading_options(g)
    g.set_defaults(func=cmd_grade)

    c = sub.add_parser("class-demo", help="build, grade and check the bundled example class")
    _add_grading_options(c)
    c.add_argument("--small", action="store_true",
                   help="the smallest class that still covers every bad case (the CI test's)")
    c.add_argument("--into", default=None, help="course root to build the class in (default: the course root)")
    c.add_argument("--assignment", default=None, choices=list(ASSIGNMENTS),
                   help="only this assignment's class (default: every assignment)")
    c.set_defaults(func=cmd_class_demo)

    rp = sub.add_parser("report", help="the class report of a graded assignment (HTML, opens offline)")
    rp.add_argument("assignment")
    rp.add_argument("--course-root", default=".", help="the nbgrader course root (default: .)")
    rp.add_argument("--out", default=None, help="where to write it (default: reports/ASSIGNMENT.html)")
    rp.set_defaults(func=cmd_report)

    r = sub.add_parser("release", help="regenerate release/ from source/ (nbgrader generate_assignment)")
    r.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", default=list(ASSIGNMENTS), help=f"default: every assignment ({', '.join(ASSIGNMENTS)})")
    r.set_defaults(func=cmd_release)

    d = sub.add_parser("demo", help="the course's demo: release, autograde the bundled examples, grades "
                                    "(every assignment)")
    d.add_argument("--jobs", "-j", type=int, default=0)
    d.add_argument("--assignment", "-a", action="append", choices=list(ASSIGNMENTS),
                   help="only this assignment (repeatable; default: all)")
    d.set_defaults(func=cmd_demo)

    from .integrations.links import DEFAULT_PATH, DEFAULT_REF

    ln = sub.add_parser("links", help="the mybinder.org badge and URL, and a JupyterHub (nbgitpuller) link, "
                                      "that open the release notebook in JupyterLab")
    ln.add_argument("--repo", required=True, metavar="OWNER/NAME", help="the course's GitHub repository")
    ln.add_argument("--ref", default=DEFAULT_REF, help=f"branch, tag or commit (default {DEFAULT_REF})")
    ln.add_argument("--hub", default=None, metavar="URL",
                    help="a JupyterHub's base URL (with nbgitpuller): also print its git-pull link")
    where = ln.add_mutually_exclusive_group()
    where.add_argument("--assignment", choices=list(ASSIGNMENTS), default=None,
                       help="open this assignment's release notebook")
    where.add_argument("--path", default=None, help=f"notebook to open (default {DEFAULT_PATH})")
    ln.set_defaults(func=cmd_links)

    pb = sub.add_parser("publish", help="write the student edition (no solutions, hidden tests or instructor "
                                        "files) into a folder outside the course, to push as its own repository")
    pb.add_argument("out", metavar="OUT", help="the edition's folder: new, empty, or an earlier edition (updated in place)")
    pb.add_argument("--assignment", "-a", action="append", metavar="A",
                    help=f"only this assignment (repeatable; default: all, {', '.join(ASSIGNMENTS)})")
    pb.add_argument("--git", action="store_true",
                    help="make OUT a git repository (branch main) and commit the edition (nothing changed: no commit)")
    pb.add_argument("--repo", default=None, metavar="OWNER/NAME",
                    help="the edition's GitHub repository: its README then has the Binder badges")
    pb.add_argument("--ref", default=DEFAULT_REF, help=f"branch of the edition for the badges (default {DEFAULT_REF})")
    pb.set_defaults(func=cmd_publish)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .config import quiet_nbgrader

    quiet_nbgrader()
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
