"""Faults under load on a 4-validator testnet with the coordinator, 2 miners and a
real Ollama: validators killed (-9), an app killed alone, a validator paused, the
coordinator killed, a miner killed mid-job, Ollama stopped. Jobs (through the
coordinator, real miners, Ollama) and transfers (to different nodes) run in the
background the whole time.

One stack is shared by the scenarios (module fixture); each scenario breaks
something, restores it, and ends with `checks.checkpoint`: equal app hashes on
all nodes, audit clean on every node, every accepted job completed or refunded,
and the balance arithmetic of the load. What each scenario saw is written to
build/faults/last-run.json (the figures of docs/reliability.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aitbc.rpc import QueryFailed
from aitbc.api.coordinator_client import CoordinatorClient, sign_job
from aitbc.api.coordinator_models import JobOptions
from aitbc.ops.harness import MODEL, ROOT, wait_for
from aitbc.ops.harness import load as load_module
from aitbc.ops.harness.load import FINAL, LoadGenerator
from aitbc.ops.harness.marketplace import CHAIN_ID, FaultStack, query_any
from tests.faults.checks import assert_restored, checkpoint, replay_lines

pytestmark = pytest.mark.faults

VALIDATORS = 4
JOB_RATE = 0.7        # jobs per second through the coordinator
TRANSFER_RATE = 4.0   # transfers per second, spread over 4 senders and nodes
REPORT = ROOT / "build" / "faults" / "last-run.json"
RESULTS: dict[str, dict] = {}
# Each scenario's jobs come from its own client (client2..client6): a client left unable to submit
# by one fault does not hide what the next fault does.
SCENARIOS = ["validator_kill9", "app_kill9", "validator_paused", "coordinator_and_miner_kill9", "ollama_restart"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    try:
        from aitbc.ops.ollama_server import find_ollama
        find_ollama()
    except Exception as err:  # noqa: BLE001
        pytest.skip(str(err))
    started = time.monotonic()
    stack = FaultStack(tmp_path_factory.mktemp("faults"), validators=VALIDATORS, miners=2,
                       job_clients=len(SCENARIOS) + 1)
    try:
        stack.start()
        RESULTS["_setup"] = {"seconds": round(time.monotonic() - started, 1)}
        yield stack
    finally:
        stack.stop()
        left = stack.leftovers()
        RESULTS["_suite"] = {"seconds": round(time.monotonic() - started, 1), "left_running": left,
                             "scenarios_recorded": [k for k in RESULTS if not k.startswith("_")]}
        _write_report()
        assert left == [], f"processes left running: {left}"


@pytest.fixture(scope="module")
def load(stack):
    with load_module.running_on(stack, CHAIN_ID, JOB_RATE, TRANSFER_RATE, settle_s=60) as generator:
        yield generator
        RESULTS["_total"] = {"jobs": {k: v for k, v in generator.job_summary().items() if k != "problems"},
                             "transfers": generator.transfer_summary()}
        generator.stop()


def _write_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(RESULTS, indent=2, default=str))


def _begin(stack: FaultStack, load: LoadGenerator, phase: str, warmup: float = 4) -> tuple[int, float]:
    load.set_phase(phase, stack.keys[f"client{SCENARIOS.index(phase) + 2}"])
    time.sleep(warmup)  # some load in flight before the fault
    return stack.top(), time.monotonic()


def _record(phase: str, started: float, seen: dict, result: dict) -> None:
    """Keep what the scenario saw (also when the probe then fails), then assert it was restored."""
    RESULTS[phase] = {"seconds": round(time.monotonic() - started, 1), **seen, **result}
    _write_report()
    assert_restored(result)


def _blocks_go_on(stack: FaultStack, indices: list[int], blocks: int = 3, timeout: float = 40) -> int:
    """The nodes in `indices` keep committing blocks (three of four validators are > 2/3)."""
    start = stack.top(indices)
    stack.net.wait_for_height(start + blocks, timeout=timeout, indices=indices)
    return start + blocks


def test_validator_killed_and_restarted(stack, load):
    """kill -9 node 0 (the coordinator's node: app and cometbft) just after the coordinator accepted
    a job whose submit_job tx is still in node 0's mempool; start it again ~8 s later."""
    target, others = 0, [1, 2, 3]
    since, started = _begin(stack, load, "validator_kill9")
    log_size = stack.node_log(target).stat().st_size
    fresh = wait_for(lambda: _accepted_not_in_block(load), 20, "a job accepted, its tx not in a block yet",
                  interval=0.02)
    killed_at = stack.top()
    stack.kill9_node(target)
    reached = _blocks_go_on(stack, others)
    time.sleep(3)
    stack.start_node(target)
    seen = {"target": f"node{target}", "killed_at_height": killed_at, "job_in_mempool_at_kill": fresh,
            "others_reached_while_down": reached,
            "handshake": replay_lines(stack.node_log(target), log_size)}
    _record("validator_kill9", started, seen, checkpoint(stack, load, "validator_kill9", since))


def _accepted_not_in_block(load: LoadGenerator) -> str | None:
    """A job the coordinator accepted in the last half second that no block has shown yet."""
    now = time.monotonic()
    with load.lock:
        for job in load.jobs.values():
            if job.outcome == "accepted" and now - job.accepted_at < 0.5 and not job.status:
                return job.job_id
    return None


def test_app_killed_while_blocks_are_made(stack, load):
    """kill -9 only the app of node 2 while it executes a block: the moment node 2's block store
    has the next block (saved before FinalizeBlock), its app is frozen and killed, so it dies
    before committing that block. Its cometbft stops itself (or hangs in its shutdown and is
    killed); app and node are started again and CometBFT replays the block the app had not
    committed."""
    target, others = 2, [0, 1, 3]
    since, started = _begin(stack, load, "app_kill9")
    log_size = stack.node_log(target).stat().st_size
    height = _freeze_app_inside_next_block(stack, target)
    stack.kill9_app(target)
    # CometBFT signals itself when its app connection breaks, but its shutdown can hang on an ABCI
    # call queued after the client stopped (upstream cometbft#4054): stop_node SIGKILLs it then
    exited = stack.cometbft_exits_by_itself(target, timeout=10)
    reached = _blocks_go_on(stack, others)
    stack.stop_node(target)  # nothing to do when cometbft already stopped itself
    stack.start_node(target)
    handshake = replay_lines(stack.node_log(target), log_size)
    seen = {"target": f"node{target}", "killed_in_block": height, "cometbft_stopped_itself": exited,
            "others_reached_while_down": reached, "handshake": handshake,
            "replayed": any("Replay last block using real app" in line or "Applying block" in line
                            for line in handshake)}
    _record("app_kill9", started, seen, checkpoint(stack, load, "app_kill9", since))


def _freeze_app_inside_next_block(stack: FaultStack, index: int) -> int:
    """SIGSTOP node `index`'s app right after its cometbft saved the next block (the block store comes
    first, then FinalizeBlock and Commit to the app); returns that block's height."""
    import httpx

    app_pid = stack.net.node(index).pids["app"]
    url = f"{stack.node_url(index)}/status"
    with httpx.Client(timeout=2) as http:
        def height() -> int:
            return int(http.get(url).json()["result"]["sync_info"]["latest_block_height"])

        current = height()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = height()
            if now > current:
                os.killpg(app_pid, signal.SIGSTOP)
                return now
        raise TimeoutError(f"node{index} made no block in 20 s")


def test_validator_cut_off_then_back(stack, load):
    """SIGSTOP node 3's cometbft and app for 15 s (its peers see nothing), then SIGCONT."""
    target, others = 3, [0, 1, 2]
    since, started = _begin(stack, load, "validator_paused")
    paused_at = stack.top()
    stack.pause_node(target)
    try:
        time.sleep(15)
        reached = _blocks_go_on(stack, others)
    finally:
        stack.resume_node(target)
    seen = {"target": f"node{target}", "paused_at_height": paused_at, "others_reached_while_paused": reached}
    _record("validator_paused", started, seen, checkpoint(stack, load, "validator_paused", since))


def _long_job(stack: FaultStack, client: CoordinatorClient, name: str = "bob") -> str:
    """A job that runs for seconds (up to 1024 tokens at temperature 0.7), from its own client.

    Not longer: Ollama does not notice that the miner calling it was killed, so the killed
    miner's generation runs on to its end and every job sent to the shared Ollama waits behind
    it (4096 tokens held it for two minutes on a loaded machine)."""
    key = stack.keys[name]
    nonce = int(query_any(stack, f"/nonce/{key.address}")["nonce"])
    request = sign_job(key, CHAIN_ID, nonce, "tell a very long story", MODEL, 2_000_000,
                       JobOptions(temperature=0.7, seed=7, num_predict=1024))
    return client.submit_job(request).job_id


def test_coordinator_killed_and_a_miner_killed_mid_job(stack, load):
    """kill -9 the coordinator and start it again; then kill -9 the miner running a long job."""
    since, started = _begin(stack, load, "coordinator_and_miner_kill9")
    with CoordinatorClient(stack.coordinator_url, stack.client_api_key, timeout=5, backoff_s=0.1) as client:
        def in_flight() -> dict[str, str]:
            return {j.job_id: j.status for j in client.list_jobs(limit=20).jobs
                    if j.status in ("pending", "assigned", "running")}

        # kill it with jobs in flight (submitted, assigned or running), if the load gives us some soon
        try:
            caught = wait_for(in_flight, 15, "a job in flight", interval=0.05)
        except TimeoutError:
            caught = {}
    stack.coordinator.kill9()
    time.sleep(5)  # jobs submitted now wait (the client retries), miners keep their reports
    stack.restart_coordinator()
    stack.wait_miners_online(timeout=60)

    bob = stack.keys["bob"].address
    bob_before = int(query_any(stack, f"/account/{bob}")["balance"])
    with CoordinatorClient(stack.coordinator_url, stack.client_api_key, timeout=10, backoff_s=0.2) as client:
        job_id = _long_job(stack, client)
        job = wait_for(lambda: (j := client.get_job(job_id)).status == "running" and j, 60, "long job running",
                    interval=0.05)
        miner = next(n for n, k in stack.keys.items() if k.address == job.miner)
    stack.miners[miner].kill9()
    killed_at = stack.top()

    def closed() -> dict | None:
        try:
            record = query_any(stack, f"/job/{job_id}")
        except QueryFailed:  # not in a block yet
            return None
        return record if record["status"] in FINAL else None

    record = wait_for(closed, 90, "long job closed on chain")
    stack.miners[miner].start(timeout=90)  # the same miner again: its node, port and data folder
    stack.wait_miners_online(timeout=60)
    assert record["status"] in ("failed", "expired") and record["refund"] == record["max_reward"] \
        and record["payment"] == 0, record
    # refunded in full; the submit tx's fee stays burned (an expiry would also hand bob part of a slash,
    # but slash_to_client_bps is 0 by default)
    assert int(query_any(stack, f"/account/{bob}")["balance"]) == bob_before - job.fee
    seen = {"coordinator_killed_with_jobs_in_flight": caught,
            "killed_miner": miner, "miner_killed_at_height": killed_at,
            "long_job": {"id": job_id, "status": record["status"], "reason": record.get("reason", ""),
                         "refund": record["refund"], "closed_at_height": record["finished_height"]}}
    result = checkpoint(stack, load, "coordinator_and_miner_kill9", since)
    seen["their_final_status"] = {j: load.jobs[j].record["status"] if load.jobs[j].record
                                  else f"{load.coordinator_status(j)} (coordinator; never on chain)"
                                  for j in caught}
    assert all(status.split()[0] in FINAL for status in seen["their_final_status"].values()), seen
    _record("coordinator_and_miner_kill9", started, seen, result)


def test_ollama_stopped_and_started(stack, load):
    """Stop Ollama for 10 s under load, start it again (same port, same models folder)."""
    since, started = _begin(stack, load, "ollama_restart")
    stack.stop_ollama()
    time.sleep(10)
    stack.start_ollama()
    load.set_phase("ollama_back")  # same client: jobs sent once Ollama is back
    time.sleep(5)
    seen = {"ollama_down_for_s": 10}
    result = checkpoint(stack, load, "ollama_restart", since)
    back = load.job_summary("ollama_back")
    result["jobs_after_restart"] = {k: v for k, v in back.items() if k != "problems"}
    _record("ollama_restart", started, seen, result)


def test_cli_audit_is_clean_on_every_node_at_the_end(stack, load):
    """`aitbc audit` (exit 5 when an invariant is broken) on every node, after all the faults."""
    load.stop_sending()
    load.settle(60)
    heights = {}
    for i, url in enumerate(stack.node_urls):
        done = subprocess.run([sys.executable, "-m", "aitbc.cli.main", "--node", url, "--json", "audit"],
                              capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, f"aitbc audit on node{i}: exit {done.returncode}\n{done.stdout}{done.stderr}"
        report = json.loads(done.stdout)
        assert report["ok"], report
        heights[f"node{i}"] = report["height"]
    RESULTS["_cli_audit"] = {"exit_codes": 0, "heights": heights}
    _write_report()

