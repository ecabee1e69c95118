"""The services' HTTP contracts, shared so that no service imports another.

`coordinator_models` and `miner_models` are the wire bodies of each API,
`coordinator_client` and `miner_client` their typed httpx clients,
`problems` the RFC 9457 error bodies (built and read in one place), and
`retry` the one retry policy every client uses.
"""
