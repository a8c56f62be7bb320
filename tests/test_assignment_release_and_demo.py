"""Both assignments end to end: each source validates, each release is current and clean, and
``make demo`` (nbgrader's autograde) gives every bundled example exactly its expected points
and shows the expected message in each failing test cell."""

import contextlib
import io
import json
import re

import nbformat
import pytest
from traitlets.config.loader import PyFileConfigLoader

from autograder import course
from autograder.example_classes import examples
from autograder.example_classes.submissions import solution_sources
from autograder.notebooks import nbgrader_meta, read

ASSIGNMENTS = list(course.ASSIGNMENTS)

#: assignment -> (its solution cells, in order; total points)
EXERCISES = {
    "residual_networks": (["identity_block", "convolutional_block", "ResNet50", "block_parameters",
                           "resnet50_shapes"], 40),
    "resnet_cifar": (["resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule", "stack_shapes",
                      "parameter_count"], 45),
}


def _validator(**overrides):
    from nbgrader.validator import Validator

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course.ROOT)).load_config()
    v = Validator(config=config)
    for k, val in overrides.items():
        setattr(v, k, val)
    return v


def test_every_assignment_is_listed_with_its_notebook_and_examples():
    assert set(EXERCISES) == set(course.ASSIGNMENTS) == set(examples.EXAMPLES_BY_ASSIGNMENT)
    for assignment, name in course.ASSIGNMENTS.items():
        assert course.source_nb(assignment) == course.ROOT / "source" / assignment / name
        assert course.source_nb(assignment).is_file() and course.release_nb(assignment).is_file()
    # the names the rest of the course imports still mean the first assignment
    assert (course.ASSIGNMENT, course.NOTEBOOK) == ("residual_networks", "Residual_Networks.ipynb")
    assert course.SOURCE_NB == course.source_nb() and course.RELEASE_NB == course.release_nb()
    with pytest.raises(ValueError, match="unknown assignment"):
        course.notebook("nope")


@pytest.mark.slow  # the validator runs the notebook in a kernel (fast mode)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_passes_nbgrader_validator(assignment):
    """Every cell runs (training and figures included, in fast mode) and the reference solution
    passes every test, hidden ones included, against the stored reference data; fast mode keeps
    autograding a submission near a minute."""
    import time

    t0 = time.perf_counter()
    results = _validator().validate(str(course.source_nb(assignment)))
    wall = time.perf_counter() - t0
    assert not results.get("failed"), "\n\n".join(r["raw_error"][-2000:] for r in results["failed"])
    assert not results.get("type_changed") and not results.get("changed")
    assert wall < 90, f"nbgrader validate took {wall:.0f} s (fast mode); autograde must stay near a minute"


@pytest.mark.slow  # the validator runs the notebook in a kernel
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_untouched_release_fails_every_visible_test_without_crashing(assignment):
    results = _validator(invert=True).validate(str(course.release_nb(assignment)))
    passed = [r["source"] for r in results.get("passed", [])]
    visible = [s for s in passed if "check_" in s and "### BEGIN HIDDEN TESTS" not in s]
    assert visible == [], f"the untouched release passes {visible}"


def _cells(nb):
    return [(c.cell_type, c.source, nbgrader_meta(c)) for c in nb.cells]


@pytest.mark.slow  # runs nbgrader generate_assignment
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_release_is_what_nbgrader_generates(tmp_path, assignment):
    root = course.new_course(tmp_path / "course")
    course.generate_release(root, assignment, quiet=True)
    fresh = read(course.release_nb(assignment, root))
    committed = read(course.release_nb(assignment))
    assert _cells(fresh) == _cells(committed), (
        f"release/{assignment} is stale: run `make release` (nbgrader generate_assignment) and commit it")
    extra = {p.name for p in (course.ROOT / "release" / assignment).iterdir()} - \
        {p.name for p in (root / "release" / assignment).iterdir()}
    assert not extra, f"files in release/{assignment} that nbgrader does not generate: {extra}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_matches_the_source_outside_solutions_and_hidden_tests(assignment):
    """The quick staleness check (the slow one above runs nbgrader): same cells, same ids, and
    every cell without a solution or hidden tests is identical in the release."""
    src, rel = read(course.source_nb(assignment)), read(course.release_nb(assignment))
    assert [c.get("id") for c in src.cells] == [c.get("id") for c in rel.cells]
    for s, r in zip(src.cells, rel.cells):
        if not (nbgrader_meta(s).get("solution") or "BEGIN HIDDEN TESTS" in s.source):
            assert s.source == r.source, f"release/{assignment} is stale at cell {s.get('id')}: run `make release`"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_contains_no_solution_and_no_hidden_tests(assignment):
    text = course.release_nb(assignment).read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    release_code = "\n".join(c.source for c in read(course.release_nb(assignment)).cells if c.cell_type == "code")
    source = read(course.source_nb(assignment))
    secret, public = [], set()
    block_re = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", re.S)
    for cell in source.cells:
        for block in block_re.findall(cell.source):
            secret += [ln.strip() for ln in block.splitlines()
                       if len(ln.strip()) > 12 and not ln.strip().startswith("#")]
        public |= {ln.strip() for ln in block_re.sub("", cell.source).splitlines()}
    secret = [ln for ln in secret if ln not in public]  # e.g. reload(grading_cifar): visible tests have it too
    assert len(secret) > 30
    release_lines = {ln.strip() for ln in release_code.splitlines()}
    leaked = [ln for ln in secret if ln in release_lines]
    assert not leaked, f"release/{assignment} contains solution or hidden-test lines: {leaked[:5]}"
    assert release_code.count("raise NotImplementedError()") == len(EXERCISES[assignment][0])


@pytest.mark.parametrize("folder", ["source", "release", "notebooks"])
def test_notebooks_are_committed_without_outputs(folder):
    paths = [p for p in (course.ROOT / folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    assert paths, f"no notebook in {folder}/"
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        dirty = [i for i, c in enumerate(nb["cells"])
                 if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))]
        assert not dirty, f"{path.relative_to(course.ROOT)}: cells {dirty} carry outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_has_a_solution_cell_and_locked_tests(assignment):
    nb = read(course.source_nb(assignment))
    metas = [nbgrader_meta(c) for c in nb.cells]
    solutions = [m["grade_id"] for m in metas if m.get("solution")]
    tests = {m["grade_id"]: m for m in metas if m.get("grade")}
    expected_solutions, total = EXERCISES[assignment]
    cells = course.graded_cells(assignment=assignment)
    assert solutions == expected_solutions
    assert set(tests) == set(cells)
    for gid in solutions:
        assert tests[f"test_{gid}"]["locked"] and tests[f"test_{gid}_hidden"]["locked"]
    assert sum(cells.values()) == total


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_examples_apply_to_the_current_solution(assignment):
    """Each example is the release filled with the reference solution, with at most one cell
    changed (its one mistake); its expected points name every graded cell."""
    ref = solution_sources(course.source_nb(assignment))
    release = {nbgrader_meta(c)["grade_id"]: c.source for c in read(course.release_nb(assignment)).cells
               if nbgrader_meta(c).get("solution")}
    cells = course.graded_cells(assignment=assignment)
    exs = examples.EXAMPLES_BY_ASSIGNMENT[assignment]
    assert len({ex.name for ex in exs}) == len(exs)
    for ex in exs:
        nb = examples.build(ex)
        nbformat.validate(nb)
        answers = {nbgrader_meta(c)["grade_id"]: c.source for c in nb.cells if nbgrader_meta(c).get("solution")}
        assert set(ex.expected) == set(cells), ex.name
        assert set(ex.messages) <= {g for g, p in ex.expected.items() if p < cells[g]}, ex.name
        if answers == release:
            assert ex.expected == {g: 0.0 for g in cells}, ex.name
            continue
        changed = [k for k, v in answers.items() if v != ref[k]]
        assert len(changed) == (0 if ex.name.endswith("_reference") else 1), (ex.name, changed)


def test_example_students_differ_between_assignments():
    """One gradebook holds both assignments: a name means one example."""
    names = [ex.name for exs in examples.EXAMPLES_BY_ASSIGNMENT.values() for ex in exs]
    assert len(names) == len(set(names))


# ----------------------------------------------------------------------------- make demo


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """``make demo`` (examples.main_demo) in a temporary course: both releases, every example,
    nbgrader autograde (two at a time); its exit code and what it printed."""
    root = course.new_course(tmp_path_factory.mktemp("course"))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = examples.main_demo(jobs=2, course_root=root)
    return root, rc, out.getvalue()


ALL_EXAMPLES = [(a, ex) for a, exs in examples.EXAMPLES_BY_ASSIGNMENT.items() for ex in exs]


@pytest.mark.slow  # nbgrader autograde with TensorFlow kernels, both assignments (several minutes)
def test_demo_checks_every_grade_and_prints_one_table_per_assignment(demo_run):
    root, rc, text = demo_run
    assert rc == 0, text[-4000:]
    for assignment in ASSIGNMENTS:
        assert course.release_nb(assignment, root).is_file()
        assert f"== {assignment} ({course.notebook(assignment)}): every grade as expected ==" in text, text[-4000:]
    assert "UNEXPECTED" not in text


@pytest.mark.slow  # nbgrader autograde with TensorFlow kernels
@pytest.mark.parametrize("assignment, example", ALL_EXAMPLES, ids=lambda v: getattr(v, "name", v))
def test_autograde_gives_each_example_its_expected_points_and_message(demo_run, assignment, example):
    root = demo_run[0]
    grades = course.read_grades(root, assignment)
    assert example.name in grades, f"{example.name} was not autograded"
    assert grades[example.name] == example.expected, example.description
    errors = examples.autograded_errors(root, example.name, assignment)
    assert set(errors) == {g for g, p in example.expected.items() if p == 0}, errors
    assert examples.message_differences(example, examples.autograded_messages(root, example.name, assignment)) == []
