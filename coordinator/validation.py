"""Checks of a job submission against the client's signed submit_job tx.

Pure functions: they raise InvalidRequest with a message a person can act on.
"""

from __future__ import annotations

import base64
import binascii

from aitbc import tx as txlib
from aitbc.jobspec import parse_chat_prompt, prompt_hash, temperature_milli, temperature_of
from aitbc.errors import TxError
from aitbc.tx import SignedTx
from aitbc.coordinator.errors import InvalidRequest
from aitbc.coordinator.store import SQLITE_INT_MAX
from aitbc.api.coordinator_models import MAX_PROMPT_CHARS, JobCreate

JOB_TYPES = txlib.JOB_TYPES


def check_body(body: JobCreate) -> None:
    """Shape of the request itself: type and prompt (a chat job's in canonical form, jobspec.chat_prompt)."""
    if body.type not in JOB_TYPES:
        raise InvalidRequest(f"unknown job type {body.type!r}; supported: {', '.join(JOB_TYPES)}")
    if not body.prompt.strip():
        raise InvalidRequest("prompt must not be empty or only whitespace")
    if len(body.prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(f"prompt is {len(body.prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    if not body.model.strip():
        raise InvalidRequest("model must not be empty")
    if body.type == "chat":
        try:
            parse_chat_prompt(body.prompt)
        except ValueError as exc:
            raise InvalidRequest(f"chat prompt: {exc}") from None


def decode_signed_tx(signed_tx: str, expected_kind: str) -> SignedTx:
    """Base64 -> a decoded, signature-checked tx of `expected_kind`."""
    try:
        raw = base64.b64decode(signed_tx, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("signed_tx is not valid base64") from None
    try:
        signed = txlib.decode(raw)
    except TxError as err:
        raise InvalidRequest(f"signed_tx is not a valid AITBC transaction: {err.log}") from None
    if signed.kind != expected_kind:
        raise InvalidRequest(f"signed_tx is a {signed.kind} transaction; expected {expected_kind}")
    return signed


def check_submit_tx(body: JobCreate, signed: SignedTx, chain_id: str) -> None:
    """The tx must lock escrow for exactly this prompt, model and options."""
    msg = signed.msg
    if signed.chain_id != chain_id:
        raise InvalidRequest(f"signed_tx is for chain {signed.chain_id!r}; this coordinator serves {chain_id!r}")
    if msg.prompt_hash != prompt_hash(body.prompt):
        raise InvalidRequest("signed_tx prompt_hash is not the sha256 of the prompt (UTF-8); "
                             "sign the same prompt you send")
    mismatches = []
    # A smaller length would make the chain refuse the miner's honest proof (prompt tokens above it).
    if msg.prompt_bytes and msg.prompt_bytes != len(body.prompt.encode("utf-8")):
        mismatches.append(f"prompt_bytes {msg.prompt_bytes} != {len(body.prompt.encode('utf-8'))}")
    if msg.job_type != body.type:
        mismatches.append(f"type {msg.job_type!r} != {body.type!r}")
    if msg.model != body.model:
        mismatches.append(f"model {msg.model!r} != {body.model!r}")
    options = body.options
    if msg.options.temperature_milli != temperature_milli(options.temperature):
        mismatches.append(f"temperature {temperature_of(msg.options.temperature_milli)} != {options.temperature}")
    if msg.options.seed != options.seed:
        mismatches.append(f"seed {msg.options.seed} != {options.seed}")
    if msg.options.num_predict != options.num_predict:
        mismatches.append(f"num_predict {msg.options.num_predict} != {options.num_predict}")
    if mismatches:
        raise InvalidRequest("signed_tx does not match the request body (tx vs body): " + "; ".join(mismatches))
    if msg.max_reward > SQLITE_INT_MAX:
        raise InvalidRequest(f"max_reward {msg.max_reward} is above {SQLITE_INT_MAX} uaitbc, the most this "
                             "coordinator keeps for a job")


def check_model_offered(model: str, offered: set[str]) -> None:
    if model not in offered:
        offer = ", ".join(sorted(offered)) if offered else "none (no miner is registered)"
        raise InvalidRequest(f"model {model!r} is not offered by any registered miner; offered: {offer}")


def check_names_us(signed: SignedTx, coordinator: str, genesis: bool) -> None:
    """The tx must name this coordinator: the chain lets only the coordinator a job names assign
    it, so a job naming another (or none: a direct job) would lock escrow that nobody here can run."""
    msg = signed.msg
    if msg.HasField("direct"):
        raise InvalidRequest("signed_tx is a direct job (a sealed prompt for miners the client chose): it needs no "
                             "coordinator; broadcast it to a node (`aitbc tx submit-job`)")
    if msg.coordinator == coordinator or (genesis and msg.coordinator == ""):
        return
    expected = '"" (or its address)' if genesis else coordinator
    named = f"coordinator {msg.coordinator}" if msg.coordinator else '"" (the genesis coordinator)'
    raise InvalidRequest(f"signed_tx names {named}; this coordinator is {coordinator}: sign the submit_job "
                         f"with coordinator = {expected} (GET /v1/chain: job_coordinator)")
