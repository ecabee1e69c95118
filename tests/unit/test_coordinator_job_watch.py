"""GET /v1/jobs/{id} as a long poll (coordinator/http/job_watch.py), in process: every answer
carries the job's ETag; If-None-Match with `?wait=` holds the request until the job changes
or the wait is over (304). And the client's side: `CoordinatorClient.job_updates`."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from aitbc.api.coordinator_client import HOLD_S, CoordinatorClient
from aitbc.coordinator.apikeys import Principal
from aitbc.coordinator.http import job_watch
from tests.unit.test_coordinator_api import CLIENT, OTHER, api, assert_problem, job_body, rpc  # noqa: F401


def submitted(api) -> tuple[str, str]:  # noqa: F811
    job_id = api.post("/v1/jobs", json=job_body()).json()["job_id"]
    answer = api.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200 and answer.headers["etag"].startswith('"')
    return job_id, answer.headers["etag"]


def test_the_etag_names_one_representation_and_if_none_match_answers_304(api):  # noqa: F811
    job_id, etag = submitted(api)
    assert api.get(f"/v1/jobs/{job_id}").headers["etag"] == etag  # nothing changed: the same tag
    unchanged = api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.headers["etag"] == etag and unchanged.content == b""
    for other in ('"something-else"', 'W/"x", "y"'):
        assert api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": other}).status_code == 200
    assert api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": f'"a", W/{etag}'}).status_code == 304
    api.app.state.coordinator.store.update_job(job_id, error="a change")
    changed = api.get(f"/v1/jobs/{job_id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag and changed.json()["error"] == "a change"


def test_a_long_poll_answers_when_the_job_changes_not_at_the_end_of_its_wait(api):  # noqa: F811
    job_id, etag = submitted(api)
    store = api.app.state.coordinator.store
    answers: list[tuple[httpx.Response, float]] = []

    def poll() -> None:
        start = time.monotonic()
        answer = api.get(f"/v1/jobs/{job_id}", params={"wait": 20}, headers={"If-None-Match": etag})
        answers.append((answer, time.monotonic() - start))

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    assert not answers, "answered before anything changed"
    # Written on the event loop's thread, as the coordinator writes its jobs.
    api.portal.call(lambda: store.update_job(job_id, status="assigned", miner="m1"))
    waiter.join(10)
    (answer, took), = answers
    assert answer.status_code == 200 and answer.json()["status"] == "assigned", answer.text
    assert answer.headers["etag"] != etag
    assert 0.4 < took < 5, took  # woken by the write, far before its 20 s
    assert not api.app.state.coordinator.streams._waiting  # nothing left behind


def test_a_long_poll_that_sees_no_change_answers_304_after_its_wait(api):  # noqa: F811
    job_id, etag = submitted(api)
    start = time.monotonic()
    answer = api.get(f"/v1/jobs/{job_id}", params={"wait": 0.4}, headers={"If-None-Match": etag})
    took = time.monotonic() - start
    assert answer.status_code == 304 and answer.headers["etag"] == etag
    assert 0.35 < took < 5, took


def test_a_long_poll_is_bounded_and_keeps_to_the_keys_jobs(api, monkeypatch):  # noqa: F811
    job_id, etag = submitted(api)
    monkeypatch.setattr(job_watch, "MAX_WAIT_S", 0.3)
    start = time.monotonic()
    held = api.get(f"/v1/jobs/{job_id}", params={"wait": 1000}, headers={"If-None-Match": etag})
    assert held.status_code == 304 and time.monotonic() - start < 5  # cut to the longest hold, not refused
    assert held.headers["cache-control"] == "private, no-cache" and held.headers["vary"] == "X-Api-Key"
    for bad in (-1, "nan", "inf"):
        assert_problem(api.get(f"/v1/jobs/{job_id}", params={"wait": bad}), 400)
    # another key's wait ends at once: the job is not its to see
    assert_problem(api.get(f"/v1/jobs/{job_id}", params={"wait": 30}, headers={"X-Api-Key": OTHER,
                                                                               "If-None-Match": etag}), 404)


def test_a_held_request_ends_when_its_client_is_gone(api, monkeypatch):  # noqa: F811
    job_id, etag = submitted(api)
    monkeypatch.setattr(job_watch, "CLIENT_CHECK_S", 0.1)
    coord = api.app.state.coordinator
    principal = Principal(key_hash=coord.store.get_job(job_id).api_key_hash, role="client")
    looks = []

    async def gone() -> bool:
        looks.append(time.monotonic())
        return len(looks) >= 3

    async def hold():
        start = time.monotonic()
        answer = await job_watch.job_answer(coord, principal, job_id, etag, 30, gone)
        return answer.status_code, time.monotonic() - start

    status, took = api.portal.call(hold)
    assert status == 304 and took < 5 and len(looks) == 3, (status, took, looks)
    assert not coord.streams._waiting


class Scripted:
    """A coordinator that answers GET /v1/jobs/j1 from a script, and records what it was asked."""

    def __init__(self, answers: list[tuple[int, dict | None, str | None]]):
        self.answers, self.asked = list(answers), []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.asked.append((request.headers.get("if-none-match"), request.url.params.get("wait"),
                           request.extensions["timeout"]["read"]))
        status, body, etag = self.answers.pop(0)
        return httpx.Response(status, json=body, headers={"ETag": etag} if etag else {})


def job(status: str) -> dict:
    return {"job_id": "j1", "status": status, "type": "inference", "model": "m", "client": "c", "max_reward": 1,
            "submitted_at": "2026-12-02T00:00:00Z", "tx_hash": "ab"}


def test_job_updates_long_polls_with_the_last_etag_until_the_job_is_final():
    script = Scripted([(200, job("pending"), '"a"'), (304, None, '"a"'), (200, job("running"), '"b"'),
                       (200, job("completed"), '"c"')])
    with CoordinatorClient("http://coordinator", transport=httpx.MockTransport(script), timeout=5) as client:
        seen = [j.status for j in client.job_updates("j1", timeout=100)]
    assert seen == ["pending", "running", "completed"]  # a 304 yields nothing
    first, *held = script.asked
    assert first[:2] == (None, None)
    assert [etag for etag, _, _ in held] == ['"a"', '"a"', '"b"']
    for _, wait, read_timeout in held:  # 25 s a request; the read timeout is the wait and the client's 5 s
        assert float(wait) == HOLD_S and read_timeout == pytest.approx(5 + HOLD_S)


def test_job_updates_does_not_hammer_what_answers_304_without_holding():
    """A proxy or cache that answers conditional requests itself, at once: the client polls it
    every POLL_S instead of asking in a tight loop; a 200 with the ETag it sent is no news."""
    script = Scripted([(200, job("pending"), '"a"')] + [(304, None, '"a"'), (200, job("pending"), '"a"')] * 25)
    with CoordinatorClient("http://coordinator", transport=httpx.MockTransport(script), timeout=5) as client:
        start = time.monotonic()
        seen = [j.status for j in client.job_updates("j1", timeout=0.6)]
        took = time.monotonic() - start
    assert seen == ["pending"] and 2 <= len(script.asked) <= 5, (seen, len(script.asked))
    assert 0.5 < took < 3


def test_job_updates_polls_a_coordinator_that_sends_no_etag_and_stops_at_its_timeout():
    script = Scripted([(200, job("pending"), None)] * 50)
    with CoordinatorClient("http://coordinator", transport=httpx.MockTransport(script), timeout=5) as client:
        start = time.monotonic()
        seen = [j.status for j in client.job_updates("j1", timeout=0.6)]
        took = time.monotonic() - start
    assert set(seen) == {"pending"} and 2 <= len(seen) <= 5  # every POLL_S (0.25 s), not in a tight loop
    assert all(etag is None and wait is None for etag, wait, _ in script.asked)
    assert 0.5 < took < 3
