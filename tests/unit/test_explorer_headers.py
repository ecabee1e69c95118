"""The web explorer's security headers, and no Swagger UI from a CDN unless asked for."""

from __future__ import annotations

import warnings

import pytest

from aitbc.explorer.web import ExplorerSettings, create_app
from tests.unit.test_explorer_fakes import FakeNode

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def client(**settings) -> TestClient:
    node = FakeNode()  # empty blocks: the headers do not depend on what the chain holds
    node.empty_blocks(3)
    return TestClient(create_app(ExplorerSettings(node="http://fake-node.invalid", **settings), rpc=node))


@pytest.mark.parametrize("path", ["/", "/miners", "/api/blocks", "/static/style.css", "/static/live.js",
                                  "/job/job_0000000000000000", "/nowhere"])
def test_every_answer_has_csp_no_framing_and_nosniff(path):
    response = client().get(path)
    csp = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_pages_use_nothing_the_policy_forbids():
    page = client().get("/").text
    assert "<script>" not in page and "style=" not in page  # no inline script or style for the CSP to block


def test_docs_are_off_by_default_and_on_when_asked():
    assert client().get("/api/docs").status_code == 404
    assert client().get("/api/openapi.json").status_code == 404
    docs = client(docs=True).get("/api/docs")
    assert docs.status_code == 200 and "cdn.jsdelivr.net" in docs.headers["content-security-policy"]
