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
import bench_training_memory  # noqa: E402
import bench_walkthroughs  # noqa: E402
from autograder import course  # noqa: E402

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


def test_readme_and_notebook_quote_the_binder_check():
    """README and the notebook quote bench/results/binder.json (written by `make binder-check`)."""
    import binder_check

    from resnet_utils import training

    binder = json.loads(binder_check.RESULTS.read_text())
    figures = dict(binder_check.quoted(binder), need=f"({training.FULL_NEEDS_BYTES / 1e9:.1f} GB")
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"`training.FULL_NEEDS_BYTES`, {figures['need'][1:]})" in readme
    for name in ("limit", "release_in_limit", "walkthrough_in_limit", "release_unconstrained"):
        assert figures[name] in readme, f"README.md does not quote {name} = {figures[name]!r} from binder.json"
    for path in (ROOT / "source" / "residual_networks" / "Residual_Networks.ipynb",
                 ROOT / "release" / "residual_networks" / "Residual_Networks.ipynb"):
        text = " ".join(_markdown(path).split())
        for name in ("release_in_limit", "need"):
            assert figures[name] in text, f"{path} does not quote {figures[name]!r}"


def test_cifar_results_file_is_a_full_run_that_records_its_data_and_the_machine():
    """bench/results/cifar_notebook.json (``bench_notebook.py --assignment resnet_cifar --seeds 3``):
    full runs of the second assignment's notebook with today's short recipe for the data they
    used (the offline fallback is named, with the reason), the ResNet-20 v1's accuracies, the
    unit signals, and consistent summary/targets."""
    import dataclasses

    from resnet_utils import cifar

    results = json.loads(bench_notebook.CIFAR_RESULTS.read_text())
    assert results["notebook"] == "source/resnet_cifar/ResNet_CIFAR.ipynb" and results["mode"] == "full"
    source = results["data"]["source"]
    assert results["settings"] == dataclasses.asdict(cifar.SHORT[source])
    assert results["machine"]["cpu_count"] >= 1 and results["machine"]["cpu_model"]
    assert results["targets"] == bench_notebook.CIFAR_TARGETS
    assert results["summary"] == bench_notebook.summarise(results["runs"]) and results["summary"]["seeds"] >= 3
    assert results["meets_targets"] == bench_notebook.meets_targets(results["summary"], bench_notebook.CIFAR_TARGETS)
    assert [run["seed"] for run in results["runs"]] == list(range(len(results["runs"])))
    for run in results["runs"]:
        assert set(run["networks"]) == {"ResNet-20 v1"}
        assert run["parameters"]["ResNet-20 v1"] == 274_442 and run["parameters"]["ResNet-11 v2"] == 299_178
        assert run["data_source"] == source
        assert set(run["unit_signals"]) == {"ResNet-110 v1", "ResNet-110 v2"}
    if source == "signs-fallback":
        assert results["data"]["cifar10_unavailable"] and "fallback" in results["data"]["note"]
        shaped = results.get("cifar10_shaped_run")
        if shaped:   # the time and memory of CIFAR-10's sizes, measured offline
            assert shaped["settings"] == dataclasses.asdict(cifar.SHORT["cifar10"])
            assert shaped["run"]["recipe"] == str(cifar.SHORT["cifar10"])
            assert shaped["summary"]["wall_s_max"] == shaped["run"]["wall_s"]
            assert shaped["meets_targets"] == bench_notebook.meets_targets(
                shaped["summary"], bench_notebook.time_and_memory(bench_notebook.CIFAR_TARGETS))


def test_cifar_unit_signals_back_the_notebooks_reading():
    """What section 3's "How to read this" says of the ResNet-110 figure holds in every
    benchmark run: v2's convolution inputs stay at sqrt(1/2) ~ 0.71, v1's grow with depth, and
    in neither network is the gradient at the first unit smaller than at the last."""
    results = json.loads(bench_notebook.CIFAR_RESULTS.read_text())
    for run in results["runs"]:
        v1, v2 = run["unit_signals"]["ResNet-110 v1"], run["unit_signals"]["ResNet-110 v2"]
        assert abs(v2["conv_input_rms_first"] - 0.71) <= 0.03 and abs(v2["conv_input_rms_last"] - 0.71) <= 0.03
        assert v1["conv_input_rms_last"] > 2 * v1["conv_input_rms_first"]
        assert v1["gradient_ratio_first_to_last"] > 1 and v2["gradient_ratio_first_to_last"] > 1
    text = " ".join(_markdown(ROOT / "source" / "resnet_cifar" / "ResNet_CIFAR.ipynb").split())
    assert "$\\sqrt{1/2} \\approx 0.71$" in text and "the printed ratios are above 1" in text


def test_cifar_accuracy_is_quoted_from_the_bench():
    """README and both versions of the notebook quote the 3-seed accuracy of the ResNet-20 v1
    from cifar_notebook.json (bench_notebook.cifar_quoted_figures)."""
    results = json.loads(bench_notebook.CIFAR_RESULTS.read_text())
    q = bench_notebook.cifar_quoted_figures(results)
    sentence = (f"over {q['seeds']} the reference solution's ResNet-20 v1 reached test accuracies of "
                f"{q['test_range']} on the {q['test_images']}")
    for path in (ROOT / "source" / "resnet_cifar" / "ResNet_CIFAR.ipynb",
                 ROOT / "release" / "resnet_cifar" / "ResNet_CIFAR.ipynb"):
        assert sentence in " ".join(_markdown(path).split()), f"{path} does not quote {sentence!r}"
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert sentence in readme, f"README.md does not quote {sentence!r}"


def test_cifar_notebook_quotes_no_unmeasured_timing():
    """The second assignment's notebook quotes no time of its own run (it says that the time
    depends on the CPU); if it ever does, the figure must come from cifar_notebook.json."""
    import re

    for path in (ROOT / "source" / "resnet_cifar" / "ResNet_CIFAR.ipynb",
                 ROOT / "release" / "resnet_cifar" / "ResNet_CIFAR.ipynb"):
        text = _markdown(path)
        assert not re.search(r"\b\d+(\.\d+)? ?(s|min|minutes|seconds|GiB|MiB)\b", text), \
            f"{path.name} quotes a time or memory figure: take it from bench/results/cifar_notebook.json"


def test_readme_quotes_the_cifar_bench():
    """README's assignment 2 paragraph quotes the time and memory of bench/results/cifar_notebook.json."""
    q = bench_notebook.cifar_quoted_figures(json.loads(bench_notebook.CIFAR_RESULTS.read_text()))
    text = " ".join((ROOT / "README.md").read_text().split())
    for quoted in (f"a student's full Run All took at most {q['wall']} with a peak RSS of at most {q['memory']}",
                   f"it took {q['shaped_wall']} and {q['shaped_memory']}", q["cpu"]):
        assert quoted in text, "README.md does not quote bench/results/cifar_notebook.json: %r" % quoted


def test_readme_quotes_the_dask_bench():
    """README's Dask paragraph quotes bench/results/dask.json, and its 1,000-student estimate
    is the bench's formula applied to the measured time per student."""
    import bench_dask

    d = json.loads(bench_dask.RESULTS.read_text())
    local, dask = d["runs"]["local"], d["runs"]["dask"]
    assert d["same_grades"] is True and local["as_expected"] and dask["as_expected"]
    assert d["machine"]["cpu_count"] >= 1 and d["machine"]["cpu_model"]
    assert d["overhead"] == round(dask["wall_s"] / local["wall_s"] - 1, 3)
    est = d["estimate"]
    assert est["wall_s"] == bench_dask.estimate(local["mean_student_s"], max(d["overhead"], 0.0),
                                                est["students"], est["concurrent"])
    text = " ".join((ROOT / "README.md").read_text().split())
    for quoted in ("the local pool took %.0f s, a local Dask cluster %.0f s" % (local["wall_s"], dask["wall_s"]),
                   "overhead %+.0f %%" % (100 * d["overhead"]),
                   "a student took %.0f s on average" % local["mean_student_s"],
                   "about %.0f minutes" % (est["wall_s"] / 60)):
        assert quoted in text, "README.md does not quote bench/results/dask.json: %r" % quoted


def test_dask_estimate_formula():
    import bench_dask

    assert bench_dask.estimate(40.0, 0.25, students=1000, concurrent=50) == 20 * 40 * 1.25
    assert bench_dask.estimate(40.0, 0.0, students=101, concurrent=50) == 3 * 40


def test_readme_quotes_the_autograde_bench():
    """bench/results/autograde.json (``bench/bench_autograde.py``): every assignment's reference
    solution autograded with full marks within the target, on a recorded machine; README quotes it."""
    import bench_autograde

    d = json.loads(bench_autograde.RESULTS.read_text())
    assert d["machine"]["cpu_count"] >= 1 and d["machine"]["cpu_model"]
    assert set(d["assignments"]) == {"residual_networks", "resnet_cifar"}
    assert d["targets_wall_s_max"] == bench_autograde.TARGETS_S == {"residual_networks": 15.0, "resnet_cifar": 10.0}
    for name, r in d["assignments"].items():
        assert r["runs"] and r["full_marks"] is True, name
        assert r["max_score"] == sum(course.graded_cells(assignment=name).values()), name  # today's notebook
        assert r["wall_s_max"] == max(run["wall_s"] for run in r["runs"])
        assert r["wall_s_max"] <= d["targets_wall_s_max"][name], name
        assert r["every_cell_wall_s_max"] == max(run["wall_s"] for run in r["every_cell_runs"])
        for run in r["runs"]:  # the cells after the last test did not run; the breakdown adds up
            b = run["breakdown"]
            assert b["not_run"] > 0 and b["cells"], name
            assert abs(b["before_first_cell_s"] + b["cells_s"] + b["after_last_cell_s"] - run["wall_s"]) < 1.5, name
    line = bench_autograde.readme_quote(d)
    text = " ".join((ROOT / "README.md").read_text().split())
    assert line in text, "README.md does not quote bench/results/autograde.json: expected %r" % line


def test_the_autograde_breakdown_reads_nbclients_timestamps():
    import nbformat

    import bench_autograde

    def cell(source, busy, idle, gid=None):
        meta = {"execution": {"iopub.status.busy": busy, "iopub.status.idle": idle}} if busy else {}
        if gid:
            meta["nbgrader"] = {"grade_id": gid, "grade": True}
        return nbformat.v4.new_code_cell(source, metadata=meta)

    start = bench_autograde._stamp("2026-12-07T01:00:00.000000Z")
    nb = nbformat.v4.new_notebook(cells=[
        cell("import keras", "2026-12-07T01:00:03.000000Z", "2026-12-07T01:00:05.500000Z", "setup"),
        cell("check()", "2026-12-07T01:00:05.600000Z", "2026-12-07T01:00:06.600000Z", "test_a"),
        cell("train()", None, None)])
    b = bench_autograde.breakdown(nb, start, start + 7.0)
    assert b["before_first_cell_s"] == 3.0 and b["after_last_cell_s"] == 0.4 and b["not_run"] == 1
    assert [(c["cell"], c["s"]) for c in b["cells"]] == [("setup", 2.5), ("test_a", 1.0)] and b["cells_s"] == 3.5


def test_readme_quotes_where_the_memory_goes():
    """The per-cell peaks behind README's explanation of the unmet memory target."""
    def peak(run, first_line):
        return next(c["peak_rss_mib_so_far"] for c in run["cells"] if c["first_line"].startswith(first_line))

    runs = RESULTS["runs"]
    imports = max(peak(r, "import os") for r in runs)
    trained = max(peak(r, "settings = training.settings()") for r in runs)
    reload = max(peak(r, "path = training.model_path(settings)") - peak(r, "steps = len(history.epoch)")
                 for r in runs)
    quoted = ("the first cell (importing TensorFlow) reaches %.2f GiB, the training cell %.2f GiB (the weights "
              "with AdamW's two moments are 0.26 GiB of it; the traced training step and a batch's activations "
              "most of the rest), and saving and reloading the model adds %.2f GiB"
              % (imports / 1024, trained / 1024, reload / 1024))
    assert quoted in " ".join((ROOT / "README.md").read_text().split()), quoted
    weights_and_moments = 3 * 4 * RESULTS["runs"][0]["resnet50_parameters"]   # float32 weights, m and v
    assert "%.2f GiB" % (weights_and_moments / 2**30) == "0.26 GiB"


def test_readme_quotes_the_training_memory_bench():
    """What one training step adds to a process's peak, per setting (the levers behind the low-memory recipe)."""
    results = json.loads(bench_training_memory.RESULTS.read_text())
    assert [c["name"] for c in results["configs"]] == [c[0] for c in bench_training_memory.CONFIGS]
    assert results["machine"]["cpu_count"] >= 1 and results["machine"]["cpu_model"]
    for c in results["configs"]:
        assert c["training_adds_mib"] == c["peak_rss_mib_trained"] - c["peak_rss_mib_built"] > 0
    text = " ".join((ROOT / "README.md").read_text().split())
    for line in bench_training_memory.quoted_configs(results):
        assert line in text, f"README.md does not quote {line!r} from bench/results/training_memory.json"
    graph8, eager8 = (next(c for c in results["configs"] if c["name"] == n) for n in ("graph, batch 8", "eager, batch 8"))
    line = ("eager execution, which traces nothing, adds %.2f GiB less at batch 8"
            % ((graph8["training_adds_mib"] - eager8["training_adds_mib"]) / 1024))
    assert line in text, line
    bare = results["configs"][0]["peak_rss_mib_trained"]
    line = "A fresh process that only builds the model and trains it at batch 32 already peaks at %.2f GiB" % (bare / 1024)
    assert line in text, line


def test_parse_cifar_outputs_reads_what_the_notebook_prints():
    """bench_notebook.parse_cifar_outputs on lines in the formats of the CIFAR notebook's cells
    (load-data, params, unit-signals, train-v1); a line it did not expect is ignored."""
    text = "\n".join([
        "CIFAR-10 is not available (not in Keras' cache, and this run does not download).",
        "signs-fallback: 1080 training and 120 test images of shape (32, 32, 3), 6 classes",
        "short run: 30 epochs, batch 32, all training images (108 of them held out for validation), "
        "all test images, augmentation on",
        "ResNet-20  v1:   274,442 parameters,   40.6 M multiply-adds per image, 72 Keras layers",
        "ResNet-110 v1: RMS of the convolution inputs 0.71 (first unit) to 6.94 (last unit); "
        "gradient RMS 17.6 times larger at the first unit than at the last",
        "Epoch 3/30 - 6s - accuracy: 0.4",
        "ResNet-20 v1: final training accuracy 0.912, best validation accuracy 0.935, test accuracy "
        "of the best epoch 0.925 (120 test images, signs-fallback)",
    ]) + "\n"
    from resnet_utils import cifar

    signals = {"conv_input_rms": [0.71, 3.0, 6.94], "output_grad": [17.6e-3, 5e-3, 1e-3]}
    assert cifar.describe_unit_signals("ResNet-110 v1", signals) in text   # the line the notebook prints
    out = bench_notebook.parse_cifar_outputs(text)
    assert out["networks"] == {"ResNet-20 v1": {"train_accuracy": 0.912, "best_val_accuracy": 0.935,
                                                "test_accuracy": 0.925, "test_images": 120}}
    assert out["parameters"] == {"ResNet-20 v1": 274_442}
    assert out["unit_signals"] == {"ResNet-110 v1": {"conv_input_rms_first": 0.71, "conv_input_rms_last": 6.94,
                                                     "gradient_ratio_first_to_last": 17.6}}
    assert out["data_source"] == "signs-fallback" and out["recipe"].startswith("short run: 30 epochs")
    assert out["cifar10_unavailable"] == "not in Keras' cache, and this run does not download"
    runs = [{"wall_s": 300.0, "peak_rss_mib": 1200, "networks": out["networks"]},
            {"wall_s": 310.0, "peak_rss_mib": 1100,
             "networks": {"ResNet-20 v1": dict(out["networks"]["ResNet-20 v1"], test_accuracy=0.85)}}]
    summary = bench_notebook.summarise(runs)
    assert summary["test_accuracy_min"] == 0.85 and summary["wall_s_max"] == 310.0
    assert bench_notebook.meets_targets(summary, bench_notebook.CIFAR_TARGETS) == {
        "wall_s_max": True, "peak_rss_mib_max": True, "test_accuracy_min": True}
    assert bench_notebook.time_and_memory(bench_notebook.CIFAR_TARGETS) == {
        "wall_s_max": 600.0, "peak_rss_mib_max": bench_notebook.CIFAR_TARGETS["peak_rss_mib_max"]}


# ----------------------------------------------------------------------------- the walkthrough notebooks

WALKTHROUGHS = json.loads(bench_walkthroughs.RESULTS.read_text())
WALKTHROUGH_NAMES = sorted(p.name for p in bench_walkthroughs.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
#: a time or memory figure, as a text would quote one
TIME_OR_MEMORY = r"\b\d[\d,.]*\s?(s|min|minutes|seconds|hours|GiB|MiB|GB|MB)\b"


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_walkthrough_results_file_is_a_full_run_that_records_the_machine():
    """bench/results/walkthroughs.json (``python bench/bench_walkthroughs.py``): every walkthrough run
    in full mode without an error, with its time, memory and CPU time, on a recorded machine."""
    w = WALKTHROUGHS
    assert w["command"].startswith("python bench/bench_walkthroughs.py") and "--fast" not in w["command"]
    assert w["machine"]["cpu_count"] >= 1 and w["machine"]["cpu_model"] and w["machine"]["load_average_end"] >= 0
    assert {"python", "keras", "numpy"} <= set(w["versions"])
    assert [name for name in w["versions"] if name.startswith("tensorflow")], "no TensorFlow version recorded"
    assert sorted(w["notebooks"]) == WALKTHROUGH_NAMES
    for name, run in w["notebooks"].items():
        assert run["notebook"] == name and run["error"] is None, name
        assert run["mode"] == run["printed"]["mode"] == "full", name
        for key in ("wall_s", "kernel_cpu_s", "peak_rss_tree_mib", "kernel_maxrss_mib", "figures"):
            assert run[key] > 0, f"{name}: {key}"
        assert run["load_average_before"] >= 0 and run["load_average_end"] >= 0


@pytest.mark.parametrize("name", WALKTHROUGH_NAMES)
def test_walkthrough_quotes_the_measured_figures(name):
    """Every figure a walkthrough's text quotes of its run is the one in walkthroughs.json."""
    text = _flat(_markdown(bench_walkthroughs.NOTEBOOKS / name))
    for key, figure in bench_walkthroughs.quoted_figures(WALKTHROUGHS)[name].items():
        assert _flat(figure) in text, f"{name} does not quote {key} = {figure!r} from bench/results/walkthroughs.json"


@pytest.mark.parametrize("name", WALKTHROUGH_NAMES)
def test_walkthrough_quotes_no_unmeasured_time_or_memory(name):
    """A time or memory figure in a walkthrough's text is one that walkthroughs.json backs."""
    import re

    text = _flat(_markdown(bench_walkthroughs.NOTEBOOKS / name))
    for figure in bench_walkthroughs.quoted_figures(WALKTHROUGHS)[name].values():
        text = text.replace(_flat(figure), "")
    found = [m.group(0) for m in re.finditer(TIME_OR_MEMORY, text)]
    assert not found, f"{name} quotes {found}: take them from bench/results/walkthroughs.json"


def test_readme_quotes_the_walkthrough_bench():
    """README's walkthrough section (its table's last column included) and benchmark table quote
    walkthroughs.json, and the section quotes no other time or memory."""
    import re

    raw = (ROOT / "README.md").read_text()
    readme = _flat(raw)
    quotes = bench_walkthroughs.readme_quotes(WALKTHROUGHS)
    for key, figure in quotes.items():
        if key.endswith(".ipynb"):
            row = [line for line in raw.splitlines() if line.startswith(f"| `{key}` |")]
            assert len(row) == 1 and row[0].endswith(f"| {figure} |"), f"README.md's row of {key} does not end with {figure}"
        else:
            assert figure in readme, f"README.md does not quote {key} = {figure!r} from bench/results/walkthroughs.json"
    section = readme.split("## Walkthrough notebooks (ungraded)")[1].split(" ## ")[0]
    for figure in quotes.values():
        section = section.replace(figure, "")
    found = [m.group(0) for m in re.finditer(TIME_OR_MEMORY, section)]
    assert not found, f"README's walkthrough section quotes {found}: take them from bench/results/walkthroughs.json"


def test_walkthrough_quotes_change_with_the_results():
    changed = json.loads(json.dumps(WALKTHROUGHS))
    runs = changed["notebooks"]
    runs["01_vanishing_gradients.ipynb"]["printed"]["training"]["plain-30"]["first_layer_zero_steps"] -= 1
    runs["02_degradation.ipynb"]["wall_s"] += 60
    before, after = bench_walkthroughs.quoted_figures(WALKTHROUGHS), bench_walkthroughs.quoted_figures(changed)
    assert before["01_vanishing_gradients.ipynb"]["4a zero steps"] != after["01_vanishing_gradients.ipynb"]["4a zero steps"]
    assert before["02_degradation.ipynb"]["wall"] != after["02_degradation.ipynb"]["wall"]
    assert bench_walkthroughs.readme_quotes(WALKTHROUGHS) != bench_walkthroughs.readme_quotes(changed)


def test_quote_helpers():
    assert bench_walkthroughs.sci(4.5e-06) == r"4.5\cdot10^{-6}"
    assert bench_walkthroughs.sci(3e-01, 0) == r"3\cdot10^{-1}"
    assert bench_walkthroughs.sci(6.6e04) == r"6.6\cdot10^{4}"
    assert bench_walkthroughs.decades(2.6e-27) == -27 and bench_walkthroughs.decades(6.5e26) == 27


def test_parse_walkthrough_outputs_reads_what_the_notebooks_print():
    """bench_walkthroughs.parse_outputs on lines in the formats of the walkthroughs' cells; lines
    it does not expect are ignored."""
    vanishing = bench_walkthroughs.parse_outputs("01_vanishing_gradients.ipynb", "\n".join([
        "full run (set RESNET_FAST=1 for a quick one)",
        "plain, 1 block         largest  3.15e-01   median  4.65e-17   smallest  5.21e-19   34 of 64 are 0",
        "residual, 25 blocks    largest  2.12e+00   median  9.98e-01   smallest  4.00e-01   0 of 64 are 0",
        "2048 examples; the most frequent class is 29% of them",
        "depth 50: 50 weight layers, 202,052 parameters (plain) vs 202,052 (residual)",
        "50 layers  first-layer gradient: plain  2.0e-28   residual  1.3e-01 (residual, all layers:  1.2e-02 to  2.1e-01)",
        "50 layers: gradient at the stem / at the last block: plain  2.6e-27   residual  8.1e-01",
        "small init N(0, 0.05²)   plain    gradients  7.4e-29 to  7.9e-28, first / last layer  2.1e+00",
        "He init + BatchNorm      residual gradients  7.3e-01 to  9.9e+00, first / last layer  1.1e+00",
        "plain-30     loss 1.386 -> 1.375 (accuracy 27% over the last 20 steps); first-layer gradient: "
        "median 0e+00 after step 50, exactly 0 in 251 of 300 steps",
    ]))
    assert vanishing == {
        "mode": "full", "teacher_examples": 2048, "majority_class_percent": 29,
        "spectra": {"plain, 1 block": {"largest": 0.315, "median": 4.65e-17, "smallest": 5.21e-19, "zero": 34, "of": 64},
                    "residual, 25 blocks": {"largest": 2.12, "median": 0.998, "smallest": 0.4, "zero": 0, "of": 64}},
        "at_init": {"50": {"plain_first": 2.0e-28, "residual_first": 0.13, "residual_min": 0.012, "residual_max": 0.21}},
        "stem_over_last_block": {"50": {"plain": 2.6e-27, "residual": 0.81}},
        "init_settings": {"small init N(0, 0.05²)": {"plain": {"min": 7.4e-29, "max": 7.9e-28, "first_over_last": 2.1}},
                          "He init + BatchNorm": {"residual": {"min": 0.73, "max": 9.9, "first_over_last": 1.1}}},
        "training": {"plain-30": {"loss_first": 1.386, "loss_last20": 1.375, "accuracy_last20_percent": 27,
                                  "first_layer_median": 0.0, "median_after_step": 50, "first_layer_zero_steps": 251,
                                  "steps": 300}}}
    degradation = bench_walkthroughs.parse_outputs("02_degradation.ipynb", "\n".join([
        "RESNET_FAST is set: small, quick run",
        "train (1080, 24, 24, 3), test (120, 24, 24, 3), classes [np.int64(0), np.int64(1)]",
        "plain-56   56 weight layers, 853,478 parameters",
        "8 epochs of 34 batches: 272 steps, 8,640 images seen per network",
        "plain-56   final training error  83.1%, test error  79.2%   (305 s)",
        "mean error over the last 3 epochs (chance = 83.3%)",
        "network     training    test",
        "plain-56       83.4%   80.0%",
        "",
        "deeper minus shallower, training error: plain +69.2 points, ResNet -1.6 points",
        "plain-56: did not train (training error near chance): a failure to train, not degradation",
    ]))
    assert degradation == {
        "mode": "fast", "train_images": 1080, "image_size": 24, "test_images": 120,
        "networks": {"plain-56": {"weight_layers": 56, "parameters": 853_478}},
        "budget": {"epochs": 8, "batches_per_epoch": 34, "steps": 272, "images_seen": 8640},
        "final": {"plain-56": {"training_error": 83.1, "test_error": 79.2, "train_s": 305}},
        "last3": {"plain-56": {"training_error": 83.4, "test_error": 80.0}},
        "deeper_minus_shallower": {"plain": 69.2, "ResNet": -1.6},
        "verdict": {"plain-56": "did not train (training error near chance): a failure to train, not degradation"}}
    inside = bench_walkthroughs.parse_outputs("03_inside_a_residual_block.ipynb", "\n".join([
        "ResNet-20: training accuracy 95%, test accuracy 76% (98 s)",
        "ResNet-20 at initialisation  s1b1 0.88  s2b1 1.75",
        "ResNet-20 trained            s1b1 1.40  s2b1 0.91",
        "ResNet-20  all blocks 76%; one block deleted: mean 50%, min 40%, max 70%",
        "ResNet-20  without s1b1 40%, s2b1 45%",
    ]))
    assert inside == {
        "mode": None, "training": {"ResNet-20": {"train_accuracy": 95, "test_accuracy": 76, "train_s": 98}},
        "residual_ratios": {"ResNet-20 at initialisation": {"s1b1": 0.88, "s2b1": 1.75},
                            "ResNet-20 trained": {"s1b1": 1.4, "s2b1": 0.91}},
        "ablation": {"ResNet-20": {"full": 76, "mean": 50, "min": 40, "max": 70, "without": {"s1b1": 40, "s2b1": 45}}}}


def test_readme_quotes_the_grading_bench():
    """bench/results/grading.json (``bench/bench_grading.py``): the class graded as configured, by
    the baseline commit's grader and with every cell run, in one run with the same grades."""
    import bench_grading

    d = json.loads(bench_grading.RESULTS.read_text())
    assert d["machine"]["cpu_count"] >= 1 and d["machine"]["cpu_model"] and d["students"] == 20
    assert d["grades_differ"] == [] and all(d[k]["rc"] == 0 for k in ("parallel", "parallel_every_cell",
                                                                        "parallel_no_preload"))
    assert d["ratio_to_baseline_commit"] == round(d["baseline_commit"]["wall_s"] / d["parallel"]["wall_s"], 2)
    assert d["ratio_to_every_cell"] == round(d["parallel_every_cell"]["wall_s"] / d["parallel"]["wall_s"], 2)
    assert d["ratio_to_no_preload"] == round(d["parallel_no_preload"]["wall_s"] / d["parallel"]["wall_s"], 2)
    assert d["target_ratio"] == bench_grading.TARGET_RATIO == 3.0
    assert d["ratio_to_baseline_commit"] >= d["target_ratio"]  # issue 24's target, on the recorded machine
    text = " ".join((ROOT / "README.md").read_text().split())
    assert bench_grading.readme_quote(d) in text


def test_the_test_suite_bench_reads_pytests_report():
    import bench_tests

    text = ("============================= slowest durations ==============================\n"
            "155.36s setup    tests/test_a.py::test_demo\n"
            "12.00s call     tests/test_b.py::test_x[one]\n"
            "3.50s call     tests/test_a.py::test_other\n"
            "0.01s teardown tests/test_b.py::test_x[one]\n"
            "=========== 7 failed, 643 passed, 12 warnings in 1618.15s (0:26:58) ============\n")
    durations = bench_tests.parse_durations(text)
    assert [(d["s"], d["phase"], d["test"]) for d in durations[:2]] == [
        (155.36, "setup", "tests/test_a.py::test_demo"), (12.0, "call", "tests/test_b.py::test_x[one]")]
    assert bench_tests.parse_summary(text) == ("7 failed, 643 passed, 12 warnings", 1618.15)
    assert bench_tests.per_file(durations) == {"tests/test_a.py": 158.9, "tests/test_b.py": 12.0}
    assert bench_tests.parse_summary("503 passed, 9 warnings in 59.03s\n") == ("503 passed, 9 warnings", 59.03)  # -q
    assert bench_tests.parse_summary("no summary") is None


def test_readme_quotes_the_test_suite_bench():
    """bench/results/test_suite.json (``bench/bench_tests.py``): both tiers passed; README quotes their
    times and the slowest files of the full run with what each alone covers."""
    import bench_tests

    d = json.loads(bench_tests.RESULTS.read_text())
    assert d["targets_s"] == bench_tests.TARGETS_S == {"full": 900.0, "fast": 90.0}
    assert d["machine"]["cpu_count"] >= 1 and d["machine"]["cpu_model"]
    for tier in ("full", "fast"):
        run = d["tiers"][tier]
        assert "passed" in run["summary"] and "failed" not in run["summary"] and "error" not in run["summary"], tier
        assert run["per_file_s"] and run["pytest_s"] > 0, tier
    assert "-n 2 --dist loadfile" in d["tiers"]["fast"]["command"]
    readme = (ROOT / "README.md").read_text()
    assert bench_tests.quoted(d) in " ".join(readme.split())
    for line in bench_tests.slowest_files_table(d).splitlines():
        assert line in readme, line
    slow_files = [name for name in list(d["tiers"]["full"]["per_file_s"])[:10]]
    assert all(bench_tests.COVERS.get(name) for name in slow_files), "say what each slow file alone covers"
