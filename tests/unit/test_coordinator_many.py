"""A coordinator among many (issue 12), in-process against a fake node: which key may serve
(the genesis one, a registered one, one that registers itself at start), what GET /v1/chain
tells clients to name, and intake refusing jobs that are not its own."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from aitbc import jobspec, sealing, tx as txlib
from aitbc.codes import Code
from aitbc.rpc import BroadcastResult, QueryFailed
from aitbc.pb.aitbc_pb import tx_pb2
from aitbc.coordinator.core import StartupError
from aitbc.coordinator.http.app import create_app
from aitbc.api.coordinator_client import sign_job
from aitbc.coordinator.settings import CoordinatorSettings
from aitbc.ops.factories import CHAIN_ID, KEYS
from tests.unit.test_coordinator_api import CLIENT, FakeRPC, assert_problem

ALICE, BOB, GENESIS = KEYS["alice"], KEYS["bob"], KEYS["coordinator"]
URL = "https://coord-b.example:18000"
MIN_BOND = 100_000_000


class ManyRPC(FakeRPC):
    """The fake node with coordinator records; a register_coordinator broadcast (commit) adds one."""

    def __init__(self) -> None:
        super().__init__()
        self.registered: dict[str, dict] = {}

    async def query(self, path: str):
        parts = path.strip("/").split("/")
        if parts == ["params"]:
            return {**await super().query(path), "min_coordinator_bond": MIN_BOND}
        if parts[0] == "coordinator":
            if parts[1] in self.registered:
                return self.registered[parts[1]]
            raise QueryFailed(path, Code.NOT_FOUND, f"coordinator {parts[1]} not found")
        return await super().query(path)

    async def broadcast(self, raw: bytes, mode: str = "sync") -> BroadcastResult:
        result = await super().broadcast(raw, mode)
        signed = txlib.decode(raw)
        if result.ok and signed.kind == "register_coordinator":
            self.registered[signed.sender] = {"address": signed.sender, "url": signed.msg.url,
                                              "bond": signed.msg.bond, "open_jobs": 0}
        return result


@pytest.fixture
def rpc() -> ManyRPC:
    return ManyRPC()


def serve(tmp_path, rpc, key, **settings):
    app = create_app(CoordinatorSettings(data_dir=tmp_path, client_api_keys=[CLIENT], **settings), rpc=rpc, key=key,
                     run_scheduler=False)
    client = TestClient(app)
    client.headers["X-Api-Key"] = CLIENT
    return client


def job(coordinator: str = "") -> dict:
    return sign_job(ALICE, CHAIN_ID, 0, "What is machine learning?", "aitbc-tiny", 1_000_000,
                    coordinator=coordinator).model_dump(mode="json")


def direct_job(prompt: str = "What is machine learning?") -> dict:
    """A direct submit_job (sealed prompt, one candidate) posted as if it were a coordinator job."""
    job_id = txlib.job_id_for(ALICE.address, 0, CHAIN_ID)
    key = sealing.job_key(ALICE, job_id)
    sealed = sealing.seal_text(key, prompt)
    miner = KEYS["miner1"]
    candidate = tx_pb2.SealedKey(miner=miner.address, sealed_key=sealing.seal_job_key(
        key, sealing.encryption_public_key(miner)))
    options = jobspec.chain_options(0.7, 0, 128)
    raw = txlib.build(ALICE, CHAIN_ID, 0, "submit_job", job_type="inference", model="aitbc-tiny",
                      prompt_hash=jobspec.prompt_hash(prompt), max_reward=1_000_000, options=options,
                      prompt_bytes=len(sealed) - sealing.BOX_OVERHEAD,
                      direct=tx_pb2.DirectJob(sealed_prompt=sealed, miners=[candidate]))
    return {"type": "inference", "prompt": prompt, "model": "aitbc-tiny",
            "options": {"temperature": 0.7, "seed": 0, "num_predict": 128}, "signed_tx": base64.b64encode(raw).decode()}


def test_genesis_coordinator_tells_clients_to_name_nobody(tmp_path, rpc):
    with serve(tmp_path, rpc, GENESIS) as api:
        chain = api.get("/v1/chain").json()
    assert (chain["coordinator"], chain["genesis_coordinator"], chain["job_coordinator"]) == \
        (GENESIS.address, GENESIS.address, "")


@pytest.mark.parametrize("named", ["", GENESIS.address])
def test_genesis_coordinator_takes_jobs_naming_it(tmp_path, rpc, named):
    with serve(tmp_path, rpc, GENESIS) as api:
        assert api.post("/v1/jobs", json=job(named)).status_code == 201


def test_a_job_naming_another_coordinator_is_refused_and_not_broadcast(tmp_path, rpc):
    with serve(tmp_path, rpc, GENESIS) as api:
        problem = assert_problem(api.post("/v1/jobs", json=job(BOB.address)), 400,
                                 f"names coordinator {BOB.address}", f"this coordinator is {GENESIS.address}",
                                 "job_coordinator")
    assert rpc.broadcasts == [], problem


def test_a_direct_job_is_refused_with_where_to_send_it(tmp_path, rpc):
    with serve(tmp_path, rpc, GENESIS) as api:
        assert_problem(api.post("/v1/jobs", json=direct_job()), 400, "direct job", "aitbc tx submit-job")
    assert rpc.broadcasts == []


def test_registered_coordinator_serves_only_jobs_naming_its_address(tmp_path, rpc):
    rpc.registered[BOB.address] = {"address": BOB.address, "url": URL, "bond": MIN_BOND, "open_jobs": 0}
    with serve(tmp_path, rpc, BOB) as api:
        chain = api.get("/v1/chain").json()
        assert (chain["coordinator"], chain["job_coordinator"], chain["genesis_coordinator"]) == \
            (BOB.address, BOB.address, GENESIS.address)
        assert api.get("/ready").json()["coordinator"] == BOB.address
        assert_problem(api.post("/v1/jobs", json=job("")), 400, '"" (the genesis coordinator)',
                       f"coordinator = {BOB.address}")
        assert api.post("/v1/jobs", json=job(BOB.address)).status_code == 201


def test_an_unregistered_key_does_not_start_and_says_how_to_register(tmp_path, rpc):
    with pytest.raises(StartupError, match="neither the genesis coordinator .* nor registered on chain.*"
                                           "aitbc tx register-coordinator --url URL --bond AMOUNT"):
        with serve(tmp_path, rpc, BOB):
            pass


def test_register_url_registers_once_with_the_minimum_bond(tmp_path, rpc):
    with serve(tmp_path, rpc, BOB, register_url=URL) as api:
        assert api.get("/ready").status_code == 200
        assert api.get("/v1/chain").json()["job_coordinator"] == BOB.address
    sent = [txlib.decode(raw) for raw in rpc.broadcasts]
    assert [(s.kind, s.sender, s.msg.url, s.msg.bond) for s in sent] == \
        [("register_coordinator", BOB.address, URL, MIN_BOND)]
    with serve(tmp_path / "again", rpc, BOB, register_url=URL, bond="250"):
        pass
    assert len(rpc.broadcasts) == 1  # registered already: nothing sent again


def test_register_url_refused_by_the_chain_stops_the_start(tmp_path, rpc):
    rpc.check_code, rpc.check_log = int(Code.INSUFFICIENT_FUNDS), "need 250000000, have 5000000"
    with pytest.raises(StartupError, match="bond of 250000000 uaitbc was refused: INSUFFICIENT_FUNDS: need"):
        with serve(tmp_path, rpc, BOB, register_url=URL, bond="250"):
            pass
