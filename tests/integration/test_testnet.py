"""Four real validators on this machine, driven through `aitbc testnet ...`: txs sent
to different nodes, the same app hash everywhere at every height, the same
tx_search answers, a validator stopped (the chain goes on) and started again
(it catches up). Nothing may be left running afterwards."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from aitbc import crypto
from aitbc.ops import procs, testnet as tn
from aitbc.keyring import Keyring
from aitbc.rpc import ChainRPC
from aitbc.cli.context import Context
import aitbc.cli.testnet as cli_testnet
from aitbc.ops.factories import CHAIN_ID, KEYS, Signer, receipt_fields, register_fields, submit_fields
from aitbc.ops.harness import wait_for

pytestmark = pytest.mark.integration
VALIDATORS = 4


class Net:
    def __init__(self, directory: Path, runner: CliRunner):
        self.directory, self.runner = directory, runner

    def cli(self, *args: str, ok: bool = True) -> str:
        result = self.runner.invoke(cli_testnet.testnet, [*args, "--dir", str(self.directory)], obj=Context(),
                                    catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result.stdout

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json"))

    @property
    def net(self) -> tn.Testnet:
        return tn.Testnet.load(self.directory)

    def rpc(self, index: int) -> ChainRPC:
        return ChainRPC(self.net.node(index).rpc)


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    base = tmp_path_factory.mktemp("testnet")
    ring = Keyring(base / "home" / "keys")
    for name, key in KEYS.items():  # the CLI funds the keyring's dev keys: make them the test keys
        ring.add(name, key)
    handle = Net(base / "net", CliRunner(env={"AITBC_HOME": str(base / "home")}))
    try:
        out = json.loads(handle.cli("up", "--validators", str(VALIDATORS), "--chain-id", CHAIN_ID, "--json"))
        assert [n["validator"] for n in out["nodes"]] == [True] * VALIDATORS
        yield handle
    finally:
        if (handle.directory / tn.STATE_FILE).exists():
            handle.cli("down", ok=False)
        assert procs.processes_mentioning(str(handle.directory)) == []


def committed(rpc: ChainRPC, raw: bytes) -> int:
    result = rpc.broadcast(raw, "commit")
    assert result.ok, f"{result.code_name}: {result.log}"
    return result.height


def assert_same_app_hashes(handle: Net, indices: list[int], up_to: int) -> None:
    """Every listed node has the same header app hash at every height 1..up_to."""
    hashes = {i: tn.app_hashes(handle.net.node(i).rpc, 1, up_to) for i in indices}
    assert len(hashes[indices[0]]) == up_to
    for i in indices[1:]:
        assert hashes[i] == hashes[indices[0]], f"node{i} disagrees with node{indices[0]}"


def test_status_four_validators_peered_and_agreeing(net):
    def meshed() -> dict | None:
        status = net.status()
        return status if all(n.get("peers") == VALIDATORS - 1 for n in status["nodes"]) else None

    # every node has met every other one shortly after the first blocks
    status = wait_for(meshed, timeout=30, what="full mesh")
    assert status["chain_id"] == CHAIN_ID and status["app_hash_agrees"]
    for node in status["nodes"]:
        assert node["up"] and node["validator"] and node["peers"] == VALIDATORS - 1, node
        assert node["app_hash"] == status["nodes"][0]["app_hash"] != ""
    assert "all agree" in net.cli("status")


def test_txs_sent_to_different_nodes_give_one_state(net):
    rpcs, signer = [net.rpc(i) for i in range(VALIDATORS)], Signer(fee=None)
    committed(rpcs[1], signer.tx("miner1", "register_miner", **register_fields()))
    job_id = signer.next_job_id("alice")
    committed(rpcs[2], signer.tx("alice", "submit_job", **submit_fields()))
    committed(rpcs[3], signer.tx("bob", "transfer", to=KEYS["alice"].address, amount=7_000_000))
    committed(rpcs[0], signer.tx("coordinator", "assign_job", job_id=job_id, miner=KEYS["miner1"].address))
    last = committed(rpcs[1], signer.tx("coordinator", "record_receipt", **receipt_fields(job_id)))
    net.net.wait_for_height(last + 1, timeout=30)
    found = [rpc.tx_search(f"job.id='{job_id}'") for rpc in rpcs]
    assert [(t["hash"], t["height"]) for t in found[0]["txs"]] == [(t["hash"], t["height"]) for t in found[3]["txs"]]
    assert all(f == found[0] for f in found) and found[0]["total_count"] == "3"
    assert len({json.dumps(rpc.query(f"/account/{KEYS['alice'].address}")) for rpc in rpcs}) == 1
    receipts = [rpc.query(f"/receipt/{job_id}") for rpc in rpcs]
    assert len({json.dumps(r, sort_keys=True) for r in receipts}) == 1  # every node paid the same
    # 12.5 s claimed for 31 tokens: billed at most 31 x the default 200 ms-per-token ceiling
    assert receipts[0]["billed_ms"] == min(12_500, 31 * receipts[0]["ms_per_token"])
    assert receipts[0]["amount_paid"] == receipts[0]["billed_ms"] * receipts[0]["price_per_second"] // 1000 > 0
    assert_same_app_hashes(net, list(range(VALIDATORS)), last + 1)


def test_transfers_each_node_checked_in_its_own_order_give_one_state(net):
    """Four senders, each sending its transfers to one new account through its own node at once:
    each node checks them in the order they reach it, and the blocks take them in their proposer's
    order, which FinalizeBlock replays by the values each tx read (abci_app/check_state.py)."""
    rpcs, signer = [net.rpc(i) for i in range(VALIDATORS)], Signer(fee=None)
    senders, per_sender, amount = ("alice", "bob", "coordinator", "miner1"), 40, 3
    recipient = crypto.PrivateKey.generate().address
    assert not rpcs[0].query(f"/account/{recipient}")["exists"]  # created by the first credit
    start = max(h for h in net.net.heights().values() if h)
    for name in senders:
        signer.nonces[KEYS[name].address] = rpcs[0].query(f"/nonce/{KEYS[name].address}")["nonce"]
    before = {name: rpcs[0].query(f"/account/{KEYS[name].address}")["balance"] for name in senders}
    fees_before = rpcs[0].query("/supply")["fees"]
    batches = {name: [signer.tx(name, "transfer", to=recipient, amount=amount) for _ in range(per_sender)]
               for name in senders}

    def send(index: int, name: str) -> list[str]:
        return [r.code_name for r in (rpcs[index].broadcast(raw, "sync") for raw in batches[name]) if not r.ok]

    with ThreadPoolExecutor(len(senders)) as pool:
        refused = list(pool.map(send, range(len(senders)), senders))
    assert refused == [[]] * len(senders)
    goal = {name: signer.nonces[KEYS[name].address] for name in senders}
    # /account is the committed state (/nonce counts the mempool too: it can reach the goal
    # before any block has taken these transfers)
    wait_for(lambda: all(rpcs[0].query(f"/account/{KEYS[n].address}")["nonce"] == goal[n] for n in senders),
             timeout=60, what="every transfer committed")
    top = max(h for h in net.net.heights().values() if h)
    net.net.wait_for_height(top + 1, timeout=30)
    assert top > start
    assert_same_app_hashes(net, list(range(VALIDATORS)), top + 1)
    assert rpcs[3].query(f"/account/{recipient}")["balance"] == len(senders) * per_sender * amount
    for name in senders:  # this signer's txs are all of this test's: `offered` is what they paid in fees
        spent = before[name] - rpcs[3].query(f"/account/{KEYS[name].address}")["balance"]
        assert spent == per_sender * amount + signer.offered[name], name
    assert rpcs[3].query("/supply")["fees"] - fees_before == sum(signer.offered[name] for name in senders)


def test_stopped_validator_chain_goes_on_then_catches_up(net):
    signer = Signer(fee=None)
    signer.nonces[KEYS["bob"].address] = net.rpc(0).query(f"/nonce/{KEYS['bob'].address}")["nonce"]
    net.cli("stop-node", "3")
    assert net.net.running(3) == {"app": False, "cometbft": False}
    before = max(h for h in net.net.heights().values() if h)
    # three of four validators are more than 2/3 of the power: blocks and txs go on
    height = committed(net.rpc(1), signer.tx("bob", "transfer", to=KEYS["alice"].address, amount=1))
    net.net.wait_for_height(max(height, before) + 3, timeout=40, indices=[0, 1, 2])
    status = net.status()
    assert [n["up"] for n in status["nodes"]] == [True, True, True, False] and status["app_hash_agrees"]

    net.cli("start-node", "3")
    top = max(h for h in net.net.heights().values() if h)
    net.net.wait_for_height(top, timeout=60, indices=[3])
    assert_same_app_hashes(net, list(range(VALIDATORS)), top)
    search = f"message.sender='{KEYS['bob'].address}'"
    found = net.rpc(0).tx_search(search)
    assert found["total_count"] != "0" and net.rpc(3).tx_search(search) == found
    assert net.status()["nodes"][3]["validator"]


def test_down_leaves_nothing_running(net):
    pids = [pid for node in net.net.nodes for pid in node.pids.values()]
    assert len(pids) == 2 * VALIDATORS
    net.cli("down")
    assert procs.processes_mentioning(str(net.directory)) == [] and not net.net.any_running()
    # status of a stopped testnet still answers (and exits 1: the testnet is down)
    stopped = json.loads(net.cli("status", "--json", ok=False))
    assert stopped["down"] and not any(n["up"] for n in stopped["nodes"])
