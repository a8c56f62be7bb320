"""nbgrader configuration of the ResNet Course. The repository root is the course root.

Run nbgrader from this folder: `nbgrader generate_assignment residual_networks`,
`nbgrader autograde residual_networks`, `nbgrader generate_feedback residual_networks`,
`nbgrader export`; or `python -m autograder grade residual_networks` to grade in parallel.

Both ways of grading use the same safeguards, registered below as nbgrader preprocessors
(one implementation, in the `autograder` package): duplicated cell ids are de-duplicated
without breaking the grading, deleted test cells are restored, student code runs in the
sandbox (memory cap, no access to the course's files outside the submission, no network,
no other processes), and feedback never shows hidden tests.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = os.environ.get("RESNET_COURSE_ID", "resnet-course")

# Where the exchange lives on a JupyterHub (shared, writable by instructors and students).
# Overridable so that tests and single-machine set-ups can use their own folder.
c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE_ROOT", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True

# Executing notebooks: the course's kernel, a per-cell timeout that suits CPU training in
# nbgrader's fast mode (training runs a tiny version when NBGRADER_EXECUTION is set).
c.Execute.kernel_name = "python3"
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True
c.Execute.raise_on_iopub_timeout = False
c.Execute.execute_retries = 0

# A test cell that writes anything to stderr scores 0 in nbgrader 0.9: TensorFlow and Keras
# log to stderr (oneDNN notices, CPU feature notes, absl warnings, Python warnings).
# These lines are dropped from the outputs before grading; real errors still fail the cell.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?s)(.*?(WARNING|I0000|W0000|E0000|oneDNN|cpu_feature_guard|TF-TRT|absl|"
    r"This TensorFlow binary is optimized|rebuild TensorFlow|UserWarning|DeprecationWarning|"
    r"FutureWarning|warnings\.warn|tensorflow/core|xla|computation_placer|"
    r"All log messages before absl).*)"
)
c.ClearOutput.enabled = True

# A deleted graded cell is restored from the database instead of failing the whole notebook.
c.OverwriteCells.add_missing_cells = True

# Grading untrusted notebooks (plain `nbgrader autograde` and `python -m autograder grade`):
# - nbgrader's DeduplicateIds empties the metadata of a duplicated cell, which then breaks
#   OverwriteCells (KeyError 'grade_id': the whole submission is not graded); the course's
#   version turns the duplicates into ordinary cells (autograder/plugins/nbfixes.py);
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.plugins.nbfixes.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# - the kernel runs in the sandbox (autograder/sandbox/): a memory cap, read access to
#   the Python installation and the course package only, write access to the submission's
#   autograded folder only; output floods are cut, a dying kernel does not stop grading.
c.Autograde.autograde_preprocessors = [
    "autograder.sandbox.SandboxedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# - feedback without the hidden tests' source or their tracebacks (autograder/plugins/feedback.py).
c.GenerateFeedback.preprocessors = [
    "autograder.plugins.feedback.StripHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Keep the generated student version clean.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"
