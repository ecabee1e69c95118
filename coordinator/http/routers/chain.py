"""/v1/chain and /v1/accounts: what the CLI needs from the chain, through the coordinator."""

from __future__ import annotations

from fastapi import APIRouter

from aitbc import crypto
from aitbc.coordinator.http.deps import CoordDep, OpenRoute
from aitbc.coordinator.errors import InvalidRequest
from aitbc.api.coordinator_models import AccountPublic, ChainPublic
from aitbc.coordinator.http.routers import PROBLEM_RESPONSES

router = APIRouter(prefix="/v1", tags=["chain"], responses=PROBLEM_RESPONSES, dependencies=[OpenRoute])


@router.get("/chain", response_model=ChainPublic, summary="Chain id, coordinator address and price")
async def chain_info(coord: CoordDep) -> ChainPublic:
    info, _ = coord.require_chain()
    status = await coord.chain.status()
    params = await coord.chain.params()
    return ChainPublic(chain_id=info.chain_id, coordinator=info.coordinator, job_coordinator=info.job_coordinator,
                       genesis_coordinator=info.genesis_coordinator,
                       price_per_second=int(params["price_per_second"]), node=coord.settings.node,
                       height=int(status["sync_info"]["latest_block_height"]),
                       pending_timeout_s=int(params["pending_timeout_s"]), job_timeout_s=int(params["job_timeout_s"]),
                       min_miner_stake=int(params["min_miner_stake"]))


@router.get("/accounts/{address}", response_model=AccountPublic, summary="Balance and next nonce")
async def account(address: str, coord: CoordDep) -> AccountPublic:
    if not crypto.is_address(address):
        raise InvalidRequest(f"{address!r} is not an address (aitbc + 40 hex digits)")
    committed = await coord.chain.account(address)
    pending = await coord.chain.pending_account(address)
    return AccountPublic(address=address, exists=bool(committed["exists"] or pending["exists"]),
                         balance=int(committed["balance"]), nonce=int(pending["nonce"]),
                         pending_balance=int(pending["balance"]))
