"""Store records and chain answers -> the API's response models."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from aitbc import tx as txlib
from aitbc.api.coordinator_models import JobPublic, JobSubmitted, MinerPublic, ReceiptPublic
from aitbc.coordinator.job_state import HELD_BY_MINER
from aitbc.coordinator.registry import KnownMiner
from aitbc.coordinator.store import StoredJob, MinerRecord


def ts(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, tz=timezone.utc)


def job_public(job: StoredJob) -> JobPublic:
    metrics = job.metrics_dict or {}
    # A result is released once its receipt is on chain, or accepted by CheckTx (pending until the
    # block; docs/verification.md); never for a job that ended without a receipt.
    pending = job.status in HELD_BY_MINER and job.released_at is not None and job.result is not None
    shown = pending or (job.status in ("completed", "verifying") and job.receipt_id is not None)
    return JobPublic(
        job_id=job.id, status=job.status, type=job.type, model=job.model, client=job.client, miner=job.miner,
        result=job.result if shown else None,
        result_hash=job.result_hash if shown else None,
        receipt_pending=pending, released_at=ts(job.released_at) if shown else None,
        receipt_id=job.receipt_id, max_reward=job.max_reward, amount_paid=job.amount_paid, refund=job.refund,
        compute_time=metrics.get("compute_time"), tokens_generated=metrics.get("tokens_generated"),
        error=job.error, submitted_at=ts(job.submitted_at), started_at=ts(job.started_at),
        completed_at=ts(job.completed_at), block_height=job.block_height, tx_hash=job.tx_hash,
        fee=txlib.body_of(job.signed_tx).fee if job.signed_tx else 0,  # checked at intake: no re-verify
    )


def job_submitted(job: StoredJob) -> JobSubmitted:
    return JobSubmitted(job_id=job.id, status=job.status, submitted_at=ts(job.submitted_at), tx_hash=job.tx_hash)


def receipt_public(receipt: dict[str, Any]) -> ReceiptPublic:
    return ReceiptPublic.from_chain(receipt)


def known_miner(miner: KnownMiner) -> MinerPublic:
    """A miner the registry knows, as the wire model."""
    return miner_public(miner.local, miner.chain, miner.online)


def miner_public(local: MinerRecord | None, chain: dict[str, Any] | None, online: bool) -> MinerPublic:
    chain = chain or {}
    return MinerPublic(
        address=local.address if local else chain["address"],
        endpoint=(local.endpoint if local else "") or chain.get("endpoint", ""),
        models=list(chain.get("models") or (local.models if local else [])),
        capacity=int(chain.get("capacity") or (local.capacity if local else 0)),
        active_jobs=int(chain.get("active_jobs", local.active_jobs if local else 0)),
        stake=int(chain.get("stake", 0)), completed=int(chain.get("completed", 0)),
        failed=int(chain.get("failed", 0)), last_seen=ts(local.last_seen) if local else None, online=online,
    )
