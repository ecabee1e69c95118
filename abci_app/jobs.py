"""The job lifecycle on chain: submit, cancel, assign, decline, receipt, fail, expire.

pending (escrow locked) -> assigned -> completed (paid, rest refunded)
                                    -> verifying (spot check, payment held; see checks.py)
                                         -> completed, or failed (proven wrong: slashed, refunded;
                                            or contradicted and undecided: refunded)
                                    -> failed / expired (full refund; an expiry slashes the miner a little)
                                    -> pending (a direct job its miner declined; see assignment.py)
pending -> cancelled / failed / expired (full refund)

Two kinds of job (docs/direct-jobs.md). A coordinator job names the coordinator
that alone may assign it, record its receipt and fail it (besides its miner);
a direct job has none: the chain draws its miner among the client's candidates,
and that miner records its own receipt with the sealed result. Everything else
(proof checks, billing, spot checks, slashing, expiry, refunds) is one rule for
both, at one address.

The price and the ms-per-token ceiling are fixed into the job when it is
assigned (and into the check when a checker is drawn), so no later
update_miner changes what a job pays.
"""

from __future__ import annotations

from dataclasses import replace

from aitbc.abci_app import assignment, checks, coordinators, disputes, events, ledger, miners, state as st
from aitbc.abci_app.records import Job, Params, Receipt
from aitbc.abci_app.state import State
from aitbc import tx as txlib
from aitbc.errors import (
    BadJobStatus, BadProofSignature, InvalidField, JobExists, JobNotFound, NotAssignedMiner, ProofMismatch,
    Unauthorized, WrongChainId,
)
from aitbc.tx import SignedTx

NS = 1_000_000_000


def _job_event(state: State, job: Job, **extra: object) -> None:
    state.events.append(events.job_event(job, **extra))


def _job(state: State, job_id: str) -> Job:
    job = st.get_job(state, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def _require_status(job: Job, action: str, statuses: tuple[str, ...]) -> Job:
    if job.status not in statuses:
        raise BadJobStatus(job.id, job.status, action)
    return job


def _open_job(state: State, job_id: str, action: str, statuses: tuple[str, ...]) -> Job:
    return _require_status(_job(state, job_id), action, statuses)


def _require_signer(signer: str, action: str, allowed: list[tuple[str, str]]) -> None:
    """Raises Unauthorized unless `signer` is the address of one of `allowed` ((who, address) pairs;
    an empty address is a role nobody holds now, e.g. the miner of a pending job)."""
    if signer and any(signer == address for _, address in allowed):
        return
    who = " or ".join(f"{role} {address or '(none now)'}" for role, address in allowed)
    raise Unauthorized(signer, action, who)


def _coordinator_may(state: State, job: Job, signer: str, action: str,
                     also: list[tuple[str, str]] | None = None) -> None:
    """Raises Unauthorized unless `signer` is `job`'s coordinator (a direct job has none) or one of `also`."""
    coordinator = coordinators.of_job(state, job)
    allowed = ([("its coordinator", coordinator)] if coordinator else []) + (also or [])
    _require_signer(signer, f"{action} job {job.id}", allowed)


def _bump_miner(state: State, address: str, work_off: bool = False, **deltas: int) -> None:
    """Add `deltas` to a miner's counters (active_jobs, completed, failed, checks_done).

    `work_off`: a completion that also works off one strike (see `_vouched`), so occasional
    faults of a miner that mostly delivers never add up to jail.
    """
    miner = st.get_miner(state, address)
    assert miner is not None, f"miner {address} vanished"
    miner = replace(miner, **{k: getattr(miner, k) + v for k, v in deltas.items()})
    if work_off and miner.strikes:
        miner = replace(miner, strikes=miner.strikes - 1)
    st.set_miner(state, miner)


def _vouched(state: State, job: Job) -> bool:
    """Whether completing `job` says something its miner could not have arranged: a job the genesis
    coordinator assigned. A direct job's client names its candidates, and a registered coordinator
    may be anyone: a miner's own sybil (client or coordinator) could feed it jobs for the price of
    their fees and work off every strike before it adds up to jail. Their jobs work one off only
    through a spot check that passed (an independent re-run)."""
    return not job.is_direct and coordinators.of_job(state, job) == st.get_coordinator(state)


def _close(state: State, job: Job, status: str, payment: int = 0, reason: str = "", receipt_id: str = "") -> Job:
    """Settle the escrow, free the miner, drop the deadline, store the final job."""
    refund = ledger.settle_escrow(state, job.id, job.client, job.miner, payment)
    if job.status == "assigned":
        succeeded = status == "completed"
        _bump_miner(state, job.miner, work_off=succeeded and _vouched(state, job), active_jobs=-1,
                    completed=int(succeeded), failed=int(not succeeded))
    st.move_deadline(state, job.id, job.deadline_ns, None)
    assignment.leave_queue(state, job)
    coordinators.count_open_job(state, job.coordinator, -1)
    closed = replace(job, status=status, payment=payment, refund=refund, reason=reason,
                     receipt_id=receipt_id, finished_height=state.height)
    st.set_job(state, closed)
    _job_event(state, closed, paid=payment, refunded=refund)
    return closed


def submit(state: State, tx: SignedTx) -> None:
    """Create a job and lock its max reward. Raises UnknownCoordinator, JobExists, InsufficientFunds.

    A coordinator job names its coordinator ("" is the genesis one) and counts in its
    `open_jobs`. A direct job keeps its candidates (in the tx's order) and the tx's hash
    (where they read the sealed prompt), and the chain assigns it at once if it can.
    """
    msg = tx.msg
    direct = msg.HasField("direct")
    coordinator = "" if direct else coordinators.for_new_job(state, msg.coordinator)
    job_id = txlib.job_id_for(tx.sender, tx.nonce, state.chain_id)
    if st.get_job(state, job_id) is not None:
        raise JobExists(job_id)
    deadline = state.time_ns + st.get_params(state).pending_timeout_s * NS
    ledger.lock_escrow(state, job_id, tx.sender, msg.max_reward)
    job = Job(
        id=job_id, client=tx.sender, job_type=msg.job_type, model=msg.model, prompt_hash=msg.prompt_hash.hex(),
        temperature_milli=msg.options.temperature_milli, seed=txlib.job_seed(job_id, msg.options.seed),
        num_predict=msg.options.num_predict, max_reward=msg.max_reward, status="pending",
        submitted_height=state.height, submitted_time_ns=state.time_ns, deadline_ns=deadline,
        max_price_per_second=msg.max_price_per_second, prompt_bytes=msg.prompt_bytes, coordinator=coordinator,
        candidates=tuple(c.miner for c in msg.direct.miners) if direct else (),
        submit_tx=tx.hash if direct else "",
        sealed_prompt_hash=txlib.sha256(msg.direct.sealed_prompt).hex() if direct else "",
    )
    st.set_job(state, job)
    state.store.set(st.deadline_key(deadline, job_id), b"")
    coordinators.count_open_job(state, coordinator, +1)
    _job_event(state, job, max_reward=msg.max_reward)
    if direct:
        assignment.assign_direct(state, job)


def cancel(state: State, tx: SignedTx) -> None:
    """Client withdraws an unassigned job. Raises JobNotFound, Unauthorized, BadJobStatus."""
    job = st.get_job(state, tx.msg.job_id)
    if job is None:
        raise JobNotFound(tx.msg.job_id)
    if job.client != tx.sender:
        raise Unauthorized(tx.sender, f"cancel job {job.id}", f"its client {job.client}")
    job = _open_job(state, job.id, "cancel", ("pending",))
    _close(state, job, "cancelled", reason="cancelled by client")


def assign(state: State, tx: SignedTx) -> None:
    """The job's coordinator binds it to a miner, fixing its price and rate (a direct job: nobody;
    the chain draws its miner). Raises JobNotFound, Unauthorized, BadJobStatus, MinerNotFound,
    StakeTooLow, MinerJailed, ModelNotServed, PriceAboveCap, MinerAtCapacity."""
    if not coordinators.is_coordinator(state, tx.sender):
        raise Unauthorized(tx.sender, "assign jobs", "a job's own coordinator")
    job = _job(state, tx.msg.job_id)
    if job.is_direct:
        raise Unauthorized(tx.sender, f"assign direct job {job.id}",
                           "the chain (a stake-weighted draw among the client's candidates)")
    _coordinator_may(state, job, tx.sender, "assign")
    _require_status(job, "assign", ("pending",))
    assignment.bind(state, job, assignment.fit_miner(state, tx.msg.miner, job))


def decline(state: State, tx: SignedTx) -> None:
    """The assigned miner of a direct job turns it down: its slot is freed, it never gets this job
    again, and the job is pending again for `pending_timeout_s` while the chain assigns another
    candidate. No strike within `decline_grace_s` of the assignment: a miner may decline what it
    cannot run (a key or prompt that does not open, a model it dropped), which it knows at once.
    Later, a decline gives up a job it sat on, and counts a strike as `fail` does: otherwise
    holding jobs until just before their expiry and handing them back would be free (expiry
    itself slashes). Raises JobNotFound, Unauthorized, BadJobStatus."""
    job = _job(state, tx.msg.job_id)
    if not job.is_direct:
        raise Unauthorized(tx.sender, f"decline coordinator job {job.id}",
                           "nobody: its coordinator reassigns it; its miner gives it up with fail_job")
    _require_status(job, "decline", ("assigned",))
    _require_signer(tx.sender, f"decline job {job.id}", [("its assigned miner", job.miner)])
    _bump_miner(state, job.miner, active_jobs=-1)
    # (a job assigned before assignments kept their time has none: its decline is not held late)
    late = bool(job.assigned_time_ns) and \
        state.time_ns > job.assigned_time_ns + st.get_params(state).decline_grace_s * NS
    if late:
        miners.strike(state, job.miner)
    deadline = state.time_ns + st.get_params(state).pending_timeout_s * NS
    st.move_deadline(state, job.id, job.deadline_ns, deadline)
    job = replace(job, status="pending", miner="", price_per_second=0, ms_per_token=0, assigned_height=0,
                  deadline_ns=deadline, declined=(*job.declined, tx.sender))
    st.set_job(state, job)
    _job_event(state, job, declined_by=tx.sender, late=int(late))
    assignment.assign_direct(state, job)


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
    # What the miner attests to having run must be what the client asked for
    # (tx validation has made every one of these fields mandatory).
    if proof.model != job.model:
        raise ProofMismatch(job.id, "model", f"{proof.model!r} != {job.model!r}")
    if proof.prompt_hash.hex() != job.prompt_hash:
        raise ProofMismatch(job.id, "prompt hash", proof.prompt_hash.hex())
    if (proof.options.temperature_milli, proof.options.seed,
            proof.options.num_predict) != (job.temperature_milli, job.seed, job.num_predict):
        raise ProofMismatch(job.id, "options", str(proof.options).replace("\n", " "))
    _check_token_counts(job, proof, st.get_params(state))
    return proof


def _check_token_counts(job: Job, proof, params: Params) -> None:
    """Token counts are what the bill rests on: bounded by the job's num_predict and the chain's ceiling."""
    limit = params.max_tokens_per_job
    if proof.tokens_generated > (min(job.num_predict, limit) if job.num_predict else limit):
        raise ProofMismatch(job.id, "num_predict", f"{proof.tokens_generated} tokens generated")
    prompt_limit = min(job.prompt_bytes + params.prompt_token_overhead, limit) if job.prompt_bytes else limit
    if proof.prompt_tokens > prompt_limit:
        raise ProofMismatch(job.id, "prompt size", f"{proof.prompt_tokens} prompt tokens > {prompt_limit}")


def _tokens(proof) -> str:
    return f"{proof.prompt_tokens}:{proof.tokens_generated}"


def record_receipt(state: State, tx: SignedTx) -> None:
    """Records the assigned miner's signed proof; pays and refunds, or, when the block
    hash selects the job for a spot check, holds the payment.

    Sent by the job's coordinator, or for a direct job by its assigned miner with the
    sealed result (the chain keeps this tx's hash: `receipt_tx`). Pays min(claimed ms,
    tokens x the job's ms-per-token ceiling) x the job's price, capped at the escrow.
    Raises JobNotFound, Unauthorized, InvalidField, BadJobStatus, WrongChainId,
    NotAssignedMiner, BadProofSignature, ProofMismatch.
    """
    job = _job(state, txlib.decode_proof(tx.msg.proof).job_id)
    if job.is_direct:
        _require_signer(tx.sender, f"record the receipt of direct job {job.id}", [("its assigned miner", job.miner)])
        if not tx.msg.sealed_result:
            raise InvalidField("sealed_result", "a direct job's receipt carries its result sealed for the client")
    else:
        _coordinator_may(state, job, tx.sender, "record the receipt of")
        if tx.msg.sealed_result:
            raise InvalidField("sealed_result", "only a direct job's receipt carries a sealed result; "
                               "a coordinator job's result goes to its client through the coordinator")
    _require_status(job, "record a receipt for", ("assigned",))
    proof = _verified_proof(state, job, tx.msg.proof, tx.msg.miner_signature, job.miner)
    sealed_result_hash = txlib.sha256(tx.msg.sealed_result).hex() if job.is_direct else ""
    job, payment = _bill(state, replace(job, receipt_tx=tx.hash, sealed_result_hash=sealed_result_hash), proof)
    if checks.checkable(job) and checks.selected(state.block_hash, job.id, st.get_params(state).check_share_bps):
        settled = _hold_for_check(state, job, payment)
    else:
        settled = _close(state, job, "completed", payment=payment, receipt_id=job.receipt_id)
    _write_receipt(state, settled, proof, tx.msg)


def _bill(state: State, job: Job, proof) -> tuple[Job, int]:
    """The job with what the proof claims and bills, and the payment it earns."""
    locked = st.get_escrow(state, job.id)
    assert locked is not None
    billed = checks.billed_ms(proof.compute_time_ms, proof.prompt_tokens, proof.tokens_generated, job.ms_per_token)
    # Integer maths only: ms x uaitbc/s / 1000, rounded down, capped at the escrow.
    payment = min(billed * job.price_per_second // 1000, locked)
    job = replace(job, model_digest=proof.model_digest, result_hash=proof.result_hash.hex(),
                  receipt_id=txlib.receipt_id_for(job.id), billed_ms=billed, claimed_ms=proof.compute_time_ms,
                  claimed_tokens=_tokens(proof))
    return job, payment


def _hold_for_check(state: State, job: Job, payment: int) -> Job:
    """Free the miner and hold `payment` in escrow while the job is spot-checked (see checks.py)."""
    _bump_miner(state, job.miner, active_jobs=-1)
    st.move_deadline(state, job.id, job.deadline_ns, None)
    job = checks.open_check(state, job, payment)
    st.set_job(state, job)
    _job_event(state, job)
    return job


def _write_receipt(state: State, job: Job, proof, msg) -> None:
    """Store the receipt of a job just paid or held, with the proof it rests on."""
    st.set_receipt(state, Receipt(
        id=job.receipt_id, job_id=job.id, client=job.client, miner=job.miner, model=proof.model,
        result_hash=proof.result_hash.hex(), compute_time_ms=proof.compute_time_ms,
        tokens_generated=proof.tokens_generated, prompt_tokens=proof.prompt_tokens,
        price_per_second=job.price_per_second, amount_paid=job.payment, refund=job.refund,
        block_height=state.height, block_time_ns=state.time_ns,
        proof=msg.proof.hex(), miner_signature=msg.miner_signature.hex(),
        model_digest=proof.model_digest, prompt_hash=job.prompt_hash, temperature_milli=job.temperature_milli,
        seed=job.seed, num_predict=job.num_predict, check_status=job.check_status,
        ms_per_token=job.ms_per_token, billed_ms=job.billed_ms,
    ))
    state.events.append(events.event(
        events.RECEIPT, id=job.receipt_id, job_id=job.id, miner=job.miner, client=job.client,
        amount_paid=job.payment,
    ))


def assign_check(state: State, tx: SignedTx) -> None:
    """Retired: checkers are drawn by the chain. Always raises Unauthorized."""
    raise Unauthorized(tx.sender, "choose checkers", "the chain (a stake-weighted draw when a check opens)")


def record_check(state: State, tx: SignedTx) -> None:
    """Records the drawn checker's signed re-run (sent by the checker, or by the job's coordinator
    on its behalf); decides when it can.

    Raises Unauthorized, JobNotFound, BadJobStatus, NotAssignedMiner,
    BadProofSignature, ProofMismatch, WrongChainId.
    """
    job_id = txlib.decode_proof(tx.msg.proof).job_id
    job = _open_job(state, job_id, "record a check for", ("verifying",))
    _coordinator_may(state, job, tx.sender, "record a check for", [("its checker", job.checker)])
    if not job.checker:
        raise BadJobStatus(job.id, "waiting for a checker to be drawn", "record a check for")
    # A re-run on other weights is recorded, not refused: refusing it would let a miner that
    # attests a digest nobody else serves run out the window and be paid (see checks.decide).
    proof = _verified_proof(state, job, tx.msg.proof, tx.msg.miner_signature, job.checker)
    billed = checks.billed_ms(proof.compute_time_ms, proof.prompt_tokens, proof.tokens_generated,
                              job.checker_ms_per_token)
    cost = billed * job.checker_price_per_second // 1000
    _bump_miner(state, job.checker, active_jobs=-1)
    checker = job.checker
    job = replace(job, checker="", checker_price_per_second=0, checker_ms_per_token=0,
                  checkers=(*job.checkers, checker), check_hashes=(*job.check_hashes, proof.result_hash.hex()),
                  check_tokens=(*job.check_tokens, _tokens(proof)), check_ms=(*job.check_ms, proof.compute_time_ms),
                  check_digests=(*job.check_digests, proof.model_digest),
                  check_costs=(*job.check_costs, cost))
    verdict = checks.decide(job, st.get_params(state))
    if verdict.status == "pending":
        state.events.append(events.event(events.CHECK, job_id=job.id, status="escalated", miner=job.miner,
                                         checker=checker, round=len(job.checkers) + 1))
        st.set_job(state, checks.seat_checker(state, job))
        return
    _finish_check(state, job, verdict)


def _finish_check(state: State, job: Job, verdict: checks.Verdict) -> None:
    """Pay who was right, slash who was proven wrong, refund the rest, close the job.

    Only a passed or lapsed (never contradicted) check pays the miner.
    """
    params = st.get_params(state)
    state.store.delete(st.check_window_key(job.check_deadline_height, job.id))
    state.store.delete(st.awaiting_checker_key(job.id))
    if job.checker:  # a lapsed re-run still in flight: free the slot, no pay
        _bump_miner(state, job.checker, active_jobs=-1)
    paid_miner = verdict.status in ("passed", "lapsed")
    locked = st.get_escrow(state, job.id)
    payment = min(job.held_payment, locked) if paid_miner else 0
    # Contradicted and undecided: the held payment goes to nobody. The miner is not paid for
    # a result nobody could confirm, and a client whose sybils contradicted it gains nothing.
    burn = min(job.held_payment, locked) if verdict.status in ("inconclusive", "unresolved") else 0
    budget, paid = locked - payment - burn, 0
    for address, result, tokens, cost in zip(job.checkers, job.check_hashes, job.check_tokens, job.check_costs):
        if verdict.majority is not None and (result, tokens) != verdict.majority:
            miners.slash(state, address, params.slash_bps, job.client, job.id, "wrong result", job.max_reward)
            continue
        fee = min(cost, budget - paid)
        ledger.release_escrow(state, job.id, address, fee)
        paid += fee
        _bump_miner(state, address, checks_done=1)
    slashed = 0
    if verdict.status == "failed":
        slashed = miners.slash(state, job.miner, params.slash_bps, job.client, job.id, "wrong result", job.max_reward)
    _bump_miner(state, job.miner, work_off=verdict.status == "passed" or (paid_miner and _vouched(state, job)),
                completed=int(paid_miner), failed=int(not paid_miner))
    if burn:
        ledger.burn_escrow(state, job.id, burn)
    job = replace(job, checker="", check_status=verdict.status, check_paid=paid, check_burned=burn)
    refund = ledger.settle_escrow(state, job.id, job.client, job.miner, payment)
    closed = replace(job, status="completed" if paid_miner else "failed", payment=payment, refund=refund,
                     reason=verdict.reason, finished_height=state.height)
    st.set_job(state, closed)
    coordinators.count_open_job(state, job.coordinator, -1)
    receipt = st.get_receipt(state, job.receipt_id)
    st.set_receipt(state, replace(receipt, amount_paid=payment, refund=refund, check_status=verdict.status,
                                  slashed=slashed))
    state.events.append(events.event(events.CHECK, job_id=job.id, status=verdict.status, miner=job.miner,
                                     checker=",".join(job.checkers), round=len(job.checkers)))
    _job_event(state, closed, paid=payment, refunded=refund)


def expire_checks(state: State) -> list[str]:
    """Checks whose window closed at this height end: an uncontradicted result is paid (lapsed);
    a contradicted one is refunded with nobody slashed (unresolved)."""
    lapsed = st.last_segments(state, st.check_windows_due(state.height))
    params = st.get_params(state)
    for job_id in lapsed:
        job = st.get_job(state, job_id)
        assert job is not None and job.status == "verifying", f"check index points at {job_id}"
        contradicted = any(not checks.confirms(job, i, params) for i in range(len(job.check_hashes)))
        verdict = checks.Verdict("unresolved", None, "result contradicted by a re-run and not decided in time") \
            if contradicted else checks.Verdict("lapsed", None)
        _finish_check(state, job, verdict)
    return lapsed


def fail(state: State, tx: SignedTx) -> None:
    """The job's coordinator or its assigned miner gives up on a job: full refund.

    Raises JobNotFound, BadJobStatus, Unauthorized.
    """
    job = _open_job(state, tx.msg.job_id, "fail", ("pending", "assigned"))
    _coordinator_may(state, job, tx.sender, "fail", [("its assigned miner", job.miner)])
    if job.status == "assigned" and tx.sender == job.miner:
        # Giving up a job it took costs no stake, but counts like an expiry towards jail:
        # otherwise sitting on jobs and failing them just before expiry would be free.
        miners.strike(state, job.miner)
    _close(state, job, "failed", reason=tx.msg.reason or "failed")


def expire_overdue(state: State) -> list[str]:
    """Expire every open job whose deadline is at or before the block time; full refund.

    A miner that let an assigned job expire loses a little stake and reputation, and gets a strike.
    """
    overdue = st.last_segments(state, st.deadlines_due(state.time_ns))
    params = st.get_params(state)
    for job_id in overdue:
        job = st.get_job(state, job_id)
        assert job is not None and job.is_open, f"deadline index points at closed job {job_id}"
        if job.status == "assigned" and params.expiry_slash_bps:
            miners.slash(state, job.miner, params.expiry_slash_bps, job.client, job.id, "expired", job.max_reward)
        _close(state, job, "expired", reason="deadline passed")
    return overdue


def share_key(state: State, tx: SignedTx) -> None:
    """The client of a direct job under a spot check hands the job key, sealed to the drawn
    checker's encryption key, to that checker (one entry per checker: a new one replaces its old).

    Raises JobNotFound, Unauthorized, BadJobStatus, InvalidField.
    """
    msg = tx.msg
    job = _job(state, msg.job_id)
    if not job.is_direct:
        raise Unauthorized(tx.sender, f"share a key of coordinator job {job.id}",
                           "nobody: its prompt is with its coordinator, not sealed on chain")
    _require_signer(tx.sender, f"share the key of job {job.id}", [("its client", job.client)])
    _require_status(job, "share the key of", ("verifying",))
    if not job.checker:
        raise BadJobStatus(job.id, "waiting for a checker to be drawn", "share the key of")
    if msg.recipient != job.checker:
        raise InvalidField("recipient", f"must be job {job.id}'s current checker {job.checker}")
    entry = f"{msg.recipient}:{msg.sealed_key.hex()}"
    kept = tuple(e for e in job.shared_keys if e.split(":", 1)[0] != msg.recipient)
    st.set_job(state, replace(job, shared_keys=(*kept, entry)))
    state.events.append(events.event(events.CHECK, job_id=job.id, status="key_shared", miner=job.miner,
                                     checker=msg.recipient, round=len(job.checkers) + 1))


def dispute_result(state: State, tx: SignedTx) -> None:
    """The client of a direct job proves its sealed result unreadable (disputes.py): the miner is
    slashed as for a wrong result and the client gets back what it paid.

    Under a spot check the check fails at once (the held payment is refunded, checkers that
    re-ran are paid); once completed and paid, the payment comes back out of the slash (the rest
    is burned as always). Accepted for `unbonding_period_s` after the receipt's block, while the
    miner's stake cannot have left; once per job. Revealing the key makes the prompt and the
    result public. Raises JobNotFound, Unauthorized, BadJobStatus, InvalidField, ResultMatches.
    """
    msg = tx.msg
    job = _job(state, msg.job_id)
    action = "dispute the result of"
    if not job.is_direct:
        raise Unauthorized(tx.sender, f"{action} coordinator job {job.id}",
                           "nobody: its result goes to its client through its coordinator, not sealed on chain")
    _require_signer(tx.sender, f"{action} job {job.id}", [("its client", job.client)])
    _require_status(job, action, ("verifying", "completed"))
    if job.disputed_height:
        raise BadJobStatus(job.id, f"disputed already (at height {job.disputed_height})", action)
    params = st.get_params(state)
    receipt = st.get_receipt(state, job.receipt_id)
    assert receipt is not None, f"job {job.id} has a result but no receipt"
    # The miner could unbond no earlier than its receipt (the job held a slot until then), and
    # unbonded stake is released no earlier than unbonding_period_s later: until then it is there.
    closes = receipt.block_time_ns + params.unbonding_period_s * NS
    if state.time_ns >= closes:
        raise BadJobStatus(job.id, f"past its dispute window ({params.unbonding_period_s} s after its receipt, "
                           f"block time {closes} ns)", action)
    disputes.prove_unreadable(job, msg)
    reason = "its sealed result does not open to its result hash (proven by its client)"
    job = replace(job, disputed_height=state.height)
    if job.status == "verifying":
        _finish_check(state, job, checks.Verdict("failed", None, reason))
        return
    slashed = miners.slash(state, job.miner, params.slash_bps, job.client, job.id, "wrong result", owed=job.payment)
    compensation = min(slashed, job.payment)
    job = replace(job, compensation=compensation, reason=reason)
    st.set_job(state, job)
    st.set_receipt(state, replace(receipt, slashed=slashed))
    _job_event(state, job, disputed_by=tx.sender, compensation=compensation)
