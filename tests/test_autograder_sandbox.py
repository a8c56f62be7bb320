"""The grading kernel's sandbox with TensorFlow: it still works under the memory cap, and
(where the OS offers Landlock) file access from C++ code is confined too."""

import os

import pytest
import toy_course as toy

from autograder.cases import Case
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
