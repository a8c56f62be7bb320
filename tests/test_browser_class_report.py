"""The class report in a real browser (headless Chromium through Playwright): the page opens
from the file system with nothing from the network, every student has a row, the score
distribution image is drawn, the feedback links point at existing files; a screenshot of the
page is saved in .pytest-artifacts/browser/class_report.png."""

import copy

import pytest
from jupyterlab_browser import ARTIFACTS, chromium_or_skip, launch_browser
from test_class_report import RUN

from autograder import class_report

pytestmark = pytest.mark.slow  # starts a browser


def test_class_report_in_a_browser(tmp_path):
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    run = copy.deepcopy(RUN)
    for r in run["results"]:  # every graded student has a feedback file to link to
        if r["status"] == "graded":
            fb = tmp_path / "feedback" / r["student"] / "a" / "nb.html"
            fb.parent.mkdir(parents=True)
            fb.write_text("<html><body>feedback of %s</body></html>" % r["student"])
    out = tmp_path / "reports" / "a.html"
    out.parent.mkdir()
    out.write_text(class_report.render(run, str(tmp_path), str(out), {"nb": []}), encoding="utf-8")
    requests = []
    with sync_playwright() as p:
        browser = launch_browser(p, executable)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda req: requests.append(req.url))
            page.goto(out.as_uri())
            rows = page.eval_on_selector_all("#students tr[data-student]", "rows => rows.map(r => r.dataset.student)")
            width = page.eval_on_selector("img", "img => img.complete ? img.naturalWidth : 0")
            mistakes = page.eval_on_selector_all("#mistakes tr td:first-child code", "cs => cs.map(c => c.textContent)")
            links = page.eval_on_selector_all("#students a", "as => as.map(a => a.href)")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "class_report.png"), full_page=True)
            page.goto(links[0])
            first_feedback = page.inner_text("body")
        finally:
            browser.close()
    assert rows == ["s1", "s2", "s3", "s4"]
    assert width > 100
    assert mistakes == ["ex2.stride", "grader.notebook_missing", "grader.timeout"]
    assert len(links) == 3 and first_feedback == "feedback of s1"
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []  # opens offline
    assert (ARTIFACTS / "class_report.png").stat().st_size > 10_000
