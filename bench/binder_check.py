"""Check that the students' environment of ``binder/`` installs, runs the notebooks and fits in 2 GB.

    python bench/binder_check.py [--walkthrough NAME] [--walkthrough-fast] [--keep DIR]
                                 [--output FILE] [--timeout S]
    python bench/binder_check.py --update-requirements

What mybinder.org (repo2docker) does with the repository, reproduced in a temporary folder:

1. a copy of the checkout as a clone would have it (tracked files and untracked files that
   git does not ignore: no ``datasets/`` cache, no ``.venv``);
2. a fresh virtual environment of this Python 3.11 (``binder/runtime.txt``), with
   ``pip install -r binder/requirements.txt`` (pip may use its cache; when pip cannot reach
   the package index the check stops with exit code 3 and says so);
3. ``binder/postBuild`` run in the copy with that environment first on ``PATH`` (it installs
   the course package and the course's kernel, ``MALLOC_ARENA_MAX=2`` included);
4. the release notebook in fast mode (``RESNET_FAST=1``, what a student's "Run All" minus the
   full training does; the full training run needs more than 2 GB, see the README) and one
   walkthrough (default ``01_vanishing_gradients``, the lightest, in full mode: what a student
   runs on Binder), each executed with nbclient in a fresh kernel of that environment, in the
   notebook's folder, while :class:`bench_notebook.PeakRSS` samples the resident memory of
   the kernel's process tree.

The results go to ``bench/results/binder.json`` (per notebook: wall seconds, peak RSS MiB,
error; the limit, pass/fail, install and postBuild seconds, ``pip check``, the CPU, the
package versions and the date). Exit code 0 when every notebook ran without error and
every peak stayed under mybinder.org's memory limit (2 GB = 2·10⁹ bytes, Kubernetes' "2G"),
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

from bench_notebook import PeakRSS, cpu_model  # the same peak-RSS sampler as the other benchmarks

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
REQUIREMENTS = BINDER / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
RESULTS = ROOT / "bench" / "results" / "binder.json"
RELEASE_NB = Path("release") / "residual_networks" / "Residual_Networks.ipynb"
WALKTHROUGHS = Path("notebooks")
DEFAULT_WALKTHROUGH = "01_vanishing_gradients"
LIMIT_BYTES = 2_000_000_000          # mybinder.org: 2 GB per user (Kubernetes limit "2G")
LIMIT_MIB = round(LIMIT_BYTES / 2**20, 1)
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


def copy_checkout(dest: Path) -> int:
    """Copy what a clone of this checkout would hold (tracked files, as in the working tree,
    and untracked files that git does not ignore) to ``dest``; return the number of files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    count = 0
    for rel in filter(None, listed):
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        count += 1
    return count


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
    """Steps 1-3: the copy, the venv from ``binder/requirements.txt``, ``binder/postBuild``."""
    runtime = (BINDER / "runtime.txt").read_text().strip()
    wanted = runtime.removeprefix("python-")
    have = "%d.%d" % sys.version_info[:2]
    if wanted != have:
        raise CheckError(f"binder/runtime.txt asks for Python {wanted}; run this check with Python {wanted} "
                         f"(this is {have})")
    repo, venv = work / "repo", work / "venv"
    files = copy_checkout(repo)
    print(f"[binder-check] copied {files} files of the checkout to {repo}", flush=True)
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
    """The release notebook of the copy ``repo`` with its exercises solved by the reference
    solution of ``source/`` (what a student who did them runs; the handed-out notebook stops
    at the first test cell)."""
    sys.path.insert(0, str(ROOT))
    from autograder.submissions import fill, solution_sources

    return fill(repo / RELEASE_NB, solution_sources(repo / "source" / RELEASE_NB.relative_to("release")))


def execute(notebook: Path, built: dict, fast: bool, timeout: int) -> dict:
    """Step 4 for one notebook: run it in a fresh kernel of the new environment (its kernelspec,
    installed by postBuild) in the notebook's folder; wall time, peak RSS of the kernel tree.
    The release notebook runs with its exercises solved (:func:`solved_release`)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = built["repo"] / notebook
    nb = solved_release(built["repo"]) if notebook == RELEASE_NB else nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = dict(built["env"])
    if fast:
        env["RESNET_FAST"] = "1"
    ksm = KernelSpecManager(kernel_dirs=[str(built["venv"] / "share" / "jupyter" / "kernels")])
    km = KernelManager(kernel_name="python3", kernel_spec_manager=ksm)
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    error, monitor = None, None
    t0 = time.perf_counter()
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
    wall = time.perf_counter() - t0
    probe = {}
    for output in nb.cells[-1].get("outputs", []):
        for line in output.get("text", "").splitlines():
            if line.startswith("BINDER_PROBE"):
                _, exe, module, backend = line.split(" ", 3)
                probe = {"kernel_python": exe, "resnet_utils": module, "keras_backend": backend}
    if not error and not str(probe.get("kernel_python", "")).startswith(str(built["venv"])):
        error = f"the kernel did not run in the new environment: {probe or 'no probe output'}"
    peak = monitor.peak if monitor else 0
    rel = lambda p: str(Path(p).relative_to(built["repo"])) if p and Path(p).is_relative_to(built["repo"]) else p
    return {"notebook": notebook.as_posix(), "mode": "fast" if fast else "full",
            "exercises": "solved with the reference solution" if notebook == RELEASE_NB else None,
            "wall_s": round(wall, 1),
            "peak_rss_mib": round(peak / 2**20), "under_limit": peak < LIMIT_BYTES, "error": error,
            "resnet_utils_from": rel(probe.get("resnet_utils")), "keras_backend": probe.get("keras_backend"),
            "figures": sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                           for o in c.get("outputs", []))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walkthrough", default=DEFAULT_WALKTHROUGH, help="walkthrough notebook in notebooks/ "
                        f"(name without .ipynb; default {DEFAULT_WALKTHROUGH})")
    parser.add_argument("--walkthrough-fast", action="store_true", help="run the walkthrough in fast mode too")
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
        work_ctx = None
        work = args.keep.resolve()
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
        for notebook, fast in ((RELEASE_NB, True), (walkthrough, args.walkthrough_fast)):
            print(f"[binder-check] running {notebook} ({'fast' if fast else 'full'} mode) ...", flush=True)
            r = execute(notebook, built, fast, args.timeout)
            runs.append(r)
            print(f"[binder-check]   {r['wall_s']:.0f} s, peak {r['peak_rss_mib']} MiB"
                  + (f", ERROR {r['error']}" if r["error"] else ""), flush=True)
    finally:
        if work_ctx is not None:
            work_ctx.cleanup()
    failures = [f"{r['notebook']}: {r['error']}" for r in runs if r["error"]]
    failures += [f"{r['notebook']}: peak {r['peak_rss_mib']} MiB > {LIMIT_MIB} MiB" for r in runs if not r["under_limit"]]
    installed = built["installed"]
    results = {
        "command": "make binder-check  (python bench/binder_check.py" + (" --walkthrough-fast" if args.walkthrough_fast else "") + ")",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_end": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None},
        "python": platform.python_version(),
        "requirements": {"file": "binder/requirements.txt", "pinned": len(read_pins(REQUIREMENTS)),
                         "top_level": top_level(), "installed_packages": len(installed),
                         "pip_check_ok": built["pip_check_ok"], "pip_check": built["pip_check"]},
        "versions": {name: installed[name] for name in VERSIONS_RECORDED if name in installed},
        "install_s": built["install_s"], "postbuild_s": built["postbuild_s"],
        "limit": "2 GB (mybinder.org's memory limit per user)", "limit_mib": LIMIT_MIB,
        "notebooks": runs,
        "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs),
        "total_s": round(time.perf_counter() - start, 1),
        "pass": not failures, "failures": failures,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: results[k] for k in ("install_s", "postbuild_s", "peak_rss_mib_max", "pass")}))
    print(f"[binder-check] wrote {args.output}: {'PASS' if not failures else 'FAIL: ' + '; '.join(failures)}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
