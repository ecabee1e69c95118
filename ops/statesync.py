"""Joining a running chain by state sync instead of replaying every block.

A node home configured here asks its peers for the app's snapshots (see
`aitbc.abci_app.snapshots`), restores the newest one and then follows the
chain by block sync from the snapshot's height on. CometBFT's light client
checks the snapshot's height and app hash against headers signed by the
validators, starting from one header the operator trusts: `trust_point`
reads it from a node's RPC.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from aitbc.ops.nodehome import set_toml

DEFAULT_TRUST_PERIOD = "168h0m0s"  # CometBFT's default: a week, well under any unbonding period


def configure(home: Path, rpc_servers: list[str], trust_height: int, trust_hash: str,
              trust_period: str = DEFAULT_TRUST_PERIOD, discovery_time: str = "5s",
              chunk_request_timeout: str = "15s") -> None:
    """Turn on state sync in the node home `home` (the one `aitbc node start --home` runs).

    Writes `[statesync]` of HOME/cometbft/config/config.toml: enable = true, the
    RPC servers the light client reads headers from (`host:port` or URLs; at
    least two are needed, so a single one is given twice, which leaves the light
    client without an independent witness), and the trusted header
    (`trust_height`, `trust_hash` = the block hash at that height, upper-case
    hex; see `trust_point`). `trust_period` must be shorter than the time a
    validator's stake stays bonded. Run it before the node's first start: state
    sync only runs on an empty node.
    """
    if not rpc_servers:
        raise ValueError("state sync needs at least one RPC server")
    if trust_height < 1 or not trust_hash:
        raise ValueError("state sync needs a trusted height and its block hash")
    servers = [s if "://" in s else f"http://{s}" for s in rpc_servers]
    if len(servers) == 1:
        servers = servers * 2
    path = Path(home) / "cometbft" / "config" / "config.toml"
    text = path.read_text()
    for key, value in {
        "enable": "true",
        "rpc_servers": json.dumps(",".join(servers)),
        "trust_height": str(int(trust_height)),
        "trust_hash": json.dumps(trust_hash.upper()),
        "trust_period": json.dumps(trust_period),
        "discovery_time": json.dumps(discovery_time),
        "chunk_request_timeout": json.dumps(chunk_request_timeout),
    }.items():
        text = set_toml(text, "statesync", key, value)
    path.write_text(text)


def trust_point(rpc_url: str, height: int | None = None, timeout: float = 5) -> tuple[int, str]:
    """(height, block hash) of a committed header from a running node's RPC.

    Without `height`, the latest commit. Trust it only as far as you trust that
    node: it is the root the light client verifies everything else from.
    """
    params = {"height": str(height)} if height else {}
    reply = httpx.get(f"{rpc_url.rstrip('/')}/commit", params=params, timeout=timeout)
    reply.raise_for_status()
    header = reply.json()["result"]["signed_header"]
    return int(header["header"]["height"]), header["commit"]["block_id"]["hash"].upper()
