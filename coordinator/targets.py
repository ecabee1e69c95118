"""Which miner endpoints the coordinator may call: the deployment's half of the rule.

`aitbc.endpoints.parse_endpoint` fixes the shape (a plain http(s)://host:port,
the same rule the chain applies). Here the host is resolved once and every
address it resolves to is checked: unless `allow_private_endpoints` is set, a
loopback, private, link-local or otherwise non-public address is refused, at
registration and again at every push (DNS may change in between). The push
then connects to the address checked, not to a second lookup.
"""

from __future__ import annotations

import asyncio
import socket

from aitbc.endpoints import host_port, is_public_address, parse_endpoint


class EndpointRefused(ValueError):
    """The endpoint is malformed, does not resolve, or resolves to an address not allowed."""


async def resolve(endpoint: str, allow_private: bool) -> list[str]:
    """The IP addresses to call `endpoint` at, all checked. Raises EndpointRefused."""
    try:
        parse_endpoint(endpoint)
        host, port = host_port(endpoint)
    except ValueError as exc:
        raise EndpointRefused(str(exc)) from None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise EndpointRefused(f"endpoint host {host!r} does not resolve: {exc}") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise EndpointRefused(f"endpoint host {host!r} resolves to no address")
    if not allow_private:
        private = [a for a in addresses if not is_public_address(a)]
        if private:
            raise EndpointRefused(f"endpoint host {host!r} resolves to the non-public address {private[0]}; "
                                  "this coordinator calls only public addresses (a coordinator for a local "
                                  "network sets AITBC_COORDINATOR_ALLOW_PRIVATE_ENDPOINTS=1)")
    return addresses
