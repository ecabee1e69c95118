"""A client's direct jobs (docs/direct-jobs.md, "What a client does"): the candidates, the
sealed prompt, following the job on chain, and opening and checking its result.

Only a node's RPC and the client's key are needed. The job key is derived from the
key and the job id (aitbc.sealing.job_key), so a finished job's result can be opened
again at any time (`aitbc query job-result`).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from aitbc import sealing, tx as txlib, units
from aitbc.chain_events import BlockSignal
from aitbc.api.coordinator_models import JobPublic
from aitbc.cli import safe_text
from aitbc.cli.chain_access import chain_query, resolve_address
from aitbc.cli.context import CLIError, Context, NetworkError, Rejected
from aitbc.crypto import PrivateKey
from aitbc.errors import TxError
from aitbc.rpc import ChainError, NodeUnavailable, QueryFailed, TxNotFound

AUTO_CANDIDATES = 3      # candidates picked when the client names none
POLL_S = 0.5             # without the node's websocket: a block is about a second, two looks per block
FINAL = ("completed", "failed", "expired", "cancelled")


class ResultMismatch(CLIError):
    """The opened result is not what the receipt's result hash commits to."""

    exit_code = 6


@dataclass(frozen=True)
class Candidate:
    address: str
    encryption_key: bytes
    price_per_second: int = 0  # its price when picked: the default cap (see price_cap)


def _can_take(miner: dict[str, Any], model: str, max_price: int, min_stake: int, now_ns: int) -> bool:
    """The chain's own test of a candidate (abci_app/assignment.py), on the miner as listed now."""
    return (bool(miner.get("encryption_key")) and int(miner["stake"]) >= max(min_stake, 1)
            and model in miner["models"] and int(miner["active_jobs"]) < int(miner["capacity"])
            and int(miner.get("jailed_until_ns", 0)) <= now_ns
            and (not max_price or int(miner["price_per_second"]) <= max_price))


def pick_candidates(ctx: Context, model: str, max_price: int, named: tuple[str, ...] = ()) -> list[Candidate]:
    """The miners to seal the job key to: those named (each must have an encryption key), else up
    to AUTO_CANDIDATES that may take the job now, the cheapest first (ties in random order)."""
    if named:
        if len(named) > sealing.MAX_CANDIDATES:
            raise CLIError(f"at most {sealing.MAX_CANDIDATES} --miner (the job key is sealed to each)")
        picked = []
        for who in dict.fromkeys(named):
            address = resolve_address(ctx, who)
            miner = chain_query(ctx, f"/miner/{address}")
            if not miner.get("encryption_key"):
                raise CLIError(f"miner {address} has no encryption key on chain, so nothing can be sealed to it; "
                               "it takes no direct jobs (a miner started with this version registers one)")
            picked.append(Candidate(address, bytes.fromhex(miner["encryption_key"]), int(miner["price_per_second"])))
        return picked
    params = chain_query(ctx, "/params")
    now_ns = time.time_ns()
    able = [m for m in chain_query(ctx, "/miners")
            if _can_take(m, model, max_price, int(params["min_miner_stake"]), now_ns)]
    if not able:
        raise CLIError(f"no miner can take a direct job for model {model!r} now (one that serves it, with an "
                       "encryption key, stake, a free slot, not jailed"
                       + (", at or below --max-price" if max_price else "") + "); see `aitbc query miners`")
    able.sort(key=lambda m: (int(m["price_per_second"]), random.random()))
    return [Candidate(m["address"], bytes.fromhex(m["encryption_key"]), int(m["price_per_second"]))
            for m in able[:AUTO_CANDIDATES]]


def price_cap(max_price: int, candidates: list[Candidate]) -> int:
    """The job's price cap: the client's, else the highest price among its candidates as they stand
    now. Without one, a candidate could raise its price (update_miner) between this look and the
    assignment, in the same block or while the job waits, and the job would pay the new price."""
    return max_price or max((c.price_per_second for c in candidates), default=0)


def sealed_direct(client: PrivateKey, job_id: str, prompt: str, candidates: list[Candidate]) -> dict[str, Any]:
    """The `direct` field of a submit_job: the prompt sealed under the job key, the job key sealed
    to each candidate."""
    size = len(prompt.encode())
    if size > sealing.MAX_PROMPT_BYTES:
        raise CLIError(f"the prompt has {size} bytes; a direct job carries at most {sealing.MAX_PROMPT_BYTES} "
                       "(use a coordinator for longer prompts: `aitbc submit inference`)")
    key = sealing.job_key(client, job_id)
    return {"sealed_prompt": sealing.seal_text(key, prompt),
            "miners": [{"miner": c.address, "sealed_key": sealing.seal_job_key(key, c.encryption_key)}
                       for c in candidates]}


def fetch_tx(ctx: Context, tx_hash: str, height: int = 0) -> txlib.SignedTx:
    """A committed tx by hash, decoded with its signature checked: from the node's tx index, or from
    the block at `height` when the index does not have it (yet: it lags the block by a moment)."""
    try:
        raw = ctx.rpc.committed_tx(tx_hash, height)
    except NodeUnavailable as err:
        raise NetworkError(str(err)) from None
    except TxNotFound as err:
        raise CLIError(str(err)) from None
    except ChainError as err:
        where = f" (block {height})" if height else ""
        raise CLIError(f"cannot read tx {tx_hash}{where} from the node: {err}") from None
    try:
        return txlib.decode(raw)
    except TxError as err:
        raise CLIError(f"tx {tx_hash} on chain does not decode: {err}") from None


def _job_or_none(ctx: Context, job_id: str) -> dict[str, Any] | None:
    try:
        return ctx.rpc.query(f"/job/{job_id}")
    except QueryFailed:
        return None  # not in a block yet
    except NodeUnavailable as err:
        raise NetworkError(f"{err}\nIs the node running? (`aitbc node start`, or --node/AITBC_NODE)") from None
    except ChainError as err:
        raise CLIError(str(err)) from None


def share_key(ctx: Context, client: PrivateKey, job_id: str, checker: str, mode: str = "sync",
              quiet: bool = True) -> dict[str, Any]:
    """share_job_key: the job key sealed to `checker`'s encryption key, so it can re-run the job."""
    from aitbc.cli.tx.broadcast import broadcast_signed  # here: the tx commands import this module

    miner = chain_query(ctx, f"/miner/{checker}")
    if not miner.get("encryption_key"):
        raise CLIError(f"checker {checker} has no encryption key on chain")
    sealed = sealing.seal_job_key(sealing.job_key(client, job_id), bytes.fromhex(miner["encryption_key"]))
    params = chain_query(ctx, "/params")
    nonce = chain_query(ctx, f"/nonce/{client.address}")["nonce"]
    raw = txlib.build(client, params["chain_id"], nonce, "share_job_key", job_id=job_id, recipient=checker,
                      sealed_key=sealed)
    return broadcast_signed(ctx, raw, "share_job_key", client.address, mode, quiet=quiet)


def follow(ctx: Context, client: PrivateKey, job_id: str, timeout: float) -> dict[str, Any]:
    """Read the job after each block the node commits until it is final (every POLL_S when the
    node's websocket cannot be reached); meanwhile give each checker drawn for it the job key.
    Progress goes to stderr."""
    with BlockSignal(ctx.node) as blocks:
        return _follow(ctx, client, job_id, time.monotonic() + timeout, timeout, blocks)


def _follow(ctx: Context, client: PrivateKey, job_id: str, deadline: float, timeout: float,
            blocks: BlockSignal) -> dict[str, Any]:
    last, shared = "", set()
    while True:
        job = _job_or_none(ctx, job_id)
        if job is not None:
            status = job["status"]
            where = {"assigned": f" to {job['miner']}", "verifying": " (spot check"
                     + (f" by {job['checker']})" if job.get("checker") else ", waiting for a checker)")}.get(status, "")
            line = f"{job_id}: {status}{where}"
            if line != last:
                ctx.progress(safe_text.inline(line))
                last = line
            if status in FINAL:
                return job
            checker = job.get("checker") or ""
            holders = {e.split(":", 1)[0] for e in job.get("shared_keys") or ()}
            if status == "verifying" and checker and checker not in holders and checker not in shared:
                with contextlib.suppress(Rejected):  # the checker may change meanwhile: the next look retries
                    share_key(ctx, client, job_id, checker)
                    shared.add(checker)  # sent: not again while it waits in the mempool
                    ctx.progress(safe_text.inline(f"{job_id}: job key shared with checker {checker}"))
        if time.monotonic() >= deadline:
            raise CLIError(f"timed out after {timeout:g} s; job {job_id} is still "
                           f"{job['status'] if job else 'not in a block'} (see `aitbc query job {job_id}`, "
                           f"and later `aitbc query job-result {job_id}`)")
        blocks.wait(POLL_S, at_most=deadline - time.monotonic())


def open_result(ctx: Context, client: PrivateKey, job: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(result, receipt) of a direct job with a receipt: its `record_receipt` tx read from the chain,
    the sealed result opened with the job key and checked against the receipt's result hash.
    Raises ResultMismatch when it does not match."""
    job_id = job["id"]
    if not job.get("receipt_tx"):
        raise CLIError(f"job {job_id} has no receipt ({job['status']}" + (f": {job['reason']}" if job.get("reason")
                                                                          else "") + ")")
    if job.get("client") and job["client"] != client.address:
        raise ResultMismatch(f"the sealed result of job {job_id} does not open with {client.address}'s key: only "
                             f"its client {job['client']} can open it (--from)")
    receipt = chain_query(ctx, f"/receipt/{job_id}")
    tx = fetch_tx(ctx, job["receipt_tx"], int(receipt.get("block_height") or 0))
    if tx.kind != "record_receipt" or not tx.msg.sealed_result:
        raise CLIError(f"tx {job['receipt_tx']} is not the sealed receipt of job {job_id}")
    disputable = "" if job.get("disputed_height") else \
        f"; its miner can be proven to have cheated: `aitbc tx dispute-result {job_id}`"
    try:
        result = sealing.open_text(sealing.job_key(client, job_id), tx.msg.sealed_result)
    except sealing.SealingError:
        raise ResultMismatch(f"the sealed result of job {job_id} does not open with its job key{disputable}") \
            from None
    digest = hashlib.sha256(result.encode()).hexdigest()
    if digest != receipt["result_hash"] or digest != txlib.decode_proof(tx.msg.proof).result_hash.hex():
        raise ResultMismatch(f"the result of job {job_id} does not match its receipt: sha256 {digest}, receipt "
                             f"{receipt['result_hash']}; do not trust it{disputable}")
    return result, receipt


def dispute(ctx: Context, client: PrivateKey, job: dict[str, Any], mode: str) -> dict[str, Any]:
    """dispute_result: reveal the job key with the job's sealed prompt and result, once this client
    has found that the result does not open to its receipt's hash (checked here first: the chain
    refuses a dispute of a good result, RESULT_MATCHES)."""
    from aitbc.cli.tx.broadcast import broadcast_signed  # here: the tx commands import this module

    job_id = job["id"]
    if not job.get("candidates"):
        raise CLIError(f"job {job_id} is a coordinator's job: its result is not sealed on chain")
    if job["client"] != client.address:
        raise CLIError(f"job {job_id} is {job['client']}'s: only its client can dispute its result (--from)")
    try:
        open_result(ctx, client, job)
    except ResultMismatch:
        pass
    else:
        raise CLIError(f"the result of job {job_id} opens and matches its receipt: there is nothing to dispute")
    receipt = chain_query(ctx, f"/receipt/{job_id}")
    submitted = fetch_tx(ctx, job["submit_tx"], int(job.get("submitted_height") or 0))
    recorded = fetch_tx(ctx, job["receipt_tx"], int(receipt.get("block_height") or 0))
    params = chain_query(ctx, "/params")
    nonce = chain_query(ctx, f"/nonce/{client.address}")["nonce"]
    raw = txlib.build(client, params["chain_id"], nonce, "dispute_result", job_id=job_id,
                      job_key=sealing.job_key(client, job_id), sealed_prompt=submitted.msg.direct.sealed_prompt,
                      sealed_result=recorded.msg.sealed_result)
    return broadcast_signed(ctx, raw, "dispute_result", client.address, mode, quiet=True)


def _time(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc)


def job_public(job: dict[str, Any], result: str | None = None, receipt: dict[str, Any] | None = None,
               fee: int = 0) -> JobPublic:
    """A chain job in the shape the coordinator path prints (cli/jobs/text.py)."""
    completed_at = _time(receipt["block_time_ns"]) if receipt else None
    return JobPublic(
        job_id=job["id"], status=job["status"], type=job["job_type"], model=job["model"], client=job["client"],
        miner=job.get("miner") or None, result=result, result_hash=receipt["result_hash"] if receipt else None,
        receipt_id=job.get("receipt_id") or None, max_reward=int(job["max_reward"]),
        amount_paid=int(receipt["amount_paid"]) if receipt else int(job.get("payment", 0)),
        refund=int(receipt["refund"]) if receipt and job["status"] in FINAL else int(job.get("refund", 0)),
        compute_time=receipt["compute_time_ms"] / 1000 if receipt else None,
        tokens_generated=receipt["tokens_generated"] if receipt else None,
        error=job.get("reason") or None if job["status"] != "completed" else None,
        submitted_at=_time(int(job["submitted_time_ns"])), completed_at=completed_at,
        block_height=receipt["block_height"] if receipt else None, tx_hash=job.get("submit_tx") or "", fee=fee,
    )


def submit_fee(ctx: Context, job: dict[str, Any]) -> int:
    """What the client's submit_job tx burned."""
    with contextlib.suppress(CLIError):
        return int(fetch_tx(ctx, job["submit_tx"], int(job.get("submitted_height") or 0)).fee) \
            if job.get("submit_tx") else 0
    return 0


def explain_unfinished(job: dict[str, Any]) -> str:
    """The stderr line for a direct job that ended without a result."""
    why = {"expired": "no candidate took it before its deadline, or the miner did not finish in time",
           "failed": "the miner gave it up", "cancelled": "cancelled by the client"}.get(job["status"], "")
    reason = job.get("reason") or why
    declined = job.get("declined") or ()
    return (f"job {job['id']} {job['status']}" + (f": {reason}" if reason else "")
            + (f" (declined by {', '.join(declined)})" if declined else "")
            + f"; {units.format_amount(int(job.get('refund', 0)))} refunded")
