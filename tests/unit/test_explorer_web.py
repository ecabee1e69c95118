"""The web explorer's pages and JSON over a fake node: links, search, escaping, errors."""

from __future__ import annotations

import warnings

import pytest

from aitbc.explorer.web import ExplorerSettings, create_app
from tests.unit.test_explorer_fakes import addr, scenario

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # newer Starlette nags about httpx; the client still works
    from fastapi.testclient import TestClient


@pytest.fixture
def site():
    node, ids = scenario()
    client = TestClient(create_app(ExplorerSettings(node="http://fake-node.invalid"), rpc=node))
    return client, node, ids


def test_front_page_shows_latest_height_and_blocks(site):
    client, node, _ = site
    page = client.get("/")
    assert page.status_code == 200
    assert f'<b id="latest-height">{len(node.blocks)}</b>' in page.text
    assert page.text.count('href="/block/') >= 10 and "/static/live.js" in page.text


def test_blocks_json_feeds_the_live_page(site):
    client, node, _ = site
    data = client.get("/api/blocks", params={"limit": 3}).json()
    assert [b["height"] for b in data["blocks"]] == [len(node.blocks), len(node.blocks) - 1, len(node.blocks) - 2]


def test_block_page_decodes_txs_and_escapes_their_text(site):
    client, node, ids = site
    height = node.tx(ids["transfer_tx"])["height"]
    page = client.get(f"/block/{height}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "INSUFFICIENT_FUNDS" in page and f'href="/account/{addr("alice")}"' in page


def test_job_page_has_lifecycle_and_receipt(site):
    client, _, ids = site
    page = client.get(f"/job/{ids['job']}").text
    order = [page.index(step) for step in ("submit_job", "assign_job", "record_receipt")]
    assert order == sorted(order)
    assert f'href="/receipt/{ids["receipt"]}"' in page and 'id="receipt"' in page and "0.25 AITBC" in page


def test_tx_account_receipt_and_miners_pages(site):
    client, _, ids = site
    assert "record_receipt" in client.get(f"/tx/{ids['record_tx']}").text
    assert "1004.25 AITBC" in client.get(f"/account/{addr('alice')}").text
    assert ids["job"] in client.get(f"/receipt/{ids['receipt']}").text
    miners = client.get("/miners").text
    assert ids["miner"] in miners and "100 AITBC" in miners


@pytest.mark.parametrize("key, target", [
    ("job", "/job/{}"), ("receipt", "/receipt/{}"), ("record_tx", "/tx/{}"), ("miner", "/account/{}"),
])
def test_search_redirects_to_the_thing(site, key, target):
    client, _, ids = site
    response = client.get("/search", params={"q": ids[key]}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == target.format(ids[key])


def test_search_by_height_and_by_query(site):
    client, _, ids = site
    assert client.get("/search", params={"q": "3"}, follow_redirects=False).headers["location"] == "/block/3"
    page = client.get("/search", params={"q": f"job.id='{ids['job']}'"})
    assert page.status_code == 200 and "3 found" in page.text


def test_search_explains_what_it_cannot_find(site):
    client, _, _ = site
    page = client.get("/search", params={"q": "<b>nonsense</b>"})
    assert page.status_code == 404 and "&lt;b&gt;nonsense&lt;/b&gt;" in page.text
    assert client.get("/search", params={"q": "job.id="}).status_code == 400


def test_a_query_on_an_attribute_the_chain_does_not_index_says_so(site):
    client, _, _ = site
    query = f"transfer.sender='{addr('bob')}'"
    page = client.get("/search", params={"q": query})
    assert page.status_code == 200 and "0 found" in page.text
    assert 'id="search-unindexed">not indexed: transfer.sender' in page.text and "message.sender" in page.text
    assert client.get("/api/search", params={"q": query}).json()["unindexed"] == ["transfer.sender"]
    indexed = client.get("/search", params={"q": f"message.sender='{addr('bob')}'"})
    assert indexed.status_code == 200 and "search-unindexed" not in indexed.text


def test_missing_things_are_404_pages_and_json(site):
    client, _, _ = site
    assert client.get("/block/9999").status_code == 404
    assert client.get("/job/job_0000000000000000").status_code == 404
    response = client.get("/api/job/job_0000000000000000")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


def test_node_down_is_502_with_a_reason(site):
    client, node, _ = site
    node.down = True
    page = client.get("/")
    assert page.status_code == 502 and "cannot reach the node" in page.text
    assert client.get("/api/blocks").status_code == 502


def test_static_assets_are_local(site):
    client, _, _ = site
    assert client.get("/static/style.css").status_code == 200
    assert "textContent" in client.get("/static/live.js").text
    page = client.get("/").text
    assert "http://" not in page.split("<footer>")[0] and "https://" not in page
