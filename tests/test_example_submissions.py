"""Building example submissions from the assignment (no solution code written twice)."""

import nbformat
import pytest

from autograder import course
from autograder.example_classes.submissions import delete_cell, duplicate_cell, edit_cell, fill, mutate, solution_sources
from autograder.notebooks import nbgrader_meta, read


def test_solution_sources_strip_markers_and_keep_code():
    src = solution_sources(course.SOURCE_NB)
    assert set(src) == {"identity_block", "convolutional_block", "ResNet50", "block_parameters", "resnet50_shapes"}
    for code in src.values():
        assert "BEGIN SOLUTION" not in code and "END SOLUTION" not in code
        compile(code, "<solution>", "exec")
    assert "Add()([X, X_shortcut])" in src["identity_block"]


def test_fill_replaces_only_named_solution_cells():
    nb = fill(course.RELEASE_NB, {"ResNet50": "def ResNet50(**kw):\n    return None\n"})
    cells = {nbgrader_meta(c).get("grade_id"): c.source for c in nb.cells}
    assert cells["ResNet50"].startswith("def ResNet50(**kw)")
    assert "raise NotImplementedError()" in cells["identity_block"]
    assert read(course.RELEASE_NB).cells[0].source == nb.cells[0].source
    with pytest.raises(KeyError, match="no solution cell"):
        fill(course.RELEASE_NB, {"test_ResNet50": "pass"})


def test_mutate_raises_when_stale_and_replaces_last_occurrences():
    assert mutate("a b a b a", "a", "x") == "a b a b x"
    assert mutate("a b a b a", "a", "x", count=2) == "a b x b x"
    assert mutate("a b a b a", "a", "x", count=0) == "x b x b x"
    with pytest.raises(ValueError, match="does not apply"):
        mutate("abc", "zzz", "y")


def test_cell_operations_copy_the_notebook_and_raise_when_the_cell_is_gone():
    test = nbformat.v4.new_code_cell("check(f)", metadata={"nbgrader": {"grade_id": "t", "grade": True}})
    nb = nbformat.v4.new_notebook(cells=[test, nbformat.v4.new_code_cell("x = 1")])
    dup = duplicate_cell(nb, "t", "pass")
    assert [c.source for c in dup.cells] == ["check(f)", "pass", "x = 1"]
    assert dup.cells[1]["id"] == "copy-of-t" and dup.cells[1].metadata == test.metadata
    assert duplicate_cell(nb, "t", "pass", cell_id="other").cells[1]["id"] == "other"
    assert [c.source for c in edit_cell(nb, "t", "pass").cells] == ["pass", "x = 1"]
    assert [c.source for c in delete_cell(nb, "t").cells] == ["x = 1"]
    assert [c.source for c in nb.cells] == ["check(f)", "x = 1"]  # the original is never changed
    with pytest.raises(KeyError):
        delete_cell(delete_cell(nb, "t"), "t")


# ----------------------------------------------------------------------------- every assignment


def test_setup_code_drops_magics_and_solution_ids_follow_the_notebook():
    from autograder.example_classes.submissions import setup_code, solution_ids

    code = setup_code(course.source_nb("resnet_cifar"))
    assert "%matplotlib" not in code and "from resnet_utils import cifar" in code
    compile(code, "<setup>", "exec")
    assert solution_ids(course.source_nb("resnet_cifar")) == ["resnet_layer", "resnet_v1", "resnet_v2", "lr_schedule",
                                                              "stack_shapes", "parameter_count"]
    assert solution_ids(course.SOURCE_NB) == ["identity_block", "convolutional_block", "ResNet50", "block_parameters",
                                             "resnet50_shapes"]


def test_load_functions_runs_any_assignment_from_its_setup_cell():
    from autograder.example_classes.submissions import load_functions

    src = course.source_nb("resnet_cifar")
    ns = load_functions(solution_sources(src), src)
    assert ns["lr_schedule"](81) == pytest.approx(1e-4)
    assert ns["resnet_v1"](input_shape=(32, 32, 3), depth=20).count_params() == 274_442


def _example_cases():
    from autograder.example_classes import examples

    return [(a, ex) for a, exs in examples.EXAMPLES_BY_ASSIGNMENT.items() for ex in exs]


@pytest.mark.parametrize("assignment, example", _example_cases(), ids=lambda v: getattr(v, "name", v))
def test_each_example_costs_points_in_one_exercise_at_most(assignment, example):
    """What each example must get costs the points of one exercise at most (the untouched release
    excepted). That it gets exactly these points, and the messages, is checked on the one nbgrader
    grading of the examples (tests/test_assignment_release_and_demo.py, ``make demo``)."""
    assert set(example.expected) == set(course.graded_cells(assignment=assignment))
    failing = {g.removeprefix("test_").removesuffix("_hidden") for g, p in example.expected.items()
               if p < course.graded_cells(assignment=assignment)[g]}
    if "untouched" not in example.name:
        assert len(failing) <= 1, f"{example.name} costs points in several exercises: {sorted(failing)}"
    for gid in example.messages:
        assert example.expected[gid] < course.graded_cells(assignment=assignment)[gid], (example.name, gid)
