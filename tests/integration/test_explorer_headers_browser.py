"""The explorer's Content-Security-Policy in a real headless Chromium: the front page still
loads its stylesheet, its live.js still polls /api/blocks (the height moves without a reload),
the search box still works, and the browser reports no CSP violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from aitbc.ops import procs
from tests.integration.chain_fixtures import chain_node  # noqa: F401
from tests.integration.test_explorer_browser import CHROMEDRIVER, CHROMIUM, FLAGS, explorer_url  # noqa: F401

pytestmark = pytest.mark.integration
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def logging_browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("apt-get install -y chromium chromium-driver")
    profile = tmp_path / "chromium-profile"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are logged here
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, log_output=str(tmp_path / "driver.log")))
    try:
        yield driver
    finally:
        driver.quit()
        assert procs.processes_mentioning(str(profile)) == []


def test_the_page_works_under_its_csp(explorer_url, logging_browser):  # noqa: F811
    browser, wait = logging_browser, WebDriverWait(logging_browser, 20)
    browser.get(explorer_url + "/")
    shown = int(browser.find_element(By.ID, "latest-height").text)
    wait.until(lambda d: int(d.find_element(By.ID, "latest-height").text) > shown)  # live.js ran and fetched
    assert browser.find_element(By.ID, "live-state").text == "live"
    # style.css applied: a stylesheet rule, not the browser's default, sets the body's font
    assert browser.execute_script("return document.styleSheets.length") >= 1
    assert browser.execute_script("return document.styleSheets[0].cssRules.length") > 0
    browser.find_element(By.ID, "search-box").send_keys("1")
    browser.find_element(By.ID, "search-button").click()
    wait.until(EC.url_contains("/block/1"))  # the form's action is allowed (form-action 'self')
    problems = [e["message"] for e in browser.get_log("browser")
                if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]
    assert problems == []
