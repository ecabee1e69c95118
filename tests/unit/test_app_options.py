"""Every service's FastAPI app is built without FastAPI's native OpenTelemetry hooks
(aitbc/api/apps.py): with no provider configured they record nothing, yet look the
providers up on every request."""

from __future__ import annotations

import inspect

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from aitbc.api.apps import app_options
from aitbc.coordinator.http.app import create_app as coordinator_app
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.explorer.web import ExplorerSettings, create_app as explorer_app
from aitbc.ops.factories import KEYS
from tests.unit.test_coordinator_api import FakeRPC, job_body

otel = pytest.importorskip("opentelemetry")
if "telemetry" not in inspect.signature(FastAPI.__init__).parameters:
    pytest.skip("this FastAPI has no native telemetry to turn off", allow_module_level=True)


@pytest.fixture
def provider_lookups(monkeypatch) -> list[str]:
    """The OpenTelemetry provider look-ups made from now on, by name."""
    from opentelemetry import _logs, metrics, trace

    seen: list[str] = []
    for module, name in ((trace, "get_tracer_provider"), (metrics, "get_meter_provider"),
                         (_logs, "get_logger_provider")):
        original = getattr(module, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            seen.append(_name)
            return _original(*args, **kwargs)
        monkeypatch.setattr(module, name, counted)
    return seen


def _bare(**options) -> TestClient:
    app = FastAPI(**options)

    @app.get("/ping")
    def ping() -> dict:
        return {"ok": True}
    return TestClient(app)


def test_a_bare_fastapi_app_looks_the_providers_up_per_request(provider_lookups):
    """The control: without app_options FastAPI does ask, so the tests below can fail."""
    with _bare() as client:
        assert client.get("/ping").status_code == 200
    assert provider_lookups


def test_app_options_turn_the_lookups_off(provider_lookups):
    with _bare(**app_options()) as client:
        assert client.get("/ping").status_code == 200
    assert provider_lookups == []


def test_a_job_submission_makes_no_lookup(tmp_path, provider_lookups):
    settings = CoordinatorSettings(data_dir=tmp_path, client_api_keys=["client-key"])
    with TestClient(coordinator_app(settings, rpc=FakeRPC(), key=KEYS["coordinator"], run_scheduler=False)) as client:
        response = client.post("/v1/jobs", json=job_body(), headers={"X-Api-Key": "client-key"})
    assert response.status_code == 201, response.text
    assert provider_lookups == []


def test_the_explorer_makes_no_lookup(provider_lookups):
    with TestClient(explorer_app(ExplorerSettings(node="http://fake-node.invalid"))) as client:
        client.get("/static/does-not-exist.css")
    assert provider_lookups == []


@pytest.mark.parametrize("module", ["aitbc.gateway.app", "aitbc.miner.app", "aitbc.explorer.web",
                                    "aitbc.coordinator.http.app"])
def test_every_service_builds_its_app_with_the_options(module):
    """Read from each module's source, so that no service's test fixtures are needed here."""
    import importlib

    source = inspect.getsource(importlib.import_module(module))
    assert source.count("FastAPI(**app_options(),") == source.count("FastAPI(") == 1
