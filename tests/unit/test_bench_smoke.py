"""The benchmark harness runs on tiny sizes, in process. No timing is asserted."""

from __future__ import annotations

import json

import pytest

from bench import chain_throughput, env, finalize_block, loadgen, state_size
from bench.__main__ import headline


def test_spread_and_percentile() -> None:
    s = env.spread([5, 1, 3, 2, 4])
    assert (s["median"], s["min"], s["max"], s["q1"], s["q3"], s["n"]) == (3, 1, 5, 2, 4, 5)
    assert env.spread([])["n"] == 0
    assert env.percentile([1, 2, 3, 4], 50) == 2.5


def test_machine_and_versions_are_reported() -> None:
    m = env.machine()
    assert m["nproc"] >= 1 and m["ram_gib"] > 0
    assert set(env.versions()) >= {"cometbft", "python", "ollama"}


def test_finalize_block_on_tiny_blocks() -> None:
    out = finalize_block.one_round(txs=6)
    assert {"transfer_warm_us", "transfer_cold_us", "transfer_checktx_us", "record_receipt_warm_us"} <= set(out)
    counted = finalize_block.count_verifications(jobs=2, transfers_per_block=2)
    assert counted["verifications_per_signature"] == 1.0  # each signature once per node


def test_state_size_on_a_tiny_state() -> None:
    small = state_size.open_jobs_needed(rounds=1)  # every block acts on open jobs of its state
    out = state_size.measure(sizes=(small, small + 200), miners=5, rounds=1)
    assert [r["jobs"] for r in out["runs"]] == [small, small + 200] and out["ratio"] > 0
    rss = out["runs"][0]["app_rss_mib"]
    assert rss["blocks"] == state_size.RSS_BLOCKS and rss["after_blocks"] >= rss["modules"] > 0


def test_state_size_refuses_a_state_too_small_for_its_blocks() -> None:
    with pytest.raises(ValueError, match="cannot feed"):
        state_size.measure(sizes=(20, 40), miners=5, rounds=1)


def test_throughput_helpers() -> None:
    keys = chain_throughput.sender_keys(2)
    ours, kv = (chain_throughput.build_streams(app, keys, 3) for app in ("aitbc", "kvstore"))
    assert [len(s) for s in ours] == [3, 3]
    assert len(kv[0][0]) == len(ours[0][0])  # same tx size for both apps
    rows = [{"height": h, "txs": 10, "time": float(h)} for h in range(1, 6)]
    rate, txs, span = chain_throughput.committed_rate(rows, 2, 4)
    assert (rate, txs, span) == (10.0, 20, 2.0)
    assert chain_throughput._backlog_at_proposal([[0.5, 7], [1.2, 9]], [1.0, 1.3]) == [7, 9]
    calls = loadgen.encode_calls(["QQ=="], 5)
    assert json.loads(calls[0]) == {"jsonrpc": "2.0", "id": 5, "method": "broadcast_tx_async",
                                    "params": {"tx": "QQ=="}}


@pytest.mark.parametrize("results", [{}, {"finalize_block": {"us_per_tx": {
    "transfer_warm_us": {"median": 1}, "transfer_cold_us": {"median": 2}, "job_tx_warm_us": {"median": 3}},
    "verification": {"verifications_per_signature": 1.0}}}])
def test_headline_line(results) -> None:
    line = headline(results)
    assert json.loads(json.dumps(line)) == line
