"""Miner settings: environment (AITBC_MINER_*), then flags of `aitbc miner start`.

The node and coordinator URLs also read the project-wide AITBC_NODE and
AITBC_URL, so one environment serves the CLI and the miner alike. Without a
coordinator (`no_coordinator`, or an empty coordinator URL) the miner serves only
the direct jobs the chain assigns to it; it watches the chain for them either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aitbc.keyring import aitbc_home
from aitbc.units import parse_amount


def _aliases(name: str, *extra: str) -> AliasChoices:
    # Listing the field name keeps MinerSettings(node=...) working next to the env names.
    return AliasChoices(name, f"AITBC_MINER_{name.upper()}", *extra)


class MinerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AITBC_MINER_", extra="ignore", populate_by_name=True)

    key: str = Field("miner1", description="keyring name or address, or a 64-hex-digit ed25519 seed")
    node: str = Field("http://127.0.0.1:26657", validation_alias=_aliases("node", "AITBC_NODE"))
    coordinator_url: str = Field("http://127.0.0.1:18000",
                                 validation_alias=_aliases("coordinator_url", "AITBC_URL"))
    no_coordinator: bool = Field(False, description="serve direct jobs from the chain only; never call a "
                                 "coordinator (also when coordinator_url is empty)")
    resync_interval_s: float = Field(30.0, gt=0, description="seconds between re-reads of the chain's open jobs "
                                     "and checks, besides the websocket's events and every reconnect")
    host: str = "127.0.0.1"
    port: int = Field(18001, ge=0, le=65535)
    endpoint: str | None = Field(None, description="public URL the coordinator calls; default http://host:port")
    ollama_url: str = "http://127.0.0.1:11434"
    models: Annotated[list[str], NoDecode] = Field(default_factory=list,
                                                   description="models offered; default: all Ollama lists")
    capacity: int = Field(1, ge=1, le=1024)
    stake: int | None = Field(None, description="uaitbc to stake; default the chain's min_miner_stake")
    price_per_second: int | None = Field(None, description="uaitbc per compute second; default chain param")
    docs: bool = Field(False, description="serve Swagger UI at /docs (it loads from a public CDN)")
    ms_per_token: int | None = Field(None, ge=1, description="declared ceiling on billed ms per token (prompt + "
                                     "generated) for every model; default: the chain's max_ms_per_token")
    ollama_timeout_s: float = Field(300.0, gt=0)
    num_thread: int | None = Field(None, ge=1, description="Ollama num_thread option for every job")
    heartbeat_interval_s: float = Field(5.0, gt=0)
    report_retry_s: float = Field(300.0, ge=0, description="how long to retry a completion/failure report")
    data_dir: Path | None = None
    log_level: str = "info"
    # TEST ONLY: share of results altered before signing, to exercise spot checks. Never set in production.
    fault_tamper_share: float = Field(0.0, ge=0.0, le=1.0)
    fault_inflate_time_x: float = Field(1.0, ge=1.0, le=1_000_000.0)

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        # AITBC_MINER_MODELS="a,b" as well as a JSON list or a Python list.
        if isinstance(value, str):
            value = value.strip()
            if value.startswith("["):
                import json

                return json.loads(value)
            return [m.strip() for m in value.split(",") if m.strip()]
        return value

    @field_validator("stake", "price_per_second", mode="before")
    @classmethod
    def _amount(cls, value: object) -> object:
        # "100aitbc", "0.02", "20000uaitbc"; a bare integer string means uaitbc.
        if isinstance(value, str) and not value.strip().isdigit():
            return parse_amount(value)
        return value

    @property
    def public_endpoint(self) -> str:
        if self.endpoint:
            return self.endpoint.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def uses_coordinator(self) -> bool:
        return not self.no_coordinator and bool(self.coordinator_url.strip())

    @property
    def home(self) -> Path:
        return self.data_dir or aitbc_home() / "miner"

    @property
    def log_file(self) -> Path:
        return self.home / "miner.log"

    @property
    def outbox_file(self) -> Path:
        return self.home / "outbox.json"
