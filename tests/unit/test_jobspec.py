"""The one job vocabulary: the CLI and the API accept the same statuses, the
named sets mean what they say, and the chain encodings are stable."""

from __future__ import annotations

import hashlib

from click.testing import CliRunner
from fastapi.testclient import TestClient

from aitbc import jobspec
from aitbc.jobspec import JobStatus
from aitbc.api.coordinator_client import CoordinatorClient
from aitbc.api.coordinator_models import JobList
from aitbc.cli.context import Context
from aitbc.cli.main import cli
from aitbc.coordinator.http.app import create_app
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.ops.factories import KEYS
from tests.unit.test_coordinator_api import CLIENT, FakeRPC


def enum_values(schema: dict, spec: dict) -> set[str]:
    """Every enum value reachable from an OpenAPI schema (following $ref, anyOf)."""
    if "$ref" in schema:
        return enum_values(spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]], spec)
    values = set(schema.get("enum", ()))
    for sub in [*schema.get("anyOf", ()), *schema.get("allOf", ())]:
        values |= enum_values(sub, spec)
    return values


def status_filter_choices() -> set[str]:
    option = next(p for p in cli.commands["jobs"].params if p.name == "status_filter")
    return set(option.type.choices)


def test_the_cli_accepts_every_status_the_api_accepts(tmp_path):
    app = create_app(CoordinatorSettings(data_dir=tmp_path, client_api_keys=[CLIENT]), rpc=FakeRPC(),
                     key=KEYS["coordinator"], run_scheduler=False)
    spec = app.openapi()
    param = next(p for p in spec["paths"]["/v1/jobs"]["get"]["parameters"] if p["name"] == "status")
    api_choices = enum_values(param["schema"], spec)
    assert api_choices == status_filter_choices() == {s.value for s in JobStatus}
    with TestClient(app, headers={"X-Api-Key": CLIENT}) as client:
        for status in JobStatus:
            assert client.get("/v1/jobs", params={"status": status.value}).status_code == 200, status


def test_jobs_status_verifying_reaches_the_coordinator(monkeypatch):
    asked = []

    def list_jobs(_client, status, _limit):
        asked.append(status)
        return JobList(jobs=[])

    monkeypatch.setattr(CoordinatorClient, "list_jobs", list_jobs)
    result = CliRunner().invoke(cli, ["jobs", "--status", "verifying"], obj=Context(), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert asked == ["verifying"]


def test_named_sets():
    assert set(jobspec.FINAL) | {JobStatus.PENDING, JobStatus.ASSIGNED, JobStatus.RUNNING,
                                 JobStatus.VERIFYING} == set(jobspec.ALL)
    assert not set(jobspec.FINAL) & set(jobspec.OPEN_ON_CHAIN)
    assert not set(jobspec.FINAL) & set(jobspec.OPEN_IN_SERVICE)
    # The chain never hears of "running"; the coordinator hands a verifying job to the chain.
    assert JobStatus.VERIFYING in jobspec.OPEN_ON_CHAIN and JobStatus.RUNNING not in jobspec.OPEN_ON_CHAIN
    assert JobStatus.RUNNING in jobspec.OPEN_IN_SERVICE and JobStatus.VERIFYING not in jobspec.OPEN_IN_SERVICE


def test_statuses_are_the_stored_strings():
    assert JobStatus.VERIFYING == "verifying" and "verifying" in jobspec.OPEN_ON_CHAIN
    assert f"{JobStatus.CANCELLED}" == "cancelled"
    assert {"completed": 1}[JobStatus.COMPLETED] == 1  # same hash as the plain string


def test_chain_encoding_of_options():
    assert jobspec.temperature_milli(0.7) == 700
    assert jobspec.temperature_milli(0.0005) == 0 and jobspec.temperature_milli(1.2345) == 1234
    assert jobspec.temperature_of(700) == 0.7
    assert jobspec.temperature_milli(jobspec.MAX_TEMPERATURE) == jobspec.MAX_TEMPERATURE_MILLI == 10_000
    options = jobspec.chain_options(0.7, 42, 128)
    assert (options.temperature_milli, options.seed, options.num_predict) == (700, 42, 128)


def test_hashes_are_sha256_of_utf8():
    assert jobspec.prompt_hash("héllo") == hashlib.sha256("héllo".encode("utf-8")).digest()
    assert jobspec.result_hash("ü") == hashlib.sha256("ü".encode("utf-8")).digest()
