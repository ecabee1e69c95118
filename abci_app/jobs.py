"""The job lifecycle on chain: submit, cancel, assign, receipt, fail, expire.

pending (escrow locked) -> assigned -> completed (paid, rest refunded)
                                    -> failed / expired (full refund)
pending -> cancelled / failed / expired (full refund)
"""

from __future__ import annotations

from dataclasses import replace

from abci_app import events, ledger, state as st
from abci_app.records import Job, Miner, Receipt
from abci_app.state import State
from aitbc import tx as txlib
from aitbc.errors import (
    BadJobStatus, BadProofSignature, JobExists, JobNotFound, MinerAtCapacity, MinerNotFound,
    ModelNotServed, NotAssignedMiner, StakeTooLow, Unauthorized, WrongChainId,
)
from aitbc.tx import SignedTx

NS = 1_000_000_000


def _job_event(state: State, job: Job, **extra: object) -> None:
    state.events.append(events.event(
        events.JOB, id=job.id, client=job.client, miner=job.miner, status=job.status, model=job.model, **extra,
    ))


def _open_job(state: State, job_id: str, action: str, statuses: tuple[str, ...]) -> Job:
    job = st.get_job(state, job_id)
    if job is None:
        raise JobNotFound(job_id)
    if job.status not in statuses:
        raise BadJobStatus(job_id, job.status, action)
    return job


def _require_coordinator(state: State, signer: str, action: str) -> None:
    coordinator = st.get_coordinator(state)
    if signer != coordinator:
        raise Unauthorized(signer, action, f"the coordinator {coordinator}")


def _move_deadline(state: State, job: Job, new_deadline_ns: int | None) -> None:
    state.store.delete(st.deadline_key(job.deadline_ns, job.id))
    if new_deadline_ns is not None:
        state.store.set(st.deadline_key(new_deadline_ns, job.id), b"")


def _release_miner(state: State, job: Job, succeeded: bool) -> None:
    if not job.miner:
        return
    miner = st.get_miner(state, job.miner)
    assert miner is not None, "assigned miner vanished"
    st.set_miner(state, replace(
        miner, active_jobs=miner.active_jobs - 1,
        completed=miner.completed + succeeded, failed=miner.failed + (not succeeded),
    ))


def _close(state: State, job: Job, status: str, payment: int = 0, reason: str = "", receipt_id: str = "") -> Job:
    """Settle the escrow, free the miner, drop the deadline, store the final job."""
    refund = ledger.settle_escrow(state, job.id, job.client, job.miner, payment)
    if job.status == "assigned":
        _release_miner(state, job, succeeded=status == "completed")
    _move_deadline(state, job, None)
    closed = replace(job, status=status, payment=payment, refund=refund, reason=reason,
                     receipt_id=receipt_id, finished_height=state.height)
    st.set_job(state, closed)
    _job_event(state, closed, paid=payment, refunded=refund)
    return closed


def submit(state: State, tx: SignedTx) -> None:
    """Create a job and lock its max reward. Raises JobExists, InsufficientFunds."""
    msg = tx.msg
    job_id = txlib.job_id_for(tx.sender, tx.nonce)
    if st.get_job(state, job_id) is not None:
        raise JobExists(job_id)
    deadline = state.time_ns + st.get_params(state).pending_timeout_s * NS
    ledger.lock_escrow(state, job_id, tx.sender, msg.max_reward)
    job = Job(
        id=job_id, client=tx.sender, job_type=msg.job_type, model=msg.model, prompt_hash=msg.prompt_hash.hex(),
        temperature_milli=msg.options.temperature_milli, seed=msg.options.seed,
        num_predict=msg.options.num_predict, max_reward=msg.max_reward, status="pending",
        submitted_height=state.height, submitted_time_ns=state.time_ns, deadline_ns=deadline,
    )
    st.set_job(state, job)
    state.store.set(st.deadline_key(deadline, job_id), b"")
    _job_event(state, job, max_reward=msg.max_reward)


def cancel(state: State, tx: SignedTx) -> None:
    """Client withdraws an unassigned job. Raises JobNotFound, Unauthorized, BadJobStatus."""
    job = st.get_job(state, tx.msg.job_id)
    if job is None:
        raise JobNotFound(tx.msg.job_id)
    if job.client != tx.sender:
        raise Unauthorized(tx.sender, f"cancel job {job.id}", f"its client {job.client}")
    job = _open_job(state, job.id, "cancel", ("pending",))
    _close(state, job, "cancelled", reason="cancelled by client")


def _assignable_miner(state: State, address: str, model: str) -> Miner:
    miner = st.get_miner(state, address)
    if miner is None or miner.stake == 0:
        raise MinerNotFound(address)
    minimum = st.get_params(state).min_miner_stake
    if miner.stake < minimum:
        raise StakeTooLow(minimum, miner.stake)
    if model not in miner.models:
        raise ModelNotServed(address, model)
    if miner.active_jobs >= miner.capacity:
        raise MinerAtCapacity(address, miner.capacity)
    return miner


def assign(state: State, tx: SignedTx) -> None:
    """Coordinator binds a pending job to a miner. Raises Unauthorized, JobNotFound,
    BadJobStatus, MinerNotFound, StakeTooLow, ModelNotServed, MinerAtCapacity."""
    _require_coordinator(state, tx.sender, "assign jobs")
    job = _open_job(state, tx.msg.job_id, "assign", ("pending",))
    miner = _assignable_miner(state, tx.msg.miner, job.model)
    deadline = state.time_ns + st.get_params(state).job_timeout_s * NS
    _move_deadline(state, job, deadline)
    st.set_miner(state, replace(miner, active_jobs=miner.active_jobs + 1))
    job = replace(job, status="assigned", miner=miner.address, price_per_second=miner.price_per_second,
                  assigned_height=state.height, deadline_ns=deadline)
    st.set_job(state, job)
    _job_event(state, job)


def record_receipt(state: State, tx: SignedTx) -> None:
    """Coordinator records the assigned miner's signed proof; pays and refunds.

    Raises Unauthorized, WrongChainId, JobNotFound, BadJobStatus, NotAssignedMiner,
    BadProofSignature.
    """
    _require_coordinator(state, tx.sender, "record receipts")
    proof = txlib.decode_proof(tx.msg.proof)
    if proof.chain_id != state.chain_id:
        raise WrongChainId(state.chain_id, proof.chain_id)
    job = _open_job(state, proof.job_id, "record a receipt for", ("assigned",))
    if proof.miner != job.miner:
        raise NotAssignedMiner(job.id, proof.miner, job.miner)
    miner = st.get_miner(state, job.miner)
    assert miner is not None, "assigned miner vanished"
    if not txlib.verify_proof(bytes.fromhex(miner.public_key), tx.msg.proof, tx.msg.miner_signature):
        raise BadProofSignature(job.miner)
    locked = st.get_escrow(state, job.id)
    assert locked is not None
    # Integer maths only: ms x uaitbc/s / 1000, rounded down, capped at the escrow.
    payment = min(proof.compute_time_ms * job.price_per_second // 1000, locked)
    receipt_id = txlib.receipt_id_for(job.id)
    closed = _close(state, job, "completed", payment=payment, receipt_id=receipt_id)
    st.set_receipt(state, Receipt(
        id=receipt_id, job_id=job.id, client=job.client, miner=job.miner, model=proof.model,
        result_hash=proof.result_hash.hex(), compute_time_ms=proof.compute_time_ms,
        tokens_generated=proof.tokens_generated, prompt_tokens=proof.prompt_tokens,
        price_per_second=job.price_per_second, amount_paid=payment, refund=closed.refund,
        block_height=state.height, block_time_ns=state.time_ns,
        proof=tx.msg.proof.hex(), miner_signature=tx.msg.miner_signature.hex(),
    ))
    state.events.append(events.event(
        events.RECEIPT, id=receipt_id, job_id=job.id, miner=job.miner, client=job.client, amount_paid=payment,
    ))


def fail(state: State, tx: SignedTx) -> None:
    """Coordinator or the assigned miner gives up on a job: full refund.

    Raises JobNotFound, BadJobStatus, Unauthorized.
    """
    job = _open_job(state, tx.msg.job_id, "fail", ("pending", "assigned"))
    coordinator = st.get_coordinator(state)
    if tx.sender not in (coordinator, job.miner):
        raise Unauthorized(tx.sender, f"fail job {job.id}", "the coordinator or the assigned miner")
    _close(state, job, "failed", reason=tx.msg.reason or "failed")


def expire_overdue(state: State) -> list[str]:
    """Expire every open job whose deadline is at or before the block time; full refund."""
    stop = f"dl/{state.time_ns:020d}0".encode()  # '0' sorts after '/': includes deadline == time
    overdue = [key.decode().rsplit("/", 1)[1] for key, _ in state.store.iterate(b"dl/", stop)]
    for job_id in overdue:
        job = st.get_job(state, job_id)
        assert job is not None and job.is_open, f"deadline index points at closed job {job_id}"
        _close(state, job, "expired", reason="deadline passed")
    return overdue
