"""The AITBC ABCI application: the chain's state machine and its socket server."""
