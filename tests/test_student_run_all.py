"""A student's Run All of the solved assignment, in fast mode: every new training cell works.

The full run (time, memory, accuracy) is measured by ``bench/bench_notebook.py``; here the
same code path runs in fast mode (``RESNET_FAST=1``: a few images, one epoch) through
nbclient, which raises on the first cell that fails.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_notebook  # noqa: E402

pytestmark = pytest.mark.slow  # grades whole submissions / runs the notebook: minutes


@pytest.fixture(scope="module")
def fast_run():
    return bench_notebook.run(bench_notebook.SOURCE_NB, fast=True, env_extra={}, timeout=300)


def test_every_printed_figure_is_there(fast_run):
    for key in bench_notebook.PATTERNS:
        assert key in fast_run, f"the notebook did not print its {key} line"
    assert fast_run["epochs"] == 1                          # fast mode
    assert fast_run["resnet50_parameters"] == 23_600_006    # the stage table of section 3.2
    assert fast_run["test_accuracy"] == fast_run["test_accuracy_recalibrated"]


def test_saved_model_reloads_identically_and_figures_render(fast_run):
    assert fast_run["reload_identical"] is True
    # the two block diagrams, ResNet50's stages, the whole network, samples, learning curves,
    # BatchNorm shift, confusion matrix, misclassified images, prediction
    assert fast_run["figures"] == 10


def test_fast_run_stays_fast(fast_run):
    assert fast_run["wall_s"] < 120, f"fast mode took {fast_run['wall_s']} s; autograde must stay under a minute a notebook"
