"""Start-up checks and on-chain registration: Ollama has the models, the chain knows our offer.

Everything here raises `StartupError` with a message that says what to do.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

from aitbc import sealing, tx as txlib
from aitbc.crypto import PrivateKey
from aitbc.keyring import Keyring, KeyError_
from aitbc.rpc import BroadcastResult, ChainError, NodeUnavailable, QueryFailed
from aitbc.units import format_amount
from aitbc.miner.ollama_client import ModelEntry, OllamaError, OllamaUnavailable

log = logging.getLogger("miner.registration")
SEED_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")


class StartupError(Exception):
    """The miner cannot start; the message tells the operator what to fix."""


class Chain(Protocol):
    async def query(self, path: str) -> Any: ...
    async def broadcast(self, tx: bytes, mode: str = "sync") -> BroadcastResult: ...


class ModelLister(Protocol):
    async def list_models(self) -> list[ModelEntry]: ...


@dataclass(frozen=True)
class ChainInfo:
    chain_id: str
    coordinator: str
    min_miner_stake: int
    price_per_second: int
    min_fee: int = txlib.DEFAULT_MIN_FEE           # the fee rule the miner's own txs pay
    fee_per_byte: int = txlib.DEFAULT_FEE_PER_BYTE
    job_timeout_s: int | None = None               # an assigned job expires (and slashes) this long after


@dataclass(frozen=True)
class Offer:
    models: list[str]
    capacity: int
    price_per_second: int
    endpoint: str
    stake: int
    ms_per_token: int | None = None  # declared ceiling for every model; None: the chain's maximum applies
    encryption_key: bytes = b""      # X25519 public key direct jobs seal to (aitbc.sealing); b"": none

    @property
    def rates(self) -> dict[str, int]:
        return {model: self.ms_per_token for model in self.models} if self.ms_per_token else {}


def load_key(spec: str) -> PrivateKey:
    """A hex seed, or a key of the local keyring by name or address."""
    if SEED_RE.match(spec):
        return PrivateKey.from_hex(spec)
    try:
        return Keyring().get(spec)
    except KeyError_ as exc:
        raise StartupError(f"miner key: {exc}; create it with `aitbc keys add {spec}` or set AITBC_MINER_KEY "
                           "to a 64-hex-digit seed") from None


async def offered_models(ollama: ModelLister, url: str, wanted: list[str]) -> list[str]:
    """The models to offer: `wanted` (each must exist on Ollama) or all that Ollama has."""
    try:
        entries = await ollama.list_models()
    except OllamaUnavailable:
        raise StartupError(f"Ollama is not reachable at {url}: start it (`ollama serve`) or pass --ollama-url") \
            from None
    except OllamaError as exc:
        raise StartupError(f"Ollama at {url} answered with an error: {exc}") from None
    installed = {e.name for e in entries} | {e.model for e in entries if e.model}
    if not wanted:
        # Clients name "llama3.2" as often as "llama3.2:latest": offer both spellings.
        names = sorted(installed | {n.removesuffix(":latest") for n in installed})
        if not names:
            raise StartupError(f"Ollama at {url} has no models: run `ollama pull <model>` "
                               "(or `ollama create <name> -f Modelfile`), or pass --model")
        return names
    for model in wanted:
        if model not in installed and f"{model}:latest" not in installed:
            raise StartupError(f"model '{model}' not found on Ollama at {url}: run `ollama pull {model}` "
                               f"(or `ollama create {model} -f Modelfile`)")
    return list(dict.fromkeys(wanted))


async def chain_info(chain: Chain, node_url: str) -> ChainInfo:
    try:
        params = await chain.query("/params")
    except NodeUnavailable:
        raise StartupError(f"cannot reach the chain node at {node_url}: start it (`aitbc testnet start`) "
                           "or pass --node") from None
    except ChainError as exc:
        raise StartupError(f"chain node at {node_url} cannot answer /params: {exc}") from None
    return ChainInfo(chain_id=params["chain_id"], coordinator=params["coordinator"],
                     min_miner_stake=int(params["min_miner_stake"]), price_per_second=int(params["price_per_second"]),
                     min_fee=int(params.get("min_fee", txlib.DEFAULT_MIN_FEE)),
                     fee_per_byte=int(params.get("fee_per_byte", txlib.DEFAULT_FEE_PER_BYTE)),
                     job_timeout_s=int(params["job_timeout_s"]) if "job_timeout_s" in params else None)


def encryption_key_of(key: PrivateKey) -> bytes:
    """The public X25519 key a miner registers so that clients can seal direct jobs to it."""
    return sealing.encryption_public_key(key)


async def _on_chain(chain: Chain, address: str) -> dict[str, Any] | None:
    try:
        miner = await chain.query(f"/miner/{address}")
    except QueryFailed:
        return None
    return miner if miner and int(miner.get("stake", 0)) > 0 else None  # stake 0: unbonded


def standing(record: dict[str, Any] | None, info: ChainInfo, now_ns: int) -> str:
    """"ok", or why the chain gives this miner (its `/miner/<address>` record) no job now."""
    if record is None:
        return "not registered on chain (unbonded?): restart the miner to register it again"
    stake = int(record.get("stake", 0))
    if stake < info.min_miner_stake:
        return (f"stake {format_amount(stake)} is below the chain's minimum {format_amount(info.min_miner_stake)} "
                f"(slashed?): no jobs until stake is added (`aitbc tx update-miner --add-stake ...`, or restart "
                "the miner: it tops up to its --stake)")
    jailed_until = int(record.get("jailed_until_ns", 0))
    if jailed_until > now_ns:
        return (f"jailed for {(jailed_until - now_ns) / 1e9:.0f} s more (repeated expiries or slashes): "
                "no jobs until then")
    return "ok"


def _matches(miner: dict[str, Any], offer: Offer) -> bool:
    return (set(miner["models"]) == set(offer.models) and int(miner["capacity"]) == offer.capacity
            and int(miner["price_per_second"]) == offer.price_per_second and miner["endpoint"] == offer.endpoint
            and {k: int(v) for k, v in miner.get("ms_per_token", {}).items()} == offer.rates
            # a miner registered before direct jobs has none: updated so it can take them
            and miner.get("encryption_key", "") == offer.encryption_key.hex())


async def ensure_registered(chain: Chain, key: PrivateKey, info: ChainInfo, offer: Offer,
                            timeout_s: float = 30.0) -> str:
    """Register or update the miner on chain so that it shows `offer`.

    Returns "registered", "updated" or "unchanged". Raises StartupError.
    """
    address = key.address
    current = await _on_chain(chain, address)
    add_stake = max(0, offer.stake - int(current["stake"])) if current else 0
    if current is not None and _matches(current, offer) and not add_stake:
        log.info("miner already registered on chain", extra={"address": address, "stake": current["stake"]})
        return "unchanged"
    account = await chain.query(f"/nonce/{address}")
    needed = add_stake if current else offer.stake
    if int(account["balance"]) < needed:
        raise StartupError(f"miner account {address} has {format_amount(int(account['balance']))} but staking needs "
                           f"{format_amount(needed)}: fund it first (transfer AITBC to {address})")
    fields = {"models": offer.models, "capacity": offer.capacity, "price_per_second": offer.price_per_second,
              "endpoint": offer.endpoint, "ms_per_token": offer.rates, "encryption_key": offer.encryption_key}
    if current is None:
        kind, fields = "register_miner", {**fields, "stake": offer.stake}
    else:
        kind, fields = "update_miner", {**fields, "add_stake": add_stake}
    raw = txlib.build(key, info.chain_id, int(account["nonce"]), kind, min_fee=info.min_fee,
                      fee_per_byte=info.fee_per_byte, **fields)
    result = await chain.broadcast(raw, "sync")
    if not result.ok:
        raise StartupError(f"{kind} rejected by the chain ({result.code_name}): {result.log}")
    await _wait_for(chain, address, offer, result.hash, timeout_s)
    action = "registered" if current is None else "updated"
    log.info(f"miner {action} on chain", extra={"address": address, "tx_hash": result.hash, "models": offer.models,
                                                 "capacity": offer.capacity, "price_per_second": offer.price_per_second,
                                                 "endpoint": offer.endpoint, "stake": offer.stake})
    return action


async def _wait_for(chain: Chain, address: str, offer: Offer, tx_hash: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        miner = await _on_chain(chain, address)
        if miner is not None and _matches(miner, offer) and int(miner["stake"]) >= offer.stake:
            return
        await asyncio.sleep(0.25)
    raise StartupError(f"miner tx {tx_hash} was accepted but is not in a block after {timeout_s:.0f} s; "
                       "is the chain producing blocks?")
