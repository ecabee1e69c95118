"""The miner's direct jobs with in-memory neighbours: the chain watch finds them, the runner
serves, declines or fails them, and the miner's own txs carry the outcome.

The real thing (cometbft, Ollama, two miner processes, the CLI) is
tests/integration/test_direct_jobs.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from aitbc import jobspec, sealing, tx as txlib
from aitbc.chain_events import ChainEvent, Connected
from aitbc.crypto import PrivateKey
from aitbc.miner.chain_watch import mentioned_jobs, subscriptions
from aitbc.miner.ollama_client import GenerationAborted, GenerateResult, ModelNotFound
from aitbc.rpc import BroadcastResult, RPCError
from aitbc.miner.daemon import MinerDaemon
from aitbc.miner.settings import MinerSettings
from tests.unit.test_miner_fakes import CHAIN_ID, MINER, MODEL, FakeChain, FakeCoordinator, FakeOllama

CLIENT = PrivateKey(b"\x04" * 32)
OTHER = PrivateKey(b"\x05" * 32)
PROMPT = "why is the sky blue"


class DirectChain(FakeChain):
    """FakeChain with direct jobs: their submit txs (RPC /tx), the open-job pages, and the miner's txs."""

    def __init__(self) -> None:
        super().__init__()
        self.assign_all_to = None
        self.raw_txs: dict[str, bytes] = {}
        self.sent: list[txlib.SignedTx] = []
        self.mempool: list[bytes] = []
        self.indexed = True  # False: the node's tx index does not have the txs (yet)

    def add_job(self, job_id: str = "job_d1", prompt: str = PROMPT, seal_to: PrivateKey = MINER,
                **changes: Any) -> dict[str, Any]:
        key = sealing.job_key(CLIENT, job_id)
        raw = txlib.build(CLIENT, CHAIN_ID, len(self.raw_txs), "submit_job", job_type="inference", model=MODEL,
                          prompt_hash=jobspec.prompt_hash(prompt), prompt_bytes=len(prompt.encode()),
                          max_reward=1_000_000, options={"temperature_milli": 0, "seed": 42, "num_predict": 16},
                          direct={"sealed_prompt": sealing.seal_text(key, prompt), "miners": [
                              {"miner": MINER.address,
                               "sealed_key": sealing.seal_job_key(key, sealing.encryption_public_key(seal_to))}]})
        self.raw_txs[txlib.tx_hash(raw)] = raw
        job = {"id": job_id, "client": CLIENT.address, "job_type": "inference", "model": MODEL,
               "prompt_hash": jobspec.prompt_hash(prompt).hex(), "temperature_milli": 0, "seed": 42,
               "num_predict": 16, "max_reward": 1_000_000, "status": "assigned", "miner": MINER.address,
               "prompt_bytes": len(prompt.encode()), "candidates": [MINER.address], "declined": [],
               "submit_tx": txlib.tx_hash(raw), "receipt_tx": "", "shared_keys": [], "checker": "",
               "coordinator": "", "submitted_height": 3}
        job.update(changes)
        self.jobs[job_id] = job
        return job

    async def query(self, path: str) -> Any:
        if path.startswith("/jobs/open"):
            return [j for j in self.jobs.values() if j["status"] in ("pending", "assigned")]
        if path.startswith("/checks/open"):
            return [j for j in self.jobs.values() if j["status"] == "verifying"]
        return await super().query(path)

    async def broadcast(self, raw: bytes, mode: str = "sync") -> BroadcastResult:
        tx = txlib.decode(raw)
        if tx.kind in ("register_miner", "update_miner"):
            return await super().broadcast(raw, mode)
        assert tx.nonce == self.nonce and tx.sender == MINER.address
        self.nonce += 1
        self.sent.append(tx)
        return BroadcastResult(tx.hash, 0, "")

    async def call(self, method: str, **params: Any) -> Any:
        if method == "unconfirmed_txs":
            return {"txs": [base64.b64encode(raw).decode() for raw in self.mempool]}
        if method == "block":
            assert params["height"] == "3"
            return {"block": {"data": {"txs": [base64.b64encode(raw).decode() for raw in self.raw_txs.values()]}}}
        assert method == "tx"
        if not self.indexed:
            raise RPCError(f"Internal error: tx ({base64.b64decode(params['hash']).hex().upper()}) not found")
        return {"tx": base64.b64encode(self.raw_txs[base64.b64decode(params["hash"]).hex().upper()]).decode()}

    def kinds(self) -> list[str]:
        return [tx.kind for tx in self.sent]


def direct_miner(tmp_path: Path, chain: DirectChain, events: "Events", ollama: FakeOllama | None = None,
                 coordinator: FakeCoordinator | None = None, **overrides: Any) -> MinerDaemon:
    """A miner without a coordinator, its chain events from `events`."""
    settings = MinerSettings(key=MINER.seed.hex(), data_dir=tmp_path, models=[MODEL], no_coordinator=True,
                             **overrides)
    return MinerDaemon(settings, chain=chain, ollama=ollama or FakeOllama(), chain_events=events,
                       coordinator_transport=(coordinator or FakeCoordinator()).transport)


class Events:
    """What the node's websocket would deliver, put in by the test."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.up = True

    async def __aiter__(self):
        while True:
            yield await self.queue.get()


def serve(tmp_path: Path, chain: DirectChain, ollama: FakeOllama | None = None, until: int = 1,
          events: list | None = None, **settings: Any) -> DirectChain:
    """Start a coordinator-less miner on `chain`, deliver `events` (default: one Connected), and
    stop once it sent `until` txs."""
    async def go() -> None:
        stream = Events()
        miner = direct_miner(tmp_path, chain, stream, ollama, **settings)
        await miner.start()
        for item in events if events is not None else [Connected(1)]:
            stream.queue.put_nowait(item)
        async with asyncio.timeout(5):
            while len(chain.sent) < until:
                await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)  # anything sent twice would show by now
        await miner.stop()

    asyncio.run(go())
    return chain


def test_an_assigned_direct_job_is_run_and_its_sealed_result_recorded(tmp_path: Path) -> None:
    chain = DirectChain()
    chain.add_job()
    serve(tmp_path, chain)
    assert chain.kinds() == ["record_receipt"]
    receipt = chain.sent[0].msg
    result = sealing.open_text(sealing.job_key(CLIENT, "job_d1"), receipt.sealed_result)
    assert result == f"echo: {PROMPT}"
    proof = txlib.decode_proof(receipt.proof)
    assert (proof.job_id, proof.miner, proof.model, proof.chain_id) == ("job_d1", MINER.address, MODEL, CHAIN_ID)
    assert proof.result_hash == hashlib.sha256(result.encode()).digest()
    assert proof.prompt_hash.hex() == chain.jobs["job_d1"]["prompt_hash"]
    assert (proof.options.temperature_milli, proof.options.seed, proof.options.num_predict) == (0, 42, 16)
    assert txlib.verify_proof(MINER.public_key, receipt.proof, receipt.miner_signature)
    # the miner registered the key clients seal to
    assert chain.miners[MINER.address]["encryption_key"] == sealing.encryption_public_key(MINER).hex()


@pytest.mark.parametrize("change, words", [
    (dict(seal_to=OTHER), "does not open"),
    (dict(prompt_hash="00" * 32), "does not match the job's prompt_hash"),
    (dict(prompt_bytes=3), "the job says 3"),
    (dict(model="not-offered"), "not served by this miner"),
    (dict(num_predict=0), "options not runnable"),
])
def test_what_cannot_be_run_is_declined(tmp_path: Path, change: dict, words: str) -> None:
    chain = DirectChain()
    chain.add_job(**change)
    ollama = FakeOllama()
    serve(tmp_path, chain, ollama)
    assert chain.kinds() == ["decline_job"] and not ollama.calls
    assert chain.sent[0].msg.job_id == "job_d1" and words in chain.sent[0].msg.reason


def test_ollama_without_the_model_declines_and_an_aborted_run_fails(tmp_path: Path) -> None:
    def missing(model: str, prompt: str) -> None:
        raise ModelNotFound(model)

    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job()
    ollama.behaviour = missing
    serve(tmp_path / "a", chain, ollama)
    assert chain.kinds() == ["decline_job"] and "not found" in chain.sent[0].msg.reason

    def aborted(model: str, prompt: str) -> None:
        raise GenerationAborted(GenerateResult())

    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job()
    ollama.behaviour = aborted
    serve(tmp_path / "b", chain, ollama)
    assert chain.kinds() == ["fail_job"] and "aborted" in chain.sent[0].msg.reason


def test_a_result_too_large_to_seal_fails_the_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sealing, "MAX_RESULT_BYTES", len(f"echo: {PROMPT}") - 1)  # the fake echoes the prompt
    chain = DirectChain()
    chain.add_job()
    serve(tmp_path, chain)
    assert chain.kinds() == ["fail_job"]
    assert f"holds at most {sealing.MAX_RESULT_BYTES}" in chain.sent[0].msg.reason


def test_a_submit_tx_the_index_does_not_have_yet_is_read_from_its_block(tmp_path: Path) -> None:
    chain = DirectChain()
    chain.indexed = False  # the kv indexer lags the block's events by a moment
    chain.add_job()
    serve(tmp_path, chain)
    assert chain.kinds() == ["record_receipt"]


def test_one_job_runs_once_whatever_reports_it(tmp_path: Path) -> None:
    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job()
    tx_event = ChainEvent("jobs", "Tx", 5, [{"type": "job", "attributes": {"id": "job_d1", "miner": MINER.address,
                                                                            "status": "assigned"}}])
    # connect, an event, a reconnect: three reports of one assignment
    serve(tmp_path, chain, ollama, events=[Connected(1), tx_event, Connected(2)])
    assert len(ollama.calls) == 1 and chain.kinds() == ["record_receipt"]


def test_a_job_this_miner_answered_before_a_restart_is_not_run_again(tmp_path: Path) -> None:
    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job("job_answered")
    chain.add_job("job_new")
    chain.mempool = [txlib.build(MINER, CHAIN_ID, 0, "decline_job", job_id="job_answered", reason="before"),
                     txlib.build(OTHER, CHAIN_ID, 0, "decline_job", job_id="job_new", reason="someone else")]
    serve(tmp_path, chain, ollama)
    assert len(ollama.calls) == 1 and txlib.decode_proof(chain.sent[0].msg.proof).job_id == "job_new"


def test_only_this_miners_direct_jobs_are_taken(tmp_path: Path) -> None:
    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job("job_other", miner=OTHER.address)
    chain.add_job("job_coordinated", candidates=[], coordinator="aitbc" + "0" * 40)
    chain.add_job("job_mine")
    serve(tmp_path, chain, ollama)
    assert len(ollama.calls) == 1 and txlib.decode_proof(chain.sent[0].msg.proof).job_id == "job_mine"


def test_a_check_runs_once_the_client_shared_the_key(tmp_path: Path) -> None:
    chain, ollama = DirectChain(), FakeOllama()
    chain.add_job(status="verifying", miner=OTHER.address, checker=MINER.address)
    job_key = sealing.job_key(CLIENT, "job_d1")

    async def go() -> None:
        stream = Events()
        miner = direct_miner(tmp_path, chain, stream, ollama)
        await miner.start()
        stream.queue.put_nowait(Connected(1))
        await asyncio.sleep(0.2)
        assert not ollama.calls  # no key yet: the checker waits for the client
        sealed = sealing.seal_job_key(job_key, sealing.encryption_public_key(MINER))
        chain.jobs["job_d1"]["shared_keys"] = [f"{MINER.address}:{sealed.hex()}"]
        async with asyncio.timeout(5):
            while not chain.sent:
                await asyncio.sleep(0.01)
        await miner.stop()

    import aitbc.miner.direct_jobs as direct_jobs
    original, direct_jobs.SHARED_KEY_POLL_S = direct_jobs.SHARED_KEY_POLL_S, 0.02
    try:
        asyncio.run(go())
    finally:
        direct_jobs.SHARED_KEY_POLL_S = original
    assert chain.kinds() == ["record_check"]
    proof = txlib.decode_proof(chain.sent[0].msg.proof)
    assert proof.miner == MINER.address and proof.job_id == "job_d1" and len(ollama.calls) == 1


def test_the_watch_subscribes_on_its_own_address_and_reads_only_its_jobs() -> None:
    queries = subscriptions(MINER.address)
    assert len(queries) <= 5 and all(MINER.address in q for q in queries.values())
    assert {q.split(" AND ")[0] for q in queries.values()} == {"tm.event='Tx'", "tm.event='NewBlockEvents'"}
    event = ChainEvent("block_checks", "NewBlockEvents", 9, [
        {"type": "job", "attributes": {"id": "job_a", "miner": MINER.address}},
        {"type": "job", "attributes": {"id": "job_b", "miner": OTHER.address}},
        {"type": "check", "attributes": {"job_id": "job_c", "checker": MINER.address}},
        {"type": "check", "attributes": {"job_id": "job_d", "checker": f"{OTHER.address},{MINER.address}"}},
    ])
    assert mentioned_jobs(event, MINER.address) == {"job_a", "job_c", "job_d"}


def test_without_a_coordinator_pushes_are_refused_and_nothing_calls_it(tmp_path: Path) -> None:
    from aitbc.miner.daemon import NotCoordinator
    from tests.unit.test_miner_fakes import COORDINATOR

    coordinator = FakeCoordinator()

    async def go() -> None:
        miner = direct_miner(tmp_path, DirectChain(), Events(), coordinator=coordinator)
        await miner.start()
        with pytest.raises(NotCoordinator, match="without a coordinator"):
            miner.authorize(COORDINATOR.address)
        health = await miner.health()
        assert health.coordinator == "none (direct jobs only)" and health.chain_events == "subscribed"
        await asyncio.sleep(0.2)
        await miner.stop()

    asyncio.run(go())
    assert coordinator.calls == []
