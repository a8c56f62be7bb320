"""The figures that the notebook and the README quote agree with ``bench/results/``."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_notebook  # noqa: E402
import bench_training_curve  # noqa: E402

RESULTS = json.loads(bench_notebook.RESULTS.read_text())


def _markdown(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_results_file_is_a_full_multi_seed_run_that_records_the_machine():
    assert RESULTS["mode"] == "full" and RESULTS["summary"]["seeds"] >= 3
    assert RESULTS["machine"]["cpu_count"] >= 1 and RESULTS["machine"]["cpu_model"]
    assert {"python", "keras", "numpy"} <= set(RESULTS["versions"])
    assert [name for name in RESULTS["versions"] if name.startswith("tensorflow")], "no TensorFlow version recorded"
    for run in RESULTS["runs"]:
        for key in ("wall_s", "peak_rss_mib", "epochs", "train_accuracy", "val_accuracy",
                    "test_accuracy_moving", "test_accuracy", "example_prediction"):
            assert key in run, f"seed {run['seed']} lacks {key}"
        assert run["epochs"] == RESULTS["settings"]["epochs"]
        assert run["test_accuracy"] == run["test_accuracy_recalibrated"]
    assert RESULTS["summary"] == bench_notebook.summarise(RESULTS["runs"])
    assert RESULTS["meets_targets"] == bench_notebook.meets_targets(RESULTS["summary"])


def test_results_were_measured_with_todays_default_settings():
    from resnet_utils import training

    assert RESULTS["settings"] == training.FULL


@pytest.mark.parametrize("path", [ROOT / "source" / "residual_networks" / "Residual_Networks.ipynb",
                                  ROOT / "release" / "residual_networks" / "Residual_Networks.ipynb"],
                         ids=["source", "release"])
def test_notebook_quotes_the_measured_figures(path):
    text = _markdown(path)
    for name, figure in bench_notebook.quoted_figures(RESULTS).items():
        assert figure in text, f"{path.name} does not quote {name} = {figure!r} from bench/results/notebook.json"


def test_readme_quotes_the_measured_figures():
    text = (ROOT / "README.md").read_text()
    for name in ("wall", "memory", "test_median", "test_min", "moving_median", "epochs"):
        figure = bench_notebook.quoted_figures(RESULTS)[name]
        assert figure in text, f"README.md does not quote {name} = {figure!r} from bench/results/notebook.json"


def test_quoted_figures_change_with_the_results():
    changed = json.loads(json.dumps(RESULTS))
    changed["summary"]["test_accuracy_median"] -= 0.1
    assert bench_notebook.quoted_figures(changed)["test_median"] != bench_notebook.quoted_figures(RESULTS)["test_median"]


def test_parse_outputs_reads_what_the_notebook_prints():
    text = ("after 5 epochs: training accuracy 0.951, validation accuracy 0.407\n"
            "test accuracy with the moving statistics: 0.392\n"
            "test accuracy with recalibrated statistics: 0.900 (16 batches of 32)\n"
            "test accuracy: 0.900 on 120 images\n"
            "/x/resnet_utils/assets/hand_three.png: predicted 3 (p = 0.93)\n"
            "saved resnet50_signs.keras (271 MB); the reloaded model predicts the same: True\n"
            "head   (6,)                    12,294  avg_pool, flatten, fc6\n"
            "total                      23,600,006\n")
    assert bench_notebook.parse_outputs(text) == {
        "epochs": 5, "train_accuracy": 0.951, "val_accuracy": 0.407, "test_accuracy_moving": 0.392,
        "test_accuracy_recalibrated": 0.9, "test_accuracy": 0.9,
        "example_prediction": {"class": "3", "probability": 0.93}, "reload_identical": True,
        "resnet50_parameters": 23_600_006}


def test_readme_quotes_the_training_curve():
    curve = json.loads(bench_training_curve.RESULTS.read_text())
    assert curve["settings"] == dict(RESULTS["settings"], verbose=0)   # the same recipe as the notebook
    assert len(curve["points"]) >= 2 and curve["machine"]["cpu_model"]
    text = (ROOT / "README.md").read_text()
    for line in bench_training_curve.quoted_points(curve):
        assert line in text, f"README.md does not quote {line!r} from bench/results/training_curve.json"


def test_readme_quotes_the_binder_check():
    """README's Binder paragraph quotes bench/results/binder.json (written by `make binder-check`)."""
    binder = json.loads((ROOT / "bench" / "results" / "binder.json").read_text())
    assert binder["pass"] is True and binder["machine"]["cpu_count"] >= 1 and binder["machine"]["cpu_model"]
    release, walkthrough = binder["notebooks"]
    assert release["notebook"] == "release/residual_networks/Residual_Networks.ipynb" and release["mode"] == "fast"
    assert walkthrough["notebook"].startswith("notebooks/01_")
    text = " ".join((ROOT / "README.md").read_text().split())
    quoted = ("the release notebook took %.0f s with a peak of %d MiB, the walkthrough %.0f s and %d MiB"
              % (release["wall_s"], release["peak_rss_mib"], walkthrough["wall_s"], walkthrough["peak_rss_mib"]))
    assert quoted in text, "README.md does not quote bench/results/binder.json: expected %r" % quoted
    assert "(%.0f MiB)" % binder["limit_mib"] in text
