"""The background loop: track txs, reconcile, time out, assign, push.

Assignment: broadcast assign_job (CheckTx state already includes the job's
submit tx, so no block wait), then push the job to the miner. If the push
fails after 3 retries, the job is failed on chain (full refund) and the miner is
treated as offline until its next heartbeat: the chain has no way to take an
assignment back, so re-assigning is not possible.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Callable, Iterator

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.coordinator import job_state, lifecycle, recovery, selection, spot_checks, tracker
from aitbc.coordinator.core import Coordinator, StartupError
from aitbc.coordinator.errors import ChainUnavailable, MinerUnreachable
from aitbc.coordinator.lifecycle import event
from aitbc.coordinator.miner_push import MinerDeclined, push_assignment
from aitbc.api.coordinator_models import JobOptions
from aitbc.coordinator.store import StoredJob
from aitbc.api.miner_models import JobAssignment, JobData

log = logging.getLogger("coordinator.scheduler")

QUEUE_PAGE = 64      # queued jobs read at a time by an assignment pass
BLOCK_REST_S = 0.05  # the shortest rest between ticks when new blocks end them (block_watch.py)
NUDGE_GAP_S = 0.02  # between assignment passes that new jobs start (intake at full speed sets it all the time)
# How old the chain's miner list a pass chooses from may be. The chain's view changes once a
# block and already lags our own assignments (counted locally); reading it on each pass, up to
# every NUDGE_GAP_S under intake, cost the node's app a rendering of every miner each time.
MINER_LIST_MAX_AGE_S = 0.5
# A miner whose price the chain says is above a job's cap while the list we read says it is
# not has raised it in a tx not yet committed: until the list has caught up (a block or two)
# it is offered only jobs without a cap. Else each queued job capped between its old and new
# price would cost a refused assign_job, on every pass.
PRICED_OUT_HOLD_S = 2.0
ABOVE_ANY_CAP = 2**64  # a cap is a uint64
# Our closing txs (receipts, fail_jobs) that lower a miner's committed count (_closed_since):
# only those sent in the last CLOSING_TRUSTED_S, which a healthy chain has in a block well
# before then; an older one still "sent" may have left the mempool unseen, or be in a block
# the tracker has not settled. And none for a miner the chain has just refused as full, for
# CAPACITY_HOLD_S: whatever our count missed, it costs one refused assign_job, not one a pass.
CLOSING_TRUSTED_S = 5.0
CAPACITY_HOLD_S = 2.0
# Overdue jobs failed, and marked jobs reconciled, in one tick at most. Each failure is a
# fail_job tx, and the coordinator's txs go one CheckTx round trip at a time (chain.TxSender);
# each reconciliation is a chain query. A burst of jobs timing out together (a client's flood
# of jobs no miner takes, and the fail_jobs of theirs that the chain's own expiry beat) held up
# the tracker and the assignment passes for seconds. The rest wait for the next ticks; the
# failures may expire on chain meanwhile (refunded too).
FAILS_PER_TICK = 32
OVERDUE_PAGE = 64  # overdue or marked jobs read at once (_oldest_first)
RECONCILES_PER_TICK = 64

MINER_REFUSALS = (Code.MINER_AT_CAPACITY, Code.MODEL_NOT_SERVED, Code.MINER_NOT_FOUND, Code.STAKE_TOO_LOW,
                  Code.MINER_JAILED, Code.PRICE_ABOVE_CAP)
# Refusals that hold for any job, not only this one (model and price are per job).
MINER_WIDE_REFUSALS = (Code.MINER_AT_CAPACITY, Code.MINER_NOT_FOUND, Code.STAKE_TOO_LOW, Code.MINER_JAILED)


async def run(coord: Coordinator) -> None:
    """Connect (and recover) once the chain answers, then tick forever."""
    warned = 0.0
    recovered = False
    while True:
        try:
            if coord.info is None:
                await coord.connect()
            if not recovered:
                await recovery.recover(coord)
                recovered = True
            await tick(coord)
        except asyncio.CancelledError:
            raise
        except StartupError as exc:
            log.error(str(exc), extra={"event": "startup_error"})
            await asyncio.sleep(5)
        except ChainUnavailable as exc:
            if time.monotonic() - warned > 10:
                log.warning("chain unavailable", extra={"event": "chain_unavailable", "detail": exc.detail})
                warned = time.monotonic()
        except Exception:  # noqa: BLE001 - the loop must survive; the trace goes to the log
            log.exception("scheduler tick failed", extra={"event": "tick_error"})
        await _rest(coord)


async def _rest(coord: Coordinator) -> None:
    """Wait out the tick, or until the node commits a block (block_watch.py: the tick reads it
    at once). New jobs meanwhile are assigned at once (at most every NUDGE_GAP_S), not a tick
    later: a tick is 0.25 s of a job's latency."""
    start = time.monotonic()
    deadline = start + coord.settings.tick_s
    while (left := deadline - time.monotonic()) > 0:
        await _either(coord.jobs_waiting, coord.new_block, left)
        if coord.new_block.is_set():
            # A rest all the same: blocks that come faster than ticks (a test chain's 10 ms
            # blocks) must not run the scheduler without a pause.
            await asyncio.sleep(max(0.0, start + BLOCK_REST_S - time.monotonic()))
            return
        if not coord.jobs_waiting.is_set():
            return
        coord.jobs_waiting.clear()
        if coord.info is None:
            continue
        try:
            await assign_pending(coord)
            start_pushes(coord)
        except asyncio.CancelledError:
            raise
        except ChainUnavailable:
            return
        except Exception:  # noqa: BLE001 - the next tick tries again; the trace goes to the log
            log.exception("assignment between ticks failed", extra={"event": "tick_error"})
        await asyncio.sleep(NUDGE_GAP_S)


async def _either(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:
    """Until `first` or `second` is set, or `timeout` seconds."""
    if first.is_set() or second.is_set():
        return
    waits = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def tick(coord: Coordinator) -> None:
    # Before the tracker reads the head: a block committed after this read sets it again,
    # and the next rest ends at once to read that block.
    coord.new_block.clear()
    await tracker.track(coord)
    await reconcile_marked(coord)
    await fail_overdue(coord)
    await fail_offline_miners(coord)
    await assign_pending(coord)
    start_pushes(coord)
    await spot_checks.run(coord)  # (the queue depth gauge is counted when /metrics is read)


def _oldest_first(read_page: Callable[[tuple[float, str] | None, int], list[StoredJob]]) -> Iterator[StoredJob]:
    """The jobs `read_page(after, OVERDUE_PAGE)` reads, page after page, a page read only once the
    caller is done with the one before: a tick that stops after its quota reads the jobs it tried
    and those it stepped over, not a whole backlog (30 000 overdue jobs read every tick took
    half a busy coordinator's CPU)."""
    after: tuple[float, str] | None = None
    while page := read_page(after, OVERDUE_PAGE):
        yield from page
        after = (page[-1].submitted_at, page[-1].id)


async def reconcile_marked(coord: Coordinator) -> None:
    tried = 0
    # A flood's fail_jobs that the chain's own expiry beat all come back marked at once.
    for job in _oldest_first(lambda after, n: coord.store.jobs_needing("needs_reconcile", after, n)):
        if tried == RECONCILES_PER_TICK:
            return
        if coord.store.job_txs_in_flight(job.id):
            continue  # wait until every tx of the job has settled
        tried += 1
        async with coord.lock(job.id):
            fresh = coord.store.get_job(job.id)
            if fresh is not None and fresh.needs_reconcile:
                await lifecycle.reconcile(coord, fresh)


def _waiting_on_chain(coord: Coordinator, job: StoredJob, allow: tuple[str, ...] = ("submit_job",)) -> bool:
    """True when the job has txs in flight besides `allow`, or its submit tx is not broadcast yet."""
    for tx in coord.store.job_txs_in_flight(job.id):
        if tx.status == "stored" or tx.kind not in allow:
            return True
    return bool(job.needs_reconcile)


async def fail_overdue(coord: Coordinator) -> None:
    """No miner took the job within queue_timeout_s: fail it on chain (full refund)."""
    limit = coord.settings.queue_timeout_s
    before, tried = time.time() - limit, 0
    for job in _oldest_first(lambda after, n: coord.store.jobs_submitted_before("pending", before, after, n)):
        if tried == FAILS_PER_TICK:
            return
        if _waiting_on_chain(coord, job):
            continue  # a tx of it in flight (its fail_job, say), or marked for reconciling
        tried += 1
        async with coord.lock(job.id):
            fresh = coord.store.get_job(job.id)
            if fresh is None or fresh.status != "pending":
                continue
            await lifecycle.fail_job(coord, fresh, f"no_miner: no miner available for model {fresh.model!r} within "
                                     f"{limit:g} s; the escrow is refunded", "no_miner")


async def fail_offline_miners(coord: Coordinator) -> None:
    """Jobs of a miner that stopped heartbeating are failed (refund)."""
    now = time.time()
    for job in coord.store.jobs_with_status(*job_state.HELD_BY_MINER):
        if job.result_hash or job.miner is None or _waiting_on_chain(coord, job):
            continue
        miner = coord.store.get_miner(job.miner)
        if coord.miner_online(miner.last_seen if miner else None, now, grace_from_start=True):
            continue
        async with coord.lock(job.id):
            fresh = coord.store.get_job(job.id)
            if fresh is None or fresh.status not in job_state.HELD_BY_MINER or fresh.result_hash:
                continue
            silent = now - max((miner.last_seen if miner else None) or 0, coord.started_at)
            await lifecycle.fail_job(coord, fresh, f"miner_offline: miner {fresh.miner} went offline (no heartbeat "
                                     f"for {silent:.0f} s); the escrow is refunded", "miner_offline")


def _any_miner_online(coord: Coordinator) -> bool:
    """Whether a miner that registered with us is online (no chain call): else nobody can take a job."""
    now = time.time()
    return any(coord.miner_online(m.last_seen, now) for m in coord.store.list_miners())


async def candidates(coord: Coordinator) -> list[selection.Candidate]:
    info, _ = coord.require_chain()
    min_stake = int(info.params.get("min_miner_stake", 1))
    # Under spot checks a receipt can seat any miner with a free slot as its checker, in the
    # block that takes it: a slot our receipt frees may go to a seat there before our next
    # assign_job, which then fails in the block (its fee paid, the miner's run wasted). There
    # a slot is free only once the committed count shows it.
    early = int(info.params.get("check_share_bps", 0)) == 0
    local_active = coord.store.active_jobs_by_miner(released_hold=not early)
    now = time.time()
    _end_holds(coord.priced_out, PRICED_OUT_HOLD_S)
    result = []
    miners, height = await coord.chain.miners_at(max_age_s=MINER_LIST_MAX_AGE_S)
    closed = _closed_since(coord, height) if early else {}
    for chain_miner in miners:
        local = coord.store.get_miner(chain_miner["address"])
        price = ABOVE_ANY_CAP if chain_miner["address"] in coord.priced_out else int(chain_miner["price_per_second"])
        result.append(selection.Candidate(
            address=chain_miner["address"], stake=int(chain_miner["stake"]), models=tuple(chain_miner["models"]),
            capacity=int(chain_miner["capacity"]),
            chain_active_jobs=max(0, int(chain_miner["active_jobs"]) - closed.get(chain_miner["address"], 0)),
            local_active_jobs=local_active.get(chain_miner["address"], 0), completed=int(chain_miner["completed"]),
            failed=int(chain_miner["failed"]), online=local is not None and coord.miner_online(local.last_seen, now),
            endpoint=(local.endpoint if local else "") or chain_miner.get("endpoint", ""),
            price_per_second=price,
            jailed=int(chain_miner.get("jailed_until_ns", 0)) > time.time_ns(), min_stake=min_stake,
        ))
    return result


def _end_holds(holds: dict[str, float], hold_s: float) -> None:
    """Forget the miners of `holds` (address -> monotonic time of the chain's refusal) held
    longer than `hold_s`."""
    held_since = time.monotonic() - hold_s
    for address, refused_at in list(holds.items()):
        if refused_at < held_since:
            del holds[address]


def _closed_since(coord: Coordinator, height: int) -> dict[str, int]:
    """Per miner, the slots our own txs have freed since the committed `height` of the chain's
    counts: a miner's slot is free for the chain's CheckTx as soon as our receipt for its job
    has passed it, a block or more before the committed count shows it, and a busy miner
    would otherwise sit idle that long after each job. Our closing tx goes before any
    assign_job we send after it (our nonces), so no proposer can order a block to take the
    assignment without the slot our closing frees; another party's tx between the two (another
    coordinator's assign_job, a checker seat a receipt draws in the block) can still take that
    slot first, as it can any free slot (with spot checks on, the caller does not ask). Nothing
    until the tracker has read the blocks up to `height`: a closing it has not yet seen
    committed there is counted at `height` already."""
    followed = coord.followed_height
    if followed is None or followed < height:
        return {}
    _end_holds(coord.found_full, CAPACITY_HOLD_S)
    closed = coord.store.closings_since(height, sent_after=time.time() - CLOSING_TRUSTED_S)
    return {address: n for address, n in closed.items() if address not in coord.found_full}


async def assign_pending(coord: Coordinator) -> None:
    store = coord.store
    if not _any_miner_online(coord):
        return  # first: with nobody to take a job, no chain call
    models = store.models_with_status("pending")
    if not models:
        return
    pool = {c.address: c for c in await candidates(coord)}
    floors = _floors(pool, models)
    if not floors:
        return  # nobody can take any of them now: the queue is not read
    busy = store.jobs_with_txs_in_flight(except_sent=("submit_job",))
    # The queue a page at a time, oldest first, only its jobs some miner could take: a pass
    # usually ends within the first page (the miners are full), the whole queue of a busy
    # coordinator takes seconds to read, and jobs capped below every miner's price (which a
    # client may queue at will) stay in the store instead of being read and tried on every
    # pass (SQLite still steps over them in the queue's index: 50 000 of them, ~25 ms a pass).
    after: tuple[float, str] | None = None
    while page := store.jobs_with_status_after("pending", after, QUEUE_PAGE, floors):
        after = (page[-1].submitted_at, page[-1].id)
        coord.metrics.queue_jobs_read.inc(len(page))
        for job in page:
            if job.id in busy or job.needs_reconcile or not _may_take(floors, job):
                continue
            async with coord.lock(job.id):
                fresh = coord.store.get_job(job.id)
                if fresh is None or fresh.status != "pending":
                    continue
                chosen = await _assign(coord, fresh, pool)
            if chosen is not None and chosen in pool:
                c = pool[chosen]
                pool[chosen] = selection.Candidate(**{**c.__dict__, "local_active_jobs": c.local_active_jobs + 1})
            floors = _floors(pool, set(floors))
            if not floors:
                return  # every miner is full or refused: the rest waits for the next pass


def _floors(pool: dict[str, selection.Candidate], models: set[str]) -> dict[str, int]:
    """For each model of `models` that a miner of `pool` could take a job of now, the lowest
    price per second such a miner asks."""
    floors = {model: selection.lowest_price(pool.values(), model) for model in models}
    return {model: price for model, price in floors.items() if price is not None}


def _may_take(floors: dict[str, int], job: StoredJob) -> bool:
    """Whether a miner of the pass's pool could take `job` now (its model, within its cap)."""
    floor = floors.get(job.model)
    return floor is not None and selection.within_cap(floor, job.max_price_per_second)


def _delivered_by(job: StoredJob) -> str | None:
    """The miner whose signed result we hold for this job (kept across a re-queue)."""
    if job.proof and job.proof_signature and job.result_hash:
        return txlib.decode_proof(job.proof).miner
    return None


async def _assign(coord: Coordinator, job: StoredJob, pool: dict[str, selection.Candidate]) -> str | None:
    _, sender = coord.require_chain()
    refused: set[str] = set()
    # A job re-queued after a node crash lost its txs goes back to the miner that already did it.
    preferred = _delivered_by(job)
    cap = job.max_price_per_second
    while True:
        eligible = {c.address for c in selection.eligible(pool.values(), job.model, cap)} - refused
        if preferred in eligible:
            chosen = pool[preferred]
        else:
            chosen = selection.choose(pool.values(), job.model, exclude=refused, max_price=cap)
        if chosen is None:
            return None
        result = await sender.send("assign_job", job.id, job_id=job.id, miner=chosen.address)
        if result.ok:
            job_state.mark_assigned(coord.store, job, chosen.address)
            log.info("job assigned", extra=event("job_assigned", job, miner=chosen.address, tx_hash=result.hash))
            return chosen.address
        if result.code in MINER_REFUSALS:
            refused.add(chosen.address)
            if result.code == Code.PRICE_ABOVE_CAP:
                coord.priced_out[chosen.address] = time.monotonic()
                pool[chosen.address] = selection.Candidate(**{**chosen.__dict__, "price_per_second": ABOVE_ANY_CAP})
            if result.code == Code.MINER_AT_CAPACITY:
                coord.found_full[chosen.address] = time.monotonic()
            if result.code in MINER_WIDE_REFUSALS:
                # No other job of this pass can go to it either: without this, every queued
                # job cost a refused assign_job (a stopped miner still looks online for a while).
                pool.pop(chosen.address, None)
            continue
        job_state.needs_reconcile(coord.store, job.id)  # the job itself is not assignable (closed?)
        return None


def start_pushes(coord: Coordinator) -> None:
    for job in coord.store.jobs_needing("needs_push"):
        coord.pushes.start(job.id, functools.partial(_push, coord, job.id))


async def _push(coord: Coordinator, job_id: str) -> None:
    try:
        await _push_once(coord, job_id)
    except Exception:  # noqa: BLE001 - a task nobody awaits must log its own failure
        log.exception("push failed", extra=event("push_error", job_id))


async def _push_once(coord: Coordinator, job_id: str) -> None:
    info, _ = coord.require_chain()
    job = coord.store.get_job(job_id)
    if job is None or job.status not in job_state.HELD_BY_MINER or job.miner is None:
        if job is not None:
            job_state.push_done(coord.store, job_id)
        return
    if _delivered_by(job) == job.miner:
        # The miner delivered before a node crash lost the receipt: record it again, no re-run.
        result = await lifecycle.resend_receipt(coord, job)
        job_state.push_done(coord.store, job_id, reconcile=not result.ok)
        return
    local = coord.store.get_miner(job.miner)
    endpoint = local.endpoint if local else ((await coord.chain.miner(job.miner)) or {}).get("endpoint", "")
    assignment = JobAssignment(job_id=job.id, job_data=JobData(type=job.type, prompt=job.prompt, model=job.model,
                                                               options=JobOptions(**job.options_dict)),
                               reward=job.max_reward, chain_id=info.chain_id)
    try:
        if not endpoint:
            raise MinerUnreachable(f"miner {job.miner} has no endpoint")
        await push_assignment(coord.miners, endpoint, assignment)
    except (MinerUnreachable, MinerDeclined) as exc:
        detail = exc.detail if isinstance(exc, MinerUnreachable) else str(exc)
        async with coord.lock(job_id):
            fresh = coord.store.get_job(job_id)
            if fresh is None or fresh.miner != job.miner or fresh.status not in job_state.HELD_BY_MINER \
                    or fresh.result_hash:
                return
            if isinstance(exc, MinerUnreachable):
                coord.store.touch_miner(job.miner, None)  # offline until its next heartbeat
            await lifecycle.fail_job(coord, fresh, f"{getattr(exc, 'code', 'miner_declined')}: miner {job.miner} "
                                     "did not take the job; the escrow is refunded", "push_failed", detail=detail)
        return
    job_state.push_done(coord.store, job_id)
    log.info("assignment pushed", extra=event("assignment_pushed", job_id, miner=job.miner, endpoint=endpoint))

