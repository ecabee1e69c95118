"""The coordinator's and miner's service surfaces, in-process: endpoint rule (SSRF),
publishable fail reasons, signed requests bound to target and nonce, owner-only
files, per-IP limits, answers that do not tell whether someone else's job exists,
invalid Unicode, and a miner that runs only what the chain assigned to it."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import stat
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from aitbc.endpoints import authority, is_public_address, parse_endpoint
from aitbc.signed_http import ReplayCache, SignatureRejected, push_target, sign_request, verify_request
from aitbc.coordinator import lifecycle, targets
from aitbc.coordinator.apikeys import PEPPER_META_KEY, ApiKeys, hash_key
from aitbc.coordinator.http.app import create_app
from aitbc.coordinator.errors import MinerUnreachable
from aitbc.coordinator.miner_push import MinerDeclined, push_assignment
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.coordinator.store import StoredJob, Store
from aitbc.api.miner_client import MinerClient
from aitbc.miner.coordinator_link import CoordinatorLink
from aitbc.miner.outbox import Outbox, Report
from aitbc.miner.runner import NotAssignedOnChain, NotYetOnChain
from aitbc.ops.factories import KEYS
from tests.unit import test_miner_fakes as mf
from tests.unit.test_coordinator_api import ADMIN, CLIENT, OTHER, FakeRPC, assert_problem, job_body

COORD = KEYS["coordinator"]
MINER1, MINER2 = KEYS["miner1"], KEYS["miner2"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- 1. the endpoint rule ------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("http://127.0.0.1:18001", "http://127.0.0.1:18001"),
    ("http://127.0.0.1:18001/", "http://127.0.0.1:18001"),
    ("https://miner.example.com", "https://miner.example.com"),
    ("HTTP://[::1]:8080", "http://[::1]:8080"),
])
def test_plain_base_urls_are_accepted(text, canonical):
    assert parse_endpoint(text) == canonical


@pytest.mark.parametrize("text", [
    "http://127.0.0.1:9999/secret?q=#", "http://127.0.0.1:9999/secret", "http://h:1//", "http://h:1/?",
    "http://h:1#x", "http://user:pw@h:1", "http://h:1@evil:2", "ftp://h:1", "file:///etc/passwd", "h:1",
    "http://h:0", "http://h:65536", "http://h:+80", "http://h%2f:1", "http://[fe80::1%25eth0]:1",
    "http://h:1\\@x", "http:// h:1", "http://h:1\n", "http://", "http://0x7f.1:80", "http://1.2.3:80",
    "http://-bad-.com:80", "", "x" * 300,
])
def test_anything_but_a_plain_base_url_is_refused(text):
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_address_classes_and_authority():
    assert not any(is_public_address(a) for a in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254",
                                                 "::1", "fe80::1", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1",
                                                 "224.0.0.1"))
    assert is_public_address("8.8.8.8") and is_public_address("2001:4860:4860::8888")
    assert authority("https://Miner.Example.com") == "miner.example.com:443"
    assert authority("http://[::1]") == "[::1]:80"


def test_resolve_refuses_private_addresses_unless_allowed():
    with pytest.raises(targets.EndpointRefused, match="non-public address 127.0.0.1"):
        asyncio.run(targets.resolve("http://127.0.0.1:9", allow_private=False))
    with pytest.raises(targets.EndpointRefused, match="non-public"):
        asyncio.run(targets.resolve("http://localhost:9", allow_private=False))
    assert asyncio.run(targets.resolve("http://127.0.0.1:9", allow_private=True)) == ["127.0.0.1"]
    with pytest.raises(targets.EndpointRefused, match="path"):
        asyncio.run(targets.resolve("http://127.0.0.1:9/x", allow_private=True))


class MinerRPC(FakeRPC):
    """FakeRPC plus miner1 staked on chain and scripted jobs."""

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, dict] = {}

    async def query(self, path: str):
        parts = path.strip("/").split("/")
        if parts[0] == "miner" and parts[1] in (MINER1.address, MINER2.address):
            return {"address": parts[1], "stake": 100_000_000, "models": ["aitbc-tiny"], "capacity": 2,
                    "active_jobs": 0, "completed": 0, "failed": 0, "endpoint": "", "price_per_second": 20_000}
        if parts[0] == "job" and parts[1] in self.jobs:
            return self.jobs[parts[1]]
        return await super().query(path)


def coordinator_app(tmp_path: Path, rpc, **overrides) -> TestClient:
    settings = CoordinatorSettings(**{"data_dir": tmp_path / "coord", "client_api_keys": [CLIENT, OTHER],
                                      "admin_api_keys": [ADMIN], "rate_limit_per_minute": 600,
                                      "rate_limit_burst": 100, **overrides})
    return TestClient(create_app(settings, rpc=rpc, key=COORD, run_scheduler=False))


def signed_post(client: TestClient, path: str, body: dict, key=MINER1, target: str = COORD.address, **kw):
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **sign_request(key, "POST", path, data, target=target, **kw)}
    return client.post(path, content=data, headers=headers)


@pytest.mark.parametrize("endpoint, allow, words", [
    ("http://127.0.0.1:9999/secret?q=#", True, "endpoint refused"),
    ("http://127.0.0.1:9999/v1/jobs/assign", True, "path"),
    ("http://admin@127.0.0.1:9999", True, "endpoint refused"),
    ("http://127.0.0.1:9999", False, "non-public address"),
    ("http://169.254.169.254", False, "non-public address"),
])
def test_registration_refuses_endpoints_it_may_not_call(tmp_path, endpoint, allow, words):
    with coordinator_app(tmp_path, MinerRPC(), allow_private_endpoints=allow) as client:
        response = signed_post(client, "/v1/miners/register", {"endpoint": endpoint, "models": ["aitbc-tiny"],
                                                                "capacity": 1})
        assert_problem(response, 400, words)


def test_registration_stores_the_canonical_endpoint(tmp_path):
    with coordinator_app(tmp_path, MinerRPC(), allow_private_endpoints=True) as client:
        response = signed_post(client, "/v1/miners/register", {"endpoint": "http://127.0.0.1:9999/",
                                                                "models": ["aitbc-tiny"], "capacity": 1})
        assert response.status_code == 200, response.text
        assert response.json()["endpoint"] == "http://127.0.0.1:9999"


# --- 1b. what a push failure may publish ---------------------------------------------------------

SECRET = "internal-secret-token-0xC0FFEE"


@pytest.mark.parametrize("answer, code", [
    (lambda r: httpx.Response(500, text=SECRET), "miner_error: HTTP 500"),
    (lambda r: httpx.Response(403, json={"detail": SECRET}), "miner_declined: HTTP 403"),
    (lambda r: (_ for _ in ()).throw(httpx.ConnectError(SECRET)), "miner_unreachable"),
    (lambda r: httpx.Response(302, headers={"Location": "http://10.0.0.1/"}), "miner_declined: HTTP 302"),
])
def test_push_errors_carry_a_fixed_code_and_keep_the_body_for_the_log(answer, code):
    async def go():
        async with MinerClient(COORD, transport=httpx.MockTransport(answer)) as client:
            await push_assignment(client, "http://miner.test", mf.assignment(), backoff_s=0, miner=MINER1.address)

    with pytest.raises((MinerUnreachable, MinerDeclined)) as caught:
        asyncio.run(go())
    assert caught.value.code == code and SECRET not in caught.value.code


def test_fail_job_puts_only_the_fixed_reason_on_chain(tmp_path):
    rpc = MinerRPC()
    with coordinator_app(tmp_path, rpc) as client:
        coord = client.app.state.coordinator
        job = StoredJob(id="job_1", api_key_hash="h", client="c", type="inference", model="m", prompt="p",
                        options="{}", max_reward=5, signed_tx=b"", tx_hash="t", status="assigned",
                        submitted_at=time.time(), miner=MINER1.address)
        coord.store.insert_job(job)
        assert asyncio.run(lifecycle.fail_job(coord, job, "miner_error: HTTP 500: miner x did not take the job",
                                              "push_failed", detail=f"body: {SECRET}"))
        from aitbc import tx as txlib
        sent = txlib.decode(rpc.broadcasts[-1])
        assert sent.kind == "fail_job" and SECRET not in sent.msg.reason
        assert SECRET not in coord.store.get_job("job_1").error


def test_a_miner_reported_failure_reaches_its_client_but_not_the_chain(tmp_path):
    rpc = MinerRPC()
    with coordinator_app(tmp_path, rpc) as client:
        coord = client.app.state.coordinator
        coord.store.insert_job(StoredJob(id="job_2", api_key_hash="h", client="c", type="inference", model="m",
                                         prompt="p", options="{}", max_reward=5, signed_tx=b"", tx_hash="t",
                                         status="running", submitted_at=time.time(), miner=MINER1.address))
        response = signed_post(client, "/v1/jobs/job_2/status", {"status": "failed", "error": "spam http://x"})
        assert response.status_code == 200, response.text
        from aitbc import tx as txlib
        assert "spam" not in txlib.decode(rpc.broadcasts[-1]).msg.reason
        assert "miner_failed" in response.json()["error"] and "spam http://x" in response.json()["error"]


# --- 7. signed requests: target and nonce ------------------------------------------------------

def test_signed_request_binds_target_and_nonce():
    body = b'{"x": 1}'
    headers = sign_request(COORD, "POST", "/v1/jobs/assign", body, target=push_target(MINER1.address, "h:1"))
    cache = ReplayCache()
    signer = verify_request(headers, "POST", "/v1/jobs/assign", body, target=push_target(MINER1.address, "h:1"),
                            replay=cache)
    assert signer.address == COORD.address
    with pytest.raises(SignatureRejected, match="replayed"):
        verify_request(headers, "POST", "/v1/jobs/assign", body, target=push_target(MINER1.address, "h:1"),
                       replay=cache)
    for other in (push_target(MINER2.address, "h:1"), push_target(MINER1.address, "h:2")):
        with pytest.raises(SignatureRejected, match="signed for"):
            verify_request(headers, "POST", "/v1/jobs/assign", body, target=other, replay=ReplayCache())
    forged = {**headers, "X-Aitbc-Target": push_target(MINER2.address, "h:1")}
    with pytest.raises(SignatureRejected, match="does not match"):
        verify_request(forged, "POST", "/v1/jobs/assign", body, target=push_target(MINER2.address, "h:1"))
    missing = {k: v for k, v in headers.items() if k != "X-Aitbc-Nonce"}
    with pytest.raises(SignatureRejected, match="missing"):
        verify_request(missing, "POST", "/v1/jobs/assign", body, target=push_target(MINER1.address, "h:1"))


def test_replay_cache_forgets_by_time_and_refuses_when_full():
    cache = ReplayCache(window_s=60, max_entries=2)
    cache.check_and_add("a", timestamp=1000, now=1000)
    cache.check_and_add("b", timestamp=1000, now=1000)
    with pytest.raises(SignatureRejected, match="too many"):
        cache.check_and_add("c", timestamp=1000, now=1010)
    cache.check_and_add("c", timestamp=1070, now=1061)  # a and b left the window
    assert len(cache) == 1


def test_miner_refuses_an_assignment_signed_for_another_miner_or_replayed(tmp_path):
    world = mf.daemon(tmp_path)
    from aitbc.miner.app import create_app as miner_app

    with TestClient(miner_app(world.settings, world)) as client:
        a = mf.assignment("job_t")
        for_other = mf.signed(a, target=push_target(MINER2.address, "127.0.0.1:18001"))
        assert_problem(client.post("/v1/jobs/assign", **for_other), 401, "signed for")
        other_port = mf.signed(a, target=push_target(mf.MINER.address, "127.0.0.1:18002"))
        assert_problem(client.post("/v1/jobs/assign", **other_port), 401, "signed for")
        first = mf.signed(a)
        assert client.post("/v1/jobs/assign", **first).status_code == 202
        assert_problem(client.post("/v1/jobs/assign", **first), 401, "replayed")


def test_coordinator_refuses_miner_requests_signed_for_another_receiver_or_replayed(tmp_path):
    with coordinator_app(tmp_path, MinerRPC(), allow_private_endpoints=True) as client:
        body = {"endpoint": "http://127.0.0.1:9999", "models": ["aitbc-tiny"], "capacity": 1}
        assert_problem(signed_post(client, "/v1/miners/register", body, target=MINER2.address), 401, "signed for")
        nonce = "ab" * 16
        assert signed_post(client, "/v1/miners/register", body, nonce=nonce).status_code == 200
        assert_problem(signed_post(client, "/v1/miners/register", body, nonce=nonce), 401, "replayed")


# --- 8. the miner runs only what the chain assigned to it ---------------------------------------

def test_miner_runs_only_jobs_the_chain_assigned_to_it(tmp_path, monkeypatch):
    import aitbc.miner.daemon as daemon_mod
    monkeypatch.setattr(daemon_mod, "CONFIRM_WAIT_S", 0.6)
    monkeypatch.setattr(daemon_mod, "CONFIRM_POLL_S", 0.05)
    chain = mf.FakeChain()
    chain.assign_all_to = None
    chain.jobs["job_other"] = {"id": "job_other", "status": "assigned", "miner": MINER2.address, "checker": ""}
    chain.jobs["job_done"] = {"id": "job_done", "status": "completed", "miner": mf.MINER.address, "checker": ""}
    chain.jobs["job_check"] = {"id": "job_check", "status": "verifying", "miner": MINER2.address,
                               "checker": mf.MINER.address}
    world = mf.daemon(tmp_path, chain=chain)
    from aitbc.miner.app import create_app as miner_app

    with TestClient(miner_app(world.settings, world)) as client:
        for job_id, status, words in (("job_other", 409, "not assigned to this miner"),
                                      ("job_done", 409, "completed"), ("job_missing", 503, "not on chain")):
            started = time.monotonic()
            response = client.post("/v1/jobs/assign", **mf.signed(mf.assignment(job_id)))
            assert_problem(response, status, words)
            waited = time.monotonic() - started
            # only the unseen is waited for, and answered as retryable (a slow block is no refusal)
            assert waited < 0.5 if status == 409 else (waited >= 0.5 and response.headers["Retry-After"] == "1")
        assert client.post("/v1/jobs/assign", **mf.signed(mf.assignment("job_check"))).status_code == 202


def test_miner_waits_for_an_assignment_still_in_the_mempool(tmp_path):
    chain = mf.FakeChain()
    chain.assign_all_to = None
    chain.jobs["job_late"] = {"id": "job_late", "status": "pending", "miner": "", "checker": ""}
    world = mf.daemon(tmp_path, chain=chain)

    async def go():
        await world.start()
        try:
            async def commit_later():
                await asyncio.sleep(0.6)
                chain.jobs["job_late"] = {"id": "job_late", "status": "assigned", "miner": mf.MINER.address,
                                          "checker": ""}
            task = asyncio.create_task(commit_later())
            assert await world.confirm_assignment(mf.assignment("job_late")) == "miner"
            await task
            with pytest.raises(NotYetOnChain):
                await world.confirm_assignment(mf.assignment("job_never"), wait_s=0.3)
            chain.jobs["job_gone"] = {"id": "job_gone", "status": "expired", "miner": mf.MINER.address}
            with pytest.raises(NotAssignedOnChain):
                await world.confirm_assignment(mf.assignment("job_gone"), wait_s=5)
        finally:
            await world.stop()

    asyncio.run(go())


# --- 2. files only their owner can read ---------------------------------------------------------

def test_store_files_are_owner_only_and_the_pepper_moves_out_of_the_db(tmp_path):
    data = tmp_path / "data"
    store = Store(data / "coordinator.db")
    # an older version kept the pepper in the db
    store._exec("INSERT INTO meta (key, value) VALUES (?, ?)", (PEPPER_META_KEY, "old-pepper"))
    store.add_api_key(hash_key("k", "old-pepper"), "client")
    keys = ApiKeys(store)
    assert keys.pepper == "old-pepper" and keys.authenticate("k").role == "client"
    assert store.get_meta(PEPPER_META_KEY) is None
    assert (data / "pepper").read_text().strip() == "old-pepper"
    store.close()
    raw = sqlite3.connect(data / "coordinator.db")
    assert raw.execute("SELECT COUNT(*) FROM meta WHERE value = 'old-pepper'").fetchone()[0] == 0
    raw.close()
    store = Store(data / "coordinator.db")
    store.add_api_key("x", "client")  # a write, so the -wal is there
    files = [data / n for n in ("coordinator.db", "coordinator.db-wal", "coordinator.db-shm", "pepper")]
    assert all(f.exists() for f in files)
    assert mode(data) == 0o700 and {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    store.close()


def test_an_old_world_readable_store_is_narrowed(tmp_path):
    data = tmp_path / "old"
    data.mkdir(mode=0o755)
    sqlite3.connect(data / "coordinator.db").close()
    os.chmod(data / "coordinator.db", 0o644)
    Store(data / "coordinator.db").close()
    assert mode(data) == 0o700 and mode(data / "coordinator.db") == 0o600


def test_miner_outbox_is_owner_only(tmp_path):
    async def go():
        box = Outbox(CoordinatorLink("http://c.test", mf.MINER, transport=mf.FakeCoordinator().transport,
                                        target=mf.COORDINATOR.address), tmp_path / "miner" / "outbox.json")
        box.add(Report("job_1", "complete", "/v1/jobs/job_1/complete", {"job_id": "job_1"}, time.time()))
        assert mode(tmp_path / "miner") == 0o700 and mode(tmp_path / "miner" / "outbox.json") == 0o600
        await box.close()

    asyncio.run(go())


def test_api_keys_from_a_file(tmp_path):
    key_file = tmp_path / "client.keys"
    key_file.write_text("# clients\nfile-key-1\n\nfile-key-2\n")
    with coordinator_app(tmp_path, MinerRPC(), client_api_keys=[], client_api_keys_file=key_file) as client:
        assert client.get("/v1/jobs", headers={"X-Api-Key": "file-key-2"}).status_code == 200
        assert client.get("/v1/jobs", headers={"X-Api-Key": CLIENT}).status_code == 401


# --- 3. per-IP limits ---------------------------------------------------------------------------

def test_open_routes_and_failed_logins_are_limited_per_ip(tmp_path):
    with coordinator_app(tmp_path, MinerRPC(), ip_rate_limit_per_minute=6, ip_rate_limit_burst=3) as client:
        answers = [client.get("/v1/chain").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        limited = client.get(f"/v1/accounts/{COORD.address}")
        assert_problem(limited, 429, "rate limit")
        assert limited.headers["Retry-After"] == "10"
        assert client.get("/metrics").status_code == 429 and client.get("/v1/miners").status_code == 429
        # a good key has its own bucket; a bad key spends the IP's
        assert client.get("/v1/jobs", headers={"X-Api-Key": CLIENT}).status_code == 200
        assert_problem(client.get("/v1/jobs", headers={"X-Api-Key": "guess"}), 429, "rate limit")


def test_forwarded_for_counts_only_behind_a_trusted_proxy(tmp_path):
    with coordinator_app(tmp_path, MinerRPC(), ip_rate_limit_per_minute=6, ip_rate_limit_burst=1,
                         trusted_proxies=["testclient"]) as client:
        assert client.get("/v1/chain", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
        assert client.get("/v1/chain", headers={"X-Forwarded-For": "9.9.9.9, 2.2.2.2"}).status_code == 200
        assert client.get("/v1/chain", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429
    with coordinator_app(tmp_path / "b", MinerRPC(), ip_rate_limit_per_minute=6, ip_rate_limit_burst=1) as client:
        assert client.get("/v1/chain", headers={"X-Forwarded-For": "1.1.1.1"}).status_code == 200
        assert client.get("/v1/chain", headers={"X-Forwarded-For": "2.2.2.2"}).status_code == 429


# --- 4, 5. unknown and someone else's look the same ----------------------------------------------

def test_receipt_of_another_clients_job_reads_like_an_unknown_job(tmp_path):
    with coordinator_app(tmp_path, MinerRPC()) as client:
        client.headers["X-Api-Key"] = CLIENT
        job_id = client.post("/v1/jobs", json=job_body()).json()["job_id"]
        theirs = client.get(f"/v1/jobs/{job_id}/receipt", headers={"X-Api-Key": OTHER})
        unknown = client.get("/v1/jobs/job_ffffffffffffffff/receipt", headers={"X-Api-Key": OTHER})
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json()["detail"].replace(job_id, "ID") == unknown.json()["detail"].replace(
            "job_ffffffffffffffff", "ID")
        assert "pending" not in theirs.text


def test_status_route_answers_only_the_assigned_miner_or_current_checker(tmp_path):
    rpc = MinerRPC()
    with coordinator_app(tmp_path, rpc) as client:
        store = client.app.state.coordinator.store
        for job_id, status in (("job_a", "assigned"), ("job_v", "verifying")):
            store.insert_job(StoredJob(id=job_id, api_key_hash="h", client="c", type="inference", model="m",
                                       prompt="p", options="{}", max_reward=5, signed_tx=b"", tx_hash="t",
                                       status=status, submitted_at=time.time(), miner=MINER1.address))
        rpc.jobs["job_v"] = {"id": "job_v", "status": "verifying", "miner": MINER1.address,
                             "checker": MINER2.address, "checkers": [MINER2.address]}
        body = {"status": "running"}
        not_yours = signed_post(client, "/v1/jobs/job_a/status", body, key=MINER2)
        unknown = signed_post(client, "/v1/jobs/job_zzzz/status", body, key=MINER2)
        assert not_yours.status_code == unknown.status_code == 404
        assert not_yours.json()["detail"].replace("job_a", "ID") == unknown.json()["detail"].replace("job_zzzz", "ID")
        assert signed_post(client, "/v1/jobs/job_a/status", body).status_code == 200  # its miner
        assert signed_post(client, "/v1/jobs/job_v/status", body, key=MINER2).status_code == 200  # its checker
        stranger = KEYS["alice"]
        assert signed_post(client, "/v1/jobs/job_v/status", body, key=stranger).status_code == 404


# --- 6. invalid Unicode ---------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b'{"prompt": "\\ud800", "model": "aitbc-tiny"}',
    b'{"prompt": "ok", "options": {"\\udfff": 1}}',
    b'{"prompt": "\xff\xfe"}',
])
def test_invalid_unicode_in_a_body_is_a_400_problem(tmp_path, raw):
    with coordinator_app(tmp_path, MinerRPC()) as client:
        response = client.post("/v1/jobs", content=raw, headers={"X-Api-Key": CLIENT,
                                                                 "Content-Type": "application/json"})
        assert_problem(response, 400, "Unicode" if b"\\u" in raw else "UTF-8")
        status = signed_post(client, "/v1/jobs/job_x/status", {"status": "failed", "error": "\ud800"})
        assert_problem(status, 400)


@pytest.mark.parametrize("depth", [600, 3000])
def test_a_deeply_nested_body_is_a_400_problem_not_a_500(tmp_path, depth):
    """Deeper than the Unicode check's walk used to recurse (600), or than JSON parsing goes (3000);
    a lone surrogate at the bottom is still found when the body parses."""
    nested = b"[" * depth + b'"\\ud800"' + b"]" * depth
    raw = b'{"prompt": "\\u0041", "x": ' + nested + b"}"
    with coordinator_app(tmp_path, MinerRPC()) as client:
        response = client.post("/v1/jobs", content=raw, headers={"X-Api-Key": CLIENT,
                                                                 "Content-Type": "application/json"})
        assert_problem(response, 400, "Unicode" if depth == 600 else "parsing the body")


def test_a_valid_surrogate_pair_is_accepted(tmp_path):
    with coordinator_app(tmp_path, MinerRPC()) as client:
        body = json.dumps(job_body(prompt="emoji \U0001F600 please")).encode()  # ensure_ascii: a \ud83d\ude00 pair
        assert b"\\ud83d" in body
        response = client.post("/v1/jobs", content=body, headers={"X-Api-Key": CLIENT,
                                                                  "Content-Type": "application/json"})
        assert response.status_code == 201, response.text


def test_push_connects_to_the_address_it_checked(tmp_path):
    """No second DNS lookup between the check and the connection (DNS rebinding)."""
    seen = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.url.port, request.headers["host"], request.headers["X-Aitbc-Target"]))
        return httpx.Response(202, json={"job_id": "job_1", "accepted": True, "active_jobs": 1})

    async def resolve(endpoint: str) -> list[str]:
        return ["203.0.113.7"]

    async def go():
        async with MinerClient(COORD, transport=httpx.MockTransport(answer), resolve=resolve) as client:
            await client.assign("http://miner.example.com:8080", mf.assignment(), MINER1.address)

    asyncio.run(go())
    assert seen == [("203.0.113.7", 8080, "miner.example.com:8080",
                     push_target(MINER1.address, "miner.example.com:8080"))]


def test_miner_takes_an_assignment_waiting_in_the_mempool_only_from_the_coordinator(tmp_path):
    """No block wait when the node's mempool (txs that passed CheckTx) holds the coordinator's
    assign_job naming this miner; an assign_job signed by anyone else does not count."""
    import base64

    from aitbc import tx as txlib

    class MempoolChain(mf.FakeChain):
        def __init__(self) -> None:
            super().__init__()
            self.assign_all_to = None
            self.mempool: list[bytes] = []

        async def call(self, method: str, **params):
            assert method == "unconfirmed_txs"
            return {"txs": [base64.b64encode(raw).decode() for raw in self.mempool]}

    chain = MempoolChain()
    world = mf.daemon(tmp_path, chain=chain)

    async def go():
        await world.start()
        try:
            forged = txlib.build(mf.STRANGER, mf.CHAIN_ID, 0, "assign_job", job_id="job_m", miner=mf.MINER.address)
            chain.mempool.append(forged)
            with pytest.raises(NotYetOnChain):
                await world.confirm_assignment(mf.assignment("job_m"), wait_s=0.3)
            chain.mempool.append(txlib.build(mf.COORDINATOR, mf.CHAIN_ID, 0, "assign_job", job_id="job_m",
                                             miner=mf.MINER.address))
            started = time.monotonic()
            assert await world.confirm_assignment(mf.assignment("job_m")) == "miner"
            assert time.monotonic() - started < 0.2
        finally:
            await world.stop()

    asyncio.run(go())


def test_ip_buckets_are_bounded_by_dropping_full_ones():
    from aitbc.coordinator.ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0], max_buckets=3)
    for ip in ("a", "b", "c"):
        assert limiter.acquire(ip) == 0.0
    now[0] = 1.0
    assert limiter.acquire("d") == 0.0 and len(limiter) == 4  # nobody full yet: nothing dropped
    now[0] = 10.0
    assert limiter.acquire("e") == 0.0 and len(limiter) == 1  # all refilled: dropped, no state lost


def test_coordinator_start_takes_no_key_on_the_command_line():
    from click.testing import CliRunner

    from aitbc.coordinator.cli import coordinator

    result = CliRunner().invoke(coordinator, ["start", "--client-api-key", "visible-in-ps"])
    assert result.exit_code == 2 and "No such option" in result.output
    help_text = CliRunner().invoke(coordinator, ["start", "--help"]).output
    assert "--client-api-key-file" in help_text and "--allow-private-endpoints" in help_text


def test_miner_warns_about_a_seed_on_the_command_line(tmp_path):
    from click.testing import CliRunner

    from aitbc.miner.cli import miner

    # the port check fails right after the warning: enough to see it without starting anything
    import socket
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = CliRunner().invoke(miner, ["start", "--key", "11" * 32, "--port", str(port),
                                            "--data-dir", str(tmp_path)])
    assert "visible to other users" in result.output and result.exit_code != 0


def test_miner_runs_only_the_job_the_client_paid_for():
    """A pushed job whose prompt, model or options differ from the chain's is refused (409)."""
    import hashlib

    from aitbc.miner.daemon import _check_matches_chain
    from aitbc.api.miner_models import JobAssignment, JobData
    from aitbc.miner.runner import NotAssignedOnChain

    push = JobAssignment(job_id="job_x", reward=1, chain_id="c",
                         job_data=JobData(prompt="the paid prompt", model="aitbc-tiny",
                                          options={"temperature": 0, "seed": 7, "num_predict": 16}))
    chain_job = {"prompt_hash": hashlib.sha256(b"the paid prompt").hexdigest(), "model": "aitbc-tiny",
                 "temperature_milli": 0, "seed": 7, "num_predict": 16}
    _check_matches_chain(push, chain_job)  # the same job: accepted
    for field, value in (("prompt_hash", "00" * 32), ("model", "other"), ("seed", 8), ("num_predict", 99)):
        with pytest.raises(NotAssignedOnChain, match=field):
            _check_matches_chain(push, {**chain_job, field: value})


def test_no_pattern_takes_a_trailing_newline():
    """`$` also matches before a final newline: each whole-string pattern ends in \\Z instead."""
    from aitbc import crypto, endpoints, keyring, signed_http
    from aitbc.explorer import chain
    from aitbc.miner import registration
    from aitbc.ops import hosts

    address = KEYS["alice"].address
    assert crypto.is_address(address) and not crypto.is_address(address + "\n")
    for pattern, good in ((keyring.NAME_RE, "alice"), (signed_http.NONCE_RE, "0" * 32),
                          (registration.SEED_RE, "a" * 64), (chain.HEIGHT_RE, "12"), (chain.JOB_RE, "job_" + "0" * 16),
                          (hosts._PEER, "0" * 40 + "@host:26656"), (hosts._HOSTNAME, "node-1.example"),
                          (endpoints._LABEL, "node-1")):
        assert pattern.match(good) and not pattern.match(good + "\n"), pattern.pattern
