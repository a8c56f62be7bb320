"""The assignment in JupyterLab, in a real browser (Chromium driven by Playwright).

One ``jupyter lab`` server for the module (tests/jupyterlab_browser.py), in fast mode
(``RESNET_FAST=1``), on temporary copies: the solved release notebook (built with
autograder.example_classes.submissions.fill from the source's solution), the untouched release, and one
of the ``make demo`` examples with a known mistake. What a student sees:

- Run All of the solution: every cell runs, the visible test cells print exactly their
  passing lines, every figure is an <img>, and there is no stderr block anywhere (item 5
  of issue 11: no red noise; the server runs with ``TF_ENABLE_ONEDNN_OPTS=1`` so that
  TensorFlow's oneDNN start-up notice is printed on any CPU, see resnet_utils/quiet.py);
- Run All of the untouched release: the first test cell says the function is not
  implemented yet;
- Run All with the mistake: the test cell shows the diagnostic;
- nbgrader's Validate button: success for the solution, failure (with the diagnostic)
  for the mistake;
- nbgrader's Assignments panel: Fetch, then Submit, against a temporary exchange;
- JupyterLab's own behaviour with the course's settings (resnet_utils/labsettings.py, read
  from the environment as a student's JupyterLab reads them): no news prompt, no request
  for news or updates, and the course kernel without the "Select Kernel" dialog, also for a
  notebook with no kernel in its metadata.

Skipped without Chromium or Playwright, except in CI (``CI=true``) where that fails.
A failing test leaves a screenshot and the page's HTML in ``.pytest-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from urllib.parse import urlparse

import nbformat
import pytest
from nbgrader.utils import get_username

import jupyterlab_browser as jb
from autograder import course
from autograder.example_classes import examples
from autograder.example_classes.submissions import fill, score_in_process, solution_sources
from autograder.notebooks import nbgrader_meta
from resnet_utils import labsettings

pytestmark = pytest.mark.slow  # a JupyterLab server, a browser and kernels: minutes

COURSE_ID = "browser-course"
MISTAKE = next(e for e in examples.EXAMPLES if e.name == "cleo_no_relu_after_add")
NOTEBOOKS = {"solved": "solved/Residual_Networks.ipynb",
             "untouched": "untouched/Residual_Networks.ipynb",
             "mistake": "mistake/Residual_Networks.ipynb"}


def _normal(text: str) -> str:
    """Whitespace-insensitive text (the page's innerText wraps and trims differently)."""
    return " ".join(text.split())


def _code_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code"]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium():
    return jb.chromium_or_skip()


@pytest.fixture(scope="module")
def notebooks():
    """The three notebooks, and what their test cells print (graded in this process)."""
    ref = solution_sources(course.SOURCE_NB)
    release = nbformat.read(str(course.RELEASE_NB), as_version=4)
    built = {"solved": fill(release, ref), "untouched": release, "mistake": examples.build(MISTAKE)}
    expected = {"solved": score_in_process(ref, course.SOURCE_NB),
                "untouched": score_in_process(solution_sources(release), course.SOURCE_NB),
                "mistake": score_in_process(solution_sources(built["mistake"]), course.SOURCE_NB)}
    return built, expected


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    """A temporary exchange into which the instructor released the assignment."""
    base = tmp_path_factory.mktemp("exchange")
    exchange = base / "exchange"
    exchange.mkdir()
    os.chmod(exchange, 0o777)
    instructor = course.new_course(base / "instructor", with_release=True)
    course.nbgrader("release_assignment", course.ASSIGNMENT, f"--course={COURSE_ID}", "--force",
                    f"--Exchange.root={exchange}", "--log-level=WARN", cwd=instructor, capture=True,
                    env=course.nbgrader_env(NBGRADER_EXCHANGE_ROOT=exchange, RESNET_COURSE_ID=COURSE_ID))
    assert (exchange / COURSE_ID / "outbound" / course.ASSIGNMENT / course.NOTEBOOK).is_file()
    return exchange


@pytest.fixture(scope="module")
def server(chromium, notebooks, exchange, tmp_path_factory):
    built, _ = notebooks
    env = {
        "RESNET_FAST": "1",  # the course's fast mode, inherited by the kernels
        # TensorFlow prints its oneDNN notice only where oneDNN is on; force it on so that
        # the no-stderr check means something on every CPU
        "TF_ENABLE_ONEDNN_OPTS": "1",
        "NBGRADER_EXCHANGE_ROOT": str(exchange),
        "RESNET_COURSE_ID": COURSE_ID,
    }
    srv = jb.LabServer(tmp_path_factory.mktemp("lab"), env=env)
    for key, rel in NOTEBOOKS.items():
        path = srv.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(built[key], str(path))
    # the student's nbgrader configuration: the course's own (exchange and course id from the
    # environment above); the Validate button and the Assignments panel read it
    srv.config_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(course.ROOT / "nbgrader_config.py", srv.config_dir / "nbgrader_config.py")
    with srv:
        yield srv


@pytest.fixture(scope="module")
def browser(chromium, server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = jb.launch_browser(p, chromium)
        yield b
        b.close()


@pytest.fixture
def lab(browser, server, request):
    """A fresh browser tab on the server; a screenshot and the HTML when the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    failed_before = request.session.testsfailed
    yield jb.LabPage(page, server)
    if request.session.testsfailed > failed_before:  # the call's report is logged before teardown
        saved = jb.save_failure_artifacts(page, request.node.name)
        print("browser test failed; saved:", *map(str, saved), "\njupyter lab log (end):\n" + server.log_tail())
    # close the notebook's kernel so that the next test starts from a quiet machine
    for session in server.api("sessions"):
        try:
            req = urllib.request.Request(f"{server.url}/api/sessions/{session['id']}?token={server.token}",
                                         method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()
        except OSError:
            pass
    context.close()


def _cells_by_grade_id(lab: jb.LabPage, nb) -> dict[str, dict]:
    """The page's cells, matched with the notebook's by position, keyed by grade_id."""
    page_cells = lab.cells()
    assert len(page_cells) == len(nb.cells), f"the page shows {len(page_cells)} cells, the notebook has {len(nb.cells)}"
    return {nbgrader_meta(c).get("grade_id"): pc for c, pc in zip(nb.cells, page_cells) if nbgrader_meta(c).get("grade_id")}


# ----------------------------------------------------------------------------- Run All


def test_run_all_of_the_solution_passes_every_test_without_stderr(lab, server, notebooks):
    built, expected = notebooks
    nb = built["solved"]
    lab.open_notebook(NOTEBOOKS["solved"])
    lab.run_all()

    page_cells = lab.cells()
    assert len(page_cells) == len(nb.cells)
    stderr = lab.stderr_blocks()
    assert stderr == [], "stderr (red) blocks in the outputs of the solved notebook:\n" + "\n---\n".join(stderr)
    for cell, shown in zip(nb.cells, page_cells):
        if cell.cell_type != "code":
            continue
        assert re.search(r"\[\d+\]", shown["prompt"]), f"cell did not run (prompt {shown['prompt']!r}):\n{cell.source[:200]}"
        if "plots." in cell.source:  # every figure renders as an image
            assert shown["images"] >= 1, f"no figure in the outputs of:\n{cell.source[:200]}"
            assert shown["images_loaded"] == shown["images"], f"a figure did not load:\n{cell.source[:200]}"

    cells = _cells_by_grade_id(lab, nb)
    visible = [g for g in expected["solved"] if not g.endswith("_hidden")]
    assert visible == ["test_identity_block", "test_convolutional_block", "test_ResNet50", "test_block_parameters",
                       "test_resnet50_shapes"]
    for grade_id in visible:
        points, printed = expected["solved"][grade_id]
        assert points > 0
        lines = [ln for ln in cells[grade_id]["output"].splitlines() if ln.strip()]
        want = [ln for ln in printed.splitlines() if ln.strip()]
        assert lines and all(ln.startswith("✓ ") for ln in lines), (grade_id, lines)
        assert list(map(_normal, lines)) == list(map(_normal, want)), grade_id

    # the kernel inherited the server's RESNET_FAST: the settings cell says fast mode
    settings = next(shown for cell, shown in zip(nb.cells, page_cells) if "training.settings()" in cell.source)
    assert settings["output"].startswith("fast mode"), settings["output"][:300]
    # and it is the notebook's kernel (the course's python3 of this environment)
    assert {s["kernel"]["name"] for s in server.api("sessions")} == {nb.metadata.kernelspec.name}


def test_run_all_of_the_untouched_release_says_not_implemented(lab, notebooks):
    built, expected = notebooks
    nb = built["untouched"]
    lab.open_notebook(NOTEBOOKS["untouched"])
    lab.run_all()

    first_test = next(g for g in expected["untouched"])
    assert first_test == "test_identity_block"
    points, message = expected["untouched"][first_test]
    assert points == 0 and "is not implemented yet (it raised NotImplementedError): replace the line " \
                             "`raise NotImplementedError()`" in message
    cells = _cells_by_grade_id(lab, nb)
    shown = cells[first_test]
    assert _normal(message.split(": ", 1)[1]) in _normal(shown["output"]), shown["output"][-2000:]
    # the only red block is that test cell's error: the import cell is quiet
    assert shown["stderr"], "the failing test cell shows no error block"
    others = [c for g, c in cells.items() if g != first_test and c["stderr"]]
    assert others == [] and lab.stderr_blocks() == shown["stderr"]


def test_run_all_with_a_mistake_shows_the_diagnostic(lab, notebooks):
    built, expected = notebooks
    nb = built["mistake"]
    lab.open_notebook(NOTEBOOKS["mistake"])
    lab.run_all()

    points, message = expected["mistake"]["test_identity_block"]
    assert points == 0 and "is the ReLU after the Add missing?" in message
    shown = _cells_by_grade_id(lab, nb)["test_identity_block"]
    assert _normal(message.split(": ", 1)[1]) in _normal(shown["output"]), shown["output"][-2000:]


# ----------------------------------------------------------------------------- nbgrader


def test_validate_button_succeeds_for_the_solution(lab):
    lab.open_notebook(NOTEBOOKS["solved"])
    result = lab.validate()
    assert result["title"] == "Validation Results"
    assert "validation-success" in result["classes"], result
    assert "Success! Your notebook passes all the tests." in result["text"]


def test_validate_button_fails_for_the_mistake(lab):
    lab.open_notebook(NOTEBOOKS["mistake"])
    result = lab.validate()
    assert result["title"] == "Validation Results"
    assert "validation-failed" in result["classes"], result
    assert "The following cell failed:" in result["text"]
    assert "is the ReLU after the Add missing?" in result["text"]


def test_assignments_panel_fetches_and_submits(lab, server, exchange):
    lab.open_lab()
    lab.open_assignments()
    lab.fetch(course.ASSIGNMENT)
    fetched = server.root / COURSE_ID / course.ASSIGNMENT / course.NOTEBOOK
    assert fetched.is_file(), sorted(str(p) for p in server.root.rglob("*.ipynb"))
    assert nbformat.read(str(fetched), as_version=4).cells[0].source == \
        nbformat.read(str(course.RELEASE_NB), as_version=4).cells[0].source

    lab.submit(course.ASSIGNMENT)
    student = get_username()  # nbgrader's student: the login name (one OS account here)
    inbound = exchange / COURSE_ID / "inbound"
    submissions = [p for p in inbound.iterdir() if p.name.startswith(f"{student}+{course.ASSIGNMENT}+")]
    assert len(submissions) == 1, sorted(p.name for p in inbound.iterdir())
    assert (submissions[0] / course.NOTEBOOK).is_file()
    assert (submissions[0] / "timestamp.txt").is_file()


# ----------------------------------------------------------------------------- JupyterLab's own settings

#: What the page asks the server for news and updates (jupyterlab/handlers/announcements.py:
#: the server then fetches the Jupyter news feed or PyPI).
NEWS_ENDPOINTS = ("/lab/api/news", "/lab/api/update")
#: Loaded by JupyterLab's announcements plugin right before it asks about news or fetches them.
ANNOUNCEMENTS_CONFIG = "/api/config/jupyterlabapputilsextensionannouncements"
COURSE_KERNEL = ("python3", "Python 3 (ResNet Course)")  # resnet_utils.kernelspec


def test_lab_opens_with_the_course_kernel_without_news_prompt_or_update_check(lab, server):
    # the server serves the course's overrides as JupyterLab's defaults
    for plugin, values in labsettings.course_overrides().items():
        schema = server.get_json(f"lab/api/settings/{plugin}")["schema"]["properties"]
        assert {key: schema[key]["default"] for key in values} == values, \
            f"{plugin}: the server does not serve the course's overrides ({labsettings.overrides_path(server.app_dir)})"
    specs = server.api("kernelspecs")
    assert (specs["default"], specs["kernelspecs"][specs["default"]]["spec"]["display_name"]) == COURSE_KERNEL

    # the release as handed out, then a notebook as File > New > Notebook makes it: no kernel
    # (and no language) in its metadata, where JupyterLab would ask in the "Select Kernel" dialog
    new = server.root / "new" / "Untitled.ipynb"
    new.parent.mkdir(exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), str(new))
    requests = []
    lab.page.on("request", lambda r: requests.append(r.url))
    for path in (NOTEBOOKS["untouched"], "new/Untitled.ipynb"):
        # the announcements plugin asks about news (or fetches news and updates) as soon as this
        # response is in and JupyterLab has restored its layout; the checks come after the kernel is idle
        with lab.page.expect_response(lambda r: ANNOUNCEMENTS_CONFIG in r.url, timeout=120_000):
            lab.open_notebook(path)  # fails on any dialog (Select Kernel) before the kernel is idle
        # (c) the course kernel, started without a question
        assert lab.kernel_label() == COURSE_KERNEL[1], (path, lab.kernel_label())
        sessions = {s["path"]: s["kernel"]["name"] for s in server.api("sessions")}
        assert sessions.get(path) == COURSE_KERNEL[0], sessions
        # (a) no news prompt ("Would you like to get notified about official Jupyter news?")
        toasts = lab.toasts()
        assert not [t for t in toasts if "news" in t.lower()], toasts
        assert "Jupyter news" not in lab.body_text()

    # (b) the page asked the server for neither news nor updates, and talked to nothing else
    paths = {urlparse(u).path for u in requests}
    asked = sorted(p for p in paths if p.endswith(NEWS_ENDPOINTS))
    assert not asked, f"the page asked the server for news or updates: {asked}"
    hosts = {urlparse(u).netloc for u in requests if urlparse(u).scheme in ("http", "https")}
    assert hosts == {urlparse(server.url).netloc}, sorted(hosts)
    assert any(p.endswith(ANNOUNCEMENTS_CONFIG) for p in paths)  # the announcements plugin did run
