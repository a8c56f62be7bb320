"""Notebook helpers that the course layout (:mod:`autograder.course`), the example classes and
the grader share."""

from __future__ import annotations

import nbformat


def read(path) -> nbformat.NotebookNode:
    """Read a notebook (format 4)."""
    return nbformat.read(str(path), as_version=4)


def nbgrader_meta(cell) -> dict:
    """The cell's nbgrader metadata ({} when it has none)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}
