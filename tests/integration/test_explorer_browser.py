"""The web explorer in a real headless Chromium (Selenium) over a real node: a job
runs by txs, then the page shows the live height, finds the job through the
search box and shows its lifecycle and receipt."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import pytest

from aitbc.ops import procs
from aitbc.tx import receipt_id_for
from aitbc.ops.factories import KEYS, Signer, receipt_fields, register_fields, submit_fields
from tests.integration.chain_fixtures import chain_node, rpc  # noqa: F401

pytestmark = pytest.mark.integration
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture
def explorer_url(chain_node, tmp_path):  # noqa: F811 - the fixture imported above
    port = procs.free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "explorer.log"
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = procs.spawn([sys.executable, "-m", "aitbc.explorer", "--node", chain_node.rpc, "--port", str(port)], log,
                       env={"PYTHONPATH": path})
    try:
        procs.wait_until(lambda: httpx.get(f"{url}/api/status", timeout=1).status_code == 200, 30, "explorer",
                         proc, log)
        yield url
    finally:
        procs.stop(proc)


@pytest.fixture
def browser(tmp_path):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("apt-get install -y chromium chromium-driver")
    profile = tmp_path / "chromium-profile"
    options = Options()
    options.binary_location = CHROMIUM
    for flag in FLAGS + (f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, log_output=str(tmp_path / "driver.log")))
    try:
        yield driver
    finally:
        driver.quit()
        assert procs.processes_mentioning(str(profile)) == []


def run_job(rpc) -> tuple[str, int]:  # noqa: F811
    """register miner, submit, assign, receipt; returns the job id and the receipt's height."""
    signer = Signer(fee=None)
    job_id = signer.next_job_id("alice")
    steps = [("miner1", "register_miner", register_fields()), ("alice", "submit_job", submit_fields()),
             ("coordinator", "assign_job", {"job_id": job_id, "miner": KEYS["miner1"].address}),
             ("coordinator", "record_receipt", receipt_fields(job_id))]
    height = 0
    for name, kind, fields in steps:
        result = rpc.broadcast(signer.tx(name, kind, **fields), "commit")
        assert result.ok, result.log
        height = result.height
    return job_id, height


def test_explorer_in_a_real_browser(rpc, explorer_url, browser):  # noqa: F811
    job_id, receipt_height = run_job(rpc)
    wait = WebDriverWait(browser, 20)

    browser.get(explorer_url + "/")
    assert "AITBC explorer" in browser.title
    shown = int(browser.find_element(By.ID, "latest-height").text)
    assert receipt_height <= shown <= int(rpc.status()["sync_info"]["latest_block_height"])
    # the page stays live: the height moves on without a reload
    wait.until(lambda d: int(d.find_element(By.ID, "latest-height").text) > shown)
    assert browser.find_element(By.ID, "blocks").find_elements(By.TAG_NAME, "tr")

    box = browser.find_element(By.ID, "search-box")
    box.send_keys(job_id)
    browser.find_element(By.ID, "search-button").click()
    wait.until(EC.url_contains(f"/job/{job_id}"))
    assert browser.find_element(By.ID, "job-status").text == "completed"
    page = browser.find_element(By.TAG_NAME, "main").text
    assert page.index("submit_job") < page.index("assign_job") < page.index("record_receipt")
    receipt = browser.find_element(By.ID, "receipt").text
    assert receipt_id_for(job_id) in receipt and "0.25 AITBC" in receipt

    browser.find_element(By.LINK_TEXT, receipt_id_for(job_id)).click()
    wait.until(EC.url_contains(f"/receipt/{receipt_id_for(job_id)}"))
    assert job_id in browser.find_element(By.ID, "receipt").text

    browser.find_element(By.ID, "search-box").send_keys(KEYS["miner1"].address)
    browser.find_element(By.ID, "search-button").click()
    wait.until(EC.url_contains(f"/account/{KEYS['miner1'].address}"))
    assert "register_miner" in browser.find_element(By.TAG_NAME, "main").text

    browser.get(explorer_url + "/miners")
    row = browser.find_element(By.XPATH, f"//tr[td/a[@title='{KEYS['miner1'].address}']]").text
    assert "100 AITBC" in row and row.split()[-2:] == ["1", "0"]  # completed 1, failed 0
