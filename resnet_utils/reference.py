"""Record the reference outputs of an assignment from its reference solution.

``python -m resnet_utils.reference [ASSIGNMENT | SOURCE_NOTEBOOK] [--output FILE]`` executes
the source notebook (with its solutions) up to its last graded test cell, with the checks of
:mod:`resnet_utils.grading` (and :mod:`resnet_utils.grading_cifar`) in *record* mode: instead
of comparing, every check call in every test cell (visible and hidden) stores what the
reference solution produces. The result is ``resnet_utils/reference/<assignment>.json``
(``residual_networks.json`` by default, ``resnet_cifar.json`` for
``python -m resnet_utils.reference resnet_cifar``), committed; grading never recomputes it.
The notebook is the only place where the test cases are written.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
from pathlib import Path

from .config import ASSIGNMENTS

ROOT = Path(__file__).resolve().parents[1]
#: The source notebook of each assignment (its reference file is ``reference/<assignment>.json``).
SOURCES = {a: ROOT / "source" / a / notebook for a, notebook in ASSIGNMENTS.items()}
SOURCE = SOURCES["residual_networks"]


def reference_file(source: Path) -> Path:
    """Where the reference data of the assignment whose source notebook is ``source`` go."""
    return ROOT / "resnet_utils" / "reference" / f"{Path(source).resolve().parent.name}.json"


def resolve_source(name_or_path) -> Path:
    """An assignment name (``resnet_cifar``) or a notebook path, as the source notebook's path."""
    if str(name_or_path) in SOURCES:
        return SOURCES[str(name_or_path)]
    return Path(name_or_path)


def graded_prefix(nb):
    """The notebook's cells up to and including its last graded (test) cell."""
    last = max((i for i, c in enumerate(nb.cells)
                if c.get("metadata", {}).get("nbgrader", {}).get("grade")), default=None)
    if last is None:
        raise ValueError("the notebook has no graded test cell")
    nb = copy.deepcopy(nb)
    nb.cells = nb.cells[: last + 1]
    return nb


def record(source: Path = SOURCE, output: Path | None = None, timeout: int = 600) -> Path:
    """Execute ``source`` in record mode and write the reference file; return its path."""
    import nbformat
    from nbclient import NotebookClient

    from . import grading

    source = Path(source)
    output = Path(output or reference_file(source))
    nb = graded_prefix(nbformat.read(source, as_version=4))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "reference.json"
        env = dict(os.environ, **{grading.RECORD_ENV: str(target), "TF_CPP_MIN_LOG_LEVEL": "2"})
        old = dict(os.environ)
        os.environ.update(env)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(source.parent)}}).execute()
        finally:
            os.environ.clear()
            os.environ.update(old)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(target.read_text(encoding="utf-8"), encoding="utf-8")
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", nargs="?", default="residual_networks",
                        help=f"an assignment ({', '.join(SOURCES)}) or a source notebook's path")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    path = record(resolve_source(args.source), args.output)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
