"""Against a real `cometbft` node driving our app over the socket: transfers, a
whole job lifecycle, expiry with refund, tx_search and abci_query, bad input,
and a kill -9 of the app while blocks are being made."""

from __future__ import annotations

import base64
import os

import pytest

from aitbc import tx as txlib
from aitbc.chain_events import BlockSignal

from aitbc.ops import procs
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.rpc import ChainRPC, RPCError
from aitbc.explorer import chain as explorer_chain
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.ops.factories import BALANCE, CHAIN_ID, KEYS, Signer, receipt_fields, register_fields, submit_fields
from aitbc.ops.harness import wait_for
from tests.integration.chain_fixtures import chain_node, rpc, start_chain  # noqa: F401

pytestmark = pytest.mark.integration


def balance(rpc: ChainRPC, name: str) -> int:
    return rpc.query(f"/account/{KEYS[name].address}")["balance"]


def committed(rpc: ChainRPC, raw: bytes) -> int:
    result = rpc.broadcast(raw, "commit")
    assert result.ok, f"{result.code_name}: {result.log}"
    return result.height


FIXED_FEE = 1_000  # above what a transfer needs, so every one burns the same


def test_transfers_and_search(rpc):
    signer = Signer(fee=None)
    supply = rpc.query("/supply")
    height = committed(rpc, signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1_500_000))
    assert balance(rpc, "alice") == BALANCE - 1_500_000 - signer.offered["alice"]
    assert balance(rpc, "bob") == BALANCE + 1_500_000
    # CometBFT indexes a block's txs after its commit answers: the search may lag a moment
    search = f"message.sender='{KEYS['alice'].address}'"
    found = wait_for(lambda: (f := rpc.tx_search(search))["total_count"] != "0" and f, 10, "the transfer indexed")
    assert found["total_count"] == "1" and int(found["txs"][0]["height"]) == height
    assert rpc.tx_search(f"transfer.recipient='{KEYS['bob'].address}'")["total_count"] == "1"
    # its events say what it was, from whom, to whom; the sender once (the signer), its kind not indexed
    events = {e["type"]: {a["key"]: (a["value"], a.get("index", False)) for a in e["attributes"]}
              for e in found["txs"][0]["tx_result"]["events"]}
    assert events["message"] == {"sender": (KEYS["alice"].address, True), "action": ("transfer", False),
                                 "fee": (str(signer.offered["alice"]), False)}
    assert events["transfer"] == {"recipient": (KEYS["bob"].address, True), "amount": ("1500000", False)}
    for unindexed in (f"transfer.sender='{KEYS['alice'].address}'", "message.action='transfer'"):
        assert rpc.tx_search(unindexed)["total_count"] == "0"
        assert explorer_chain.tx_search(rpc, unindexed)["unindexed"] == [unindexed.split("=")[0]]
    # one sender, several txs with consecutive nonces in flight at once
    results = [rpc.broadcast(signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1), "sync")
               for _ in range(5)]
    assert [r.code for r in results] == [0] * 5
    wait_for(lambda: rpc.query(f"/account/{KEYS['alice'].address}")["nonce"] == 6, what="5 txs committed")
    after = rpc.query("/supply")
    assert after["total"] == supply["total"] and after["fees"] == supply["fees"] + signer.offered["alice"]


def test_job_lifecycle_with_receipt_and_payment(rpc):
    signer = Signer(fee=None)
    supply = rpc.query("/supply")["total"]
    committed(rpc, signer.tx("miner1", "register_miner", **register_fields()))
    job_id = signer.next_job_id("alice")
    committed(rpc, signer.tx("alice", "submit_job", **submit_fields()))
    assert rpc.query(f"/job/{job_id}")["status"] == "pending"
    assert rpc.query("/supply")["escrow"] == 1_000_000
    committed(rpc, signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    height = committed(rpc, signer.tx("coordinator", "record_receipt", **receipt_fields(job_id)))
    receipt = rpc.query(f"/receipt/{job_id}")
    assert (receipt["amount_paid"], receipt["refund"], receipt["block_height"]) == (250_000, 750_000, height)
    assert receipt == rpc.query(f"/receipt/{receipt['id']}")
    assert balance(rpc, "alice") == BALANCE - 250_000 - signer.offered["alice"]
    assert balance(rpc, "miner1") == BALANCE - 100_000_000 + 250_000 - signer.offered["miner1"]
    found = rpc.tx_search(f"job.id='{job_id}'")
    assert found["total_count"] == "3"  # submit, assign, receipt
    assert rpc.tx_search(f"receipt.id='{receipt['id']}'")["total_count"] == "1"
    assert rpc.query("/supply")["total"] == supply and rpc.query("/supply")["escrow"] == 0


def test_unassigned_job_expires_with_refund(rpc):
    signer = Signer(fee=None)
    job_id = signer.next_job_id("bob")
    committed(rpc, signer.tx("bob", "submit_job", **submit_fields()))
    assert balance(rpc, "bob") == BALANCE - 1_000_000 - signer.offered["bob"]
    job = wait_for(lambda: (j := rpc.query(f"/job/{job_id}"))["status"] == "expired" and j, timeout=20,
                   what="expiry")
    assert job["refund"] == 1_000_000 and balance(rpc, "bob") == BALANCE - signer.offered["bob"]
    results = rpc.block_results(job["finished_height"])
    expired = [e for e in results["finalize_block_events"] if e["type"] == "job"]
    assert any({"key": "status", "value": "expired", "index": True} in e["attributes"] for e in expired)


def tampered(raw: bytes) -> bytes:
    envelope = tx_pb2.Tx.FromString(raw)
    envelope.signature = bytes(64)
    return envelope.SerializeToString()


def test_bad_input_is_rejected_with_its_code_and_no_state_change(rpc):
    signer = Signer(fee=None)
    ok = signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1)
    committed(rpc, ok)
    before = [rpc.query(p) for p in ("/supply", f"/account/{KEYS['alice'].address}", f"/account/{KEYS['bob'].address}")]
    stranger = PrivateKey.generate()
    cases = {
        "random bytes": (os.urandom(120), {Code.TX_DECODE}),
        "truncated": (ok[:-7], {Code.TX_DECODE, Code.INVALID_FIELD, Code.BAD_SIGNATURE}),
        "bad signature": (tampered(signer.tx_with_nonce_offset("alice", 0, "transfer", to=KEYS["bob"].address,
                                                               amount=1)), {Code.BAD_SIGNATURE}),
        "wrong chain": (Signer(chain_id="other", fee=None).tx_with_nonce_offset("alice", 1, "transfer",
                                                                      to=KEYS["bob"].address, amount=1),
                        {Code.WRONG_CHAIN_ID}),
        "stale nonce": (txlib.build(KEYS["alice"], CHAIN_ID, 0, "transfer", memo="again", to=KEYS["bob"].address,
                                    amount=1), {Code.NONCE_TOO_LOW}),
        "future nonce": (signer.tx_with_nonce_offset("alice", 3, "transfer", to=KEYS["bob"].address, amount=1),
                         {Code.NONCE_TOO_HIGH}),
        "overspend": (signer.tx_with_nonce_offset("alice", 0, "transfer", to=KEYS["bob"].address,
                                                  amount=BALANCE * 2), {Code.INSUFFICIENT_FUNDS}),
        "unknown account": (txlib.build(stranger, CHAIN_ID, 0, "transfer", to=KEYS["bob"].address, amount=1),
                            {Code.UNKNOWN_ACCOUNT}),
        "not the coordinator": (signer.tx_with_nonce_offset("bob", 0, "assign_job", job_id="job_x",
                                                            miner=KEYS["miner1"].address), {Code.UNAUTHORIZED}),
    }
    for name, (raw, codes) in cases.items():
        result = rpc.broadcast(raw, "sync")
        assert result.code in codes, f"{name}: got {result.code_name} {result.log}"
        assert result.log, name
    with pytest.raises(RPCError, match="already exists in cache"):
        rpc.broadcast(ok, "sync")  # the same bytes again
    after = [rpc.query(p) for p in ("/supply", f"/account/{KEYS['alice'].address}", f"/account/{KEYS['bob'].address}")]
    assert after == before


def test_app_killed_while_blocks_are_made_recovers_without_loss(tmp_path):
    node = start_chain(tmp_path / "node")
    rpc = ChainRPC(node.rpc)
    signer = Signer(fee=FIXED_FEE)
    try:
        for _ in range(3):
            committed(rpc, signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1))
        height = node.height()
        for _ in range(20):
            assert rpc.broadcast(signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1), "sync").ok
        wait_for(lambda: node.height() > height, what="another block")
        procs.kill9(node.app)  # mid-stream: some txs committed, the rest in the mempool
        procs.wait_until(lambda: node.cometbft.poll() is not None, 30, "cometbft stops when its app dies")
        node.stop()
        node.start()
        node.wait_for_height(height + 2)
        # Committed txs survive, none is applied twice; mempool txs of the dead
        # node may be gone (clients resend), so continue from the chain's nonce.
        nonce = rpc.query(f"/nonce/{KEYS['alice'].address}")["nonce"]
        assert nonce >= 3
        signer.nonces[KEYS["alice"].address] = nonce
        for _ in range(3):
            committed(rpc, signer.tx("alice", "transfer", to=KEYS["bob"].address, amount=1))
        account = rpc.query(f"/account/{KEYS['alice'].address}")
        assert account["nonce"] == nonce + 3
        # each committed tx moved exactly 1 uaitbc and burned its fixed fee
        assert account["balance"] == BALANCE - account["nonce"] * (1 + FIXED_FEE)
        # the app's own record agrees with the node's block store
        info = rpc.call("abci_info")["response"]
        status = rpc.status()["sync_info"]
        assert int(info["last_block_height"]) >= int(status["latest_block_height"]) - 1
        assert base64.b64decode(info["last_block_app_hash"])
    finally:
        rpc.close()
        node.stop()


def test_audit_is_clean_after_a_lifecycle(rpc, chain_node):
    from click.testing import CliRunner

    from aitbc.audit import audit
    from aitbc.cli.main import cli

    signer = Signer(fee=None)
    committed(rpc, signer.tx("miner1", "register_miner", **register_fields()))
    job_id = signer.next_job_id("alice")
    committed(rpc, signer.tx("alice", "submit_job", **submit_fields()))
    committed(rpc, signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    committed(rpc, signer.tx("coordinator", "record_receipt", **receipt_fields(job_id)))
    committed(rpc, signer.tx("bob", "submit_job", **submit_fields()))  # stays open with its escrow
    report = audit(rpc)
    assert report.ok, report.as_dict()
    # every invariant ran (and passed), the coordinators' and direct jobs' among them
    assert {"total supply equals genesis supply", "every open job has exactly its escrow",
            "every completed job has one receipt paying billed time x price",
            "every coordinator counts its open jobs", "direct jobs go to their candidates only"} <= set(report.checks)
    result = CliRunner().invoke(cli, ["--node", chain_node.rpc, "audit"], catch_exceptions=False)
    assert result.exit_code == 0 and "ok   total supply equals genesis supply" in result.output


def test_block_signal_wakes_its_caller_after_each_committed_block(chain_node, rpc):
    """What `aitbc tx submit-job --wait` waits on between looks at its job (cli/direct_jobs.follow):
    the real node's websocket, one wake-up per block, each read seeing a new height."""
    with BlockSignal(chain_node.rpc) as blocks:
        assert blocks.wait(30)  # the subscription is in place
        heights = []
        for _ in range(3):
            assert blocks.wait(30) and blocks.up  # a block, not the 5 s heartbeat
            heights.append(int(rpc.status()["sync_info"]["latest_block_height"]))
    assert heights == sorted(set(heights)), heights
