"""Run the ungraded walkthrough notebooks (``notebooks/*.ipynb``): time, memory and what they print.

Each notebook is executed top to bottom with nbclient in a fresh ``python3`` kernel (cwd
``notebooks/``), one at a time. Per notebook the script records the wall time, the peak resident
memory (RSS) of the kernel's process tree (sampled every 0.2 s with psutil, as
``bench_notebook.py`` does), the kernel's own ``getrusage`` high-water mark and CPU time (user +
system, read by a cell appended at the end), the 1-minute load average before and after, and
every figure the notebook's text quotes, parsed from the lines its code cells print
(:func:`parse_outputs`). On a shared machine the wall time depends on the load, the CPU time
much less. The mybinder.org budget the notebooks are sized for is about 10 minutes on 2 CPU
cores and 2 GB of memory.

A full-mode run of all three notebooks writes ``bench/results/walkthroughs.json`` (with the CPU
model and count, the load average at the end and the package versions); the notebooks' text and
the README quote that file (:func:`quoted_figures`), and ``tests/test_quoted_figures.py`` fails
when they disagree. Other runs are written only to ``--json``.

Usage::

    python bench/bench_walkthroughs.py                 # all notebooks, full mode -> walkthroughs.json
    python bench/bench_walkthroughs.py --fast          # RESNET_FAST=1 (what the tests run)
    python bench/bench_walkthroughs.py 02_degradation  # only the notebooks whose name matches
    python bench/bench_walkthroughs.py --save bench/out  # also keep the executed notebooks
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from bench_notebook import PeakRSS, cpu_model, versions  # the assignment benchmark's sampler and records

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
RESULTS = ROOT / "bench" / "results" / "walkthroughs.json"
RSS_CELL = (
    "import json as _json, resource as _resource, sys as _sys\n"
    "_ru = _resource.getrusage(_resource.RUSAGE_SELF)\n"
    "_scale = 1 if _sys.platform == 'darwin' else 1024  # ru_maxrss: bytes on macOS, KiB on Linux\n"
    "print('BENCH_MAXRSS', _json.dumps([_ru.ru_maxrss * _scale, _ru.ru_utime + _ru.ru_stime]))"
)

# ----------------------------------------------------------------------------- what the notebooks print

#: 01_vanishing_gradients: the lines of its cells (Experiments 1 to 4b), one pattern each.
VANISHING = {
    "spectra": re.compile(r"(?m)^((?:plain|residual), \d+ blocks?)\s+largest\s+(\S+)\s+median\s+(\S+)\s+"
                          r"smallest\s+(\S+)\s+(\d+) of (\d+) are 0$"),
    "data": re.compile(r"(\d+) examples; the most frequent class is (\d+)% of them"),
    "at_init": re.compile(r"(?m)^(\d+) layers\s+first-layer gradient: plain\s+(\S+)\s+residual\s+(\S+) "
                          r"\(residual, all layers:\s+(\S+) to\s+(\S+)\)$"),
    "backward": re.compile(r"(?m)^(\d+) layers: gradient at the stem / at the last block: plain\s+(\S+)\s+"
                           r"residual\s+(\S+)$"),
    "settings": re.compile(r"(?m)^(.{24}) (plain|residual)\s+gradients\s+(\S+) to\s+(\S+), "
                           r"first / last layer\s+(\S+)$"),
    "training": re.compile(r"(?m)^((?:plain|residual)-\d+)\s+loss (\S+) -> (\S+) \(accuracy (\d+)% over the last "
                           r"20 steps\); first-layer gradient: median (\S+) after step (\d+), "
                           r"exactly 0 in (\d+) of (\d+) steps$"),
}

#: 02_degradation: data, networks, budget, training, the last-3-epochs table and its verdict.
DEGRADATION = {
    "data": re.compile(r"train \((\d+), (\d+), \d+, 3\), test \((\d+),"),
    "networks": re.compile(r"(?m)^(\S+)\s+(\d+) weight layers, ([\d,]+) parameters$"),
    "budget": re.compile(r"(\d+) epochs of (\d+) batches: (\d+) steps, ([\d,]+) images seen per network"),
    "final": re.compile(r"(?m)^(\S+)\s+final training error\s+([\d.]+)%, test error\s+([\d.]+)%\s+\((\d+) s\)$"),
    "last3": re.compile(r"(?m)^(\S+)\s+([\d.]+)%\s+([\d.]+)%$"),
    "gap": re.compile(r"deeper minus shallower, training error: plain ([+-][\d.]+) points, ResNet ([+-][\d.]+) points"),
    "verdict": re.compile(r"(?m)^(plain-\d+): (.+)$"),
}

#: 03_inside_a_residual_block: training, branch ratios per block, accuracy with a block deleted.
INSIDE = {
    "training": re.compile(r"(?m)^(\S+): training accuracy (\d+)%, test accuracy (\d+)% \((\d+) s\)$"),
    "ratios": re.compile(r"(?m)^(\S+ (?:at initialisation|trained))\s+(s\db\d .*)$"),
    "ablation": re.compile(r"(?m)^(\S+)\s+all blocks (\d+)%; one block deleted: mean (\d+)%, min (\d+)%, max (\d+)%$"),
    "without": re.compile(r"(?m)^(\S+)\s+without (.*)$"),
}
BLOCK_VALUE = re.compile(r"(s\db\d) ([\d.]+)%?")


def _mode(text: str) -> str | None:
    """``"full"`` or ``"fast"``, from the first cell's line."""
    if "RESNET_FAST is set" in text:
        return "fast"
    return "full" if "full run (set RESNET_FAST=1" in text else None


def parse_vanishing(text: str) -> dict:
    """What 01_vanishing_gradients printed (see :data:`VANISHING`)."""
    p = VANISHING
    out: dict = {"mode": _mode(text)}
    out["spectra"] = {label: {"largest": float(a), "median": float(m), "smallest": float(s), "zero": int(z), "of": int(n)}
                      for label, a, m, s, z, n in p["spectra"].findall(text)}
    for examples, majority in p["data"].findall(text):
        out.update(teacher_examples=int(examples), majority_class_percent=int(majority))
    out["at_init"] = {depth: {"plain_first": float(pf), "residual_first": float(rf), "residual_min": float(lo),
                              "residual_max": float(hi)} for depth, pf, rf, lo, hi in p["at_init"].findall(text)}
    out["stem_over_last_block"] = {depth: {"plain": float(pl), "residual": float(res)}
                                   for depth, pl, res in p["backward"].findall(text)}
    out["init_settings"] = {}
    for title, kind, lo, hi, ratio in p["settings"].findall(text):
        out["init_settings"].setdefault(title.strip(), {})[kind] = {"min": float(lo), "max": float(hi),
                                                                    "first_over_last": float(ratio)}
    out["training"] = {label: {"loss_first": float(l0), "loss_last20": float(l1), "accuracy_last20_percent": int(acc),
                               "first_layer_median": float(med), "median_after_step": int(after),
                               "first_layer_zero_steps": int(zero), "steps": int(steps)}
                       for label, l0, l1, acc, med, after, zero, steps in p["training"].findall(text)}
    return out


def parse_degradation(text: str) -> dict:
    """What 02_degradation printed (see :data:`DEGRADATION`); errors in percent."""
    p = DEGRADATION
    out: dict = {"mode": _mode(text)}
    for train, size, test in p["data"].findall(text):
        out.update(train_images=int(train), image_size=int(size), test_images=int(test))
    out["networks"] = {label: {"weight_layers": int(layers), "parameters": int(params.replace(",", ""))}
                       for label, layers, params in p["networks"].findall(text)}
    for epochs, batches, steps, images in p["budget"].findall(text):
        out["budget"] = {"epochs": int(epochs), "batches_per_epoch": int(batches), "steps": int(steps),
                         "images_seen": int(images.replace(",", ""))}
    out["final"] = {label: {"training_error": float(tr), "test_error": float(te), "train_s": int(s)}
                    for label, tr, te, s in p["final"].findall(text)}
    out["last3"] = {label: {"training_error": float(tr), "test_error": float(te)}
                    for label, tr, te in p["last3"].findall(text)}
    for plain, resnet in p["gap"].findall(text):
        out["deeper_minus_shallower"] = {"plain": float(plain), "ResNet": float(resnet)}
    out["verdict"] = {label: line for label, line in p["verdict"].findall(text)}
    return out


def parse_inside(text: str) -> dict:
    """What 03_inside_a_residual_block printed (see :data:`INSIDE`); accuracies in percent."""
    p = INSIDE
    out: dict = {"mode": _mode(text)}
    out["training"] = {label: {"train_accuracy": int(tr), "test_accuracy": int(te), "train_s": int(s)}
                       for label, tr, te, s in p["training"].findall(text)}
    out["residual_ratios"] = {label: {b: float(v) for b, v in BLOCK_VALUE.findall(rest)}
                              for label, rest in p["ratios"].findall(text)}
    out["ablation"] = {label: {"full": int(full), "mean": int(mean), "min": int(lo), "max": int(hi)}
                       for label, full, mean, lo, hi in p["ablation"].findall(text)}
    for label, rest in p["without"].findall(text):
        out["ablation"].setdefault(label, {})["without"] = {b: int(v) for b, v in BLOCK_VALUE.findall(rest)}
    return out


PARSERS = {"01_vanishing_gradients.ipynb": parse_vanishing, "02_degradation.ipynb": parse_degradation,
           "03_inside_a_residual_block.ipynb": parse_inside}


def parse_outputs(notebook: str, text: str) -> dict:
    """The figures the notebook ``notebook`` (file name) printed in ``text``; missing ones are absent."""
    return PARSERS[notebook](text)


# ----------------------------------------------------------------------------- what the texts quote


def sci(x: float, digits: int = 1) -> str:
    r"""``x`` in LaTeX with ``digits`` decimals, as the notebook prints it: ``sci(4.5e-06)`` is ``4.5\cdot10^{-6}``."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa}\\cdot10^{{{int(exponent)}}}"


def decades(x: float) -> int:
    """The exponent of the power of ten nearest to ``x`` (``decades(2.6e-27) == -27``)."""
    return round(math.log10(x))


def peak_mib(run: dict) -> int:
    """A run's peak memory: the larger of the sampled peak RSS of the kernel's process tree and the
    kernel's own high-water mark (``ru_maxrss``, which sampling cannot miss)."""
    return max(run["peak_rss_tree_mib"], run["kernel_maxrss_mib"] or 0)


def run_time_quotes(run: dict) -> dict:
    """What a walkthrough's "Run time" paragraph quotes of its own run."""
    return {"wall": f"Our full run took {run['wall_s']:.0f} s top to bottom",
            "memory": f"a peak of {peak_mib(run)} MiB of memory"}


def _gradient_quotes(p: dict) -> dict:
    """Walkthrough 1, sections 1 to 3: singular values and gradient norms at initialisation."""
    spectra = p["spectra"]
    one, plain25, res25 = spectra["plain, 1 block"], spectra["plain, 25 blocks"], spectra["residual, 25 blocks"]
    init, stem = p["at_init"], p["stem_over_last_block"]["50"]
    first = {depth: init[depth]["plain_first"] for depth in ("10", "30", "50")}
    residual = [v for d in init.values() for v in (d["residual_min"], d["residual_max"])]
    s = p["init_settings"]
    small, he, he_res = s["small init N(0, 0.05²)"]["plain"], s["He init"]["plain"], s["He init"]["residual"]
    bn, bn_res = s["He init + BatchNorm"]["plain"], s["He init + BatchNorm"]["residual"]
    return {
        "one block": f"its largest singular value is about {one['largest']:.1f}, and {one['zero']} of its {one['of']}",
        "25 plain blocks": f"the largest singular value is around $10^{{{decades(plain25['largest'])}}}$",
        "25 residual blocks": f"between {res25['smallest']:.2f} and {res25['largest']:.2f} after 25 blocks",
        "decay": f"roughly {(math.log10(first['10']) - math.log10(first['50'])) / 2:.0f} orders of magnitude every 20",
        "depths": f"${sci(first['10'])}$ at depth 10, ${sci(first['30'])}$ at depth 30 and ${sci(first['50'])}$ at depth 50",
        "learning rate": f"about $10^{{{decades(init['50']['residual_first'] / first['50'])}}}$ times larger",
        "residual": f"between ${sci(min(residual))}$ and ${sci(max(residual))}$ in every layer at every depth",
        "small init": f"at depth 50 between ${sci(small['min'])}$ and ${sci(small['max'])}$",
        "stem": f"about {-decades(stem['plain'])} orders of magnitude smaller than the one at the last block",
        "stem residual": f"the stem gets {stem['residual']:.2f} times the gradient of the last block",
        "He plain": f"between {he['min']:.2g} and {he['max']:.2g} in every layer",
        "He residual": f"between ${sci(he_res['min'])}$ and ${sci(he_res['max'])}$",
        "BN plain": f"about {bn['first_over_last']:,.0f} times larger than the last one",
        "BN residual": f"between {bn_res['min']:.2g} and {bn_res['max']:.2g}",
    }


def _never_zero(track: dict) -> str:
    zero, steps = track["first_layer_zero_steps"], track["steps"]
    return f"never exactly zero (0 of the {steps} steps)" if zero == 0 else f"exactly zero in {zero} of the {steps} steps"


def _training_quotes(p: dict) -> dict:
    """Walkthrough 1, section 4: the first training steps (Experiments 4a and 4b) and the conclusion."""
    t = p["training"]
    plain30, res30, plain50, res50 = t["plain-30"], t["residual-30"], t["plain-50"], t["residual-50"]
    bn = p["init_settings"]["He init + BatchNorm"]["plain"]
    return {
        "4a plain loss": f"its loss goes from {plain30['loss_first']:.3f} to {plain30['loss_last20']:.3f}",
        "4a plain accuracy": f"({plain30['accuracy_last20_percent']}% accuracy over the last 20 steps)",
        "4a zero steps": f"the first layer's gradient was {_never_zero(plain30)}",
        "4a residual": f"fits the task ({res30['accuracy_last20_percent']}% accuracy over the last 20 steps)",
        "4b zero steps": f"its first layer's gradient was {_never_zero(plain50)}",
        "4b explosion": f"gradient norms up to ${sci(bn['max'])}$ at initialisation",
        "4b medians": (f"its median after step {plain50['median_after_step']} was ${sci(plain50['first_layer_median'], 0)}$, "
                       f"less than the residual network's ${sci(res50['first_layer_median'], 0)}$"),
        "4b plain loss": (f"its loss started at {plain50['loss_first']:.3f}, and over the last 20 of the {plain50['steps']} "
                          f"steps it was {plain50['loss_last20']:.3f} with {plain50['accuracy_last20_percent']}% accuracy"),
        "majority": f"({p['majority_class_percent']}% of the data)",
        "4b residual": (f"started from a loss of {res50['loss_first']:.3f} and went down to {res50['loss_last20']:.3f}, "
                        f"with {res50['accuracy_last20_percent']}% accuracy"),
        "conclusion": f"the first layer's about {bn['first_over_last']:,.0f} times the last one's",
    }


#: The paper's CIFAR-10 budget (He et al. 2015, section 4.2): 64,000 iterations of 128 images.
PAPER_IMAGES_SEEN = 64_000 * 128


def _degradation_quotes(p: dict) -> dict:
    """Walkthrough 2: the data, the budget and section 6's reading of the four runs."""
    final, budget = p["final"], p["budget"]
    trained = {label: final[label] for label in ("plain-20", "ResNet-20", "ResNet-56")}
    tests = sorted(f["test_error"] for f in trained.values())
    trains = sorted(f["training_error"] for f in trained.values())
    r20, r56 = p["last3"]["ResNet-20"], p["last3"]["ResNet-56"]
    return {
        "56-layer time": f"the two 56-layer networks ({final['plain-56']['train_s']} s and {final['ResNet-56']['train_s']} s",
        "data": f"{p['train_images']} training and {p['test_images']} test images",
        "budget": f"({budget['epochs']} epochs of {budget['batches_per_epoch']} batches: {budget['steps']})",
        "plain-20": f"plain-20 brings its training error from chance down to {final['plain-20']['training_error']:.1f}%",
        "plain-56": f"{final['plain-56']['training_error']:.1f}% after the last epoch",
        "plain-56 test": f"its test error stays near chance too ({final['plain-56']['test_error']:.1f}%)",
        "images seen": f"{budget['steps']} steps ({budget['images_seen']:,} images seen)",
        "paper budget": f"some {round(PAPER_IMAGES_SEEN / budget['images_seen'], -1):.0f} times more",
        "ResNets": (f"(final training error {final['ResNet-56']['training_error']:.1f}% vs "
                    f"{final['ResNet-20']['training_error']:.1f}%)"),
        "test range": f"test errors between {tests[0]:.1f}% and {tests[-1]:.1f}%",
        "ResNet test": (f"final test error {final['ResNet-56']['test_error']:.1f}% vs {final['ResNet-20']['test_error']:.1f}%; "
                        f"{r56['test_error']:.1f}% vs {r20['test_error']:.1f}% over the last 3 epochs"),
        "gap": f"({trains[0]:.1f}% to {trains[-1]:.1f}% vs {tests[0]:.1f}% to {tests[-1]:.1f}%)",
    }


def _ratio_quotes(ratios: dict) -> dict:
    """Walkthrough 3, section 2: the residual branch relative to the shortcut, per block."""
    init, trained = ratios["ResNet-20 at initialisation"], ratios["ResNet-20 trained"]
    largest = sorted(sorted(init, key=init.get)[-2:])
    later = [v for block, v in trained.items() if block != "s1b1"]
    return {
        "init": f"(ratios {min(init.values()):.2f} to {max(init.values()):.2f})",
        "largest at init": f"(`{largest[0]}`, `{largest[1]}`) have the largest ratios",
        "trained": f"every block but the first has a ratio below 1 ({min(later):.2f} to {max(later):.2f})"
        if max(later) < 1 else "not every later block has a ratio below 1",
        "last block": f"to {trained[list(trained)[-1]]:.2f} in the last block",
        "first block": f"(`s1b1`, ratio {trained['s1b1']:.2f})",
    }


def _ablation_quotes(p: dict) -> dict:
    """Walkthrough 3, section 4: test accuracy with one block deleted."""
    plain, res = p["ablation"]["plain-20"], p["ablation"]["ResNet-20"]
    without = res["without"]
    late = [v for block, v in plain["without"].items() if not block.startswith("s1")]
    cheapest = sorted(without, key=without.get)[-2:][::-1]
    worst = sorted(without, key=without.get)[:4]
    above = sum(without[b] > plain["without"][b] for b in without)
    names = [f"`{b}`" for b in sorted(worst)]
    return {
        "training time": f"it was trained for {p['training']['ResNet-20']['train_s']} s",
        "plain": f"The trained plain-20 classifies {plain['full']}% of the test images correctly",
        "plain deleted": f"leaves between {plain['min']}% and {plain['max']}%, {plain['mean']}% on average",
        "plain late": f"leaves it at {min(late)}% to {max(late)}%",
        "resnet": f"The trained ResNet-20 ({res['full']}%) keeps {res['min']}% to {res['max']}% after one deletion, "
                  f"{res['mean']}% on average",
        "above": "stays above the plain network for every block" if above == len(without)
        else f"stays above the plain network for {above} of the {len(without)} blocks",
        "cheapest": (f"Deleting `{cheapest[0]}` or `{cheapest[1]}` costs the least "
                     f"({res['full'] - without[cheapest[0]]} and {res['full'] - without[cheapest[1]]} points)"),
        "worst": (f"The four deletions that hurt most, to between {without[worst[0]]}% and {without[worst[-1]]}%, "
                  f"are those of {', '.join(names[:-1])} and {names[-1]}"),
    }


def quoted_figures(results: dict) -> dict[str, dict[str, str]]:
    """The exact strings that each walkthrough's text quotes from a results file, per notebook.

    One place formats them, so that the test that compares the texts with the file and a person
    updating the texts after a new benchmark use the same numbers.
    """
    runs = results["notebooks"]
    vanishing, degradation, inside = (runs[name] for name in sorted(PARSERS))
    return {
        "01_vanishing_gradients.ipynb": {**run_time_quotes(vanishing), **_gradient_quotes(vanishing["printed"]),
                                         **_training_quotes(vanishing["printed"])},
        "02_degradation.ipynb": {**run_time_quotes(degradation), **_degradation_quotes(degradation["printed"])},
        "03_inside_a_residual_block.ipynb": {**run_time_quotes(inside), **_ratio_quotes(inside["printed"]["residual_ratios"]),
                                             **_ablation_quotes(inside["printed"])},
    }


def _time_and_memory(run: dict) -> str:
    return f"{run['wall_s']:.0f} s, {peak_mib(run)} MiB"


def readme_quotes(results: dict) -> dict[str, str]:
    """The exact strings that README.md quotes from a results file (walkthrough section and benchmark table)."""
    runs = results["notebooks"]
    loads = [run[key] for run in runs.values() for key in ("load_average_before", "load_average_end")]
    final = runs["02_degradation.ipynb"]["printed"]["final"]
    return {
        **{name: _time_and_memory(run) for name, run in runs.items()},   # the last column of the notebook's row
        "table": "; ".join(f"{name[:2]}: {_time_and_memory(run)}" for name, run in runs.items()),
        "machine": f"{results['machine']['cpu_count']}-core {results['machine']['cpu_model']}",
        "load": f"1-minute load average {min(loads):.1f} to {max(loads):.1f}",
        "errors": (f"plain-56 stayed at chance ({final['plain-56']['training_error']:.1f}% training error) while "
                   f"plain-20 reached {final['plain-20']['training_error']:.1f}%, ResNet-20 "
                   f"{final['ResNet-20']['training_error']:.1f}% and ResNet-56 {final['ResNet-56']['training_error']:.1f}%"),
    }


def _kernel_env(fast: bool) -> dict:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)  # it, too, switches on fast mode (resnet_utils.config)
    env.pop("RESNET_FAST", None)
    if fast:
        env["RESNET_FAST"] = "1"
    return env


def _execute(nb, fast: bool, timeout: int) -> tuple[float, int, str | None]:
    """Run every cell of ``nb`` in place; return (wall seconds, peak RSS of the kernel tree, error)."""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    error = None
    with client.setup_kernel(env=_kernel_env(fast), cwd=str(NOTEBOOKS)):
        monitor = PeakRSS(client.km.provisioner.process.pid)
        monitor.start()
        try:
            for index, cell in enumerate(nb.cells):
                client.execute_cell(cell, index)
        except Exception as exc:  # report and go on with the next notebook
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            monitor.stop()
    return time.perf_counter() - t0, monitor.peak, error


def _stdout(nb) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


def run_notebook(path: Path, fast: bool, timeout: int, save: Path | None) -> dict:
    """Execute one walkthrough; return its measurements and what it printed."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(RSS_CELL))
    load_before = round(os.getloadavg()[0], 2)
    wall, peak, error = _execute(nb, fast, timeout)
    maxrss = cpu = None
    for line in _stdout(nb).splitlines():
        if line.startswith("BENCH_MAXRSS"):
            maxrss, cpu = json.loads(line.split(maxsplit=1)[1])
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    nb.cells.pop()
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return {"notebook": path.name, "mode": "fast" if fast else "full", "wall_s": round(wall, 1),
            "kernel_cpu_s": None if cpu is None else round(cpu, 1), "peak_rss_tree_mib": round(peak / 2**20),
            "kernel_maxrss_mib": None if maxrss is None else round(maxrss / 2**20),
            "load_average_before": load_before, "load_average_end": round(os.getloadavg()[0], 2),
            "figures": images, "error": error, "printed": parse_outputs(path.name, _stdout(nb))}


def _print_row(r: dict) -> None:
    cpu = "?" if r["kernel_cpu_s"] is None else f"{r['kernel_cpu_s']:.0f} s"
    kernel = "?" if r["kernel_maxrss_mib"] is None else f"{r['kernel_maxrss_mib']} MiB"
    print(f"{r['notebook']:36s} {r['mode']:5s} {r['wall_s']:7.1f} s {cpu:>10s} {r['peak_rss_tree_mib']:12d} MiB "
          f"{kernel:>14s} {r['figures']:8d} {r['load_average_end']:5.1f}" + (f"   ERROR {r['error']}" if r["error"] else ""),
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="run only notebooks whose file name contains one of these")
    parser.add_argument("--fast", action="store_true", help="set RESNET_FAST=1 (the quick mode the tests use)")
    parser.add_argument("--timeout", type=int, default=1800, help="per-cell timeout in seconds")
    parser.add_argument("--save", type=Path, help="folder to write the executed notebooks to")
    parser.add_argument("--json", type=Path, help=f"results file (default {RESULTS.relative_to(ROOT)} for a full "
                                                  "run of all notebooks; other runs are written only when given)")
    args = parser.parse_args(argv)
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.names:
        paths = [p for p in paths if any(n in p.name for n in args.names)]
    if not paths:
        print("no notebooks matched", file=sys.stderr)
        return 2
    results = {"command": " ".join(["python bench/bench_walkthroughs.py", *(argv if argv is not None else sys.argv[1:])]),
               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform()},
               "versions": versions(), "notebooks": {}}
    print(f"{'notebook':36s} {'mode':5s} {'wall':>9s} {'kernel CPU':>10s} {'peak RSS (tree)':>16s} "
          f"{'kernel maxrss':>14s} {'figures':>8s} {'load':>5s}")
    for path in paths:
        r = run_notebook(path, args.fast, args.timeout, args.save)
        results["notebooks"][path.name] = r
        _print_row(r)
    results["machine"]["load_average_end"] = round(os.getloadavg()[0], 2)
    output = args.json or (RESULTS if not args.fast and not args.names else None)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {output}")
    return 1 if any(r["error"] for r in results["notebooks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
