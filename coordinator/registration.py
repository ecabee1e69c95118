"""Which coordinator this service is on chain: the genesis one, or a registered one.

The genesis coordinator (`meta/coordinator`) needs no record. Any other key serves only
once the chain has its `register_coordinator` record (url, bond): until then the service
answers /ready with 503 and says how to register. With `register_url` set it registers
itself, once, at start (bond: `bond`, else the chain's `min_coordinator_bond`).
"""

from __future__ import annotations

import logging
from typing import Any

from aitbc import tx as txlib
from aitbc.codes import Code
from aitbc.crypto import PrivateKey
from aitbc.rpc import ChainError
from aitbc.coordinator.chain import Chain
from aitbc.coordinator.errors import ChainUnavailable
from aitbc.coordinator.settings import CoordinatorSettings

log = logging.getLogger("coordinator")


class NotRegistered(Exception):
    """This key is neither the genesis coordinator nor registered; the message says what to do."""


class RegistrationFailed(Exception):
    """The chain refused this coordinator's own register_coordinator tx (bond, funds, url)."""


async def ensure_registered(chain: Chain, key: PrivateKey, settings: CoordinatorSettings,
                            params: dict[str, Any]) -> dict[str, Any]:
    """The chain's record of this (non-genesis) coordinator, registering it first when asked to.

    Raises NotRegistered (wait and try again) or RegistrationFailed (fix the settings)."""
    record = await chain.query_or_none(f"/coordinator/{key.address}")
    if record is not None:
        return record
    if not settings.register_url:
        raise NotRegistered(
            f"this coordinator's key {key.address} is neither the genesis coordinator ({params['coordinator']}) "
            "nor registered on chain; register it with `aitbc tx register-coordinator --url URL --bond AMOUNT "
            "--from KEY`, or start with --register-url URL [--bond AMOUNT]")
    bond = settings.bond or int(params["min_coordinator_bond"])
    nonce = int((await chain.pending_account(key.address))["nonce"])
    raw = txlib.build(key, params["chain_id"], nonce, "register_coordinator", url=settings.register_url, bond=bond)
    try:
        result = await chain.rpc.broadcast(raw, "commit")  # waits for the block: the record is there after it
    except ChainError as exc:
        raise ChainUnavailable(f"cannot send this coordinator's register_coordinator tx: {exc}") from exc
    if not result.ok and result.code != Code.COORDINATOR_EXISTS:
        raise RegistrationFailed(f"registering {key.address} as a coordinator at {settings.register_url} with a "
                                 f"bond of {bond} uaitbc was refused: {result.code_name}: {result.log}")
    log.info("registered on chain", extra={"event": "coordinator_registered", "coordinator": key.address,
                                            "url": settings.register_url, "bond": bond, "tx_hash": result.hash,
                                            "code": result.code_name})
    record = await chain.query_or_none(f"/coordinator/{key.address}")
    if record is None:
        raise NotRegistered(f"the register_coordinator tx {result.hash} of {key.address} is not in state yet")
    return record
