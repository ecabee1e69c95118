"""Start-up: Ollama has the models; the chain shows our offer (register, update or nothing)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aitbc.miner.ollama_client import ModelEntry, OllamaUnavailable
from aitbc.miner.registration import (
    ChainInfo, Offer, StartupError, ensure_registered, load_key, offered_models, standing,
)
from tests.unit.test_miner_fakes import COORDINATOR, MINER, FakeChain, FakeOllama, daemon

INFO = ChainInfo("aitbc-unit", COORDINATOR.address, min_miner_stake=100_000_000, price_per_second=20_000)


def offer(**changes) -> Offer:
    base = dict(models=["aitbc-tiny"], capacity=1, price_per_second=20_000, endpoint="http://m:18001",
                stake=100_000_000)
    return Offer(**{**base, **changes})


def register(chain: FakeChain, o: Offer) -> str:
    return asyncio.run(ensure_registered(chain, MINER, INFO, o, timeout_s=2))


def test_registers_then_unchanged_then_updates() -> None:
    chain = FakeChain()
    assert register(chain, offer()) == "registered"
    assert register(chain, offer(models=["aitbc-tiny"])) == "unchanged"
    assert register(chain, offer(capacity=2, endpoint="http://m:9")) == "updated"
    assert register(chain, offer(capacity=2, endpoint="http://m:9", stake=150_000_000)) == "updated"
    assert [(tx.kind, tx.nonce) for tx in chain.txs] == [("register_miner", 0), ("update_miner", 1),
                                                         ("update_miner", 2)]
    assert chain.txs[-1].msg.add_stake == 50_000_000
    assert chain.miners[MINER.address]["capacity"] == 2


def test_unfunded_miner_gets_a_clear_error() -> None:
    with pytest.raises(StartupError, match=f"{MINER.address} has 1 AITBC but staking needs 100 AITBC"):
        register(FakeChain(balance=1_000_000), offer())


def test_ollama_models_checked() -> None:
    ollama = FakeOllama(models=("aitbc-tiny:latest", "llama3.2:3b"))
    url = "http://ollama:11434"
    assert asyncio.run(offered_models(ollama, url, [])) == ["aitbc-tiny", "aitbc-tiny:latest", "llama3.2:3b"]
    assert asyncio.run(offered_models(ollama, url, ["aitbc-tiny", "llama3.2:3b"])) == ["aitbc-tiny", "llama3.2:3b"]
    with pytest.raises(StartupError, match=r"model 'llama3.2' not found on Ollama at http://ollama:11434: "
                                           r"run `ollama pull llama3.2`"):
        asyncio.run(offered_models(ollama, url, ["llama3.2"]))
    with pytest.raises(StartupError, match="has no models"):
        asyncio.run(offered_models(FakeOllama(models=()), url, []))


def test_ollama_down_is_a_clear_error() -> None:
    class Down:
        async def list_models(self) -> list[ModelEntry]:
            raise OllamaUnavailable("http://ollama:1", "ConnectError")

    with pytest.raises(StartupError, match=r"Ollama is not reachable at http://ollama:1"):
        asyncio.run(offered_models(Down(), "http://ollama:1", []))


def test_load_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_key(MINER.seed.hex()).address == MINER.address
    monkeypatch.setenv("AITBC_HOME", str(tmp_path))
    with pytest.raises(StartupError, match="aitbc keys add nobody"):
        load_key("nobody")
    from aitbc.keyring import Keyring

    Keyring().add("miner7", MINER)
    assert load_key("miner7").address == MINER.address


def test_standing_says_why_the_chain_gives_no_job() -> None:
    info = ChainInfo(chain_id="c", coordinator=COORDINATOR.address, min_miner_stake=100_000_000, price_per_second=1)
    assert standing({"stake": 100_000_000, "jailed_until_ns": 0}, info, 10) == "ok"
    low = standing({"stake": 99_000_000, "jailed_until_ns": 0}, info, 10)
    assert "below the chain's minimum" in low and "--add-stake" in low
    assert standing({"stake": 100_000_000, "jailed_until_ns": 70 * 10**9}, info, 10 * 10**9).startswith(
        "jailed for 60 s more")
    assert "not registered" in standing(None, info, 10)


def test_health_is_degraded_once_a_slash_takes_the_stake_below_the_minimum(tmp_path: Path) -> None:
    chain = FakeChain()

    async def go() -> tuple[str, str | None, str, str | None]:
        miner = daemon(tmp_path, chain=chain)
        await miner.start()
        before = await miner.health()
        chain.miners[MINER.address]["stake"] = 99_000_000  # what an expiry slash of 1 % does to the minimum
        after = await miner.health()
        await miner.stop()
        return before.status, before.standing, after.status, after.standing

    status, ok, degraded, why = asyncio.run(go())
    assert (status, ok, degraded) == ("ok", "ok", "degraded") and "below the chain's minimum" in why
