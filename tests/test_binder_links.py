"""Students open the course on mybinder.org or a JupyterHub: the links, and the ``binder/`` environment.

- ``python -m autograder links`` (:mod:`autograder.integrations.links`): exact badge, Binder and
  nbgitpuller URLs, the encoding of special characters, clear messages for bad input.
- ``binder/requirements.txt``: every version is the one in ``constraints.txt``, every
  dependency is pinned, and every module the release notebook, the walkthroughs and the
  ``resnet_utils`` modules they use import comes from a package listed there.
- ``bench/results/binder.json`` (``make binder-check``) is a passing run of today's set.

All fast: no kernel, no network, no install.
"""

import ast
import json
import os
import re
import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import binder_check  # noqa: E402
from autograder.integrations import links  # noqa: E402
from autograder.__main__ import main as cli_main  # noqa: E402
from autograder.course import RELEASE_NB  # noqa: E402

RELEASE_PATH = "release/residual_networks/Residual_Networks.ipynb"
BINDER_URL = ("https://mybinder.org/v2/gh/alice/resnet-course/main"
              "?urlpath=lab/tree/release/residual_networks/Residual_Networks.ipynb")
HUB_URL = ("https://hub.example.org/hub/user-redirect/git-pull"
           "?repo=https%3A%2F%2Fgithub.com%2Falice%2Fresnet-course&branch=main"
           "&urlpath=lab%2Ftree%2Fresnet-course%2Frelease%2Fresidual_networks%2FResidual_Networks.ipynb")
EXPECTED_OUTPUT = f"""\
mybinder.org badge (Markdown, for the README):
[![Binder](https://mybinder.org/badge_logo.svg)]({BINDER_URL})

mybinder.org URL (opens {RELEASE_PATH} in JupyterLab):
{BINDER_URL}

JupyterHub link (nbgitpuller clones alice/resnet-course into ~/resnet-course and opens the notebook):
{HUB_URL}
"""


# ----------------------------------------------------------------------------- links

def test_default_notebook_is_the_courses_release_notebook():
    assert links.DEFAULT_PATH == RELEASE_PATH == RELEASE_NB.relative_to(ROOT).as_posix()
    assert (ROOT / links.DEFAULT_PATH).is_file()


def test_binder_badge_and_url_open_the_release_notebook_in_jupyterlab():
    assert links.binder_url("alice/resnet-course") == BINDER_URL
    assert links.badge_markdown(BINDER_URL) == f"[![Binder](https://mybinder.org/badge_logo.svg)]({BINDER_URL})"
    assert links.binder_url("Alice-2/resnet_course.v2", ref="v1.0") == (
        "https://mybinder.org/v2/gh/Alice-2/resnet_course.v2/v1.0"
        "?urlpath=lab/tree/release/residual_networks/Residual_Networks.ipynb")


def test_nbgitpuller_link_clones_into_the_repository_folder_and_opens_the_notebook():
    assert links.nbgitpuller_url("https://hub.example.org", "alice/resnet-course") == HUB_URL
    # the same with a trailing slash, and under a path prefix
    assert links.nbgitpuller_url("https://hub.example.org/", "alice/resnet-course") == HUB_URL
    url = links.nbgitpuller_url("http://example.org/jupyter/", "alice/resnet-course", ref="spring-2026")
    assert url.startswith("http://example.org/jupyter/hub/user-redirect/git-pull?repo=")
    assert dict(parse_qsl(urlsplit(url).query)) == {
        "repo": "https://github.com/alice/resnet-course", "branch": "spring-2026",
        "urlpath": "lab/tree/resnet-course/" + RELEASE_PATH}


def test_special_characters_are_percent_encoded():
    ref, path = "fix#12+x/y", "my notebooks/a&b?c#1+2 é.ipynb"
    assert links.binder_url("a/b", ref=ref, path=path) == (
        "https://mybinder.org/v2/gh/a/b/fix%2312%2Bx/y"
        "?urlpath=lab/tree/my%20notebooks/a%26b%3Fc%231%2B2%20%C3%A9.ipynb")
    url = links.nbgitpuller_url("https://hub.example.org", "a/b", ref=ref, path=path)
    assert url == ("https://hub.example.org/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fa%2Fb"
                   "&branch=fix%2312%2Bx%2Fy"
                   "&urlpath=lab%2Ftree%2Fb%2Fmy%20notebooks%2Fa%26b%3Fc%231%2B2%20%C3%A9.ipynb")
    query = urlsplit(url).query
    assert dict(parse_qsl(query)) == {"repo": "https://github.com/a/b", "branch": ref,
                                      "urlpath": f"lab/tree/b/{path}"}
    assert not re.search(r"[ /:?#+é]", query), "every parameter value is fully encoded"


def test_cli_output_is_the_badge_and_both_links():
    assert links.links_text("alice/resnet-course", hub="https://hub.example.org") == EXPECTED_OUTPUT
    assert "JupyterHub" not in links.links_text("alice/resnet-course")
    proc = subprocess.run([sys.executable, "-m", "autograder", "links", "--repo", "alice/resnet-course",
                           "--hub", "https://hub.example.org"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, EXPECTED_OUTPUT, "")


@pytest.mark.parametrize("repo, message", [
    ("alice", "--repo must be of the form OWNER/NAME (e.g. alice/resnet-course), got 'alice'"),
    ("alice/resnet/course", "--repo must be of the form OWNER/NAME (e.g. alice/resnet-course), got 'alice/resnet/course'"),
    ("/resnet-course", "--repo must be of the form OWNER/NAME (e.g. alice/resnet-course), got '/resnet-course'"),
    ("https://github.com/alice/resnet-course",
     "--repo takes OWNER/NAME (e.g. alice/resnet-course), not a URL: got 'https://github.com/alice/resnet-course'"),
    ("-alice/resnet-course", "--repo: '-alice' is not a GitHub owner"),
    ("al ice/resnet-course", "--repo: 'al ice' is not a GitHub owner"),
    ("alice/resnet course", "--repo: 'resnet course' is not a GitHub repository name"),
    ("alice/resnet-course.git", "--repo: drop the '.git' suffix: alice/resnet-course"),
])
def test_bad_repository_is_named(repo, message):
    with pytest.raises(links.LinkError) as info:
        links.binder_url(repo)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("hub, message", [
    ("hub.example.org", "--hub must be the JupyterHub's http(s) URL, e.g. https://hub.example.org, got 'hub.example.org'"),
    ("ftp://hub.example.org", "--hub must be the JupyterHub's http(s) URL"),
    ("https://", "--hub must be the JupyterHub's http(s) URL"),
    ("https://hub.example.org/hub/home", "--hub must be the hub's base URL, without '/hub/...': https://hub.example.org"),
    ("https://hub.example.org/?next=x", "--hub must be the hub's base URL, without '?' or '#'"),
])
def test_bad_hub_is_named(hub, message):
    with pytest.raises(links.LinkError) as info:
        links.nbgitpuller_url(hub, "alice/resnet-course")
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("kwargs, message", [
    ({"ref": ""}, "--ref must not be empty"),
    ({"ref": "my branch"}, "--ref 'my branch' is not a valid git branch, tag or commit name"),
    ({"ref": "a..b"}, "--ref 'a..b' is not a valid"),
    ({"path": "/release/x.ipynb"}, "--path must be relative to the repository root"),
    ({"path": "release/../../etc/passwd"}, "--path must not contain empty, '.' or '..' parts"),
    ({"path": "release//x.ipynb"}, "--path must not contain empty, '.' or '..' parts"),
])
def test_bad_ref_or_path_is_named(kwargs, message):
    with pytest.raises(links.LinkError) as info:
        links.binder_url("alice/resnet-course", **kwargs)
    assert str(info.value).startswith(message)


def test_cli_exits_2_with_the_message_on_bad_input(capsys):
    assert cli_main(["links", "--repo", "alice"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "error: --repo must be of the form OWNER/NAME (e.g. alice/resnet-course), got 'alice'\n"
    assert cli_main(["links", "--repo", "alice/resnet-course", "--hub", "hub.example.org"]) == 2
    assert "--hub must be the JupyterHub's http(s) URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:  # argparse: --repo is required
        cli_main(["links"])
    assert info.value.code == 2


def test_cli_opens_the_release_notebook_of_the_assignment_asked_for(capsys):
    assert cli_main(["links", "--repo", "alice/resnet-course", "--assignment", "resnet_cifar"]) == 0
    out = capsys.readouterr().out
    assert "urlpath=lab/tree/release/resnet_cifar/ResNet_CIFAR.ipynb" in out
    assert "Residual_Networks" not in out
    assert links.release_path("residual_networks") == links.DEFAULT_PATH
    with pytest.raises(links.LinkError, match="unknown assignment 'nope'; the course has residual_networks"):
        links.release_path("nope")
    with pytest.raises(SystemExit) as info:   # one notebook: --assignment or --path
        cli_main(["links", "--repo", "a/b", "--assignment", "resnet_cifar", "--path", "x.ipynb"])
    assert info.value.code == 2


# ----------------------------------------------------------------------------- binder/

BINDER_PINS = binder_check.read_pins(binder_check.REQUIREMENTS)
CONSTRAINT_PINS = binder_check.read_pins(binder_check.CONSTRAINTS)
REGENERATE = "run `python bench/binder_check.py --update-requirements`"


def test_binder_requirements_pin_the_versions_of_constraints_txt():
    assert len(BINDER_PINS) > 50
    differ = {name: (version, CONSTRAINT_PINS.get(name, (None, "not in constraints.txt"))[1])
              for name, (_, version) in BINDER_PINS.items()
              if CONSTRAINT_PINS.get(name, (None, None))[1] != version}
    assert not differ, f"binder/requirements.txt vs constraints.txt: {differ}; {REGENERATE}"
    for line in binder_check.REQUIREMENTS.read_text().splitlines():  # what repo2docker could not pre-install
        assert not line.lstrip().startswith(("-r", "-c", "-e", "--")), line


def test_binder_requirements_pin_every_dependency_and_nothing_else():
    top = binder_check.top_level()
    assert {"tensorflow-cpu", "keras", "numpy", "jupyterlab", "ipykernel", "nbgrader"} <= set(top)
    closure = binder_check.dependency_closure(top)
    missing, extra = sorted(set(closure) - set(BINDER_PINS)), sorted(set(BINDER_PINS) - set(closure))
    assert not missing and not extra, f"missing {missing}, not needed {extra}: {REGENERATE}"
    assert binder_check.REQUIREMENTS.read_text() == binder_check.render_requirements(top), REGENERATE
    assert not {"pytest", "playwright"} & set(BINDER_PINS), "developers' tools are not for students"


def _imports(source: str) -> set[tuple[str, int]]:
    """``(module, level)`` of every import statement in ``source`` (IPython magics skipped)."""
    code = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {(alias.name, 0) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add((node.module or "", node.level))
            if node.module in ("resnet_utils", None) or node.level:
                found |= {(f"{node.module}.{a.name}" if node.module else a.name, node.level) for a in node.names}
    return found


def _student_modules() -> dict[str, set[str]]:
    """``{top-level module: {where it is imported}}`` for the release notebook, the walkthroughs,
    the resnet_utils modules they import (transitively) and the kernelspec module postBuild runs."""
    found: dict[str, set[str]] = {}
    todo = ["resnet_utils", "resnet_utils.kernelspec"]
    notebooks = [RELEASE_NB, *sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert len(notebooks) >= 4
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for module, _ in _imports("\n".join(c.source for c in nb.cells if c.cell_type == "code")):
            found.setdefault(module.split(".")[0], set()).add(path.name)
            if module.startswith("resnet_utils."):
                todo.append(module)
    done = set()
    while todo:
        module = todo.pop()
        file = ROOT / (module.replace(".", "/") + ".py")
        file = file if file.exists() else ROOT / module.replace(".", "/") / "__init__.py"
        if module in done or not file.exists():
            continue
        done.add(module)
        package = module if file.name == "__init__.py" else module.rsplit(".", 1)[0]
        for name, level in _imports(file.read_text()):
            if level:  # from . import x / from .x import y
                todo.append(f"{package}.{name}" if name else package)
            else:
                found.setdefault(name.split(".")[0], set()).add(f"{module}.py")
                if name.startswith("resnet_utils."):
                    todo.append(name)
    assert {"resnet_utils.data", "resnet_utils.plots", "resnet_utils.experiments", "resnet_utils.grading"} <= done
    return found


def test_every_module_the_student_notebooks_import_is_provided_by_a_listed_package():
    modules = {m: where for m, where in _student_modules().items()
               if m and m not in sys.stdlib_module_names and m not in ("__future__", "resnet_utils")}
    assert {"keras", "numpy", "matplotlib", "tensorflow", "h5py", "PIL", "IPython", "ipykernel"} <= set(modules)
    providers = packages_distributions()
    listed = set(BINDER_PINS)
    unprovided = {m: sorted(where) for m, where in modules.items()
                  if not {binder_check.canonical(d) for d in providers.get(m, [])} & listed}
    assert not unprovided, f"imported but not provided by binder/requirements.txt: {unprovided}"


def test_postbuild_installs_the_course_package_and_kernel_for_repo2docker():
    post = binder_check.BINDER / "postBuild"
    text = post.read_text()
    assert text.startswith("#!/bin/bash\n") and "\nset -e\n" in text, "repo2docker runs it as a script; stop on errors"
    assert os.access(post, os.X_OK)
    assert re.search(r"^pip install --no-deps -e \.$", text, re.M), "the course package (resnet_utils), deps from requirements.txt"
    assert re.search(r"^python -m resnet_utils\.kernelspec$", text, re.M)
    assert (binder_check.BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert binder_check.DEPENDENCIES_MARK in binder_check.REQUIREMENTS.read_text()


def test_offline_pip_fails_with_a_clear_message():
    fake_pip = [sys.executable, "-c", "print('ERROR: Could not find a version that satisfies the requirement "
                                      "keras==3.15.1 (from versions: none)'); raise SystemExit(1)"]
    with pytest.raises(binder_check.CheckError, match=r"pip could not download a package: is the package index "
                                                      r"\(PyPI\) reachable\?"):
        binder_check._run(fake_pip, what="pip install -r binder/requirements.txt", pip=True)
    with pytest.raises(binder_check.CheckError, match=r"^binder/postBuild failed \(exit code 1\)"):
        binder_check._run([sys.executable, "-c", "raise SystemExit(1)"], what="binder/postBuild")


def test_binder_check_results_are_a_passing_run_of_todays_requirements():
    """bench/results/binder.json: the student edition's environment, the solved release notebook's
    full run inside a 1.75 GB memory cgroup (page cache dropped) that completed with the low-memory
    recipe at >= 0.90 in <= 15 min, the default recipe's need, and walkthrough 01 in the limit."""
    from resnet_utils import training
    from resnet_utils.memory import MemoryLimit

    results = json.loads(binder_check.RESULTS.read_text())
    assert results["pass"] is True and results["failures"] == []
    assert results["served"].startswith("the student edition")
    assert results["limit_bytes"] == binder_check.LIMIT_BYTES == 1_750_000_000
    limited = binder_check.run_named(results, "release, full mode, in the limit")
    free = binder_check.run_named(results, "release, full mode, no limit")
    walk = binder_check.run_named(results, "walkthrough")
    assert limited["notebook"] == free["notebook"] == binder_check.RELEASE_NB.as_posix()
    assert walk["notebook"] == f"notebooks/{binder_check.DEFAULT_WALKTHROUGH}.ipynb"
    for run in (limited, walk):
        assert run["limit_bytes"] == results["limit_bytes"] and run["cgroup"] and run["page_cache_dropped"]
        assert run["completed"] and run["error"] is None and run["oom_kills"] == 0 and run["under_limit"]
        assert run["mode"] == "full" and run["figures"] > 0 and run["resnet_utils_from"].startswith("resnet_utils")
    assert limited["test_accuracy"] >= 0.90 and limited["wall_s"] <= 15 * 60
    assert limited["anon_peak_mib"] * 2**20 < results["limit_bytes"]
    assert training.memory_plan(MemoryLimit(results["limit_bytes"], "x")).low
    assert limited["memory_line"].startswith("memory: this container may use 1.75 GB (cgroup v")
    assert "batch_size=16" in limited["memory_line"]
    # Without a limit the default recipe runs; its need is what FULL_NEEDS_BYTES says.
    assert free["limit_bytes"] is None and free["completed"] and free["memory_line"] is None
    need = (free["anon_peak_mib"] + free["mapped_file_peak_mib"]) * 2**20
    assert need <= training.FULL_NEEDS_BYTES <= need + 0.2e9, (need, training.FULL_NEEDS_BYTES)
    assert results["machine"]["cpu_model"] and results["machine"]["cpu_count"] >= 1 and results["date"]
    assert results["requirements"]["pip_check_ok"] and results["requirements"]["top_level"] == binder_check.top_level()
    for name, version in results["versions"].items():
        if name in BINDER_PINS:
            assert BINDER_PINS[name][1] == version, f"{name}: measured with {version}; rerun `make binder-check`"
