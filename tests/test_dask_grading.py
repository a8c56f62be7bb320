"""Grading on a Dask cluster (``python -m autograder grade --scheduler ADDRESS``): a local
cluster of 2 worker processes, started here, grades the toy class, and every student gets the
grades and problem reports the class expects -- the expectations the local worker pool meets in
tests/test_autograder_grade.py (the class is graded once per test run by each way)."""

import os

import pytest
import toy_course as toy

from autograder.example_classes import cases
from autograder.grade import GradeRunError, Options, grade

GiB = 1 << 30

pytestmark = pytest.mark.slow  # grading starts Jupyter kernels

# every case of the toy class but the two that only wait for timeouts (slow, nothing new here)
SKIP = ("t07_infinite_loop", "t20_ignores_interrupt")


def _class(root):
    toy.make_toy_course(root, timeout=20)
    students = [c for c in toy.toy_class(root) if c.name not in SKIP]
    toy.write_cases(root, students)
    return students


def _options(root, **kw):
    return Options(assignment="toy", course_root=root, jobs=2, memory_cap=2 * GiB, progress=False, threads=1, **kw)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as c:
        yield c


@pytest.fixture(scope="module")
def graded(tmp_path_factory, cluster):
    """The toy class graded through the Dask cluster: (students, course root, the run)."""
    root = str(tmp_path_factory.mktemp("dask"))
    students = _class(root)
    return students, root, grade(_options(root, scheduler=cluster.scheduler_address))


def test_dask_gives_every_student_the_expected_grades_and_problems(graded):
    students, _, remote = graded
    assert cases.check(remote, students) == []
    assert sorted(r.student for r in remote.results) == sorted(st.name for st in students)


def test_dask_results_land_in_the_instructors_course(graded):
    students, root, remote = graded
    graded = sorted(r.student for r in remote.results if r.graded)
    assert len(graded) >= len(students) - 3  # the renamed, invalid and missing notebooks are not
    for s in graded:
        assert os.path.exists(os.path.join(root, "autograded", s, "toy", "toy.ipynb")), s
        assert os.path.exists(os.path.join(root, "feedback", s, "toy", "toy.html")), s
        log = os.path.join(root, ".autograder", "logs", "toy", "dask-%s.log" % s)
        with open(log) as fh:
            assert fh.readline().startswith("graded on the Dask worker "), s
    assert os.path.exists(os.path.join(root, "grades.csv"))


def test_unreachable_scheduler_says_so(tmp_path, monkeypatch):
    import functools

    import autograder.integrations.cluster as cluster_module
    from autograder.pool import Limits

    root = str(tmp_path)
    toy.make_toy_course(root)
    toy.write_cases(root, toy.toy_class(root)[:1])
    with pytest.raises(RuntimeError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        cluster_module.DaskPool("tcp://127.0.0.1:9", root, Limits(60, GiB, GiB), connect_timeout=2)
    monkeypatch.setattr(cluster_module.DaskPool, "__init__",
                        functools.partialmethod(cluster_module.DaskPool.__init__, connect_timeout=2))
    with pytest.raises(GradeRunError, match="cannot reach the Dask scheduler"):
        grade(_options(root, scheduler="tcp://127.0.0.1:9", feedback=False))
