"""Free txs against a real node (cometbft + our app, genesis fee rule on): a
zero-fee or under-paying tx is refused in CheckTx with FEE_TOO_LOW and never
reaches a block; a properly paid transfer commits and burns exactly its fee."""

from __future__ import annotations

import pytest

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.rpc import ChainRPC
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.ops.factories import CHAIN_ID, KEYS
from tests.integration.chain_fixtures import start_chain

pytestmark = pytest.mark.attacks


@pytest.fixture(scope="module")
def rpc(tmp_path_factory):
    node = start_chain(tmp_path_factory.mktemp("fees") / "node")  # the default params: fees on
    client = ChainRPC(node.rpc)
    yield client
    client.close()
    node.stop()


def nonce(rpc: ChainRPC, name: str) -> int:
    return int(rpc.query(f"/nonce/{KEYS[name].address}")["nonce"])


def test_underpaid_txs_are_refused_and_a_paid_transfer_burns_its_fee(rpc):
    params = rpc.query("/params")
    min_fee, per_byte = int(params["min_fee"]), int(params["fee_per_byte"])
    assert min_fee and per_byte, "the genesis defaults must charge fees"
    alice, bob = KEYS["alice"], KEYS["bob"].address
    supply = rpc.query("/supply")
    before = {name: rpc.query(f"/account/{KEYS[name].address}") for name in ("alice", "bob")}
    paid = txlib.build(alice, CHAIN_ID, nonce(rpc, "alice"), "transfer", fee=None, min_fee=min_fee,
                       fee_per_byte=per_byte, to=bob, amount=1_000)
    fee = tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(paid).body).fee
    assert fee == txlib.required_fee(len(paid), min_fee, per_byte)
    for offered in (0, 1, fee - 1):
        raw = txlib.build(alice, CHAIN_ID, nonce(rpc, "alice"), "transfer", fee=offered, to=bob, amount=1_000)
        result = rpc.broadcast(raw, "sync")
        assert result.code == Code.FEE_TOO_LOW, (offered, result.code_name, result.log)
        assert "fee" in result.log.lower()
    assert rpc.query("/supply") == supply
    assert {name: rpc.query(f"/account/{KEYS[name].address}") for name in ("alice", "bob")} == before
    result = rpc.broadcast(paid, "commit")
    assert result.ok, result.log
    after = rpc.query("/supply")
    assert after["fees"] - supply["fees"] == fee
    assert rpc.query(f"/account/{alice.address}")["balance"] == before["alice"]["balance"] - 1_000 - fee
    assert rpc.query(f"/account/{bob}")["balance"] == before["bob"]["balance"] + 1_000
    assert after["total"] == supply["total"]
