"""The grading kernel's sandbox with TensorFlow: it still works under the memory cap, and
(where the OS offers Landlock) file access from C++ code is confined too."""

import os
import time

import pytest
import toy_course as toy

from autograder.example_classes.cases import Case
from autograder.grade import Options, grade

GiB = 1 << 30

pytestmark = pytest.mark.slow  # TensorFlow kernels: minutes

TF_CODE = '''
import numpy as np, tensorflow as tf, keras
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                          keras.layers.Dense(2)])
model.compile("adam", "mse")
model.fit(np.random.rand(16, 8, 8, 3), np.random.rand(16, 2), epochs=1, verbose=0)
print("TF works:", model(np.zeros((1, 8, 8, 3))).shape)
for path in [{source!r}, {gradebook!r}]:
    try:
        tf.io.read_file(path).numpy()
        print("TF READ OK", path)
    except Exception as exc:
        print("TF READ BLOCKED", type(exc).__name__)
def add_one(x):
    return x + 1
'''


def test_tensorflow_runs_in_the_sandbox_and_cannot_read_the_course(tmp_path):
    root = str(tmp_path)
    toy.make_toy_course(root, timeout=180)
    code = TF_CODE.format(source=os.path.join(root, "source", "toy", "toy.ipynb"),
                          gradebook=os.path.join(root, "gradebook.db"))
    toy.write_cases(root, [Case("tf_student", "TensorFlow in add_one's cell",
                                toy.answers(square=toy.SOLUTIONS["square"], add_one=code), toy.earned(*toy.ALL))])
    out = grade(Options(assignment="toy", course_root=root, jobs=1, memory_cap=4 * GiB, progress=False,
                        threads=1))
    r = out.results[0]
    assert r.total == 6, r
    info = r.sandbox
    import nbformat

    nb = nbformat.read(os.path.join(root, "autograded", "tf_student", "toy", "toy.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "TF works: (1, 2)" in text
    if any(i.startswith("landlock abi") for i in info):
        assert "TF READ OK" not in text and text.count("TF READ BLOCKED") == 2
    else:
        pytest.skip("Landlock is not available here: TensorFlow's C++ file access is not confined (%s)" % info)


PROBE = '''
import os
print("SECRET:", os.environ.get("INSTRUCTOR_SECRET_TOKEN"))
print("EXECUTION:", os.environ.get("NBGRADER_EXECUTION"))
print("SANDBOX:", os.environ.get("AUTOGRADER_SANDBOX"))
for path in [{outside!r}, "written_here.txt"]:
    try:
        with open(path, "w") as fh:
            fh.write("x")
        print("WRITE OK", path)
    except OSError as exc:
        print("WRITE BLOCKED", path, type(exc).__name__)
'''


def test_sandboxed_execute_prepares_its_own_sandbox_for_plain_nbgrader(tmp_path, monkeypatch, caplog):
    """Plain `nbgrader autograde` (no grading worker): SandboxedExecute builds a sandbox per
    notebook, starts the kernel in it without the instructor's environment, logs refusals
    and removes the sandbox afterwards."""
    import logging

    import nbformat

    from autograder.sandbox import SandboxedExecute

    outside = tmp_path / "course_file.txt"
    cwd = tmp_path / "autograded" / "student" / "a"
    cwd.mkdir(parents=True)
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    monkeypatch.setenv("INSTRUCTOR_SECRET_TOKEN", "s3cret")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.delenv("AUTOGRADER_SANDBOX", raising=False)
    monkeypatch.setattr("tempfile.tempdir", str(scratch_tmp))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE.format(outside=str(outside)))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    ex = SandboxedExecute(timeout=120, read_packages=[])
    with caplog.at_level(logging.WARNING):
        ex.log = logging.getLogger("test-sandboxed-execute")
        nb, _ = ex.preprocess(nb, {"metadata": {"path": str(cwd)}})
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "SECRET: None" in text and "EXECUTION: autograde" in text and "SANDBOX: 1" in text, text
    assert "WRITE BLOCKED %s PermissionError" % outside in text, text
    assert "WRITE OK written_here.txt" in text and (cwd / "written_here.txt").exists()
    assert not outside.exists()
    assert "tampering blocked by the sandbox: open write %s" % os.path.realpath(outside) in caplog.text
    assert [p.name for p in scratch_tmp.iterdir() if p.name.startswith("autograder-sandbox-")] == []


def _two_cells():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 41"),
                                         nbformat.v4.new_code_cell("print('answer', x + 1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _outputs(nb):
    return [[(o["output_type"], o.get("ename") or o.get("text")) for o in c.outputs] for c in nb.cells]


@pytest.fixture
def sandboxed_events(monkeypatch):
    """SandboxedExecute's EVENTS, empty, with the kernel started as a grading worker's would be."""
    from autograder import sandbox

    monkeypatch.setenv("AUTOGRADER_SANDBOX", "1")  # no sandbox of its own: a plain kernel, fast
    sandbox.EVENTS.clear()
    yield sandbox.EVENTS
    sandbox.EVENTS.clear()


def test_a_lost_cell_output_is_graded_again_from_the_submitted_cells(monkeypatch, sandboxed_events):
    """An IOPub timeout (the reply came, the output did not) is the machine's fault, not the
    student's: the notebook runs once more from the submitted cells and that run counts; when
    it happens again, the second run stands (the cell's kernel is stopped, later cells not run)."""
    from nbclient.exceptions import CellTimeoutError
    from nbconvert.preprocessors import ExecutePreprocessor

    from autograder.sandbox import SandboxedExecute

    real, calls = ExecutePreprocessor.preprocess_cell, []

    def lose_the_first_output(self, cell, resources, index):
        calls.append(index)
        if len(calls) in lost:
            time.sleep(slow)
            raise CellTimeoutError("A cell timed out while it was being executed, after 15 seconds.\n"
                                   "The message was: Timeout waiting for IOPub output.")
        return real(self, cell, resources, index)

    monkeypatch.setattr(ExecutePreprocessor, "preprocess_cell", lose_the_first_output)
    lost, slow = {1}, 0
    nb, _ = SandboxedExecute(timeout=60).preprocess(_two_cells(), {})
    assert calls == [0, 0, 1]
    assert _outputs(nb) == [[], [("stream", "answer 42\n")]]
    assert [e["event"] for e in sandboxed_events] == ["regraded"]
    assert "IOPub timeout" in sandboxed_events[0]["detail"]

    calls.clear(), sandboxed_events.clear()
    lost = {1, 2}
    nb, _ = SandboxedExecute(timeout=60).preprocess(_two_cells(), {})
    assert calls == [0, 0]
    assert _outputs(nb) == [[("error", "CellTimeoutError")], [("error", "KernelDied")]]
    assert [e["event"] for e in sandboxed_events] == ["regraded", "kernel_unresponsive", "error"]

    # after the cell's own timeout it is the student's code that holds the kernel: no second run
    calls.clear(), sandboxed_events.clear()
    lost, slow = {1}, 1.2
    nb, _ = SandboxedExecute(timeout=1).preprocess(_two_cells(), {})
    assert calls == [0] and [e["event"] for e in sandboxed_events] == ["kernel_unresponsive", "error"]


def test_a_kernel_that_does_not_start_is_started_once_more(monkeypatch, sandboxed_events):
    """A kernel that fails before its first cell (e.g. a port taken by another process) gets a
    second start; a second failure leaves the notebook not autograded, as nbgrader reports it."""
    from nbclient import NotebookClient

    from autograder.sandbox import SandboxedExecute

    real, starts = NotebookClient.start_new_kernel_client, []

    def fail_to_start(self):
        starts.append(1)
        if len(starts) in failing:
            raise RuntimeError("Kernel died before replying to kernel_info")
        return real(self)

    monkeypatch.setattr(NotebookClient, "start_new_kernel_client", fail_to_start)
    failing = {1}
    nb, _ = SandboxedExecute(timeout=60).preprocess(_two_cells(), {})
    assert len(starts) == 2 and _outputs(nb) == [[], [("stream", "answer 42\n")]]
    assert [(e["event"], e["detail"]) for e in sandboxed_events] == [
        ("regraded", "the kernel did not start (RuntimeError: Kernel died before replying to kernel_info)")]

    starts.clear()
    failing = {1, 2}
    with pytest.raises(RuntimeError, match="Kernel died before replying"):
        SandboxedExecute(timeout=60).preprocess(_two_cells(), {})
    assert len(starts) == 2
