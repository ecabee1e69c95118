"""Miners known to the coordinator: registration and heartbeats (signed by the
miner's chain key), listed together with their on-chain record."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from aitbc.signed_http import Signer
from aitbc.endpoints import parse_endpoint
from aitbc.coordinator import targets
from aitbc.coordinator.core import Coordinator
from aitbc.coordinator.errors import Forbidden, InvalidRequest, NotFound
from aitbc.coordinator.store import MinerRecord
from aitbc.api.coordinator_models import MinerHeartbeat, MinerRegister

log = logging.getLogger("coordinator.miners")


@dataclass(frozen=True)
class KnownMiner:
    """A miner as this coordinator knows it: its local registration (if any), its chain record, liveness.
    The HTTP layer shapes it into the wire model."""

    local: MinerRecord | None
    chain: dict[str, Any] | None
    online: bool


async def _on_chain(coord: Coordinator, address: str) -> dict:
    record = await coord.chain.miner(address)
    if record is None or int(record["stake"]) <= 0:
        raise Forbidden(f"{address} is not a registered miner on chain (no stake); register it first with a "
                        "register_miner transaction")
    return record


async def check_endpoint(coord: Coordinator, endpoint: str) -> str:
    """The canonical endpoint, if this coordinator may call it. Raises InvalidRequest.

    The coordinator will POST prompts there: only a plain http(s)://host:port that
    resolves to addresses this deployment allows (coordinator/targets.py).
    """
    try:
        endpoint = parse_endpoint(endpoint)
        await targets.resolve(endpoint, coord.settings.allow_private_endpoints)
    except ValueError as exc:
        raise InvalidRequest(f"endpoint refused: {exc}") from None
    return endpoint


async def register(coord: Coordinator, signer: Signer, body: MinerRegister) -> KnownMiner:
    chain_record = await _on_chain(coord, signer.address)
    endpoint = await check_endpoint(coord, body.endpoint)
    now = time.time()
    coord.store.upsert_miner(signer.address, endpoint, body.models, body.capacity, 0, now)
    missing = sorted(set(body.models) - set(chain_record["models"]))
    log.info("miner registered", extra={"event": "miner_registered", "miner": signer.address,
                                        "endpoint": endpoint, "models": body.models,
                                        "not_on_chain": missing})
    return KnownMiner(coord.store.get_miner(signer.address), chain_record, True)


async def heartbeat(coord: Coordinator, signer: Signer, body: MinerHeartbeat) -> KnownMiner:
    local = coord.store.get_miner(signer.address)
    if local is None:
        raise NotFound(f"miner {signer.address} is not registered with this coordinator; "
                       "POST /v1/miners/register first")
    chain_record = await _on_chain(coord, signer.address)
    was_online = coord.miner_online(local.last_seen)
    coord.store.touch_miner(signer.address, time.time(), body.active_jobs)
    if not was_online:
        log.info("miner online", extra={"event": "miner_online", "miner": signer.address})
    return KnownMiner(coord.store.get_miner(signer.address), chain_record, True)


async def list_miners(coord: Coordinator) -> list[KnownMiner]:
    chain_records = {m["address"]: m for m in await coord.chain.miners() if int(m["stake"]) > 0}
    locals_ = {m.address: m for m in coord.store.list_miners()}
    now = time.time()
    return [KnownMiner(locals_.get(address), chain_records.get(address),
                       address in locals_ and coord.miner_online(locals_[address].last_seen, now))
            for address in sorted(set(chain_records) | set(locals_)) if address in chain_records]
