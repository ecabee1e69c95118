"""A chain across "hosts" for real: 4 validators in 4 Linux network namespaces
(tests/faults/netns_stack.py), a coordinator, a miner and a real Ollama, jobs
and transfers running the whole time; a fifth node joins at the end with
`aitbc node join`.

Scenarios, each ending with `checks.checkpoint` (equal app hashes on all
validators, audit clean on each, no job lost, the books of the load):
- split 2/2 with nftables: the chain halts (no 2/3 majority); healed, it
  resumes; the time from heal to the first new block is measured;
- one validator isolated: the other three go on; healed, it catches up;
- 200 ms delay each way on every link (Toxiproxy) and 5 % packet loss
  (nftables `numgen random`, on every packet between two hosts): blocks still
  commit; block interval and job latency are measured against the clean
  network.
The figures go to build/faults/netns-last-run.json. Needs root, `ip netns`,
nftables and toxiproxy-server (scripts/setup.sh); skips with the reason
otherwise.
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
from datetime import datetime

import pytest

from aitbc.ops import netns, testnet as tn
from aitbc.ops.harness import ROOT
from aitbc.ops.harness.load import LoadGenerator
from aitbc.ops.harness.marketplace import CHAIN_ID
from aitbc.ops.tools import ToolMissing
from aitbc.rpc import ChainRPC
from tests.faults.checks import assert_restored, checkpoint

pytestmark = [pytest.mark.faults, pytest.mark.netns]

VALIDATORS = 4
JOB_RATE = 0.3       # jobs per second: below what one miner of capacity 1 runs, so latency is not queueing
TRANSFER_RATE = 2.0
REPORT = ROOT / "build" / "faults" / "netns-last-run.json"
RESULTS: dict[str, dict] = {}
SCENARIOS = ["clean", "split", "isolate", "delay_loss", "join"]


def _skip_reason() -> str | None:
    reason = netns.unavailable_reason()
    if reason:
        return f"network namespaces unavailable: {reason}"
    try:
        from aitbc.ops.ollama_server import find_ollama
        from aitbc.ops.toxiproxy import binary
        binary()
        find_ollama()
    except (ToolMissing, Exception) as err:  # noqa: BLE001 - any missing tool is a reason to skip
        return str(err)
    return None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.faults.netns_stack import NetnsStack

    tag = secrets.token_hex(2)
    lab = netns.Lab(tag)
    started = time.monotonic()
    stack = NetnsStack(tmp_path_factory.mktemp("netns"), lab, validators=VALIDATORS, miners=1,
                       transfer_accounts=2, job_clients=len(SCENARIOS) + 1, namespace="aitbc-netns")
    try:
        stack.start()
        RESULTS["_setup"] = {"seconds": round(time.monotonic() - started, 1)}
        yield stack
    finally:
        stack.stop()
        left = stack.leftovers() + getattr(stack, "lab_leftovers", [])
        left += [ns for ns in netns.namespaces() if ns.startswith(f"{netns.PREFIX}-{tag}-")]
        RESULTS["_suite"] = {"seconds": round(time.monotonic() - started, 1), "left": left}
        _write_report()
        assert left == [], f"left behind: {left}"


@pytest.fixture(scope="module")
def load(stack):
    generator = LoadGenerator(CHAIN_ID, stack.node_urls, stack.coordinator_url, stack.client_api_key,
                              stack.keys["client1"], [stack.keys[n] for n in stack.transfer_names],
                              job_rate=JOB_RATE, transfer_rate=TRANSFER_RATE, num_predict=8)
    generator.start()
    try:
        yield generator
    finally:
        generator.stop_sending()
        generator.settle(60)
        generator.stop()


def _write_report() -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(RESULTS, indent=2, default=str))


def _begin(stack, load, phase: str) -> tuple[int, float]:
    load.set_phase(phase, stack.keys[f"client{SCENARIOS.index(phase) + 2}"])
    return stack.top(), time.monotonic()


def _record(phase: str, started: float, seen: dict, result: dict) -> None:
    RESULTS[phase] = {"seconds": round(time.monotonic() - started, 1), **seen, **result}
    _write_report()
    assert_restored(result)


def _block_interval(stack, low: int, high: int) -> dict:
    """Mean and median seconds between consecutive block header times in [low, high]."""
    rpc = stack.node_urls[0]
    times = {}
    while low <= high:
        top = min(high, low + 19)
        chain = ChainRPC(rpc, timeout=10)
        try:
            for meta in chain.call("blockchain", minHeight=str(low), maxHeight=str(top))["block_metas"]:
                times[int(meta["header"]["height"])] = _parse_time(meta["header"]["time"])
        finally:
            chain.close()
        low = top + 1
    ordered = [times[h] for h in sorted(times)]
    gaps = [b - a for a, b in zip(ordered, ordered[1:])]
    return {"blocks": len(gaps), "mean_s": round(statistics.mean(gaps), 3) if gaps else None,
            "median_s": round(statistics.median(gaps), 3) if gaps else None}


def _parse_time(text: str) -> float:
    # RFC 3339 with nanoseconds: keep microseconds for datetime
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


def _measure(stack, load, phase: str, seconds: float) -> dict:
    """Let the load run for `seconds`; the block interval over that window and the phase's job latency."""
    low = stack.top()
    time.sleep(seconds)
    high = stack.top()
    return {"window": [low, high], "block_interval": _block_interval(stack, low + 1, high)}


def test_clean_network(stack, load):
    """The reference: the same namespaces and proxies, no fault."""
    since, started = _begin(stack, load, "clean")
    seen = _measure(stack, load, "clean", 15)
    result = checkpoint(stack, load, "clean", since)
    seen["job_latency_s"] = result["jobs"]["latency_submit_to_final_s"]
    _record("clean", started, seen, result)


def test_split_two_two_halts_and_heals(stack, load):
    """Hosts {0,1} and {2,3} cannot reach each other: neither side has 2/3 of the power, so no block
    is committed; healed, the chain resumes, with equal app hashes everywhere."""
    since, started = _begin(stack, load, "split")
    hosts = stack.lab.hosts
    stack.lab.partition(hosts[:2], hosts[2:])
    time.sleep(3)  # a block already in its commit round may still land
    halted_at = stack.top()
    time.sleep(6)
    after = stack.top()
    assert after == halted_at, f"blocks were committed while split 2/2: {halted_at} -> {after}"
    healed = time.monotonic()
    stack.lab.heal()
    stack.net.wait_for_height(halted_at + 1, timeout=90, indices=[0])
    heal_to_block = time.monotonic() - healed
    seen = {"halted_at": halted_at, "halt_observed_s": 6, "heal_to_first_block_s": round(heal_to_block, 2)}
    _record("split", started, seen, checkpoint(stack, load, "split", since))


def test_isolated_validator_catches_up(stack, load):
    """Host 3 is cut off: the other three (3/4 > 2/3) go on; healed, host 3 catches up."""
    since, started = _begin(stack, load, "isolate")
    hosts = stack.lab.hosts[:VALIDATORS]
    stack.lab.isolate(hosts[3])
    time.sleep(2)
    cut_at = stack.heights()[3] or 0
    start = stack.top([0, 1, 2])
    stack.net.wait_for_height(start + 4, timeout=60, indices=[0, 1, 2])
    behind = stack.heights()[3] or 0
    assert behind <= cut_at + 1, f"the isolated node went on from {cut_at} to {behind}"
    healed = time.monotonic()
    stack.lab.heal()
    target = stack.top([0, 1, 2])
    stack.net.wait_for_height(target, timeout=90, indices=[3])
    seen = {"isolated_at": cut_at, "others_reached": start + 4, "caught_up_to": target,
            "catch_up_s": round(time.monotonic() - healed, 2)}
    _record("isolate", started, seen, checkpoint(stack, load, "isolate", since))


def test_delay_and_loss_still_commit(stack, load):
    """200 ms each way on every validator link and 5 % of the packets between hosts dropped."""
    since, started = _begin(stack, load, "delay_loss")
    for proxy in stack.net.proxies:
        proxy.add_latency("p2p", 200)
    stack.lab.set_loss(5)
    try:
        seen = _measure(stack, load, "delay_loss", 20)
        blocks = seen["window"][1] - seen["window"][0]
        assert blocks >= 3, f"only {blocks} blocks in 20 s with 200 ms / 5 %"
        # jobs submitted in the window: their latency is the degraded one
        load.pause_jobs()
        load.settle(90)
        seen["job_latency_s"] = load.job_summary("delay_loss")["latency_submit_to_final_s"]
        load.resume_jobs()
    finally:
        for proxy in stack.net.proxies:
            proxy.clear("p2p")
        stack.lab.set_loss(0)
    clean = RESULTS.get("clean", {})
    seen["clean_block_interval"] = clean.get("block_interval")
    seen["clean_job_latency_s"] = clean.get("job_latency_s")
    _record("delay_loss", started, seen, checkpoint(stack, load, "delay_loss", since))


def test_fifth_node_joins(stack, load):
    """A fifth host runs `aitbc node join` (peers: two validators' real addresses) and `aitbc node
    start`; it replays the chain, catches up and agrees on the app hash."""
    since, started = _begin(stack, load, "join")
    node, catch_up = stack.join_node(stack.net.nodes[:2])
    height = stack.top(list(range(VALIDATORS)))
    stack.net.wait_for_height(height, timeout=60, indices=[node.index])
    joined = tn.app_hashes(node.rpc, height, height)[height]
    reference = tn.app_hashes(stack.node_urls[0], height, height)[height]
    assert joined == reference, f"node{node.index} has app hash {joined} at {height}, node0 {reference}"
    seen = {"joined_node": node.index, "caught_up_to": height, "join_to_caught_up_s": round(catch_up, 2)}
    _record("join", started, seen, checkpoint(stack, load, "join", since))
