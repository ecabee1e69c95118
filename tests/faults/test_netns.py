"""A chain across "hosts" for real: 4 validators in 4 Linux network namespaces
(tests/faults/netns_stack.py), a coordinator, a miner and a real Ollama, jobs
and transfers running the whole time. One stack serves the module; the tests
are its scenarios, in order:

- clean: the reference block interval (header times over ~10 blocks);
- join: a fifth host runs `aitbc node join` while the chain is young (its
  replay is short) and stays, as a full node, through every fault below;
- 200 ms delay each way on every link (Toxiproxy) and 5 % packet loss
  (nftables `numgen random`): blocks still commit; block interval and job
  latency are measured against the clean network;
- split 2/2 with nftables: the chain halts (no 2/3 majority); healed, it
  resumes; the time from heal to the first new block is measured;
- one validator isolated: the other three go on; healed, it catches up;
- the end of the run: ONE full check (tests/faults/checks.py `checkpoint`):
  jobs settled and none lost, app hashes equal on every node at every
  height, audit clean on every node, the books of the load balance; and every
  scenario had jobs completed.

Each scenario ends with a cheap check: every node (the joined one too) at a
height they all have, with the same app hash there. The figures (never pass/fail) go
to a JSON in the pytest tmp dir and to build/faults/netns-last-run.json, and a
summary line is printed. Needs root, `ip netns`, nftables and
toxiproxy-server (scripts/setup.sh); skips with the reason otherwise.
"""

from __future__ import annotations

import json
import secrets
import signal
import statistics
import time
from datetime import datetime
from pathlib import Path

import pytest

from aitbc import audit
from aitbc.ops import netns, testnet as tn
from aitbc.ops.harness import ROOT
from aitbc.ops.harness import load as load_module
from aitbc.ops.harness.marketplace import CHAIN_ID
from aitbc.ops.harness.polling import wait_for
from aitbc.ops.tools import ToolMissing
from aitbc.rpc import ChainRPC
from tests.faults.checks import checkpoint

pytestmark = [pytest.mark.faults, pytest.mark.netns]

VALIDATORS = 4
JOB_RATE = 0.2       # jobs per second: well below what one miner of capacity 1 runs, so latency is not queueing
TRANSFER_RATE = 2.0
WINDOW_BLOCKS = 10   # blocks per block-interval measurement
REPORT = ROOT / "build" / "faults" / "netns-last-run.json"
SCENARIOS = ["clean", "join", "delay_loss", "split", "isolate"]
RESULTS: dict[str, dict] = {}
REPORTS: list[Path] = [REPORT]


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


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")  # so the finalizers tear the lab down


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    netns.remove_orphans()  # labs of earlier runs that were killed before their teardown
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.faults.netns_stack import NetnsStack

    previous = signal.signal(signal.SIGTERM, _interrupt)
    tag = secrets.token_hex(2)
    lab = netns.Lab(tag)
    root = tmp_path_factory.mktemp("netns")
    REPORTS.append(root / "netns-run.json")
    started = time.monotonic()
    stack = NetnsStack(root, lab, validators=VALIDATORS, miners=1, transfer_accounts=2,
                       job_clients=len(SCENARIOS), namespace="aitbc-netns")
    try:
        stack.start()
        RESULTS["_setup"] = {"seconds": round(time.monotonic() - started, 1)}
        yield stack
    finally:
        try:
            stack.stop()
            left = stack.leftovers() + getattr(stack, "lab_leftovers", [])
            left += [ns for ns in netns.namespaces() if ns.startswith(f"{netns.PREFIX}-{tag}-")]
            RESULTS["_suite"] = {"seconds": round(time.monotonic() - started, 1), "left": left}
            _write_report()
            print(f"\nnetns: {_summary()}")
        finally:
            signal.signal(signal.SIGTERM, previous)
        assert left == [], f"left behind: {left}"


@pytest.fixture(scope="module")
def load(stack):
    with load_module.running_on(stack, CHAIN_ID, JOB_RATE, TRANSFER_RATE, settle_s=30) as generator:
        yield generator
        generator.stop()


# --- helpers -----------------------------------------------------------------------------------------
def _write_report() -> None:
    for path in REPORTS:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(RESULTS, indent=2, default=str))


def _summary() -> str:
    def get(phase: str, *keys: str):
        value = RESULTS.get(phase, {})
        for k in keys:
            value = value.get(k) if isinstance(value, dict) else None
        return value

    return (f"setup {get('_setup', 'seconds')} s, whole run {get('_suite', 'seconds')} s; "
            f"block interval clean {get('clean', 'block_interval', 'mean_s')} s "
            f"vs 200 ms + 5 % {get('delay_loss', 'block_interval', 'mean_s')} s; "
            f"job latency p50 clean {get('final', 'job_latency_p50_s', 'clean')} s "
            f"vs delay/loss {get('final', 'job_latency_p50_s', 'delay_loss')} s; "
            f"heal to first block {get('split', 'heal_to_first_block_s')} s; "
            f"isolated caught up in {get('isolate', 'catch_up_s')} s; "
            f"fifth node replayed {get('join', 'replayed_blocks')} blocks in {get('join', 'join_to_caught_up_s')} s; "
            f"report {REPORTS[-1]}")


def _begin(stack, load, phase: str) -> float:
    load.set_phase(phase, stack.keys[f"client{SCENARIOS.index(phase) + 1}"])
    return time.monotonic()


def _record(phase: str, started: float, seen: dict) -> None:
    RESULTS[phase] = {"seconds": round(time.monotonic() - started, 1), **seen}
    _write_report()


def _agree(stack, at_least: int, timeout: float = 60) -> dict:
    """The cheap end of a scenario: every node (the joined one too) has reached `at_least`, and all
    have the same app hash at the highest height they all have."""
    waited = time.monotonic()
    stack.net.wait_for_height(at_least, timeout=timeout)
    common = min(h or 0 for h in stack.heights().values())
    hashes = {n.index: tn.app_hashes(n.rpc, common, common)[common] for n in stack.net.nodes}
    assert len(set(hashes.values())) == 1, f"app hashes at height {common} differ: {hashes}"
    return {"common_height": common, "app_hash": hashes[0], "nodes": len(hashes),
            "agree_wait_s": round(time.monotonic() - waited, 1)}


def _parse_time(text: str) -> float:
    # RFC 3339 with nanoseconds: keep microseconds for datetime
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00").timestamp()


def _block_interval(stack, low: int, high: int) -> dict:
    """Mean and median seconds between consecutive block header times in [low, high]."""
    chain = ChainRPC(stack.node_urls[0], timeout=10)
    try:
        metas = chain.call("blockchain", minHeight=str(low), maxHeight=str(high))["block_metas"]
    finally:
        chain.close()
    times = sorted(_parse_time(m["header"]["time"]) for m in metas)
    gaps = [b - a for a, b in zip(times, times[1:])]
    return {"blocks": len(gaps), "mean_s": round(statistics.mean(gaps), 3) if gaps else None,
            "median_s": round(statistics.median(gaps), 3) if gaps else None}


def _measure_blocks(stack, blocks: int = WINDOW_BLOCKS, timeout: float = 40) -> dict:
    """Wait for `blocks` new blocks (at most `timeout` s); the block interval over that window."""
    low = stack.top([0])
    try:
        wait_for(lambda: stack.top([0]) >= low + blocks, timeout, f"{blocks} blocks after {low}", 0.5)
    except TimeoutError:
        pass  # the caller judges how many came
    high = min(stack.top([0]), low + blocks)
    return {"window": [low, high], "block_interval": _block_interval(stack, low, high)}


def _open_jobs(load, phase: str) -> list[str]:
    with load.lock:
        return [j.job_id for j in load.jobs.values() if j.phase == phase and j.outcome in ("accepted", "trying")
                and j.final_at is None]


# --- the scenarios, in order -------------------------------------------------------------------------
def test_clean_network(stack, load):
    """The reference: the same namespaces and proxies, no fault."""
    started = _begin(stack, load, "clean")
    seen = _measure_blocks(stack)
    _record("clean", started, {**seen, **_agree(stack, seen["window"][1])})


def test_fifth_node_joins(stack, load):
    """A fifth host runs `aitbc node join` (peers: two validators, through their proxies) and `aitbc
    node start`; it replays the chain, catches up and agrees on the app hash. It then stays, as a
    full node, through every fault that follows."""
    started = _begin(stack, load, "join")
    node = stack.spawn_joining_node(stack.net.nodes[:2])
    stack.net.wait_rpc(node)
    target = stack.top(list(range(VALIDATORS)))
    stack.net.wait_for_height(target, timeout=120, indices=[node.index])
    caught_up = time.monotonic() - started
    _record("join", started, {"joined_node": node.index, "replayed_blocks": target,
                              "join_to_caught_up_s": round(caught_up, 2), **_agree(stack, target)})


def test_delay_and_loss_still_commit(stack, load):
    """200 ms each way on every link (each crosses one proxy) and 5 % of the packets between hosts
    dropped: blocks still commit. Jobs submitted meanwhile settle before the network is clean again,
    so their latency is the degraded one. (Before the partitions: a proxy takes a new toxic only once
    every link of it moves, and links a cut left stalled hold that up.)"""
    started = _begin(stack, load, "delay_loss")
    try:
        for proxy in stack.net.proxies:
            proxy.add_latency("p2p", 200)
        stack.lab.set_loss(5)
        seen = _measure_blocks(stack, timeout=45)
        blocks = seen["window"][1] - seen["window"][0]
        assert blocks >= 3, f"only {blocks} blocks in 45 s with 200 ms / 5 %"
        load.set_phase("after_delay")
        settled = time.monotonic()
        try:
            wait_for(lambda: not _open_jobs(load, "delay_loss"), 45, "the delay/loss jobs final", 0.5)
        except TimeoutError:
            pass  # those left settle in the end-of-run check; the latency then counts fewer jobs
        seen["jobs_settled_under_delay_s"] = round(time.monotonic() - settled, 1)
    finally:
        stack.lab.set_loss(0)  # first: a link that loses packets is slow to take the toxic's removal
        for proxy in stack.net.proxies:
            proxy.clear("p2p")
    seen["clean_block_interval"] = RESULTS.get("clean", {}).get("block_interval")
    _record("delay_loss", started, {**seen, **_agree(stack, seen["window"][1])})


def test_split_two_two_halts_and_heals(stack, load):
    """Hosts {0,1} and {2,3} cannot reach each other (the full node is with its peers 0 and 1):
    neither side has 2/3 of the power, so no block is committed; healed, the chain resumes, with
    equal app hashes everywhere."""
    started = _begin(stack, load, "split")
    hosts = stack.lab.hosts
    stack.lab.partition([*hosts[:2], *hosts[VALIDATORS:]], hosts[2:VALIDATORS])
    time.sleep(2.5)  # a block already in its commit round may still land
    halted_at = stack.top()
    time.sleep(5)
    after = stack.top()
    assert after == halted_at, f"blocks were committed while split 2/2: {halted_at} -> {after}"
    healed = time.monotonic()
    stack.lab.heal()
    stack.net.wait_for_height(halted_at + 1, timeout=90, indices=[0])
    heal_to_block = time.monotonic() - healed
    _record("split", started, {"halted_at": halted_at, "halt_observed_s": 5,
                               "heal_to_first_block_s": round(heal_to_block, 2), **_agree(stack, halted_at + 1)})


def test_isolated_validator_catches_up(stack, load):
    """Host 3 is cut off: the other three (3/4 > 2/3) go on; healed, host 3 catches up."""
    started = _begin(stack, load, "isolate")
    isolated = stack.lab.hosts[3]
    others = [0, 1, 2]
    stack.lab.isolate(isolated)
    time.sleep(2)  # a block in its commit round may still reach it
    cut_at = stack.heights()[3] or 0
    start = stack.top(others)
    stack.net.wait_for_height(start + 4, timeout=60, indices=others)
    behind = stack.heights()[3] or 0
    assert behind <= cut_at + 1, f"the isolated node went on from {cut_at} to {behind}"
    healed = time.monotonic()
    stack.lab.heal()
    target = stack.top(others)
    stack.net.wait_for_height(target, timeout=90, indices=[3])
    _record("isolate", started, {"isolated_at": cut_at, "others_reached": start + 4, "caught_up_to": target,
                                 "catch_up_s": round(time.monotonic() - healed, 2), **_agree(stack, target)})


def test_end_of_run_no_job_lost_and_audit_clean(stack, load):
    """The one full check: jobs settled and none lost, equal app hashes on every node at every
    height, audit clean everywhere (the joined node too), the books balance; and jobs completed in
    every scenario."""
    started = time.monotonic()
    load.set_phase("final")
    result = checkpoint(stack, load, "final", 1, probe=False)
    load.stop_sending()  # the run is over: nothing new for the teardown to settle
    top = result["common_height"]
    joined = stack.net.nodes[VALIDATORS:]
    for node in joined:
        hashes = tn.app_hashes(node.rpc, 1, top)
        reference = tn.app_hashes(stack.node_urls[0], 1, top)
        differ = [h for h in reference if hashes.get(h) != reference[h]]
        assert not differ, f"node{node.index} disagrees with node0 at heights {differ[:5]}"
        rpc = ChainRPC(node.rpc, timeout=10)
        try:
            report = audit.audit(rpc)
        finally:
            rpc.close()
        assert report.ok, f"audit on node{node.index}: {[n for n, p in report.checks.items() if p]}"
    phases = {phase: load.job_summary(phase) for phase in SCENARIOS}
    idle = [phase for phase, s in phases.items() if not s.get("completed")]
    RESULTS["final"] = {
        "seconds": round(time.monotonic() - started, 1), "common_height": top, "nodes": len(stack.net.nodes),
        "jobs": {k: v for k, v in load.job_summary().items() if k != "problems"},
        "transfers": load.transfer_summary(), "books": result["books"],
        "jobs_by_phase": {p: {k: v for k, v in s.items() if k != "problems"} for p, s in phases.items()},
        "job_latency_p50_s": {p: s["latency_submit_to_final_s"]["p50"] for p, s in phases.items()},
    }
    _write_report()
    assert not idle, f"no job completed during {idle}: {[phases[p] for p in idle]}"
