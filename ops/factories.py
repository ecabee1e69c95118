"""Keys, genesis and txs for tests and benchmarks, in one place."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from aitbc.abci_app import state as st, transition
from aitbc.abci_app.records import Genesis, Params
from aitbc.abci_app.state import State
from aitbc.abci_app.store import MemoryStore, Overlay
from aitbc import jobspec, sealing, tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.errors import TxError
from aitbc.pb.aitbc_pb import tx_pb2

CHAIN_ID = "aitbc-test"
NAMES = ("coordinator", "alice", "bob", "miner1", "miner2")
BALANCE = 1_000_000_000  # 1000 AITBC
# Fee-free so that balance arithmetic in rule tests stays readable (fees have their own tests), and a
# per-token ceiling under which the factories' proofs (12.5 s for 31 tokens) are billed in full.
PARAMS = Params(price_per_second=20_000, pending_timeout_s=60, job_timeout_s=600, min_miner_stake=100_000_000,
                min_fee=0, fee_per_byte=0, max_ms_per_token=1_000)
NS = 1_000_000_000


def key(name: str) -> PrivateKey:
    """Deterministic test keys: the same name gives the same key in every test."""
    return PrivateKey(hashlib.sha256(f"aitbc-test-key:{name}".encode()).digest())


KEYS = {name: key(name) for name in NAMES}


def genesis(params: Params = PARAMS) -> Genesis:
    return Genesis(accounts={k.address: BALANCE for k in KEYS.values()}, coordinator=KEYS["coordinator"].address,
                   params=params)


@dataclass
class Signer:
    """Hands out consecutive nonces per key, like a wallet would."""

    chain_id: str = CHAIN_ID
    nonces: dict[str, int] = field(default_factory=dict)
    # 0 for the fee-free PARAMS of in-process tests; None pays what the default fee rule
    # asks for (real nodes started with the chain's default parameters).
    fee: int | None = 0
    offered: dict[str, int] = field(default_factory=dict)  # fees of the txs built, per key name

    def tx(self, name: str, kind: str, **fields) -> bytes:
        k = KEYS[name]
        nonce = self.nonces.get(k.address, 0)
        self.nonces[k.address] = nonce + 1
        raw = txlib.build(k, self.chain_id, nonce, kind, **{"fee": self.fee, **fields})
        self.offered[name] = self.offered.get(name, 0) + fee_of(raw)
        return raw

    def tx_with_nonce_offset(self, name: str, offset: int, kind: str, **fields) -> bytes:
        """A tx whose nonce is `offset` away from the expected one; the counter is untouched."""
        k = KEYS[name]
        return txlib.build(k, self.chain_id, max(0, self.nonces.get(k.address, 0) + offset), kind,
                           **{"fee": self.fee, **fields})

    def forget(self, raw: bytes, outcome: object = None) -> None:
        """Give back the nonce of a tx that the chain rejected (not of one that failed in a
        block after its nonce was taken: `outcome` is the TxError the block returned)."""
        if getattr(outcome, "charged", False):
            return
        from aitbc.pb.aitbc_pb import tx_pb2

        try:
            envelope = tx_pb2.Tx.FromString(raw)
            address = __import__("aitbc.crypto", fromlist=["address_of"]).address_of(envelope.public_key)
            nonce = tx_pb2.TxBody.FromString(envelope.body).nonce
        except Exception:  # noqa: BLE001 - garbage never took a nonce
            return
        if self.nonces.get(address) == nonce + 1:
            self.nonces[address] = nonce

    def next_job_id(self, name: str) -> str:
        return txlib.job_id_for(KEYS[name].address, self.nonces.get(KEYS[name].address, 0), self.chain_id)


def fee_of(raw: bytes) -> int:
    """The fee a tx offers (what it burns if it succeeds)."""
    return txlib.body_of(raw).fee


SUBMIT_OPTIONS = {"temperature_milli": 0, "seed": 42, "num_predict": 16}


def submit_fields(model: str = "aitbc-tiny", prompt: str = "What is machine learning?", max_reward: int = 1_000_000,
                  options: dict | None = None):
    return dict(job_type="inference", model=model, prompt_hash=jobspec.prompt_hash(prompt),
                prompt_bytes=len(prompt.encode()), max_reward=max_reward, options=options or SUBMIT_OPTIONS)


def register_fields(models=("aitbc-tiny",), stake: int = 100_000_000, capacity: int = 2, sealing_key: str = ""):
    """A register_miner / update_miner body; `sealing_key` names the key whose encryption key it
    registers (so it can take direct jobs)."""
    fields = dict(stake=stake, models=list(models), price_per_second=20_000, capacity=capacity,
                  endpoint="http://127.0.0.1:18001")
    if sealing_key:
        fields["encryption_key"] = sealing.encryption_public_key(KEYS[sealing_key])
    return fields


def direct_fields(client: str, job_id: str, candidates: tuple[str, ...] = ("miner1",),
                  prompt: str = "What is machine learning?", **overrides):
    """A direct submit_job body of `client` for `job_id` (its id before sending): the prompt sealed
    under the client's job key, the job key sealed to each named candidate's encryption key."""
    job_key = sealing.job_key(KEYS[client], job_id)
    miners = [tx_pb2.SealedKey(miner=KEYS[name].address,
                               sealed_key=sealing.seal_job_key(job_key, sealing.encryption_public_key(KEYS[name])))
              for name in candidates]
    sealed = sealing.seal_text(job_key, prompt)
    return {**submit_fields(prompt=prompt), "prompt_bytes": len(sealed) - sealing.BOX_OVERHEAD,
            "direct": tx_pb2.DirectJob(sealed_prompt=sealed, miners=miners), **overrides}


def receipt_fields(job_id: str, miner: str = "miner1", compute_time_ms: int = 12_500, result: str = "an answer",
                   signer: str | None = None, chain_id: str = CHAIN_ID, digest: str = "sha256:tiny",
                   prompt: str = "What is machine learning?", tokens: tuple[int, int] = (15, 16),
                   model: str = "aitbc-tiny", options: dict | None = None):
    """A record_receipt / record_check body: `miner`'s signed proof of a run of the default job."""
    proof = tx_pb2.ComputeProof(chain_id=chain_id, job_id=job_id, miner=KEYS[miner].address, model=model,
                                result_hash=jobspec.result_hash(result),
                                compute_time_ms=compute_time_ms, prompt_tokens=tokens[0], tokens_generated=tokens[1],
                                model_digest=digest, prompt_hash=jobspec.prompt_hash(prompt),
                                options=tx_pb2.JobOptions(**(options or SUBMIT_OPTIONS)))
    data, signature = txlib.sign_proof(KEYS[signer or miner], proof)
    return dict(proof=data, miner_signature=signature)


def sealed_result(client: str, job_id: str, result: str = "an answer") -> bytes:
    """A direct job's result as its miner sends it: sealed under the client's job key."""
    return sealing.seal_text(sealing.job_key(KEYS[client], job_id), result)


class Chain:
    """The pure transition driven block by block over an in-memory store."""

    def __init__(self, params: Params = PARAMS):
        self.store = MemoryStore()
        self.height = 0
        self.time_ns = 1_700_000_000 * NS
        block = State(Overlay(self.store), 0, self.time_ns, CHAIN_ID)
        transition.init_genesis(block, genesis(params), CHAIN_ID)
        self.store.write(block.store.changes)

    def view(self) -> State:
        return State(Overlay(self.store), self.height, self.time_ns, CHAIN_ID)

    def begin(self, seconds: float = 1.0) -> None:
        """Start a block `seconds` after the last one (expiry runs here)."""
        self.height += 1
        self.time_ns += int(seconds * NS)
        self._block = self.view()
        self._block.block_hash = hashlib.sha256(f"block {self.height}".encode()).digest()
        transition.begin_block(self._block)

    def apply(self, raw: bytes) -> int | TxError:
        """Apply one tx to the open block: 0, or the TxError that rejected it."""
        try:
            transition.apply_tx(self._block, txlib.decode(raw), charge_failed=True)
        except TxError as err:
            return err
        return 0

    def end(self) -> None:
        self.store.write(self._block.store.changes)

    def block(self, txs: list[bytes], seconds: float = 1.0) -> list[int | TxError]:
        """Apply one block; returns 0 or the TxError per tx."""
        self.begin(seconds)
        results = [self.apply(raw) for raw in txs]
        self.end()
        return results

    def account(self, name: str):
        return st.get_account(self.view(), KEYS[name].address)

    def balance(self, name: str) -> int:
        return self.account(name).balance

    def job(self, job_id: str):
        return st.get_job(self.view(), job_id)

    def snapshot(self) -> dict[bytes, bytes]:
        return dict(self.store.iterate(b"", b"\xff"))
