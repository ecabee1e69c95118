"""Spot checks: which receipts are re-run, by whom, and what the re-runs decide.

Which receipts are checked is decided by the hash of the block that records
the receipt: known only after the miner's result is committed, so the miner
can neither predict nor steer it. Who re-runs it is drawn by the chain too,
weighted by stake, from the same hash, among miners that serve the model and
are neither the job's miner nor its client nor an earlier checker: no
coordinator can pick a friendly checker. Every job runs with a seed (the
client's or one derived from the job id), so a re-run on the same model
digest reproduces the result and its token counts.

A re-run confirms the original when the result hash and token counts match
and the claimed time is within `check_time_tolerance_x` x the re-run's time
plus `check_time_grace_ms`. One confirming re-run passes the job; otherwise
one more checker is drawn and the re-runs decide (see `decide`). A contradicted
result is never paid before a decision; a check that runs out of checkers or
time after a contradiction is refunded with nobody slashed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from aitbc.abci_app import events, miners, state as st
from aitbc.abci_app.records import Job, Miner, Params
from aitbc.abci_app.state import State

BPS = 10_000
# Checks that wait for a checker are retried at most this many per block.
MAX_DRAWS_PER_BLOCK = 100


def checkable(job: Job) -> bool:
    """Only deterministic decoding can be compared: temperature 0 or a fixed seed (always set since v2)."""
    return job.temperature_milli == 0 or job.seed != 0


def selected(block_hash: bytes, job_id: str, share_bps: int) -> bool:
    """Whether the receipt of `job_id` in the block with `block_hash` gets checked."""
    if share_bps <= 0 or not block_hash:
        return False
    draw = int.from_bytes(hashlib.sha256(block_hash + job_id.encode()).digest()[:8], "big") % BPS
    return draw < share_bps


def billed_ms(claimed_ms: int, prompt_tokens: int, generated_tokens: int, ms_per_token: int) -> int:
    """The milliseconds a proof is paid for: the claim, bounded by what a re-run can confirm."""
    return min(claimed_ms, (prompt_tokens + generated_tokens) * ms_per_token)


def eligible_checkers(state: State, job: Job) -> list[Miner]:
    """Miners that may re-run `job` now, in address order.

    A direct job's checker must have an encryption key: the client seals the job key to it.
    """
    params = st.get_params(state)
    excluded = {job.miner, job.client, *job.checkers}
    # A re-run never costs more per second than the client's cap, or than the job itself when it set none.
    price_cap = job.max_price_per_second or job.price_per_second
    return [m for m in st.all_miners(state)
            if m.address not in excluded and m.stake >= max(params.min_miner_stake, 1) and job.model in m.models
            and m.active_jobs < m.capacity and not miners.is_jailed(m, state.time_ns)
            and m.price_per_second <= price_cap and (m.encryption_key or not job.is_direct)]


def draw_checker(state: State, job: Job) -> Miner | None:
    """A stake-weighted draw among the eligible checkers, seeded by this block's hash."""
    seed = hashlib.sha256(b"aitbc/checker/v1\n" + state.block_hash + job.id.encode()
                          + len(job.checkers).to_bytes(2, "big")).digest()
    return miners.stake_weighted(eligible_checkers(state, job), seed)


def seat_checker(state: State, job: Job) -> Job:
    """Draw a checker for `job` and fix its price; or queue the job to try again next block."""
    checker = draw_checker(state, job)
    if checker is None:
        state.store.set(st.awaiting_checker_key(job.id), b"")
        return job
    state.store.delete(st.awaiting_checker_key(job.id))
    params = st.get_params(state)
    st.set_miner(state, replace(checker, active_jobs=checker.active_jobs + 1))
    state.events.append(events.event(events.CHECK, job_id=job.id, status="assigned", miner=job.miner,
                                     checker=checker.address, round=len(job.checkers) + 1))
    return replace(job, checker=checker.address, checker_price_per_second=checker.price_per_second,
                   checker_ms_per_token=miners.rate_for(checker, job.model, params))


def open_check(state: State, job: Job, payment: int) -> Job:
    """Hold the payment, open the check window and seat the first checker."""
    deadline = state.height + st.get_params(state).check_window_blocks
    state.store.set(st.check_window_key(deadline, job.id), b"")
    state.events.append(events.event(events.CHECK, job_id=job.id, status="pending", miner=job.miner, round=1))
    job = replace(job, status="verifying", held_payment=payment, check_status="pending",
                  check_deadline_height=deadline)
    return seat_checker(state, job)


def seat_waiting_checkers(state: State) -> None:
    """Block start: try again to draw checkers for checks that found none."""
    for job_id in st.last_segments(state, st.AWAITING_CHECKER, MAX_DRAWS_PER_BLOCK):
        job = st.get_job(state, job_id)
        assert job is not None and job.status == "verifying" and not job.checker, f"checker queue: {job_id}"
        st.set_job(state, seat_checker(state, job))


@dataclass(frozen=True)
class Verdict:
    status: str            # pending, passed, failed, inconclusive
    majority: tuple[str, str] | None  # the (result hash, tokens) the decision stands on
    reason: str = ""


def confirms(job: Job, index: int, params: Params) -> bool:
    """Whether re-run `index` confirms the original: same model digest, result and tokens, time within bounds."""
    same = (job.check_digests[index], job.check_hashes[index], job.check_tokens[index]) == \
        (job.model_digest, job.result_hash, job.claimed_tokens)
    bound = params.check_time_tolerance_x * job.check_ms[index] + params.check_time_grace_ms
    return same and job.claimed_ms <= bound


def decide(job: Job, params: Params) -> Verdict:
    """What the re-runs so far say about the original result.

    - a confirming first re-run passes it;
    - otherwise more checkers are drawn, up to `max_check_rounds`;
    - then the original passes if any re-run confirms it (two of three agree), fails if
      every re-run ran the same weights, contradicts it and agrees with the other (a
      wrong result or wrong token counts, or a time out of bounds on every re-run), and
      is inconclusive otherwise.
    """
    rounds = len(job.check_hashes)
    confirmations = sum(confirms(job, i, params) for i in range(rounds))
    original = (job.result_hash, job.claimed_tokens)
    if rounds == 1 and confirmations == 1:
        return Verdict("passed", original)
    if rounds < params.max_check_rounds:
        return Verdict("pending", None)
    if confirmations:
        return Verdict("passed", original)
    if any(digest != job.model_digest for digest in job.check_digests):
        # Re-runs of other weights say nothing about these (a digest nobody else serves
        # cannot be checked): no slash, and no pay for a result nobody could confirm.
        return Verdict("inconclusive", None, "re-runs used other model weights than the result")
    observed = set(zip(job.check_hashes, job.check_tokens))
    if len(observed) == 1:
        majority = observed.pop()
        why = "result proven wrong by spot check" if majority != original \
            else "claimed compute time out of bounds of every re-run"
        return Verdict("failed", majority, why)
    return Verdict("inconclusive", None, "re-runs disagree with the result and with each other")
