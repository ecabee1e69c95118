"""Coordinators in the explorer (issue 12) over the fake node: the coordinators page and its
JSON, who runs a job (its coordinator, or "direct"), a coordinator's record on its account page,
and the register_coordinator tx's summary."""

from __future__ import annotations

import warnings

import pytest

from aitbc.explorer.chain import job_coordinator
from aitbc.explorer.web import ExplorerSettings, create_app
from aitbc.ops.factories import Signer
from tests.unit.test_explorer_fakes import GENESIS_COORDINATOR, addr, msg_event, scenario

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # newer Starlette nags about httpx; the client still works
    from fastapi.testclient import TestClient

URL = "https://coord-b.example:18000"


@pytest.fixture
def site():
    """The shared scenario, plus bob registered as a second coordinator with one open job."""
    node, ids = scenario()
    bob = addr("bob")
    register = Signer().tx("bob", "register_coordinator", url=URL, bond=250_000_000)
    node.add_block([(register, 0, "", [msg_event("bob", "register_coordinator"),
                                       {"type": "coordinator", "attributes": {"address": bob, "action": "register"}}])])
    record = {"address": bob, "url": URL, "bond": 250_000_000, "registered_height": len(node.blocks), "open_jobs": 1,
              "genesis": False}
    node.answers.update({"/coordinators": [GENESIS_COORDINATOR, record], f"/coordinator/{bob}": record})
    node.answers[f"/job/{ids['expired']}"] = {**node.answers[f"/job/{ids['expired']}"],
                                              "candidates": [addr("miner1"), addr("miner2")]}
    client = TestClient(create_app(ExplorerSettings(node="http://fake-node.invalid"), rpc=node))
    return client, node, ids


def test_coordinators_page_lists_the_genesis_one_first_and_the_registered_ones(site):
    client, _, _ = site
    page = client.get("/coordinators")
    assert page.status_code == 200 and '<a href="/coordinators">Coordinators</a>' in page.text
    rows = page.text.split('<tbody id="coordinators">')[1].split("</tbody>")[0].split("<tr>")[1:]
    assert len(rows) == 2
    assert addr("coordinator") in rows[0] and "genesis" in rows[0]
    assert addr("bob") in rows[1] and "250 AITBC" in rows[1] and URL in rows[1] and "genesis" not in rows[1]


def test_coordinators_json_is_the_nodes_list(site):
    client, _, _ = site
    data = client.get("/api/coordinators").json()
    assert [(c["address"], c["genesis"]) for c in data] == [(addr("coordinator"), True), (addr("bob"), False)]
    assert data[0]["bond"] == 0 and data[1]["bond"] == 250_000_000 and data[1]["open_jobs"] == 1


def test_navigation_links_the_coordinators_page_everywhere(site):
    client, _, _ = site
    assert 'href="/coordinators"' in client.get("/").text and 'href="/coordinators"' in client.get("/miners").text


def test_job_page_says_which_coordinator_runs_it(site):
    client, _, ids = site
    text = client.get(f"/job/{ids['job']}").text
    who = text.split('<span id="job-coordinator">')[1].split("</span></p>")[0]
    assert "run by" in who and addr("coordinator") in who and "(genesis)" in who


@pytest.mark.parametrize("record, expected", [
    ({"coordinator": ""}, {"kind": "coordinator", "address": "G", "genesis": True}),   # "" names the genesis one
    ({"coordinator": "G"}, {"kind": "coordinator", "address": "G", "genesis": True}),
    ({"coordinator": "B"}, {"kind": "coordinator", "address": "B", "genesis": False}),
    ({"coordinator": "", "candidates": ["M1"]}, {"kind": "direct", "candidates": ["M1"]}),
])
def test_who_runs_a_job(record, expected):
    assert job_coordinator(record, genesis="G") == expected


def test_direct_job_has_no_coordinator(site):
    client, _, ids = site
    data = client.get(f"/api/job/{ids['expired']}").json()
    assert data["coordinator"] == {"kind": "direct", "candidates": [addr("miner1"), addr("miner2")]}
    text = client.get(f"/job/{ids['expired']}").text
    assert "direct: assigned by the chain among 2 candidate(s)" in text


def test_account_page_shows_the_coordinator_record(site):
    client, _, _ = site
    page = client.get(f"/account/{addr('bob')}").text
    section = page.split('<div id="coordinator">')[1]
    assert URL in section and "250 AITBC" in section
    assert '<div id="coordinator">' not in client.get(f"/account/{addr('alice')}").text


def test_register_coordinator_tx_summary_shows_url_and_bond(site):
    client, node, _ = site
    page = client.get(f"/block/{len(node.blocks)}").text
    assert "register_coordinator" in page and URL in page and "bond <span" in page and "250 AITBC" in page
