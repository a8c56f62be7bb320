"""``python -m autograder publish``: the student edition holds what students may see and nothing else.

The edition is published into temporary folders, from the course itself or from a temporary
copy of its student-facing parts (to add, remove and change files); no test changes the
course. The slow test runs the release notebook from the edition, solved, with nbgrader's
Validator, importing ``resnet_utils`` from the edition.
"""

import io
import json
import os
import shutil
import subprocess
import tarfile
import tomllib
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import course
from autograder.integrations import publish as pub
from autograder.integrations.links import DEFAULT_PATH, badge_markdown, binder_url, release_path
from autograder.example_classes.submissions import fill, solution_sources

ROOT = course.ROOT
ASSIGNMENTS = list(course.ASSIGNMENTS)
SOURCES = [course.source_nb(a) for a in ASSIGNMENTS]

#: What never goes into the edition (paths from its root).
FORBIDDEN = ["source", "autograder", "tests", "bench", ".ci", "gradebook.db", "submitted", "autograded",
             "feedback", "reports", "grades.csv", "nbgrader_config.py", ".autograder", "Makefile",
             "requirements.txt", "constraints.txt"]

#: The course's parts that a publish reads (a temporary copy of them is a course to publish from).
COURSE_PARTS = ["release", "source", "notebooks", "resnet_utils", "binder", "datasets/README.md",
                "pyproject.toml", "LICENSE", "README.md"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    """The default edition of the course itself (every assignment, no git)."""
    return pub.publish(tmp_path_factory.mktemp("edition") / "student")


@pytest.fixture
def course_copy(tmp_path):
    """A temporary course: a copy of the parts a publish reads."""
    root = tmp_path / "course"
    for part in COURSE_PARTS:
        src, dst = ROOT / part, root / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dst)
    return root


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def _course_files(folder: str) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


# ----------------------------------------------------------------------------- content


def test_edition_holds_what_students_need_and_nothing_else(edition):
    expected = {course.release_nb(a).relative_to(ROOT).as_posix() for a in ASSIGNMENTS}
    expected |= {f"notebooks/{p.name}" for p in (ROOT / "notebooks").glob("*.ipynb")}
    expected |= {f for f in _course_files("resnet_utils") if f.endswith(".py") or f.startswith("resnet_utils/assets/")}
    expected |= {f"resnet_utils/reference/{a}.json" for a in ASSIGNMENTS}
    expected |= _course_files("binder")
    expected |= {"datasets/README.md", "LICENSE", "README.md", "pyproject.toml", ".gitignore", pub.MANIFEST}
    assert _files(edition.out) == expected
    assert sorted(edition.files) == sorted(expected - {pub.MANIFEST})
    manifest = json.loads((edition.out / pub.MANIFEST).read_text())
    assert manifest["files"] == edition.files and manifest["assignments"] == ASSIGNMENTS


def test_edition_has_no_instructor_file(edition):
    tops = {f.split("/")[0] for f in _files(edition.out)}
    assert not tops & set(FORBIDDEN), tops & set(FORBIDDEN)
    assert not [f for f in _files(edition.out) if "__pycache__" in f or f.endswith((".pyc", ".db", ".csv"))]


def test_binder_is_copied_as_it_is(edition):
    for rel in _course_files("binder"):
        assert (edition.out / rel).read_bytes() == (ROOT / rel).read_bytes(), rel
    assert os.access(edition.out / "binder" / "postBuild", os.X_OK)


def test_only_some_assignments(tmp_path):
    result = pub.publish(tmp_path / "one", assignments=["residual_networks"])
    files = set(result.files)
    assert "release/residual_networks/Residual_Networks.ipynb" in files
    assert not [f for f in files if "resnet_cifar" in f]
    assert "ResNet v1 and v2" not in (tmp_path / "one" / "README.md").read_text()


def test_links_work_unchanged_on_the_edition(edition):
    assert (edition.out / DEFAULT_PATH).is_file()
    for a in ASSIGNMENTS:
        assert (edition.out / release_path(a)).is_file()


def test_pyproject_packages_only_resnet_utils_with_the_course_versions(edition):
    course_toml = tomllib.loads((ROOT / "pyproject.toml").read_text())
    student = tomllib.loads((edition.out / "pyproject.toml").read_text())
    assert student["project"] == course_toml["project"]          # name, version, dependencies: one source
    assert student["build-system"] == course_toml["build-system"]
    assert student["tool"]["setuptools"]["packages"]["find"]["include"] == ["resnet_utils*"]
    assert student["tool"]["setuptools"]["package-data"] == {
        "resnet_utils": course_toml["tool"]["setuptools"]["package-data"]["resnet_utils"]}
    assert "pytest" not in student["tool"] and "autograder" not in json.dumps(student)


def test_student_readme_without_and_with_the_repository(edition, tmp_path):
    text = (edition.out / "README.md").read_text()
    for needle in ["release/residual_networks/Residual_Networks.ipynb", "release/resnet_cifar/ResNet_CIFAR.ipynb",
                   "python3.11 -m venv", "pip install -r binder/requirements.txt", "pip install -e .",
                   "python -m resnet_utils.kernelspec", "jupyter lab", "run the cells in", "Validate",
                   "Assignments", "notebooks/02_degradation.ipynb", "LICENSE", "your instructor"]:
        assert needle.lower() in text.lower(), needle
    assert "mybinder.org/v2/gh" not in text
    with_repo = pub.publish(tmp_path / "badged", repo="alice/resnet-student")
    text = (with_repo.out / "README.md").read_text()
    for a in ASSIGNMENTS:
        assert badge_markdown(binder_url("alice/resnet-student", "main", release_path(a))) in text


def test_licence(edition):
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "2026 the ResNet Course authors" in text and "CC BY 4.0" in text
    assert (edition.out / "LICENSE").read_text() == text


def test_gitignore(edition):
    lines = (edition.out / ".gitignore").read_text().splitlines()
    for entry in [".ipynb_checkpoints/", "__pycache__/", "datasets/*", "!datasets/README.md", "*.keras"]:
        assert entry in lines


# ----------------------------------------------------------------------------- reference data


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_case_rule_explains_every_recorded_case(assignment):
    """The course's reference file holds the hidden cases' data too (this is why the edition's
    copy is filtered), and the rule that names a test call's case gives exactly the recorded keys."""
    recorded = set(json.loads((ROOT / "resnet_utils" / "reference" / f"{assignment}.json").read_text()))
    nb = nbformat.read(course.source_nb(assignment), as_version=4)
    called = {k for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
              for k in pub.case_keys(c.source)}
    visible, hidden = pub.visible_cases(course.release_nb(assignment)), pub.hidden_cases(course.source_nb(assignment))
    assert recorded <= called
    assert recorded & hidden, "the course's reference data hold no hidden case any more: filtering is moot"
    assert not visible & hidden and recorded <= visible | hidden


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_edition_reference_holds_only_the_visible_cases(edition, assignment):
    course_data = json.loads((ROOT / "resnet_utils" / "reference" / f"{assignment}.json").read_text())
    data = json.loads((edition.out / "resnet_utils" / "reference" / f"{assignment}.json").read_text())
    visible = pub.visible_cases(course.release_nb(assignment))
    assert data and set(data) == visible & set(course_data)
    assert all(data[k] == course_data[k] for k in data)
    assert not set(data) & pub.hidden_cases(course.source_nb(assignment))


def test_case_keys_follow_the_check_functions_defaults_and_refuse_what_they_cannot_tell():
    code = ("from importlib import reload\nimport resnet_utils.grading as grading\n"
            "reload(grading).check_identity_block(identity_block, f=3, filters=(2, 3, 5))\n")
    assert pub.case_keys(code) == ['identity_block|{"block": "a", "f": 3, "filters": [2, 3, 5], '
                                   '"input_shape": [3, 4, 4, 6], "stage": 1}']
    with pytest.raises(pub.PublishError, match="cannot tell"):
        pub.case_keys("import resnet_utils.grading as grading\ngrading.check_ResNet50(ResNet50, classes=n)\n")
    with pytest.raises(pub.PublishError, match="cannot tell"):
        pub.case_keys("helpers.check_ResNet50(ResNet50)\n")


# ----------------------------------------------------------------------------- leak scan


def test_edition_leaks_nothing(edition):
    assert pub.leaks(edition.out, SOURCES) == []


def test_secret_lines_are_the_solutions_and_hidden_tests():
    secrets = pub.secret_lines(SOURCES)
    assert len(secrets) > 100
    assert "X = Add()([X, X_shortcut])" in secrets                               # a solution line
    assert "grading.check_ResNet50(ResNet50, input_shape=(96, 96, 3), classes=10)" in secrets  # hidden test
    assert all(len(line) >= 12 for line in secrets)
    assert "reload(grading)" not in secrets      # the visible tests show it too


def _plant_in_text(root, line):
    (root / "resnet_utils" / "notes.py").write_text(f"# {line}\n")
    return "resnet_utils/notes.py"


def _plant_in_output(root, line):
    path = root / "release" / "residual_networks" / "Residual_Networks.ipynb"
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{line}\n")]
    nbformat.write(nb, path)
    return "Residual_Networks.ipynb"


def _plant_in_keras_file(root, line):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("config.json", json.dumps({"note": line}))
    (root / "model.keras").write_bytes(buffer.getvalue())
    return "model.keras!config.json"


def _plant_in_tar(root, line):
    with tarfile.open(root / "backup.tar.gz", "w:gz") as tf:
        data = f"{line}\n".encode()
        info = tarfile.TarInfo("work/answers.py")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return "backup.tar.gz!work/answers.py"


@pytest.mark.parametrize("plant", [_plant_in_text, _plant_in_output, _plant_in_keras_file, _plant_in_tar])
@pytest.mark.parametrize("kind", ["solution", "hidden test"])
def test_leak_scan_finds_a_planted_line(edition, tmp_path, plant, kind):
    copy = tmp_path / "copy"
    shutil.copytree(edition.out, copy)
    line = ("X = Add()([X, X_shortcut])" if kind == "solution"
            else "grading.check_ResNet50(ResNet50, input_shape=(96, 96, 3), classes=10)")
    where = plant(copy, line)
    found = pub.leaks(copy, SOURCES)
    assert len(found) == 1 and where in found[0] and repr(line) in found[0], found


def test_leak_scan_finds_hidden_cases_in_reference_data(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition.out, copy)
    course_data = json.loads((ROOT / "resnet_utils" / "reference" / "residual_networks.json").read_text())
    (copy / "resnet_utils" / "reference" / "residual_networks.json").write_text(json.dumps(course_data))
    found = pub.leaks(copy, SOURCES)
    assert len(found) == len(pub.hidden_cases(course.SOURCE_NB) & set(course_data)) > 0
    assert all("reference data of a hidden test case" in f for f in found)


def test_publish_refuses_a_leaking_edition_and_writes_nothing(course_copy, tmp_path):
    (course_copy / "resnet_utils" / "answers.py").write_text("    X = Add()([X, X_shortcut])\n")
    with pytest.raises(pub.PublishError, match=r"(?s)would leak 1 .*resnet_utils/answers\.py"):
        pub.publish(tmp_path / "out", course_root=course_copy)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------- references in the notebooks


def test_every_path_a_notebook_tells_students_to_open_is_in_the_edition(edition):
    """Convention: paths in the notebooks are read from the edition's root (where JupyterLab's file
    browser starts); `pub.EXTERNAL_REFERENCES` lists the Keras files the notebooks cite, each with
    the words its paragraph must contain and the reason it may stay."""
    found = [path for nb in (edition.out / "release").glob("*/*.ipynb") for path, _ in pub.referenced_paths(nb)]
    assert "notebooks/02_degradation.ipynb" in found and "resnet_utils/cifar.py" in found
    assert pub.missing_references(edition.out) == []


def test_a_dangling_reference_is_reported(edition, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(edition.out, copy)
    path = copy / "notebooks" / "01_vanishing_gradients.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("Measured with `bench/bench_walkthroughs.py`.\n\n"
                                                  "See `keras/src/applications/resnet.py`."))
    nbformat.write(nb, path)
    missing = pub.missing_references(copy)
    assert len(missing) == 2 and "bench/bench_walkthroughs.py" in missing[0]
    assert "keras/src/applications/resnet.py" in missing[1]   # its paragraph does not say it is Keras'


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("inside", ["", "student", "release/student"])
def test_refuses_a_folder_inside_the_course(inside):
    out = ROOT / inside
    existed = out.exists()
    with pytest.raises(pub.PublishError, match="inside the course repository"):
        pub.publish(out)
    assert out.exists() == existed


def test_refuses_a_folder_that_is_not_empty_and_no_edition(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(pub.PublishError, match="not empty and is not an earlier student edition"):
        pub.publish(tmp_path)
    assert _files(tmp_path) == {"notes.txt"}


def test_an_empty_git_clone_is_fine(tmp_path):
    _git(tmp_path, "init", "-q")
    pub.publish(tmp_path)
    assert (tmp_path / pub.MANIFEST).exists()


def test_refuses_an_unknown_assignment(tmp_path, capsys):
    with pytest.raises(pub.PublishError, match="unknown assignment nope: the course has residual_networks"):
        pub.publish(tmp_path / "out", assignments=["residual_networks", "nope"])
    from autograder.__main__ import main

    assert main(["publish", str(tmp_path / "out"), "--assignment", "nope"]) == 2
    assert "error: unknown assignment nope" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_refuses_a_missing_or_stale_release(course_copy, tmp_path):
    path = course.release_nb("resnet_cifar", course_copy)
    nb = nbformat.read(path, as_version=4)
    next(c for c in nb.cells if c.cell_type == "markdown").source += "\nA sentence the source does not have."
    nbformat.write(nb, path)
    with pytest.raises(pub.PublishError, match=r"release/resnet_cifar/ResNet_CIFAR\.ipynb is stale.*"
                                               r"python -m autograder release resnet_cifar"):
        pub.publish(tmp_path / "out", course_root=course_copy)
    course.release_nb("residual_networks", course_copy).unlink()
    with pytest.raises(pub.PublishError, match="Residual_Networks.ipynb is missing"):
        pub.publish(tmp_path / "out", course_root=course_copy, assignments=["residual_networks"])


def test_refuses_an_invalid_repository(tmp_path):
    with pytest.raises(pub.PublishError, match="OWNER/NAME"):
        pub.publish(tmp_path / "out", repo="https://github.com/alice/x")


# ----------------------------------------------------------------------------- publishing again


def test_publishing_again_updates_the_edition_in_place(course_copy, tmp_path):
    out = tmp_path / "student"
    first = pub.publish(out, course_root=course_copy)
    (out / "my_notes.txt").write_text("a student's own file")
    (out / "release" / "residual_networks" / "scratch.py").write_text("x = 1\n")
    (course_copy / "resnet_utils" / "newmodule.py").write_text('"""New."""\n')
    (course_copy / "notebooks" / "03_inside_a_residual_block.ipynb").unlink()
    readme = course_copy / "datasets" / "README.md"
    readme.write_text(readme.read_text() + "\nA typo, fixed.\n")

    second = pub.publish(out, course_root=course_copy)
    assert (out / "resnet_utils" / "newmodule.py").read_text() == '"""New."""\n'
    assert not (out / "notebooks" / "03_inside_a_residual_block.ipynb").exists()
    assert (out / "datasets" / "README.md").read_text().endswith("A typo, fixed.\n")
    assert (out / "my_notes.txt").exists() and (out / "release" / "residual_networks" / "scratch.py").exists()
    # README.md lists the walkthroughs
    assert set(second.changed) == {"datasets/README.md", "resnet_utils/newmodule.py", "README.md"}
    assert second.removed == ["notebooks/03_inside_a_residual_block.ipynb"]
    assert set(second.files) == set(first.files) - set(second.removed) | {"resnet_utils/newmodule.py"}
    assert json.loads((out / pub.MANIFEST).read_text())["files"] == second.files


def test_a_damaged_manifest_is_refused(tmp_path):
    (tmp_path / pub.MANIFEST).write_text("{not json")
    with pytest.raises(pub.PublishError, match="is damaged"):
        pub.publish(tmp_path)


def test_git_one_commit_then_one_per_change_and_none_without(course_copy, tmp_path):
    out = tmp_path / "student"
    first = pub.publish(out, course_root=course_copy, git=True)
    assert first.commit and _git(out, "rev-list", "--count", "HEAD").strip() == "1"
    assert _git(out, "log", "-1", "--format=%s").startswith("Student edition of")
    assert _git(out, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert _git(out, "status", "--porcelain") == ""
    assert set(_git(out, "ls-files").split()) == set(first.files) | {pub.MANIFEST}

    (out / "my_notes.txt").write_text("not the edition's")
    (course_copy / "resnet_utils" / "summary.py").write_text((course_copy / "resnet_utils" / "summary.py").read_text()
                                                              + "\n# a fix\n")
    (course_copy / "notebooks" / "02_degradation.ipynb").unlink()
    second = pub.publish(out, course_root=course_copy, git=True)
    assert second.commit and _git(out, "rev-list", "--count", "HEAD").strip() == "2"
    assert set(_git(out, "show", "--name-only", "--format=", "HEAD").split()) == {
        "resnet_utils/summary.py", "notebooks/02_degradation.ipynb", "README.md", pub.MANIFEST}
    assert _git(out, "status", "--porcelain").strip() == "?? my_notes.txt"

    third = pub.publish(out, course_root=course_copy, git=True)
    assert third.commit is None and _git(out, "rev-list", "--count", "HEAD").strip() == "2"


def test_command_line_prints_the_summary_and_next_steps(tmp_path, capsys):
    from autograder.__main__ import main

    assert main(["publish", str(tmp_path / "student"), "--assignment", "residual_networks"]) == 0
    out = capsys.readouterr().out
    assert f"student edition in {tmp_path / 'student'}" in out and "resnet_utils/" in out
    assert "git push" in out and "python -m autograder links --repo" in out


# ----------------------------------------------------------------------------- the edition runs


PROBE = """\
import json, resnet_utils
from resnet_utils import grading, grading_cifar
with open({path!r}, "w") as fh:
    json.dump({{"resnet_utils": resnet_utils.__file__,
               "reference": [str(grading.REFERENCE_FILE), str(grading_cifar.REFERENCE_FILE)]}}, fh)
"""


@pytest.mark.slow  # nbgrader's Validator runs the notebook in a kernel (fast mode, under a minute)
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solved_release_from_the_edition_passes_the_validator(tmp_path, monkeypatch, assignment):
    """The release notebook of the edition, solved with the source's solution, passes nbgrader's
    Validator (every visible test) in fast mode, with ``resnet_utils`` and its filtered reference
    data imported from the edition (PYTHONPATH first; the probe cell records where they came from)."""
    from nbgrader.validator import Validator
    from traitlets.config import Config

    out = pub.publish(tmp_path / "student", assignments=[assignment]).out
    notebook = out / release_path(assignment)
    nb = fill(notebook, solution_sources(course.source_nb(assignment)))
    nb.cells.append(nbformat.v4.new_code_cell(PROBE.format(path=str(tmp_path / "probe.json"))))
    nbformat.write(nb, notebook)
    monkeypatch.setenv("PYTHONPATH", str(out))
    monkeypatch.setenv("RESNET_FAST", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    monkeypatch.setenv("RESNET_DATA_DIR", str(tmp_path / "data"))
    config = Config({"Execute": {"timeout": 300, "kernel_name": "python3"}})
    results = Validator(config=config).validate(str(notebook))
    assert not results.get("failed"), "\n\n".join(r["raw_error"][-2000:] for r in results["failed"])
    assert not results.get("changed") and not results.get("type_changed")
    probe = json.loads((tmp_path / "probe.json").read_text())
    assert Path(probe["resnet_utils"]).is_relative_to(out), probe
    assert all(Path(p).is_relative_to(out) for p in probe["reference"]), probe
