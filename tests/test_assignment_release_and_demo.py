"""The assignment end to end: the source validates, the release is current and clean,
and nbgrader's autograde gives every bundled example exactly its expected points."""

import json
import re

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from autograder import course, examples
from autograder.submissions import nbgrader_meta, read, solution_sources


def _validator(**overrides):
    from nbgrader.validator import Validator

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.ROOT)).load_config()
    v = Validator(config=config)
    for k, val in overrides.items():
        setattr(v, k, val)
    return v


@pytest.mark.slow  # the validator runs the notebook in a kernel
def test_source_notebook_passes_nbgrader_validator():
    """Proves the reference solution reproduces the stored reference outputs (every check,
    hidden ones included, compares against resnet_utils/reference/)."""
    results = _validator().validate(str(course.SOURCE_NB))
    assert not results.get("failed"), "\n\n".join(r["raw_error"][-2000:] for r in results["failed"])
    assert not results.get("type_changed") and not results.get("changed")


@pytest.mark.slow  # the validator runs the notebook in a kernel
def test_untouched_release_fails_every_visible_test_without_crashing():
    results = _validator(invert=True).validate(str(course.RELEASE_NB))
    passed = [r["source"] for r in results.get("passed", [])]
    visible = [s for s in passed if "check_" in s and "### BEGIN HIDDEN TESTS" not in s]
    assert visible == [], f"the untouched release passes {visible}"


def _cells(nb):
    return [(c.cell_type, c.source, nbgrader_meta(c)) for c in nb.cells]


@pytest.mark.slow  # runs nbgrader generate_assignment
def test_committed_release_is_what_nbgrader_generates(tmp_path):
    root = course.new_course(tmp_path / "course")
    course.generate_release(root, quiet=True)
    fresh = read(root / "release" / course.ASSIGNMENT / course.NOTEBOOK)
    committed = read(course.RELEASE_NB)
    assert _cells(fresh) == _cells(committed), (
        "release/ is stale: run `make release` (nbgrader generate_assignment) and commit it")
    extra = {p.name for p in (course.ROOT / "release" / course.ASSIGNMENT).iterdir()} - \
        {p.name for p in (root / "release" / course.ASSIGNMENT).iterdir()}
    assert not extra, f"files in release/ that nbgrader does not generate: {extra}"


def test_release_contains_no_solution_and_no_hidden_tests():
    text = course.RELEASE_NB.read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    release_code = "\n".join(c.source for c in read(course.RELEASE_NB).cells if c.cell_type == "code")
    source = read(course.SOURCE_NB)
    secret = []
    for cell in source.cells:
        for block in re.findall(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", cell.source, re.S):
            secret += [ln.strip() for ln in block.splitlines()
                       if len(ln.strip()) > 12 and not ln.strip().startswith("#")]
    assert len(secret) > 30
    release_lines = {ln.strip() for ln in release_code.splitlines()}
    leaked = [ln for ln in secret if ln in release_lines]
    assert not leaked, f"release contains solution or hidden-test lines: {leaked[:5]}"
    assert "raise NotImplementedError()" in release_code


@pytest.mark.parametrize("folder", ["source", "release", "notebooks"])
def test_notebooks_are_committed_without_outputs(folder):
    paths = [p for p in (course.ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    assert paths, f"no notebook in {folder}/"
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        dirty = [i for i, c in enumerate(nb["cells"])
                 if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{path.relative_to(course.ROOT)}: cells {dirty} carry outputs"


def test_every_exercise_has_a_solution_cell_and_locked_tests():
    nb = read(course.SOURCE_NB)
    metas = [nbgrader_meta(c) for c in nb.cells]
    solutions = [m["grade_id"] for m in metas if m.get("solution")]
    tests = {m["grade_id"]: m for m in metas if m.get("grade")}
    assert solutions == ["identity_block", "convolutional_block", "ResNet50"]
    assert set(tests) == set(course.graded_cells())
    for gid in solutions:
        assert tests[f"test_{gid}"]["locked"] and tests[f"test_{gid}_hidden"]["locked"]
    assert sum(course.graded_cells().values()) == 30


def test_examples_apply_to_the_current_solution():
    ref = solution_sources(course.SOURCE_NB)
    release = {nbgrader_meta(c)["grade_id"]: c.source for c in read(course.RELEASE_NB).cells
               if nbgrader_meta(c).get("solution")}
    for ex in examples.EXAMPLES:
        nb = examples.build(ex)
        nbformat.validate(nb)
        answers = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("solution")}
        if ex.name == "ben_untouched":
            assert answers == release
            continue
        changed = [k for k, v in answers.items() if v != ref[k]]
        assert len(changed) == (0 if ex.name == "ada_reference" else 1), (ex.name, changed)
        assert set(ex.expected) == set(course.graded_cells()), ex.name


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A temporary course: generate_assignment, the example submissions, nbgrader autograde."""
    root = course.new_course(tmp_path_factory.mktemp("course"))
    course.generate_release(root, quiet=True)
    students = examples.write_submissions(root)
    examples.autograde(root, students)
    return root


@pytest.mark.slow  # nbgrader autograde with TensorFlow kernels
@pytest.mark.parametrize("example", examples.EXAMPLES, ids=lambda e: e.name)
def test_autograde_gives_each_example_its_expected_points(graded_course, example):
    grades = course.read_grades(graded_course)
    assert example.name in grades, f"{example.name} was not autograded"
    assert grades[example.name] == example.expected, example.description
