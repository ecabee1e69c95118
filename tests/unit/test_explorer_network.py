"""The explorer's network page: block interval, txs/s and jobs/s read from the chain
(a fake node), and from Prometheus when one is configured (a fake transport)."""

from __future__ import annotations

import warnings

import httpx
import pytest

from aitbc.explorer import network
from aitbc.explorer.web import ExplorerSettings, create_app
from tests.unit.test_explorer_fakes import scenario

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def node():
    return scenario()[0]


def test_series_from_the_chain_count_txs_and_accepted_jobs(node):
    data = network.from_chain(node, blocks=100)
    assert data["source"] == "chain" and data["height"] == len(node.blocks)
    assert len(data["blocks"]) == len(node.blocks) - 1  # the first block has no interval before it
    by_height = {p["height"]: p for p in data["blocks"]}
    assert by_height[4]["jobs"] == 1 and by_height[4]["txs"] == 1 and by_height[4]["interval"] == pytest.approx(1.0)
    assert by_height[7]["txs"] == 2 and by_height[7]["jobs"] == 0  # a transfer and a refused transfer
    assert sum(p["jobs"] for p in data["blocks"]) == 2
    assert data["summary"]["mean_interval"] == pytest.approx(1.0)
    assert data["summary"]["txs_per_s"] == pytest.approx(7 / 10)
    assert [t for t, _ in data["series"]["txs_per_s"]] == sorted(t for t, _ in data["series"]["txs_per_s"])


def test_the_window_is_bounded(node):
    assert len(network.from_chain(node, blocks=3)["blocks"]) == 3


def test_network_page_plots_three_charts_and_is_in_the_nav(node):
    client = TestClient(create_app(ExplorerSettings(node="http://fake-node.invalid"), rpc=node))
    page = client.get("/network")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3 and page.text.count("<polyline") == 3
    assert "Block interval" in page.text and "Jobs submitted per second" in page.text
    assert "From Prometheus" not in page.text
    assert '<a href="/network">Network</a>' in client.get("/").text
    assert "script-src 'self'" in page.headers["content-security-policy"]  # nothing inline, no CDN
    assert "http" not in page.text.split("<main>")[1].split("</main>")[0].replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert client.get("/api/network", params={"blocks": 4}).json()["summary"]["blocks"] == 4


def test_an_unreachable_prometheus_leaves_the_chain_plots(node):
    settings = ExplorerSettings(node="http://fake-node.invalid", prometheus="http://127.0.0.1:9")
    page = TestClient(create_app(settings, rpc=node)).get("/network")
    assert page.status_code == 200 and page.text.count("<svg") == 3
    assert "did not answer" in page.text


def test_series_from_prometheus_range_queries():
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["query"])
        values = [[1000 + 5 * i, str(0.5 * i)] for i in range(4)] + [[1020, "NaN"]]
        return httpx.Response(200, json={"status": "success", "data": {
            "resultType": "matrix", "result": [{"metric": {}, "values": values}]}})

    client = httpx.Client(transport=httpx.MockTransport(answer))
    data = network.from_prometheus("http://prom.invalid", minutes=5, client=client, now=1100)
    assert set(asked) == set(network.PROMQL.values())
    assert data["series"]["txs_per_s"] == [(1000.0, 0.0), (1005.0, 0.5), (1010.0, 1.0), (1015.0, 1.5)]


def test_a_failed_prometheus_query_says_why():
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(400, json={"status": "error", "error": "parse error"})))
    with pytest.raises(network.PrometheusUnavailable, match="parse error"):
        network.from_prometheus("http://prom.invalid", client=client)
