"""A miner's endpoint: the one rule for what the coordinator may be asked to call.

The coordinator POSTs assignments (prompts included) to `endpoint + path`, so
an endpoint is a plain base URL `http(s)://host[:port]` and nothing else: a
path, query, fragment or userinfo would let a miner aim the coordinator at any
URL. The chain's stateless tx validation and the coordinator's registration
both call `parse_endpoint`; it is pure (no DNS, no I/O) and stdlib only, so
every node gets the same answer. Whether the host is private is a deployment
question answered by the coordinator at call time (it needs DNS), not here.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_ENDPOINT_CHARS = 256
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# Characters that only a path, query, fragment, userinfo, escape or zone id would need.
_FORBIDDEN = set("?#@%\\ \t\r\n") | {chr(c) for c in range(32)} | {"\x7f"}


def parse_endpoint(text: str) -> str:
    """`text` as a canonical base URL "scheme://host[:port]" (no trailing slash).

    Raises ValueError saying what is wrong: not http(s), a path other than a
    single "/", a query, a fragment, userinfo, a bad host or port, too long.
    """
    if not isinstance(text, str):
        raise ValueError("endpoint must be a string")
    if not text or len(text) > MAX_ENDPOINT_CHARS:
        raise ValueError(f"endpoint must be 1 to {MAX_ENDPOINT_CHARS} characters")
    bad = sorted(set(text) & _FORBIDDEN)
    if bad:
        raise ValueError(f"endpoint {text!r} must be a plain http(s)://host:port base URL: {bad[0]!r} is not "
                         "allowed (no path, query, fragment, userinfo or escapes)")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a non-numeric or out-of-range port
    except ValueError as exc:
        raise ValueError(f"endpoint {text!r} is not a valid URL: {exc}") from None
    if parts.scheme not in SCHEMES:
        raise ValueError(f"endpoint {text!r} must start with http:// or https://")
    if parts.path not in ("", "/"):
        raise ValueError(f"endpoint {text!r} must not have a path (only http(s)://host:port)")
    if parts.query or parts.fragment or parts.username is not None or parts.password is not None:
        raise ValueError(f"endpoint {text!r} must not have a query, fragment or userinfo")
    host = parts.hostname or ""
    if not _valid_host(host):
        raise ValueError(f"endpoint {text!r} has no valid host name or IP address")
    netloc_port = parts.netloc.rsplit(":", 1)[1] if port is not None else None
    if port == 0 or (netloc_port is not None and not netloc_port.isdigit()):
        raise ValueError(f"endpoint {text!r} has an invalid port")
    return f"{parts.scheme}://{parts.netloc}"


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    if len(host) > 253 or host.endswith("."):
        return False
    labels = host.split(".")
    # An all-numeric name that is not an IP ("1.2.3", "0x7f.1") is read as an address by some resolvers.
    if all(label.isdigit() or label.lower().startswith("0x") for label in labels):
        return False
    return all(_LABEL.match(label) for label in labels)


def host_port(endpoint: str) -> tuple[str, int]:
    """(host, port) of a valid endpoint; the scheme's port when none is given. Raises ValueError."""
    parts = urlsplit(parse_endpoint(endpoint))
    return (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS[parts.scheme]


def authority(endpoint: str) -> str:
    """"host:port" of a valid endpoint, lower-case, port always given (IPv6 in brackets).

    Signed assignments name it, so a miner can refuse one meant for another endpoint.
    """
    host, port = host_port(endpoint)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_public_address(address: str) -> bool:
    """False for loopback, private, link-local, multicast, reserved, unspecified and
    shared (CGNAT) addresses, also when written as IPv4-mapped IPv6."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
