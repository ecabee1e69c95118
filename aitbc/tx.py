"""Transactions: build and sign (clients), decode and validate statelessly (node).

The signature covers exactly the TxBody bytes that travel in the Tx, so the
node never re-serialises anything to check it. Stateless validation (shape,
sizes, signature) lives here next to the types; stateful rules (nonce,
balance, job status) live in the state machine.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

from google.protobuf.message import DecodeError as ProtoDecodeError

from aitbc import crypto, endpoints, jobspec, sealing
from aitbc.errors import BadSignature, DecodeError, InvalidField, TooLarge
from aitbc.pb.aitbc_pb import tx_pb2

MAX_TX_BYTES = 24 * 1024  # a dispute_result, carrying a direct job's sealed prompt and result, is the largest
MAX_MEMO = 256
MAX_NAME = 128
MAX_MODELS = 32
MAX_ENDPOINT = 256
MAX_REASON = 512
JOB_TYPES = jobspec.JOB_TYPES
PROOF_DOMAIN = b"aitbc/proof/v1\n"

MSG_KINDS = tuple(f.name for f in tx_pb2.TxBody.DESCRIPTOR.oneofs_by_name["msg"].fields)


def tx_hash(raw: bytes) -> str:
    """CometBFT's tx hash: upper-case hex SHA-256 of the tx bytes."""
    return hashlib.sha256(raw).hexdigest().upper()


def job_id_for(client: str, nonce: int, chain_id: str) -> str:
    """The id of the job created by `client`'s tx with `nonce` on `chain_id`: known before sending,
    and different on every chain."""
    return "job_" + hashlib.sha256(f"{chain_id}:{client}:{nonce}".encode()).hexdigest()[:16]


def receipt_id_for(job_id: str) -> str:
    """A job has at most one receipt; its id follows from the job id."""
    return "rcpt_" + hashlib.sha256(job_id.encode()).hexdigest()[:16]


def job_seed(job_id: str, seed: int) -> int:
    """The seed a job runs with: the client's, or one derived from the job id when it gave none.

    Always set, so that every job is deterministic and a spot check can re-run it.
    Kept below 2**31 for runtimes that take a signed 32-bit seed.
    """
    if seed:
        return seed
    derived = int.from_bytes(hashlib.sha256(b"aitbc/seed/v1\n" + job_id.encode()).digest()[:4], "big") & 0x7FFFFFFF
    return derived or 1


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def required_fee(size: int, min_fee: int = 0, fee_per_byte: int = 0) -> int:
    """The least fee a tx of `size` bytes pays under the given parameters."""
    return min_fee + fee_per_byte * size


# The default parameters' fee rule, used when a builder is not told the chain's.
DEFAULT_MIN_FEE = 100
DEFAULT_FEE_PER_BYTE = 1


class SignedTx(NamedTuple):
    """A decoded tx whose signature has been checked (immutable, and quick to make: a
    node makes one per tx it sees)."""

    raw: bytes
    hash: str
    sender: str
    public_key: bytes
    chain_id: str
    nonce: int
    memo: str
    kind: str
    msg: Any  # the protobuf message of `kind`
    fee: int = 0


# Text from a signer ends up in terminals and web pages: besides the C0
# controls, refuse DEL, the C1 controls (U+009B is a CSI on some terminals)
# and the bidi overrides and isolates that reorder what a reader sees.
_FORBIDDEN_CHARS = frozenset([*map(chr, range(32)), "\x7f", *map(chr, range(0x80, 0xA0)),
                              *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))])


def _check_text(field: str, value: str, limit: int, required: bool = True) -> None:
    if required and not value:
        raise InvalidField(field, "must not be empty")
    if len(value) > limit:
        raise InvalidField(field, f"longer than {limit} characters")
    if not _FORBIDDEN_CHARS.isdisjoint(value):
        raise InvalidField(field, "contains control or bidi-override characters")


def _check_address(field: str, value: str) -> None:
    if not crypto.is_address(value):
        raise InvalidField(field, f"{value!r} is not an address (aitbc + 40 hex digits)")


def _check_models(models) -> None:
    if not models:
        raise InvalidField("models", "a miner must offer at least one model")
    if len(models) > MAX_MODELS:
        raise InvalidField("models", f"more than {MAX_MODELS}")
    if len(set(models)) != len(models):
        raise InvalidField("models", "contains duplicates")
    for model in models:
        _check_text("models", model, MAX_NAME)


def _check_hash(field: str, value: bytes) -> None:
    if len(value) != 32:
        raise InvalidField(field, "must be a 32-byte sha256")


def _validate_transfer(msg: Any) -> None:
    _check_address("to", msg.to)
    if msg.amount == 0:
        raise InvalidField("amount", "must be positive")


def _validate_offer(msg: Any) -> None:
    _check_models(msg.models)
    if msg.capacity == 0:
        raise InvalidField("capacity", "must be at least 1")
    if msg.price_per_second == 0:
        raise InvalidField("price_per_second", "must be positive")
    _check_text("endpoint", msg.endpoint, MAX_ENDPOINT, required=False)
    if msg.endpoint:
        try:
            endpoints.parse_endpoint(msg.endpoint)
        except ValueError as exc:
            raise InvalidField("endpoint", str(exc)) from None
    for model, ms in msg.ms_per_token.items():
        if model not in msg.models:
            raise InvalidField("ms_per_token", f"names {model!r}, which is not among the models offered")
        if ms == 0:
            raise InvalidField("ms_per_token", "must be positive")
    if msg.encryption_key and len(msg.encryption_key) != sealing.ENCRYPTION_KEY_SIZE:
        raise InvalidField("encryption_key", "must be a 32-byte X25519 public key")


def _validate_submit(msg: Any) -> None:
    if msg.job_type not in JOB_TYPES:
        raise InvalidField("job_type", f"{msg.job_type!r} is not one of {', '.join(JOB_TYPES)}")
    _check_text("model", msg.model, MAX_NAME)
    _check_hash("prompt_hash", msg.prompt_hash)
    if msg.max_reward == 0:
        raise InvalidField("max_reward", "must be positive")
    if msg.options.temperature_milli > jobspec.MAX_TEMPERATURE_MILLI:
        raise InvalidField("options.temperature", f"must be at most {jobspec.MAX_TEMPERATURE}")
    if msg.coordinator:
        _check_address("coordinator", msg.coordinator)
    if msg.HasField("direct"):
        _validate_direct(msg)


def _validate_direct(msg: Any) -> None:
    """A direct job names no coordinator, carries its sealed prompt and 1 to 4 distinct candidates."""
    if msg.coordinator:
        raise InvalidField("coordinator", "a direct job has no coordinator")
    direct = msg.direct
    if not direct.sealed_prompt:
        raise InvalidField("direct.sealed_prompt", "must not be empty")
    if len(direct.sealed_prompt) > sealing.MAX_PROMPT_BYTES + sealing.BOX_OVERHEAD:
        raise InvalidField("direct.sealed_prompt", f"the prompt is limited to {sealing.MAX_PROMPT_BYTES} bytes")
    if len(direct.sealed_prompt) < sealing.BOX_OVERHEAD \
            or msg.prompt_bytes != len(direct.sealed_prompt) - sealing.BOX_OVERHEAD:
        # A SecretBox is the plaintext plus a fixed overhead: the billed prompt bound stays honest.
        raise InvalidField("prompt_bytes", "must be the sealed prompt's length less "
                           f"{sealing.BOX_OVERHEAD} bytes of nonce and MAC")
    if not 1 <= len(direct.miners) <= sealing.MAX_CANDIDATES:
        raise InvalidField("direct.miners", f"name 1 to {sealing.MAX_CANDIDATES} candidate miners")
    if len({m.miner for m in direct.miners}) != len(direct.miners):
        raise InvalidField("direct.miners", "contains duplicates")
    for candidate in direct.miners:
        _check_address("direct.miners.miner", candidate.miner)
        if len(candidate.sealed_key) != sealing.SEALED_KEY_SIZE:
            raise InvalidField("direct.miners.sealed_key", f"must be {sealing.SEALED_KEY_SIZE} bytes")


def _validate_job_ref(msg: Any) -> None:
    _check_text("job_id", msg.job_id, MAX_NAME)


def _validate_assign(msg: Any) -> None:
    _validate_job_ref(msg)
    _check_address("miner", msg.miner)


def _validate_fail(msg: Any) -> None:
    _validate_job_ref(msg)
    _check_text("reason", msg.reason, MAX_REASON, required=False)


def _validate_assign_check(msg: Any) -> None:
    _validate_job_ref(msg)
    _check_address("checker", msg.checker)


def _validate_receipt(msg: Any) -> None:
    _validate_signed_proof(msg)
    if len(msg.sealed_result) > sealing.MAX_RESULT_BYTES + sealing.BOX_OVERHEAD:
        raise InvalidField("sealed_result", f"a direct job's result is limited to {sealing.MAX_RESULT_BYTES} bytes")


def _validate_decline(msg: Any) -> None:
    _validate_job_ref(msg)
    _check_text("reason", msg.reason, MAX_REASON, required=False)


def _validate_share_key(msg: Any) -> None:
    _validate_job_ref(msg)
    _check_address("recipient", msg.recipient)
    if len(msg.sealed_key) != sealing.SEALED_KEY_SIZE:
        raise InvalidField("sealed_key", f"must be {sealing.SEALED_KEY_SIZE} bytes")


def _validate_dispute(msg: Any) -> None:
    """The job key and the two sealed values exactly as sealing makes them (the chain compares
    their hashes with the job's)."""
    _validate_job_ref(msg)
    if len(msg.job_key) != sealing.JOB_KEY_SIZE:
        raise InvalidField("job_key", f"must be {sealing.JOB_KEY_SIZE} bytes")
    if not sealing.BOX_OVERHEAD <= len(msg.sealed_prompt) <= sealing.MAX_PROMPT_BYTES + sealing.BOX_OVERHEAD:
        raise InvalidField("sealed_prompt", "must be a direct job's sealed prompt")
    if not 1 <= len(msg.sealed_result) <= sealing.MAX_RESULT_BYTES + sealing.BOX_OVERHEAD:
        raise InvalidField("sealed_result", "must be a direct job's sealed result")


def _validate_register_coordinator(msg: Any) -> None:
    _check_text("url", msg.url, MAX_ENDPOINT)
    try:
        endpoints.parse_endpoint(msg.url)
    except ValueError as exc:
        raise InvalidField("url", str(exc)) from None
    if msg.bond == 0:
        raise InvalidField("bond", "must be positive")


def _validate_signed_proof(msg: Any) -> None:
    """A proof's every field is mandatory and its bytes canonical (no junk to pin in caches)."""
    if len(msg.miner_signature) != crypto.SIGNATURE_SIZE:
        raise InvalidField("miner_signature", "must be 64 bytes")
    if len(msg.proof) > MAX_PROOF_BYTES:
        raise InvalidField("proof", f"longer than {MAX_PROOF_BYTES} bytes")
    proof = decode_proof(msg.proof)
    if not _canonical(proof, msg.proof):
        raise DecodeError("compute proof has unknown fields or non-canonical encoding")
    _check_text("proof.chain_id", proof.chain_id, MAX_NAME)
    _check_text("proof.job_id", proof.job_id, MAX_NAME)
    _check_address("proof.miner", proof.miner)
    _check_text("proof.model", proof.model, MAX_NAME)
    _check_hash("proof.result_hash", proof.result_hash)
    _check_text("proof.model_digest", proof.model_digest, MAX_NAME)
    _check_hash("proof.prompt_hash", proof.prompt_hash)
    if not proof.HasField("options"):
        raise InvalidField("proof.options", "must be present")


# Stateless checks and size limit per message, beside the state machine's HANDLERS
# (as cosmos-sdk's ValidateBasic). The limit is on the serialized TxBody.
VALIDATORS: dict[str, tuple[Callable[[Any], None], int]] = {
    "transfer": (_validate_transfer, 1024),
    "register_miner": (_validate_offer, 8 * 1024),
    "update_miner": (_validate_offer, 8 * 1024),
    "unbond": (lambda msg: None, 512),
    "submit_job": (_validate_submit, 1024 + sealing.MAX_PROMPT_BYTES
                   + sealing.MAX_CANDIDATES * (sealing.SEALED_KEY_SIZE + 64)),
    "cancel_job": (_validate_job_ref, 512),
    "assign_job": (_validate_assign, 512),
    "record_receipt": (_validate_receipt, 2 * 1024 + sealing.MAX_RESULT_BYTES),
    "fail_job": (_validate_fail, 1024),
    "assign_check": (_validate_assign_check, 512),
    "record_check": (_validate_signed_proof, 2 * 1024),
    "decline_job": (_validate_decline, 1024),
    "share_job_key": (_validate_share_key, 512),
    "register_coordinator": (_validate_register_coordinator, 1024),
    "unregister_coordinator": (lambda msg: None, 512),
    "dispute_result": (_validate_dispute, 1024 + sealing.MAX_PROMPT_BYTES + sealing.MAX_RESULT_BYTES
                       + 2 * sealing.BOX_OVERHEAD),
}
MAX_PROOF_BYTES = 1024


def body_of(raw: bytes) -> tx_pb2.TxBody:
    """The TxBody of a tx already accepted elsewhere (fee, message), parsed without any check:
    for reading our own stored txs, never for trusting a new one (use `decode`)."""
    return tx_pb2.TxBody.FromString(tx_pb2.Tx.FromString(raw).body)


def decode_proof(data: bytes) -> tx_pb2.ComputeProof:
    proof = tx_pb2.ComputeProof()
    try:
        proof.ParseFromString(data)
    except ProtoDecodeError as exc:
        raise DecodeError(f"compute proof is not valid protobuf: {exc}") from None
    return proof


def _canonical(message: Any, data: bytes) -> bool:
    """True when `data` is exactly the canonical encoding of `message`, known fields only."""
    clean = type(message)()
    clean.CopyFrom(message)
    clean.DiscardUnknownFields()
    return clean.SerializeToString(deterministic=True) == data


def decode(raw: bytes) -> SignedTx:
    """Decode, shape-check and signature-check a tx. Raises a TxError."""
    return verified(parse(raw))


class Unverified(NamedTuple):
    """A tx that passed every check of `decode` but the signature's: not to be trusted
    before `verified` says so."""

    tx: SignedTx
    body: bytes
    signature: bytes


def verified(unverified: Unverified) -> SignedTx:
    """The tx, once its signature checks out. Raises BadSignature."""
    tx = unverified.tx
    if not crypto.verify(tx.public_key, unverified.body, unverified.signature):
        raise BadSignature()
    return tx


def verified_many(unverified: Sequence[Unverified]) -> list[SignedTx | BadSignature]:
    """`verified` of each tx, their signatures checked as one batch: each tx, or the
    BadSignature that refuses it."""
    valid = crypto.verify_many([(u.tx.public_key, u.body, u.signature) for u in unverified])
    return [u.tx if ok else BadSignature() for u, ok in zip(unverified, valid)]


def parse(raw: bytes) -> Unverified:
    """Every check of `decode` but the signature's, so that many signatures can be checked
    at once elsewhere (`verified_many`). Raises a TxError."""
    if len(raw) > MAX_TX_BYTES:
        raise TooLarge(len(raw), MAX_TX_BYTES)
    envelope, body = tx_pb2.Tx(), tx_pb2.TxBody()
    try:
        envelope.ParseFromString(raw)
        body_bytes = envelope.body
        body.ParseFromString(body_bytes)
    except ProtoDecodeError:
        raise DecodeError("not an AITBC transaction (protobuf decoding failed)") from None
    # Unknown fields or non-canonical framing would let anyone relaying a tx change its
    # hash without its signer (malleability): the bytes must be what the known fields
    # encode to. Nothing reads unknown fields, so they are dropped in place to compare.
    envelope.DiscardUnknownFields()
    body.DiscardUnknownFields()
    if envelope.SerializeToString(deterministic=True) != raw or body.SerializeToString(deterministic=True) != body_bytes:
        raise DecodeError("transaction has unknown fields or non-canonical encoding")
    kind = body.WhichOneof("msg")
    if kind is None:
        raise DecodeError("transaction carries no message")
    public_key = envelope.public_key
    if len(public_key) != crypto.PUBLIC_KEY_SIZE:
        raise DecodeError("public key must be 32 bytes")
    _check_text("memo", body.memo, MAX_MEMO, required=False)
    _check_text("chain_id", body.chain_id, MAX_NAME)
    msg = getattr(body, kind)
    validate, limit = VALIDATORS[kind]
    if len(body_bytes) > limit:
        raise InvalidField(kind, f"message is {len(body_bytes)} bytes; the limit for {kind} is {limit}")
    validate(msg)
    tx = SignedTx(raw, tx_hash(raw), _address_of(public_key), public_key, body.chain_id, body.nonce, body.memo,
                  kind, msg, body.fee)
    return Unverified(tx, body_bytes, envelope.signature)


# A sender sends many txs: its address (a SHA-256) is remembered, up to this many keys.
_ADDRESSES: dict[bytes, str] = {}
ADDRESS_CACHE_SIZE = 10_000


def _address_of(public_key: bytes) -> str:
    address = _ADDRESSES.get(public_key)
    if address is None:
        if len(_ADDRESSES) >= ADDRESS_CACHE_SIZE:
            _ADDRESSES.clear()
        address = _ADDRESSES[public_key] = crypto.address_of(public_key)
    return address


def build(key: crypto.PrivateKey, chain_id: str, nonce: int, kind: str, memo: str = "", fee: int | None = None,
          min_fee: int = DEFAULT_MIN_FEE, fee_per_byte: int = DEFAULT_FEE_PER_BYTE, **fields: Any) -> bytes:
    """Sign a tx of `kind` (a TxBody oneof name) with `fields`; returns the tx bytes.

    `fee` None pays exactly what the fee rule (`min_fee`, `fee_per_byte`, the chain's
    defaults unless given) asks for this tx's size.
    """
    if kind not in MSG_KINDS:
        raise ValueError(f"unknown tx kind {kind!r}; one of {', '.join(MSG_KINDS)}")
    message = getattr(tx_pb2, _message_name(kind))(**fields)

    def signed(offered: int) -> bytes:
        body = tx_pb2.TxBody(chain_id=chain_id, nonce=nonce, memo=memo, fee=offered)
        getattr(body, kind).CopyFrom(message)
        body_bytes = body.SerializeToString(deterministic=True)
        return tx_pb2.Tx(body=body_bytes, public_key=key.public_key,
                         signature=key.sign(body_bytes)).SerializeToString(deterministic=True)

    if fee is not None:
        return signed(fee)
    offered = required_fee(0, min_fee, fee_per_byte)
    while True:  # the fee's own varint grows the tx: settle on a fee that covers its size
        raw = signed(offered)
        needed = required_fee(len(raw), min_fee, fee_per_byte)
        if needed <= offered:
            return raw
        offered = needed


def _message_name(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("_"))


def sign_proof(key: crypto.PrivateKey, proof: tx_pb2.ComputeProof) -> tuple[bytes, bytes]:
    """Serialize and sign a compute proof; returns (proof bytes, signature)."""
    data = proof.SerializeToString(deterministic=True)
    return data, key.sign(PROOF_DOMAIN + data)


# A node checks a record_receipt's proof in CheckTx, on every RECHECK and in
# FinalizeBlock; verification is a pure function of its inputs, so good
# signatures are remembered and each is verified once per process.
_GOOD_PROOFS: dict[tuple[bytes, bytes, bytes], None] = {}
GOOD_PROOFS_CACHE_SIZE = 20_000


def verify_proof(public_key: bytes, proof_bytes: bytes, signature: bytes) -> bool:
    key = (bytes(public_key), bytes(proof_bytes), bytes(signature))
    if key in _GOOD_PROOFS:
        return True
    if not crypto.verify(public_key, PROOF_DOMAIN + proof_bytes, signature):
        return False
    if len(_GOOD_PROOFS) >= GOOD_PROOFS_CACHE_SIZE:
        _GOOD_PROOFS.clear()
    _GOOD_PROOFS[key] = None
    return True


def describe(tx: SignedTx) -> dict[str, Any]:
    """A JSON-friendly view of a decoded tx, for explorers and logs."""
    from google.protobuf.json_format import MessageToDict

    fields = MessageToDict(tx.msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
    if tx.kind == "record_receipt":
        fields["proof"] = MessageToDict(decode_proof(tx.msg.proof), preserving_proto_field_name=True)
    return {"type": tx.kind, "sender": tx.sender, "nonce": tx.nonce, "chain_id": tx.chain_id,
            "memo": tx.memo, "fee": tx.fee, "hash": tx.hash, "msg": fields}
