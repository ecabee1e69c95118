"""The invariants every fault scenario ends with, read from the real chain.

`checkpoint` waits for the system to settle, then checks: every node at a common
height with the same header app hash at every height since the scenario began;
`aitbc.audit` clean on every node; every accepted job completed or refunded in
full; and the books of the load: the job client's balance equals genesis minus
what its jobs cost and the fees its txs burned, every transfer account's balance
equals genesis plus what it received minus what it sent and its fees, counted
from the transfers and fee events seen in blocks.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aitbc import audit
from aitbc.ops.harness.load import FINAL, LoadGenerator
from aitbc.ops.harness.marketplace import FaultStack, app_hashes_agree, query_any, wait_synced


def snapshot(stack: FaultStack, index: int = 0) -> audit.Snapshot:
    rpc = stack.rpc(index)
    try:
        return audit.consistent_read(rpc)
    finally:
        rpc.close()


def audit_all(stack: FaultStack) -> dict[int, int]:
    """aitbc.audit.audit on every node; returns the height each was read at."""
    heights = {}
    for i in range(stack.validators):
        rpc = stack.rpc(i)
        try:
            report = audit.audit(rpc)
        finally:
            rpc.close()
        broken = {name: problems for name, problems in report.checks.items() if problems}
        assert report.ok, f"audit on node{i} at height {report.height}: {broken}"
        heights[i] = report.height
    return heights


def books(stack: FaultStack, load: LoadGenerator) -> dict[str, Any]:
    """Balance arithmetic at one committed height (works while the load runs)."""
    snap = snapshot(stack)
    deadline = time.monotonic() + 30
    while load.watched_height < snap.height and time.monotonic() < deadline:
        time.sleep(0.2)
    assert load.watched_height >= snap.height, "the block watcher fell behind"
    genesis = stack.balance
    fees = load.fees_paid(snap.height)  # every tx in a block burned its fee, ok or failed
    # each job client: a job on chain costs max_reward while open, max_reward - refund once closed
    jobs_on_chain, spent = 0, 0
    for name in stack.job_client_names:
        client = stack.keys[name].address
        jobs = [j for j in snap.jobs.values() if j["client"] == client]
        cost = sum(j["max_reward"] - (j["refund"] if j["status"] in FINAL else 0) for j in jobs)
        balance = snap.accounts.get(client, {"balance": genesis})["balance"]
        fee = fees.get(client, 0)
        assert balance == genesis - cost - fee, \
            f"{name} has {balance}, expected {genesis} - {cost} - fees {fee} for {len(jobs)} jobs"
        jobs_on_chain, spent = jobs_on_chain + len(jobs), spent + cost
    # the transfer accounts: genesis + received - sent, from the transfers the watcher saw committed
    expected = {stack.keys[n].address: genesis - fees.get(stack.keys[n].address, 0) for n in stack.transfer_names}
    committed = load.committed_transfers(snap.height)
    for t in committed:
        expected[t.sender] -= t.amount
        expected[t.recipient] += t.amount
    actual = {a: snap.accounts[a]["balance"] for a in expected}
    assert actual == expected, f"transfer accounts at height {snap.height}: {actual} != {expected}"
    return {"height": snap.height, "client_jobs_on_chain": jobs_on_chain, "clients_spent": spent,
            "transfers_committed": len(committed)}


def replay_lines(log: Path, since_bytes: int) -> list[str]:
    """cometbft's handshake lines written after offset `since_bytes` of its log."""
    text = log.read_bytes()[since_bytes:].decode(errors="replace")
    keep = ("ABCI Handshake App Info", "ABCI Replay Blocks", "Replay last block", "Applying block",
            "Completed ABCI Handshake", "connection terminated")
    return [re.sub(r"\s+", " ", line)[:200] for line in text.splitlines() if any(k in line for k in keep)]


def checkpoint(stack: FaultStack, load: LoadGenerator, phase: str, since_height: int,
               settle_timeout: float = 150, probe: bool = True, probe_timeout: float = 45) -> dict[str, Any]:
    """Settle, then check every invariant; then probe that new jobs of the same client complete
    (see `assert_restored`). Returns what was seen (for the report)."""
    load.pause_jobs()
    try:
        load.settle(settle_timeout)
        top = wait_synced(stack, timeout=90)
        hashes = app_hashes_agree(stack, max(1, since_height), top)
        audited = audit_all(stack)
        ledger = books(stack, load)
        phase_jobs = load.job_summary(phase)
        all_jobs = load.job_summary()
        assert all_jobs["lost"] == 0 and not all_jobs["problems"], all_jobs["problems"]
        accepted_open = [j["id"] for j in snapshot(stack).jobs.values() if j["status"] not in FINAL
                         and j["id"] in load.jobs and load.jobs[j["id"]].outcome == "accepted"]
        assert not accepted_open, f"accepted jobs still open on chain: {accepted_open}"
    finally:
        load.resume_jobs()
    result = {"phase": phase, "heights": [since_height, top], "common_height": top,
              "app_hash_at_common_height": hashes[top], "audit_heights": audited, "books": ledger,
              "jobs": {k: v for k, v in phase_jobs.items() if k != "problems"},
              "transfers": load.transfer_summary(phase)}
    if probe:
        # restored means usable: the same client gets a new job accepted and completed
        resumed = time.monotonic()
        job = load.completed_job_after(resumed, probe_timeout)
        result["probe"] = {"completed_job": job.job_id if job else None, "answers": load.answers_after(resumed)}
        if job is None:
            result["probe"]["why"] = probe_diagnosis(stack, load, resumed)
    return result


def probe_diagnosis(stack: FaultStack, load: LoadGenerator, since: float) -> dict[str, Any]:
    """Where the probe's jobs stopped: what the coordinator and the chain say of the newest ones,
    the miners as the chain and the coordinator see them, and whether the block watcher keeps up."""
    with load.lock:
        newest = sorted((j for j in load.jobs.values() if j.submitted_at > since),
                        key=lambda j: j.submitted_at)[-5:]
    seen: dict[str, Any] = {"watched_height": load.watched_height, "watcher_errors": load.watcher_errors,
                            "threads_alive": load.threads_alive()}
    try:
        seen["top"] = stack.top()
        seen["chain_miners"] = [{k: m.get(k) for k in ("address", "stake", "capacity", "active_jobs", "strikes",
                                                        "jailed_until_ns", "completed", "failed")}
                                for m in query_any(stack, "/miners")]
        seen["jobs"] = {j.job_id: {"load": j.status, "coordinator": str(load.coordinator_status(j.job_id)),
                                   "chain": _chain_status(load.chain_job(j.job_id))} for j in newest}
        seen["coordinator_miners"] = httpx.get(f"{stack.coordinator_url}/v1/miners", timeout=5).json()
    except Exception as err:  # noqa: BLE001 - a diagnosis reports what it could not read
        seen["error"] = f"{type(err).__name__}: {err}"
    return seen


def _chain_status(job: dict[str, Any] | None) -> str:
    if job is None:
        return "not on chain"
    return f"{job['status']} {job.get('reason', '')} miner={job.get('miner', '')}".strip()


def assert_restored(result: dict[str, Any]) -> None:
    """The probe of `checkpoint`: after the fault, the scenario's client can use the marketplace again."""
    probe = result.get("probe") or {}
    assert probe.get("completed_job"), (
        f"after {result['phase']} the job client got no job completed within the probe's time; the "
        f"coordinator answered its new jobs: {probe.get('answers')}; where they stopped: {probe.get('why')}")
