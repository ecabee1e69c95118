"""Coordinator settings: environment (prefix AITBC_COORDINATOR_) and CLI flags."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from aitbc.keyring import aitbc_home
from aitbc.units import parse_amount


def _default_data_dir() -> Path:
    return aitbc_home() / "coordinator"


class CoordinatorSettings(BaseSettings):
    """Everything the coordinator needs; lists accept "a,b,c" in the environment."""

    model_config = SettingsConfigDict(env_prefix="AITBC_COORDINATOR_", extra="ignore")

    # AITBC_NODE is the project-wide name; the prefixed one wins when both are set.
    node: str = Field("http://127.0.0.1:26657", validation_alias=AliasChoices("AITBC_COORDINATOR_NODE", "AITBC_NODE",
                                                                               "node"))
    host: str = "127.0.0.1"
    port: int = 18000
    data_dir: Path = Field(default_factory=_default_data_dir)
    key: str = "coordinator"              # keyring name of the coordinator's chain key
    key_seed: str | None = None           # hex ed25519 seed; wins over `key`
    # A coordinator that is not the genesis one serves only once registered on chain (with a bond).
    # With register_url set it registers itself at start when it is not yet; the bond defaults to
    # the chain's min_coordinator_bond. Without it, register with `aitbc tx register-coordinator`.
    register_url: str | None = None
    bond: int | None = None               # uaitbc; "100", "100aitbc" and "100000000uaitbc" are read
    # Keys come from the environment or from files, never from argv (`ps` shows argv to every user).
    client_api_keys: Annotated[list[str], NoDecode] = []
    admin_api_keys: Annotated[list[str], NoDecode] = []
    client_api_keys_file: Path | None = None  # one key per line; blank lines and #comments ignored
    admin_api_keys_file: Path | None = None
    api_key_pepper: str | None = Field(None, validation_alias=AliasChoices(
        "AITBC_COORDINATOR_PEPPER", "AITBC_COORDINATOR_API_KEY_PEPPER", "api_key_pepper"))  # else `pepper_path`
    # Miner endpoints resolving to loopback/private/link-local addresses are refused unless this is
    # on: a public coordinator must not be steered at its own network. Local testnets turn it on.
    allow_private_endpoints: bool = False
    # Swagger UI loads its script from a public CDN: off unless asked for (/openapi.json stays).
    docs: bool = False
    # Per client IP, for open routes and failed authentication (keys have their own bucket).
    ip_rate_limit_per_minute: float = 600.0
    ip_rate_limit_burst: int = 100
    # Client IPs of these proxies are replaced by the last X-Forwarded-For hop they add.
    trusted_proxies: Annotated[list[str], NoDecode] = []
    rate_limit_per_minute: float = 120.0
    rate_limit_burst: int = 20
    max_body_bytes: int = 64 * 1024
    queue_timeout_s: float = 60.0
    miner_offline_after_s: float = 15.0
    push_timeout_s: float = 10.0
    tick_s: float = 0.25                  # scheduler period
    tx_lost_after_s: float = 15.0         # neither in a block nor in the mempool for this long
    rpc_timeout_s: float = 10.0
    # broadcast_tx_sync calls per JSON-RPC batch: at most the node's rpc.max_request_batch_size (10 by default)
    broadcast_batch: int = Field(10, ge=1)

    @field_validator("bond", mode="before")
    @classmethod
    def _amount(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_amount(value)
        return value

    @field_validator("client_api_keys", "admin_api_keys", "trusted_proxies", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def api_keys(self, role: str) -> list[str]:
        """The keys of `role` from the settings and from its key file. Raises OSError."""
        keys = list(self.client_api_keys if role == "client" else self.admin_api_keys)
        path = self.client_api_keys_file if role == "client" else self.admin_api_keys_file
        if path is not None:
            for line in Path(path).read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    keys.append(line)
        return keys

    @property
    def pepper_path(self) -> Path:
        return self.data_dir / "pepper"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "coordinator.db"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "coordinator.log"
