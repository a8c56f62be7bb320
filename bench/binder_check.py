"""Check what mybinder.org serves: the student edition's environment, and the full run inside Binder's limit.

    python bench/binder_check.py [--limit BYTES] [--walkthrough NAME] [--no-unconstrained]
                                 [--keep DIR] [--output FILE] [--timeout S]
    python bench/binder_check.py --update-requirements

What mybinder.org (repo2docker) does with the student edition, reproduced in a temporary folder:

1. the student edition, as ``python -m autograder publish`` writes it (what an instructor
   points Binder at; no ``datasets/`` cache, no ``.venv``);
2. a fresh virtual environment of this Python 3.11 (``binder/runtime.txt``), with
   ``pip install -r binder/requirements.txt`` (pip may use its cache; when pip cannot reach
   the package index the check stops with exit code 3 and says so);
3. ``binder/postBuild`` run in the edition with that environment first on ``PATH`` (the course
   package, the course's kernel, JupyterLab's settings);
4. each notebook executed with nbclient in a fresh kernel of that environment, in the
   notebook's folder, with the kernel and this process in a **memory cgroup** of ``--limit``
   bytes (default 1,750,000,000: mybinder.org's 2 G less room for the Jupyter server and a
   second notebook; :mod:`memcgroup`, cgroup v1 or v2, created as root) and the page cache
   dropped first, as in a fresh container:

   - the release notebook of assignment 1 with its exercises solved, in full mode: the kernel
     reads the limit and picks its training recipe (``resnet_utils.training.memory_plan``);
   - the release notebook again in a cgroup without a limit (unless ``--no-unconstrained``): the
     default recipe's own need, the peak charge that ``training.FULL_NEEDS_BYTES`` is checked
     against;
   - one walkthrough (default ``01_vanishing_gradients``, in full mode).

   Where no cgroup can be created (not root, no cgroup file system) the check says so, runs
   without one and compares the peak RSS of the kernel's process tree with the limit instead.

The results go to ``bench/results/binder.json``: per run, completion, wall seconds, the cgroup's
peak charge and its peak of anonymous memory, OOM kills, the peak RSS, the test accuracy, the
``memory:`` line the notebook printed (the setting it chose and why), errors; the limit,
pass/fail, install and postBuild seconds, ``pip check``, the CPU, the load, the package
versions and the date. Exit code 0 when every run completed without error inside the limit,
1 otherwise, 3 when the environment could not be built.

``--update-requirements`` rewrites ``binder/requirements.txt``: the top-level packages listed
in its first section, then every package they depend on (as installed in this environment,
markers evaluated for this platform), each pinned to its version in ``constraints.txt``.
``tests/test_binder_links.py`` fails when the file differs from what this would write.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench_notebook import PeakRSS, cpu_model, parse_outputs  # the same sampler and parser as the other benchmarks
from memcgroup import CgroupUnavailable, MemoryCgroup, drop_page_cache

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
REQUIREMENTS = BINDER / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
RESULTS = ROOT / "bench" / "results" / "binder.json"
RELEASE_NB = Path("release") / "residual_networks" / "Residual_Networks.ipynb"
WALKTHROUGHS = Path("notebooks")
DEFAULT_WALKTHROUGH = "01_vanishing_gradients"
BINDER_BYTES = 2_000_000_000         # mybinder.org: 2 GB per user (Kubernetes limit "2G")
#: The check's limit: Binder's 2 G less room for the Jupyter server and a second notebook.
LIMIT_BYTES = 1_750_000_000
LIMIT_MIB = round(LIMIT_BYTES / 2**20, 1)
#: The line the training cell prints about memory (``resnet_utils.training.MemoryPlan``).
MEMORY_LINE = re.compile(r"^memory: .*$", re.M)
#: Installed everywhere, never pinned in constraints.txt (pip freeze leaves them out).
BUILD_TOOLS = {"pip", "setuptools", "wheel"}
#: The line that separates the top-level packages from their dependencies in requirements.txt.
DEPENDENCIES_MARK = "# --- their dependencies"
VERSIONS_RECORDED = ("tensorflow-cpu", "keras", "numpy", "h5py", "matplotlib", "pillow", "ipykernel",
                     "jupyterlab", "notebook", "nbgrader", "nbclient", "resnet-course")
#: What pip prints when it cannot reach the index (and the cache does not have the file).
OFFLINE_PATTERNS = ("NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
                    "Network is unreachable", "ConnectionError", "Could not fetch URL", "ProxyError",
                    "No matching distribution found", "Could not find a version that satisfies")


class CheckError(RuntimeError):
    """The students' environment could not be built (exit code 3)."""


# ----------------------------------------------------------------------------- requirements

def canonical(name: str) -> str:
    """A distribution name as pip compares it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, tuple[str, str]]:
    """``{canonical name: (name as written, version)}`` of a file of ``name==version`` lines.

    Comments and blank lines are skipped; any other kind of line (``-r``, ``-c``, ``-e``, a
    URL, a range) raises ``ValueError``: these files pin exact versions only.
    """
    pins: dict[str, tuple[str, str]] = {}
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", line)
        if not m:
            raise ValueError(f"{path.name}:{number}: not a 'name==version' pin: {raw!r}")
        if canonical(m[1]) in pins:
            raise ValueError(f"{path.name}:{number}: {m[1]} is pinned twice")
        pins[canonical(m[1])] = (m[1], m[2])
    return pins


def top_level(path: Path = REQUIREMENTS) -> list[str]:
    """The packages of the first section of ``binder/requirements.txt`` (before the mark)."""
    text = Path(path).read_text()
    head = text.split(DEPENDENCIES_MARK, 1)[0]
    tmp = [line.split(" #", 1)[0].strip() for line in head.splitlines()]
    return [line.split("==", 1)[0] for line in tmp if line and not line.startswith("#")]


def dependency_closure(names) -> dict[str, str]:
    """``{canonical name: name}`` of ``names`` and everything they require, transitively, as
    installed in this environment (extras followed, markers evaluated here), build tools
    (:data:`BUILD_TOOLS`) left out."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    out: dict[str, str] = {}
    todo = [(n, frozenset()) for n in names]
    done = set()
    while todo:
        name, extras = todo.pop()
        key = (canonical(name), extras)
        if key in done or key[0] in BUILD_TOOLS:
            continue
        done.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            raise CheckError(f"{name} is not installed in {sys.prefix}: the requirements are computed from the "
                             f"installed metadata; run `make venv` first") from None
        out.setdefault(canonical(name), dist.metadata["Name"])
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in {"", *extras}):
                continue
            todo.append((req.name, frozenset(req.extras)))
    return out


def render_requirements(top: list[str], constraints: Path = CONSTRAINTS, template: Path = REQUIREMENTS) -> str:
    """The text of ``binder/requirements.txt``: the header and top-level section of ``template``
    (kept as written, versions updated), then the dependencies, all pinned to ``constraints``."""
    pins = read_pins(constraints)
    closure = dependency_closure(top)
    missing = sorted(n for n in closure if n not in pins)
    if missing:
        raise CheckError(f"not pinned in {constraints.name}: {', '.join(missing)}")
    head_lines = []
    for raw in Path(template).read_text().split(DEPENDENCIES_MARK, 1)[0].splitlines():
        line, sep, comment = raw.partition(" #")
        name = line.strip().split("==", 1)[0]
        if name and not name.startswith("#"):  # a pin: the version from constraints.txt, the comment kept
            raw = f"{name}=={pins[canonical(name)][1]}".ljust(len(line)) + sep + comment
        head_lines.append(raw)
    while head_lines and not head_lines[-1].strip():
        head_lines.pop()
    tops = {canonical(n) for n in top}
    deps = sorted((pins[n][0] for n in closure if n not in tops), key=str.lower)
    body = [f"{pins[canonical(n)][0]}=={pins[canonical(n)][1]}" for n in deps]
    return "\n".join(head_lines + ["", f"{DEPENDENCIES_MARK} (all of them, so that every build installs the same set;",
                                   "# written by `python bench/binder_check.py --update-requirements`)", *body]) + "\n"


# ----------------------------------------------------------------------------- the check

def _run(cmd, *, cwd=None, env=None, what: str, pip: bool = False, timeout: int = 3600) -> str:
    """Run ``cmd``; return its output, or raise :class:`CheckError` naming ``what`` failed
    (for a ``pip`` command that could not reach the package index, saying so)."""
    proc = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        if pip and any(p in out for p in OFFLINE_PATTERNS):
            raise CheckError(f"{what}: pip could not download a package: is the package index (PyPI) reachable? "
                             f"pip's cache did not have everything either. Connect to the network (or to a "
                             f"PyPI mirror: PIP_INDEX_URL) and run `make binder-check` again.\n"
                             f"--- the end of pip's output:\n{out[-2500:]}")
        raise CheckError(f"{what} failed (exit code {proc.returncode}):\n{out[-4000:]}")
    return out


def publish_edition(dest: Path) -> int:
    """Step 1: the student edition of every assignment in ``dest`` (``python -m autograder publish``);
    return its number of files."""
    sys.path.insert(0, str(ROOT))
    from autograder.integrations.publish import PublishError, publish

    try:
        publish(dest)
    except PublishError as exc:
        raise CheckError(f"python -m autograder publish failed: {exc}") from None
    return sum(1 for f in dest.rglob("*") if f.is_file())


def venv_env(venv: Path) -> dict:
    """This process's environment with ``venv`` activated and nothing of the course's own
    set-up leaking in (no PYTHONPATH, no fast-mode or nbgrader switches)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "RESNET_FAST", "NBGRADER_EXECUTION",
                        "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR")}
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = str(venv / "bin") + os.pathsep + env.get("PATH", "")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def build_environment(work: Path) -> dict:
    """Steps 1-3: the edition, the venv from its ``binder/requirements.txt``, its ``binder/postBuild``."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    wanted = runtime.removeprefix("python-")
    have = "%d.%d" % sys.version_info[:2]
    if wanted != have:
        raise CheckError(f"binder/runtime.txt asks for Python {wanted}; run this check with Python {wanted} "
                         f"(this is {have})")
    repo, venv = work / "edition", work / "venv"
    files = publish_edition(repo)
    print(f"[binder-check] published the student edition ({files} files) to {repo}", flush=True)
    t0 = time.perf_counter()
    _run([sys.executable, "-m", "venv", str(venv)], what="python -m venv")
    env = venv_env(venv)
    py = str(venv / "bin" / "python")
    print("[binder-check] pip install -r binder/requirements.txt (TensorFlow: a few minutes) ...", flush=True)
    _run([py, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env=env, cwd=repo,
         what="pip install --upgrade pip", pip=True)
    _run([py, "-m", "pip", "install", "--quiet", "--progress-bar", "off", "-r", "binder/requirements.txt"],
         env=env, cwd=repo, what="pip install -r binder/requirements.txt", pip=True)
    install_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    print("[binder-check] binder/postBuild ...", flush=True)
    post = _run(["bash", "binder/postBuild"], env=env, cwd=repo, what="binder/postBuild", pip=True)
    postbuild_s = time.perf_counter() - t0
    check = subprocess.run([py, "-m", "pip", "check"], env=env, capture_output=True, text=True)
    freeze = subprocess.run([py, "-m", "pip", "list", "--format=json"], env=env, capture_output=True,
                            text=True, check=True)
    installed = {canonical(p["name"]): p["version"] for p in json.loads(freeze.stdout)}
    return {"repo": repo, "venv": venv, "env": env, "install_s": round(install_s, 1),
            "postbuild_s": round(postbuild_s, 1), "postbuild_output": post.strip().splitlines()[-3:],
            "pip_check": (check.stdout + check.stderr).strip(), "pip_check_ok": check.returncode == 0,
            "installed": installed}


PROBE = ("import sys as _s, resnet_utils as _r, keras as _k\n"
         "print('BINDER_PROBE', _s.executable, _r.__file__, _k.backend.backend())")


def solved_release(repo: Path):
    """The release notebook of the edition ``repo`` with its exercises solved by the reference
    solution of the course's ``source/`` (what a student who did them runs; the handed-out
    notebook stops at the first test cell)."""
    sys.path.insert(0, str(ROOT))
    from autograder.example_classes.submissions import fill, solution_sources

    return fill(repo / RELEASE_NB, solution_sources(ROOT / "source" / RELEASE_NB.relative_to("release")))


def _load(notebook: Path, built: dict):
    import nbformat

    path = built["repo"] / notebook
    nb = solved_release(built["repo"]) if notebook == RELEASE_NB else nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    return nb


def _probe(nb) -> dict:
    """Where the kernel ran (the probe cell's line): its Python, resnet_utils, Keras's backend."""
    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("BINDER_PROBE"):
                _, exe, module, backend = line.split(" ", 3)
                return {"kernel_python": exe, "resnet_utils": module, "keras_backend": backend}
    return {}


def _run_cells(nb, path: Path, env: dict, built: dict, timeout: int, group: MemoryCgroup | None):
    """Execute every cell of ``nb`` in a fresh kernel (in ``group`` if given); (error, peak RSS)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    ksm = KernelSpecManager(kernel_dirs=[str(built["venv"] / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error, monitor = None, None
    if group is not None:
        group.enter()   # this process and the kernel it starts
    try:
        with client.setup_kernel(env=env, cwd=str(path.parent)):
            monitor = PeakRSS(client.km.provisioner.process.pid)
            monitor.start()
            try:
                for index, cell in enumerate(nb.cells):
                    client.execute_cell(cell, index)
            finally:
                monitor.stop()
    except Exception as exc:  # a failing cell or a dead kernel: recorded, the check goes on
        lines = [line for line in str(exc).splitlines() if line.strip()]
        error = f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:500]
    finally:
        if group is not None:
            group.leave()
    return error, (monitor.peak if monitor else 0)


def execute(notebook: Path, built: dict, fast: bool, timeout: int, limit: int | None) -> dict:
    """Step 4 for one notebook: run it in a fresh kernel of the new environment (its kernelspec,
    installed by postBuild) in the notebook's folder, in a memory cgroup of ``limit`` bytes
    (None: a cgroup without a limit) after dropping the page cache; where no cgroup can be
    made, without one, comparing the peak RSS with the limit. The release notebook runs with
    its exercises solved (:func:`solved_release`)."""
    path = built["repo"] / notebook
    nb = _load(notebook, built)
    env = dict(built["env"], **({"RESNET_FAST": "1"} if fast else {}))
    group, why_not = MemoryCgroup(limit if limit is not None else 2**62), None   # 2**62: no limit
    try:
        group.create()
        why_not = drop_page_cache()
        group.start_sampling()
    except CgroupUnavailable as exc:
        group, why_not = None, str(exc)
        if limit is not None:
            env["RESNET_MEMORY_LIMIT"] = str(limit)   # the notebook still plans for the limit
    t0 = time.perf_counter()
    try:
        error, peak_rss = _run_cells(nb, path, env, built, timeout, group)
        wall = time.perf_counter() - t0
        measured = _cgroup_readings(group) if group is not None else {}
        described = group.describe() if group is not None else None
    finally:
        if group is not None:
            group.remove()
    probe = _probe(nb)
    if not error and not str(probe.get("kernel_python", "")).startswith(str(built["venv"])):
        error = f"the kernel did not run in the new environment: {probe or 'no probe output'}"
    if not error and measured.get("oom_kills"):
        error = f"the kernel was killed for going over the limit ({measured['oom_kills']} OOM kill(s))"
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")
    peak = measured.get("cgroup_peak_bytes", peak_rss)
    rel = lambda p: str(Path(p).relative_to(built["repo"])) if p and Path(p).is_relative_to(built["repo"]) else p
    return {"notebook": notebook.as_posix(), "mode": "fast" if fast else "full",
            "exercises": "solved with the reference solution" if notebook == RELEASE_NB else None,
            "limit_bytes": limit, "cgroup": described,
            "cgroup_unavailable": why_not if group is None else None,
            "page_cache_dropped": group is not None and why_not is None,
            "completed": error is None, "wall_s": round(wall, 1),
            **{k: v for k, v in measured.items() if k != "cgroup_peak_bytes"},
            "peak_mib": round(peak / 2**20), "peak_measure": "cgroup charge" if measured else "RSS of the kernel's process tree",
            "peak_rss_mib": round(peak_rss / 2**20),
            "under_limit": limit is None or peak < limit, "error": error,
            "memory_line": (MEMORY_LINE.search(text) or [None])[0],
            "test_accuracy": parse_outputs(text).get("test_accuracy"),
            "resnet_utils_from": rel(probe.get("resnet_utils")), "keras_backend": probe.get("keras_backend"),
            "figures": sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                           for o in c.get("outputs", []))}


def _cgroup_readings(group: MemoryCgroup) -> dict:
    """What the cgroup recorded: its peak charge, the peak of anonymous memory, OOM kills, major faults
    (pages read back from disk: many mean the limit squeezed the page cache)."""
    group.sample()
    stat = group.stat()
    return {"cgroup_peak_bytes": group.peak_bytes, "cgroup_peak_mib": round(group.peak_bytes / 2**20),
            "anon_peak_mib": round(group.anon_peak_bytes / 2**20),
            "mapped_file_peak_mib": round(group.mapped_peak_bytes / 2**20), "oom_kills": group.oom_kills,
            "major_page_faults": stat.get("pgmajfault", stat.get("total_pgmajfault"))}


def run_named(results: dict, prefix: str) -> dict:
    """The run of ``results`` whose name starts with ``prefix`` (``"release, full mode, in the limit"``, ...)."""
    found = [r for r in results["runs"] if r["name"].startswith(prefix)]
    if len(found) != 1:
        raise KeyError(f"{len(found)} runs named {prefix!r} in the results")
    return found[0]


def quoted(results: dict) -> dict:
    """The exact strings that README and the notebook quote from ``bench/results/binder.json``."""
    limited = run_named(results, "release, full mode, in the limit")
    walk = run_named(results, "walkthrough")
    out = {
        "limit": f"{results['limit_bytes']:,} bytes",
        "release_in_limit": (f"completed in {limited['wall_s']:.0f} s with a test accuracy of "
                             f"{limited['test_accuracy']:.3f}, at most {limited['anon_peak_mib']} MiB of "
                             f"anonymous memory"),
        "walkthrough_in_limit": f"walkthrough 01 took {walk['wall_s']:.0f} s (at most {walk['anon_peak_mib']} MiB)",
        "cpu": f"{results['machine']['cpu_count']}-core {results['machine']['cpu_model']}",
    }
    free = [r for r in results["runs"] if r["name"].startswith("release, full mode, no limit")]
    if free:
        out["release_unconstrained"] = (f"without a limit the default recipe's run took {free[0]['wall_s']:.0f} s "
                                        f"(test accuracy {free[0]['test_accuracy']:.3f}) with at most "
                                        f"{free[0]['anon_peak_mib']} MiB of anonymous memory and "
                                        f"{free[0]['mapped_file_peak_mib']} MiB of mapped library pages")
    return out


def _runs_to_make(args, walkthrough: Path) -> list[tuple[str, Path, bool, int | None]]:
    """(name, notebook, fast, limit) of every run: the release notebook in the limit, unconstrained, the walkthrough."""
    runs = [("release, full mode, in the limit", RELEASE_NB, False, args.limit)]
    if not args.no_unconstrained:
        runs.append(("release, full mode, no limit (the default recipe's need)", RELEASE_NB, False, None))
    runs.append((f"walkthrough, {'fast' if args.walkthrough_fast else 'full'} mode, in the limit",
                 walkthrough, args.walkthrough_fast, args.limit))
    return runs


def _failures(runs: list[dict]) -> list[str]:
    failures = [f"{r['name']}: {r['error']}" for r in runs if r["error"]]
    failures += [f"{r['name']}: peak {r['peak_mib']} MiB >= {round(r['limit_bytes'] / 2**20)} MiB"
                 for r in runs if not r["under_limit"]]
    return failures


def _results(args, built: dict, runs: list[dict], start: float) -> dict:
    installed = built["installed"]
    failures = _failures(runs)
    return {
        "command": "make binder-check  (python bench/binder_check.py" + (" --walkthrough-fast" if args.walkthrough_fast else "") + ")",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
        "python": platform.python_version(),
        "served": "the student edition (python -m autograder publish)",
        "requirements": {"file": "binder/requirements.txt", "pinned": len(read_pins(REQUIREMENTS)),
                         "top_level": top_level(), "installed_packages": len(installed),
                         "pip_check_ok": built["pip_check_ok"], "pip_check": built["pip_check"]},
        "versions": {name: installed[name] for name in VERSIONS_RECORDED if name in installed},
        "install_s": built["install_s"], "postbuild_s": built["postbuild_s"],
        "limit": f"{args.limit} bytes (mybinder.org's 2 G less room for the server and a second notebook)",
        "limit_bytes": args.limit, "limit_mib": round(args.limit / 2**20, 1),
        "runs": runs,
        "total_s": round(time.perf_counter() - start, 1),
        "pass": not failures, "failures": failures,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=LIMIT_BYTES, metavar="BYTES",
                        help=f"the memory cgroup's limit (default {LIMIT_BYTES})")
    parser.add_argument("--no-unconstrained", action="store_true",
                        help="skip the run without a limit (the default recipe's need)")
    parser.add_argument("--walkthrough", default=DEFAULT_WALKTHROUGH, help="walkthrough notebook in notebooks/ "
                        f"(name without .ipynb; default {DEFAULT_WALKTHROUGH})")
    parser.add_argument("--walkthrough-fast", action="store_true", help="run the walkthrough in fast mode")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    parser.add_argument("--keep", type=Path, default=None, metavar="DIR",
                        help="build in DIR (emptied first) and keep it, instead of a temporary folder")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(ROOT)})")
    parser.add_argument("--update-requirements", action="store_true",
                        help="rewrite binder/requirements.txt from its top-level section and constraints.txt, and stop")
    args = parser.parse_args(argv)

    if args.update_requirements:
        try:
            text = render_requirements(top_level())
        except CheckError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 3
        REQUIREMENTS.write_text(text)
        print(f"wrote {REQUIREMENTS.relative_to(ROOT)}: {len(read_pins(REQUIREMENTS))} pinned packages")
        return 0

    walkthrough = WALKTHROUGHS / f"{args.walkthrough.removesuffix('.ipynb')}.ipynb"
    if not (ROOT / walkthrough).exists():
        print(f"error: no walkthrough {walkthrough}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        work_ctx, work = None, args.keep.resolve()
    else:
        work_ctx = tempfile.TemporaryDirectory(prefix="binder-check-")
        work = Path(work_ctx.name)
    try:
        try:
            built = build_environment(work)
        except CheckError as exc:
            print(f"[binder-check] error: {exc}", file=sys.stderr)
            return 3
        runs = []
        for name, notebook, fast, limit in _runs_to_make(args, walkthrough):
            print(f"[binder-check] {name}: {notebook} ...", flush=True)
            r = {"name": name, **execute(notebook, built, fast, args.timeout, limit)}
            runs.append(r)
            print(f"[binder-check]   {r['wall_s']:.0f} s, peak {r['peak_mib']} MiB ({r['peak_measure']})"
                  + (f", test accuracy {r['test_accuracy']}" if r["test_accuracy"] is not None else "")
                  + (f", ERROR {r['error']}" if r["error"] else ""), flush=True)
            if r["memory_line"]:
                print(f"[binder-check]   {r['memory_line']}", flush=True)
            if r["cgroup_unavailable"]:
                print(f"[binder-check]   no cgroup: {r['cgroup_unavailable']}; compared the peak RSS instead", flush=True)
    finally:
        if work_ctx is not None:
            work_ctx.cleanup()
    results = _results(args, built, runs, start)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("install_s", "postbuild_s", "pass")}))
    print(f"[binder-check] wrote {args.output}: {'PASS' if results['pass'] else 'FAIL: ' + '; '.join(results['failures'])}")
    return 0 if results["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
