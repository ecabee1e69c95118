"""Reading the chain and naming accounts, for every command that talks to the node."""

from __future__ import annotations

from typing import Any

import click

from aitbc import crypto
from aitbc.keyring import KeyError_
from aitbc.rpc import ChainError, NodeUnavailable, QueryFailed
from aitbc.units import parse_amount
from aitbc.cli.context import CLIError, Context, NetworkError


def amount_arg(_ctx, _param, value: str | None) -> int | None:
    """Click callback: an amount as 1.5, 1.5aitbc or 1500000uaitbc, in uaitbc."""
    if value is None:
        return None
    try:
        return parse_amount(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


def resolve_address(ctx: Context, who: str) -> str:
    """An address as given, or the address of a key name."""
    if crypto.is_address(who):
        return who
    try:
        return ctx.keyring.get(who).address
    except KeyError_:
        raise CLIError(f"{who!r} is neither an address nor a key name (see `aitbc keys list`)") from None


def chain_query(ctx: Context, path: str) -> Any:
    """The node's answer to abci_query `path`; its errors become CLI errors."""
    try:
        return ctx.rpc.query(path)
    except NodeUnavailable as err:
        raise NetworkError(f"{err}\nIs the node running? (`aitbc node start`, or --node/AITBC_NODE)") from None
    except QueryFailed as err:
        raise CLIError(str(err)) from None
    except ChainError as err:
        raise CLIError(str(err)) from None
