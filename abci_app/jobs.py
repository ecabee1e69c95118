"""The job lifecycle on chain: submit, cancel, assign, receipt, fail, expire.

pending (escrow locked) -> assigned -> completed (paid, rest refunded)
                                    -> verifying (spot check, payment held; see checks.py)
                                         -> completed, or failed (proven wrong: slashed, refunded)
                                    -> failed / expired (full refund)
pending -> cancelled / failed / expired (full refund)
"""

from __future__ import annotations

from dataclasses import replace

from abci_app import checks, events, ledger, state as st
from abci_app.records import Job, Miner, Receipt
from abci_app.state import State
from aitbc import tx as txlib
from aitbc.errors import (
    BadJobStatus, BadProofSignature, InvalidField, JobExists, JobNotFound, MinerAtCapacity, MinerNotFound,
    ModelNotServed, NotAssignedMiner, ProofMismatch, StakeTooLow, Unauthorized, WrongChainId,
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


def _bump_miner(state: State, address: str, **deltas: int) -> None:
    """Add `deltas` to a miner's counters (active_jobs, completed, failed, checks_done)."""
    miner = st.get_miner(state, address)
    assert miner is not None, f"miner {address} vanished"
    st.set_miner(state, replace(miner, **{k: getattr(miner, k) + v for k, v in deltas.items()}))


def _close(state: State, job: Job, status: str, payment: int = 0, reason: str = "", receipt_id: str = "") -> Job:
    """Settle the escrow, free the miner, drop the deadline, store the final job."""
    refund = ledger.settle_escrow(state, job.id, job.client, job.miner, payment)
    if job.status == "assigned":
        succeeded = status == "completed"
        _bump_miner(state, job.miner, active_jobs=-1, completed=int(succeeded), failed=int(not succeeded))
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


def _verified_proof(state: State, job: Job, raw_proof: bytes, signature: bytes, miner_address: str):
    """The proof if `miner_address` signed it for this job as it was submitted.

    Raises WrongChainId, NotAssignedMiner, BadProofSignature, ProofMismatch.
    """
    proof = txlib.decode_proof(raw_proof)
    if proof.chain_id != state.chain_id:
        raise WrongChainId(state.chain_id, proof.chain_id)
    if proof.job_id != job.id:
        raise ProofMismatch(job.id, "id", f"proof is for {proof.job_id}")
    if proof.miner != miner_address:
        raise NotAssignedMiner(job.id, proof.miner, miner_address)
    miner = st.get_miner(state, miner_address)
    assert miner is not None, "assigned miner vanished"
    if not txlib.verify_proof(bytes.fromhex(miner.public_key), raw_proof, signature):
        raise BadProofSignature(miner_address)
    # What the miner attests to having run must be what the client asked for.
    if proof.prompt_hash and proof.prompt_hash.hex() != job.prompt_hash:
        raise ProofMismatch(job.id, "prompt hash", proof.prompt_hash.hex())
    if proof.HasField("options") and (proof.options.temperature_milli, proof.options.seed,
                                      proof.options.num_predict) != (job.temperature_milli, job.seed, job.num_predict):
        raise ProofMismatch(job.id, "options", str(proof.options).replace("\n", " "))
    return proof


def record_receipt(state: State, tx: SignedTx) -> None:
    """Coordinator records the assigned miner's signed proof; pays and refunds,
    or, when the block hash selects the job for a spot check, holds the payment.

    Raises Unauthorized, WrongChainId, JobNotFound, BadJobStatus, NotAssignedMiner,
    BadProofSignature, ProofMismatch.
    """
    _require_coordinator(state, tx.sender, "record receipts")
    job_id = txlib.decode_proof(tx.msg.proof).job_id
    job = _open_job(state, job_id, "record a receipt for", ("assigned",))
    proof = _verified_proof(state, job, tx.msg.proof, tx.msg.miner_signature, job.miner)
    locked = st.get_escrow(state, job.id)
    assert locked is not None
    # Integer maths only: ms x uaitbc/s / 1000, rounded down, capped at the escrow.
    payment = min(proof.compute_time_ms * job.price_per_second // 1000, locked)
    receipt_id = txlib.receipt_id_for(job.id)
    job = replace(job, model_digest=proof.model_digest, result_hash=proof.result_hash.hex(), receipt_id=receipt_id)
    params = st.get_params(state)
    check = checks.checkable(job) and checks.selected(state.block_hash, job.id, params.check_share_bps)
    if check:
        _bump_miner(state, job.miner, active_jobs=-1)
        _move_deadline(state, job, None)
        job = checks.open_check(state, job, payment)
        st.set_job(state, job)
        _job_event(state, job)
        closed, check_status = job, "pending"
    else:
        closed, check_status = _close(state, job, "completed", payment=payment, receipt_id=receipt_id), ""
    st.set_receipt(state, Receipt(
        id=receipt_id, job_id=job.id, client=job.client, miner=job.miner, model=proof.model,
        result_hash=proof.result_hash.hex(), compute_time_ms=proof.compute_time_ms,
        tokens_generated=proof.tokens_generated, prompt_tokens=proof.prompt_tokens,
        price_per_second=job.price_per_second, amount_paid=closed.payment, refund=closed.refund,
        block_height=state.height, block_time_ns=state.time_ns,
        proof=tx.msg.proof.hex(), miner_signature=tx.msg.miner_signature.hex(),
        model_digest=proof.model_digest, prompt_hash=job.prompt_hash, temperature_milli=job.temperature_milli,
        seed=job.seed, num_predict=job.num_predict, check_status=check_status,
    ))
    state.events.append(events.event(
        events.RECEIPT, id=receipt_id, job_id=job.id, miner=job.miner, client=job.client, amount_paid=closed.payment,
    ))


def assign_check(state: State, tx: SignedTx) -> None:
    """Coordinator asks another miner to re-run a job under check.

    Raises Unauthorized, JobNotFound, BadJobStatus, MinerNotFound, StakeTooLow,
    ModelNotServed, MinerAtCapacity, InvalidField.
    """
    _require_coordinator(state, tx.sender, "assign checks")
    job = _open_job(state, tx.msg.job_id, "assign a check for", ("verifying",))
    if job.checker:
        raise BadJobStatus(job.id, f"already being re-run by {job.checker}", "assign a check for")
    if tx.msg.checker == job.miner or tx.msg.checker in job.checkers:
        raise InvalidField("checker", "must be a miner that has not run this job yet")
    miner = _assignable_miner(state, tx.msg.checker, job.model)
    st.set_miner(state, replace(miner, active_jobs=miner.active_jobs + 1))
    st.set_job(state, replace(job, checker=miner.address))
    state.events.append(events.event(events.CHECK, job_id=job.id, status="assigned", miner=job.miner,
                                     checker=miner.address, round=len(job.checkers) + 1))


def record_check(state: State, tx: SignedTx) -> None:
    """Coordinator records the checker's signed re-run; decides when it can.

    Raises Unauthorized, JobNotFound, BadJobStatus, NotAssignedMiner,
    BadProofSignature, ProofMismatch, WrongChainId.
    """
    _require_coordinator(state, tx.sender, "record checks")
    job_id = txlib.decode_proof(tx.msg.proof).job_id
    job = _open_job(state, job_id, "record a check for", ("verifying",))
    if not job.checker:
        raise BadJobStatus(job.id, "waiting for a checker to be assigned", "record a check for")
    proof = _verified_proof(state, job, tx.msg.proof, tx.msg.miner_signature, job.checker)
    if job.model_digest and proof.model_digest != job.model_digest:
        raise ProofMismatch(job.id, "model digest", f"{proof.model_digest or 'none'} != {job.model_digest}")
    checker = st.get_miner(state, job.checker)
    cost = proof.compute_time_ms * checker.price_per_second // 1000
    _bump_miner(state, job.checker, active_jobs=-1)
    job = replace(job, checker="", checkers=(*job.checkers, checker.address),
                  check_hashes=(*job.check_hashes, proof.result_hash.hex()), check_costs=(*job.check_costs, cost))
    status, majority = checks.decide(job, st.get_params(state).max_check_rounds)
    if status == "pending":
        st.set_job(state, job)
        state.events.append(events.event(events.CHECK, job_id=job.id, status="escalated", miner=job.miner,
                                         checker=checker.address, round=len(job.checkers) + 1))
        return
    _finish_check(state, job, status, majority)


def _finish_check(state: State, job: Job, status: str, majority: str | None) -> None:
    """Pay who was right, slash who was proven wrong, refund the rest, close the job."""
    state.store.delete(checks.check_key(job.check_deadline_height, job.id))
    if job.checker:  # a lapsed re-run still in flight: free the slot, no pay
        _bump_miner(state, job.checker, active_jobs=-1)
    original_right = status != "failed"
    locked = st.get_escrow(state, job.id)
    payment = min(job.held_payment, locked) if original_right else 0
    budget, paid = locked - payment, 0
    for address, result, cost in zip(job.checkers, job.check_hashes, job.check_costs):
        if majority is not None and result != majority:
            checks.slash(state, address, job.client, job.id)
            continue
        fee = min(cost, budget - paid)
        ledger.release_escrow(state, job.id, address, fee)
        paid += fee
        _bump_miner(state, address, checks_done=1)
    slashed = 0
    if not original_right:
        slashed = checks.slash(state, job.miner, job.client, job.id)
    _bump_miner(state, job.miner, completed=int(original_right), failed=int(not original_right))
    job = replace(job, checker="", check_status=status, check_paid=paid)
    final_status = "completed" if original_right else "failed"
    reason = "" if original_right else "result proven wrong by spot check"
    refund = ledger.settle_escrow(state, job.id, job.client, job.miner, payment)
    closed = replace(job, status=final_status, payment=payment, refund=refund, reason=reason,
                     finished_height=state.height)
    st.set_job(state, closed)
    receipt = st.get_receipt(state, job.receipt_id)
    st.set_receipt(state, replace(receipt, amount_paid=payment, refund=refund, check_status=status,
                                  slashed=slashed))
    state.events.append(events.event(events.CHECK, job_id=job.id, status=status, miner=job.miner,
                                     checker=",".join(job.checkers), round=len(job.checkers)))
    _job_event(state, closed, paid=payment, refunded=refund)


def expire_checks(state: State) -> list[str]:
    """Checks whose window closed at this height lapse: the held payment is released."""
    stop = f"cw/{state.height:012d}0".encode()
    lapsed = [key.decode().rsplit("/", 1)[1] for key, _ in state.store.iterate(b"cw/", stop)]
    for job_id in lapsed:
        job = st.get_job(state, job_id)
        assert job is not None and job.status == "verifying", f"check index points at {job_id}"
        _finish_check(state, job, "lapsed", None)
    return lapsed


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
